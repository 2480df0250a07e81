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
The one local-only DDS environment of every process this project starts for itself.

The demo, the node benchmark, the soak script and the tests run ROS 2 processes that must
talk to each other and to nobody else, whatever the caller's environment says: Fast DDS over
shared memory only (``FASTDDS_BUILTIN_TRANSPORTS=SHM``), discovery on this machine only
(``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``) and a domain id of their own. Each user has its
own range of domain ids (:data:`DOMAIN_RANGES`, no two overlap), and the process id picks one
inside it, so that a demo, a benchmark and a test run side by side never share a domain.

The node itself never forces a transport: only these tools do, for the processes they start.
Importing this module imports nothing of ROS, so it can run before rclpy is imported.
"""

import os
from typing import Dict, Mapping, Optional

#: User -> (first domain id, number of ids). Ids stay within 0..232, the range Fast DDS
#: computes ports for.
DOMAIN_RANGES: Dict[str, tuple] = {
    'test': (100, 40),        # test/conftest.py: 100..139
    'demo': (140, 30),        # depthclip demo: 140..169
    'node_bench': (170, 20),  # depthclip bench --node: 170..189
    'soak': (190, 20),        # scripts/soak.py: 190..209
}

#: The variables :func:`local_dds_environment` sets (RMW_IMPLEMENTATION only when unset).
DDS_VARIABLES = ('FASTDDS_BUILTIN_TRANSPORTS', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_DOMAIN_ID',
                 'RMW_IMPLEMENTATION')


def domain_id(user: str, pid: Optional[int] = None) -> int:
    """
    Return the domain id of ``user`` for process ``pid`` (default: this process).

    :raises ValueError: ``user`` is not in :data:`DOMAIN_RANGES`
    """
    if user not in DOMAIN_RANGES:
        raise ValueError(f'unknown DDS user {user!r}; known: {", ".join(DOMAIN_RANGES)}')
    first, count = DOMAIN_RANGES[user]
    return first + (os.getpid() if pid is None else pid) % count


def local_dds_environment(user: str, base: Optional[Mapping[str, str]] = None,
                          pid: Optional[int] = None) -> Dict[str, str]:
    """
    Return ``base`` (default: ``os.environ``) with the local-only DDS settings of ``user``.

    :param user: a key of :data:`DOMAIN_RANGES`
    :param base: the environment to start from (not modified)
    :param pid: process id that picks the domain id in the user's range (default: this one)
    :return: a new environment for child processes
    """
    env = dict(os.environ if base is None else base)
    env['FASTDDS_BUILTIN_TRANSPORTS'] = 'SHM'
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['ROS_DOMAIN_ID'] = str(domain_id(user, pid))
    env.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    return env


def use_local_dds(user: str) -> Dict[str, str]:
    """
    Put this process on :func:`local_dds_environment` (before rclpy is initialized).

    :return: the full environment, for child processes
    """
    env = local_dds_environment(user)
    os.environ.update({name: env[name] for name in DDS_VARIABLES})
    return env
