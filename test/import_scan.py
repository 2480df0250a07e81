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
Which modules a Python file imports, read from its source (``ast``), never by importing it.

Used by conftest.py to mark the test modules that use rclpy or ROS messages (``-m ros``:
the part of ``make test`` that runs again on a second ROS distribution's wheels), and by
test_packaging.py to check the package's dependencies against what its code imports.
"""

import ast
import functools
import os
from typing import FrozenSet, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_DIR = os.path.join(REPO, 'test')
PACKAGE = 'depthclip_ros'

#: The top-level modules of rclpy and the ROS interface (message) packages: a test that
#: reaches one of these runs on every ROS distribution's wheels. (Not ament_index_python:
#: the package looks its share folder up with it, outside ROS too.)
ROS_MODULES = frozenset({
    'rclpy', 'launch', 'launch_ros', 'tf2_ros', 'cv_bridge',
    'builtin_interfaces', 'diagnostic_msgs', 'geometry_msgs', 'lifecycle_msgs',
    'rcl_interfaces', 'rosgraph_msgs', 'sensor_msgs', 'std_msgs', 'tf2_msgs',
    'visualization_msgs',
})


@functools.lru_cache(maxsize=None)
def imported_modules(path: str, names: bool = False) -> FrozenSet[str]:
    """
    Return every absolute import in a file: at its top and inside functions, try or if.

    ``from a.b import c`` gives ``a.b`` and ``a.b.c`` (c may be a module).

    :param path: a .py file
    :param names: count a string that is the dotted name of one of the package's modules
        too (a test runs ``python -m depthclip_ros.ros.runner`` in a subprocess)
    """
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    found = set()
    for node in ast.walk(tree):
        if names and isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                node.value.startswith(PACKAGE + '.') and local_file(node.value):
            found.add(node.value)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f'{node.module}.{alias.name}' for alias in node.names)
    return frozenset(found)


def local_file(module: str) -> Optional[str]:
    """Return the file of a module of this package or of a test helper (test/x.py), if any."""
    parts = module.split('.')
    if parts[0] == PACKAGE:
        base = os.path.join(REPO, *parts)
        candidates = [base + '.py', os.path.join(base, '__init__.py')]
    elif len(parts) == 1:
        candidates = [os.path.join(TEST_DIR, module + '.py')]
    else:
        return None
    return next((c for c in candidates if os.path.isfile(c)), None)


def ros_import_chain(path: str) -> List[str]:
    """
    Return how a file reaches rclpy or a message package, or [] when it does not.

    Imports of this package's modules and of test helpers are followed (all of their
    imports, lazy ones inside functions too), so that a test of the node counts although
    only depthclip_ros.ros.node imports rclpy. In the file itself and test helpers (not in
    the package: the ``depthclip`` command table names every command module) a string
    naming a module of the package counts as its import: a subprocess runs it.

    :param path: a .py file
    :return: the files on the way and the ROS module last, e.g.
        ``['test/test_x.py', '.../ros/node.py', 'rclpy.node']``
    """
    seen = set()

    def walk(current: str) -> List[str]:
        seen.add(current)
        names = current == root or current.startswith(TEST_DIR + os.sep)
        modules = sorted(imported_modules(current, names=names))
        for module in modules:
            if module.split('.')[0] in ROS_MODULES:
                return [current, module]
        for module in modules:
            target = local_file(module)
            if target is not None and target not in seen:
                chain = walk(target)
                if chain:
                    return [current] + chain
        return []

    root = os.path.abspath(path)
    return walk(root)
