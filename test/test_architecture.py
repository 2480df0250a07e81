# Copyright 2026 The depthclip_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
The import rules of the package layout, checked on the source.

Every import statement counts, module-level or inside a function:

- ``depthclip_ros.core`` is ROS-free: it never imports rclpy, launch, launch_ros, any
  ``*_msgs`` / ``*_interfaces`` package, nor the package's ``ros`` or ``tools`` layers;
- ``depthclip_ros.ros`` never imports ``tools``; ``depthclip_ros.launch_common`` imports
  nothing of the package but ``core`` and imports ``launch`` only inside functions;
- nothing imports ``depthclip_ros.tools.cli`` (the command registry; a script may run it as
  a command);
- the package's modules import each other without a cycle;
- every module opens (after the license header) with a docstring whose first line says what
  it is for.
"""

import ast
import os
import subprocess
import sys
from typing import Dict, List, Set, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'depthclip_ros'
ROS_PACKAGES = ('rclpy', 'launch', 'launch_ros', 'rosidl_runtime_py', 'cv_bridge',
                'message_filters', 'tf2_ros', 'builtin_interfaces')


def module_files() -> Dict[str, str]:
    """Return module name -> path of every module of the package."""
    modules = {}
    for folder, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            modules['.'.join(parts)] = path
    return modules


MODULES = module_files()
SCRIPTS = sorted(os.path.join(ROOT, 'scripts', name)
                 for name in os.listdir(os.path.join(ROOT, 'scripts')) if name.endswith('.py'))


def imports_of(module: str) -> List[Tuple[str, int, bool]]:
    """Return (imported module, line, at module level) for every import of ``module``."""
    with open(MODULES[module], encoding='utf-8') as f:
        tree = ast.parse(f.read())
    top_level = {id(node) for node in tree.body}
    is_package = MODULES[module].endswith('__init__.py')
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = module.split('.')
                parent = parent if is_package else parent[:-1]
                parent = parent[:len(parent) - node.level + 1]
                base = '.'.join(parent + ([base] if base else []))
            for alias in node.names:
                candidate = f'{base}.{alias.name}'
                name = candidate if candidate in MODULES else base
                found.append((name, node.lineno, id(node) in top_level))
    return found


def package_edges() -> Dict[str, Set[str]]:
    """Return module -> package modules it imports."""
    return {module: {name for name, _, _ in imports_of(module) if name in MODULES}
            for module in MODULES}


def in_layer(module: str, layer: str) -> bool:
    return module == f'{PACKAGE}.{layer}' or module.startswith(f'{PACKAGE}.{layer}.')


def is_ros(name: str) -> bool:
    top = name.split('.')[0]
    return top in ROS_PACKAGES or top.endswith(('_msgs', '_interfaces'))


def test_the_layers_exist():
    for layer in ('core', 'ros', 'tools'):
        assert f'{PACKAGE}.{layer}' in MODULES, layer
    assert f'{PACKAGE}.core.engine' in MODULES and f'{PACKAGE}.ros.node' in MODULES


@pytest.mark.parametrize('module', sorted(m for m in MODULES if in_layer(m, 'core')))
def test_core_is_ros_free(module):
    bad = [(name, line) for name, line, _ in imports_of(module)
           if is_ros(name) or in_layer(name, 'ros') or in_layer(name, 'tools')
           or name == f'{PACKAGE}.launch_common']
    assert not bad, f'{module} imports {bad}'


@pytest.mark.parametrize('module', sorted(m for m in MODULES if in_layer(m, 'ros')))
def test_ros_layer_does_not_import_tools(module):
    bad = [(name, line) for name, line, _ in imports_of(module) if in_layer(name, 'tools')]
    assert not bad, f'{module} imports {bad}'


def test_launch_common_imports_launch_only_inside_functions():
    module = f'{PACKAGE}.launch_common'
    if module not in MODULES:
        pytest.skip('no launch_common module')
    for name, line, top in imports_of(module):
        if is_ros(name):
            assert not top, f'line {line}: {name} imported at module level'
        if name.startswith(PACKAGE):
            assert in_layer(name, 'core'), f'line {line}: {name}'


def test_nothing_imports_the_cli_registry():
    cli = f'{PACKAGE}.tools.cli'
    users = sorted(module for module, targets in package_edges().items()
                   if cli in targets and module != cli)
    assert not users, f'{cli} is imported by {users}'
    for path in SCRIPTS:  # a script may run the ``depthclip`` command, never import it
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f'{node.module}.{alias.name}' for alias in node.names]
            else:
                continue
            assert not any(name == cli or name.startswith(cli + '.') for name in names), \
                f'{path}:{node.lineno} imports {cli}'


def test_the_import_graph_sees_function_level_imports():
    edges = package_edges()
    # bench_command imports node_bench only inside a function
    assert f'{PACKAGE}.tools.node_bench' in edges[f'{PACKAGE}.tools.bench_command']
    assert f'{PACKAGE}.tools.evaluation' in edges[f'{PACKAGE}.tools.datasets']


def find_cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Return the import cycles of ``edges`` (module -> modules it imports), each closed."""
    state: Dict[str, int] = {}
    stack: List[str] = []
    cycles = []

    def visit(module):
        state[module] = 1
        stack.append(module)
        for target in sorted(edges.get(module, ())):
            if target == module or target in (PACKAGE,):
                continue
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return cycles


def test_the_cycle_finder_finds_cycles():
    edges = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}, 'e': {'e'}}
    assert find_cycles(edges) == [['a', 'b', 'c', 'a']]
    assert find_cycles({'a': {'b'}, 'b': set()}) == []


def test_no_import_cycle():
    cycles = find_cycles(package_edges())
    assert not cycles, 'import cycles: ' + '; '.join(' -> '.join(c) for c in cycles)


@pytest.mark.parametrize('module', sorted(MODULES))
def test_every_module_says_what_it_is_for(module):
    with open(MODULES[module], encoding='utf-8') as f:
        text = f.read()
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring and docstring.splitlines()[0].strip(), f'{module} has no docstring'
    assert text.startswith('# Copyright'), f'{module} does not start with the license header'


@pytest.mark.parametrize('path', SCRIPTS, ids=os.path.basename)
def test_every_script_says_what_it_is_for(path):
    with open(path, encoding='utf-8') as f:
        docstring = ast.get_docstring(ast.parse(f.read()))
    assert docstring and len(docstring.splitlines()[0]) > 10, path


def test_core_imports_without_ros():
    """Every core module imports in a process where rclpy and the messages cannot import."""
    core = sorted(m for m in MODULES if in_layer(m, 'core'))
    code = (
        'import sys\n'
        'class Block:\n'
        '    def find_spec(self, name, path=None, target=None):\n'
        f'        if name.split(".")[0] in {ROS_PACKAGES!r} or name.split(".")[0].endswith('
        '("_msgs", "_interfaces")):\n'
        '            raise ImportError("blocked: " + name)\n'
        'sys.meta_path.insert(0, Block())\n'
        f'for name in {core!r}:\n'
        '    __import__(name)\n'
        'print("ok")\n')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and 'ok' in result.stdout, result.stderr[-3000:]
