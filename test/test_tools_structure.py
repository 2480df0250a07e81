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
The offline tools' shared helpers: one percentile, a registry CLI, DDS domains apart.

The import rules (layers, no cycles, nothing imports the CLI) are in test_architecture.py.
"""

import ast
import glob
import os
from typing import Dict, List

import pytest

from depthclip_ros.tools import dds_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'depthclip_ros'


def _tool_files() -> List[str]:
    return sorted(glob.glob(os.path.join(REPO, PACKAGE, 'tools', '*.py'))
                  + glob.glob(os.path.join(REPO, 'scripts', '*.py')))


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
                              'adapt', 'bag', 'export']


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
