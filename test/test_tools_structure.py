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

"""The offline tools' structure: no import cycles, nothing imports the cli, shared helpers."""

import ast
import glob
import os
from typing import Dict, List, Set

import pytest

from depthclip_ros.tools import dds_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'depthclip_ros'


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, REPO)[:-len('.py')].split(os.sep)
    if rel[-1] == '__init__':
        rel = rel[:-1]
    return '.'.join(rel)


def _package_modules() -> Dict[str, str]:
    paths = glob.glob(os.path.join(REPO, PACKAGE, '**', '*.py'), recursive=True)
    return {_module_name(path): path for path in sorted(paths)}


def _imports(path: str, name: str, known: Set[str]) -> Set[str]:
    """Return the package modules ``path`` imports anywhere (functions included)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    is_package = path.endswith('__init__.py')
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = name.split('.')
                parts = parts if is_package else parts[:-1]
                parts = parts[:len(parts) - node.level + 1]
                base = '.'.join(parts + ([base] if base else []))
            # ``from a.b import c`` imports the module a.b.c when there is one, else a.b
            targets = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in known else base
                       for alias in node.names]
        else:
            continue
        out.update(t for t in targets if t in known)
    out.discard(name)
    return out


def _graph() -> Dict[str, Set[str]]:
    modules = _package_modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_sees_function_level_imports():
    graph = _graph()
    # bench_command imports node_bench only inside run_bench
    assert 'depthclip_ros.tools.node_bench' in graph['depthclip_ros.tools.bench_command']
    assert 'depthclip_ros.tools.evaluation' in graph['depthclip_ros.tools.datasets']
    assert _cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]


def test_no_import_cycles_among_the_package_modules():
    assert _cycles(_graph()) == []


def test_nothing_imports_the_cli_module():
    importers = [name for name, targets in _graph().items()
                 if 'depthclip_ros.tools.cli' in targets]
    assert importers == []
    for path in glob.glob(os.path.join(REPO, 'scripts', '*.py')):
        with open(path, encoding='utf-8') as f:
            assert 'tools.cli' not in f.read(), path


def _tool_files() -> List[str]:
    return sorted(glob.glob(os.path.join(REPO, PACKAGE, 'tools', '*.py'))
                  + glob.glob(os.path.join(REPO, 'scripts', '*.py')))


@pytest.mark.parametrize('path', _tool_files(), ids=os.path.basename)
def test_every_tool_module_says_what_it_is_for(path):
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    docstring = ast.get_docstring(tree)
    assert docstring and len(docstring.splitlines()[0]) > 10, path


def test_one_percentile_helper():
    """Tools and scripts compute percentiles with depthclip_ros.core.stats only."""
    for path in _tool_files():
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
        own = [n.name for n in ast.walk(tree)
               if isinstance(n, ast.FunctionDef) and 'percentile' in n.name.lower()]
        assert own == [], path


def test_the_cli_is_a_registry_of_command_modules():
    from depthclip_ros.tools import cli
    with open(cli.__file__, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert functions <= {'build_parser', 'main', '_user_error_types'}
    commands = cli.build_parser()._subparsers._group_actions[0].choices
    assert list(commands) == ['predict', 'bench', 'checkpoint', 'demo', 'eval', 'calibrate',
                              'bag', 'export']


def test_dds_domain_ranges_do_not_overlap():
    taken: Dict[int, str] = {}
    for user, (first, count) in dds_env.DOMAIN_RANGES.items():
        assert 0 <= first and first + count - 1 <= 232 and count >= 10, user
        for domain in range(first, first + count):
            assert domain not in taken, (user, taken.get(domain))
            taken[domain] = user
    for user in dds_env.DOMAIN_RANGES:
        ids = {dds_env.domain_id(user, pid) for pid in range(1000, 1200)}
        assert {taken[i] for i in ids} == {user}
    with pytest.raises(ValueError, match='unknown DDS user'):
        dds_env.domain_id('nobody')


def test_local_dds_environment():
    env = dds_env.local_dds_environment('demo', {'ROS_DOMAIN_ID': '0', 'PATH': '/bin',
                                                 'FASTDDS_BUILTIN_TRANSPORTS': 'UDPv4'}, pid=7)
    assert env['FASTDDS_BUILTIN_TRANSPORTS'] == 'SHM'
    assert env['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert env['ROS_DOMAIN_ID'] == str(dds_env.DOMAIN_RANGES['demo'][0] + 7)
    assert env['RMW_IMPLEMENTATION'] == 'rmw_fastrtps_cpp' and env['PATH'] == '/bin'
    # the tests themselves run in the tests' range (test/conftest.py)
    first, count = dds_env.DOMAIN_RANGES['test']
    assert first <= int(os.environ['ROS_DOMAIN_ID']) < first + count
