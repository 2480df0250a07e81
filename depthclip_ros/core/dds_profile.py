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
The Fast DDS profile of a process: the package's large-sample profile unless the user chose.

Fast DDS's default shared-memory segment is 512 KB; a 640x480 32FC1 depth image is 1.2 MB,
and the node publishes depth, confidence, colorized depth and a cloud per frame. Samples are
cut into 64 KB fragments that each take a buffer of the *writer's* segment until every
reader on the host has taken it, so a full segment drops fragments: best-effort readers lose
frames, reliable ones wait for a re-send on the next heartbeat, and small messages (service
replies) of the same participant stall behind them (ros2/rmw_fastrtps#739).
``config/fastdds_large_images.xml`` gives the participant a 16 MB segment and keeps Fast
DDS's own transports (``useBuiltinTransports`` stays true, so ``FASTDDS_BUILTIN_TRANSPORTS``
still chooses them, and rmw_fastrtps's ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` setup is
kept).

:func:`choose_profile` decides, from an environment, whether a process gets that profile:

- never when the user chose a profile: ``FASTDDS_DEFAULT_PROFILES_FILE`` (Fast DDS 3, Kilted
  and newer) or ``FASTRTPS_DEFAULT_PROFILES_FILE`` (Fast DDS 2, Humble and Jazzy) set, or a
  ``DEFAULT_FASTDDS_PROFILES.xml`` / ``DEFAULT_FASTRTPS_PROFILES.xml`` in the working
  directory (unless ``SKIP_DEFAULT_XML_FILE=1`` makes Fast DDS skip it);
- never when ``RMW_IMPLEMENTATION`` names an RMW that is not Fast DDS (it would be ignored);
- never when ``FASTDDS_BUILTIN_TRANSPORTS`` asks for transports without shared memory
  (``UDPv4``, ``NONE``, ...) or tunes them (``...?max_msg_size=...``): the profile adds a
  shared-memory transport, which is not what such a user chose;
- never when ``/dev/shm`` has less than two of its segments free (a process that cannot
  write its segment there can die);
- otherwise the variable the installed Fast DDS reads (:func:`fastdds_major`: 3 reads
  ``FASTDDS_DEFAULT_PROFILES_FILE`` and warns that the other is deprecated, 2 reads
  ``FASTRTPS_DEFAULT_PROFILES_FILE``; both when the version is unknown) is set to the
  package profile.

The executables apply it to their own process before ``rclpy.init``
(:mod:`depthclip_ros.ros.runner`), the launch files to the processes they start
(:func:`depthclip_ros.launch_common.dds_profile_actions`). Imports nothing of ROS.
"""

from dataclasses import dataclass, field
import os
from typing import Dict, Mapping, MutableMapping, Optional, Tuple

#: The variables naming a profiles file: Fast DDS 3 reads the first, Fast DDS 2 the second.
PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')
#: Files Fast DDS loads from the working directory (Fast DDS 3, Fast DDS 2).
WORKING_DIRECTORY_FILES = ('DEFAULT_FASTDDS_PROFILES.xml', 'DEFAULT_FASTRTPS_PROFILES.xml')
#: RMW implementations built on Fast DDS.
FASTDDS_RMWS = ('rmw_fastrtps_cpp', 'rmw_fastrtps_dynamic_cpp')
#: FASTDDS_BUILTIN_TRANSPORTS values that include Fast DDS's shared-memory transport.
SHARED_MEMORY_MODES = ('DEFAULT', 'DEFAULTv6', 'SHM')
#: The package's profile, under share/depthclip_ros.
PROFILE_FILE = ('config', 'fastdds_large_images.xml')
#: Its shared-memory segment (bytes): Fast DDS writes all of it at start in /dev/shm.
PROFILE_SEGMENT_BYTES = 16 * 1024 * 1024
#: Where Fast DDS keeps its segments (Linux).
SHM_DIRECTORY = '/dev/shm'
HOW_TO_CHOOSE = ('set FASTRTPS_DEFAULT_PROFILES_FILE (Fast DDS 2) or '
                 'FASTDDS_DEFAULT_PROFILES_FILE (Fast DDS 3) to choose yours')


@dataclass(frozen=True)
class ProfileChoice:
    """
    What a process gets.

    :ivar source: ``package`` (the package profile), ``user`` (the user's, left alone) or
        ``none`` (Fast DDS's defaults, or not Fast DDS)
    :ivar path: the profile file in effect (None: none)
    :ivar variables: the environment variables to set (empty: change nothing)
    :ivar message: the one log line that says which it is
    """

    source: str
    path: Optional[str]
    variables: Dict[str, str] = field(default_factory=dict)
    message: str = ''


#: ROS 2 distributions built on Fast DDS 2 (the rest: Fast DDS 3).
FASTDDS2_DISTROS = ('humble', 'iron', 'jazzy')


def fastdds_major(env: Mapping[str, str]) -> Optional[int]:
    """
    Return the major version of the Fast DDS this process would load (None: unknown).

    From the PyPI wheels' metadata (``ros-fastdds`` 3.x for Kilted, ``ros-fastrtps`` 2.x for
    Jazzy), else from ``ROS_DISTRO`` (set by a ROS distribution's setup script).
    """
    from importlib import metadata
    for dist in ('ros-fastdds', 'ros-fastrtps'):
        try:
            return int(metadata.version(dist).split('.')[0])
        except (metadata.PackageNotFoundError, ValueError):
            continue
    distro = env.get('ROS_DISTRO', '').strip().lower()
    if not distro:
        return None
    return 2 if distro in FASTDDS2_DISTROS else 3


def profile_variables(major: Optional[int]) -> Tuple[str, ...]:
    """Return the profile variables Fast DDS ``major`` reads (both when unknown)."""
    return {3: PROFILE_VARIABLES[:1], 2: PROFILE_VARIABLES[1:]}.get(major, PROFILE_VARIABLES)


def package_profile() -> Optional[str]:
    """Return the installed (or source tree's) ``config/fastdds_large_images.xml``, or None."""
    from depthclip_ros.core.config import find_share_file
    try:
        return find_share_file(*PROFILE_FILE)
    except FileNotFoundError:
        return None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def shm_free_bytes(directory: str = SHM_DIRECTORY) -> Optional[int]:
    """Return the free bytes of the shared-memory file system (None: not there)."""
    try:
        stat = os.statvfs(directory)
    except (OSError, AttributeError):
        return None
    return stat.f_bavail * stat.f_frsize


def choose_profile(env: Mapping[str, str], cwd: str, profile: Optional[str],
                   shm_free: Optional[int] = None,
                   major: Optional[int] = None) -> ProfileChoice:
    """
    Decide the Fast DDS profile of a process started with ``env`` in ``cwd``.

    :param env: the process's environment
    :param cwd: its working directory (Fast DDS also loads a default file from there)
    :param profile: the package profile (:func:`package_profile`; None: not installed)
    :param shm_free: free bytes in /dev/shm (None: unknown). Below two segments of the
        profile it is not applied: a process that cannot write its whole segment there
        can die (SIGBUS: Fast DDS writes all of it at start), e.g. in a Docker container
        with the default 64 MB shm size and several processes using the profile.
    :param major: the Fast DDS major version (:func:`fastdds_major`): which variable to set
    """
    for name in PROFILE_VARIABLES:
        value = env.get(name, '')
        if value:
            if profile is not None and _same_file(value, profile):
                return ProfileChoice('package', value, {}, f'Fast DDS profile: {value} '
                                     f'(package default, from {name}; {HOW_TO_CHOOSE})')
            missing = '' if os.path.isfile(value) else (
                '; no such file: Fast DDS logs an error and runs with its defaults')
            return ProfileChoice('user', value, {},
                                 f"Fast DDS profile: user's profile {value} ({name}{missing})")
    if env.get('SKIP_DEFAULT_XML_FILE', '') != '1':
        for name in WORKING_DIRECTORY_FILES:
            path = os.path.join(cwd, name)
            if os.path.isfile(path):
                return ProfileChoice('user', path, {}, f"Fast DDS profile: user's profile "
                                     f'{path} (in the working directory)')
    rmw = env.get('RMW_IMPLEMENTATION', '')
    if rmw and rmw not in FASTDDS_RMWS:
        return ProfileChoice('none', None, {}, f'Fast DDS profile: not used '
                             f'(RMW_IMPLEMENTATION={rmw} is not Fast DDS)')
    transports = env.get('FASTDDS_BUILTIN_TRANSPORTS', '')
    if transports and transports not in SHARED_MEMORY_MODES:
        return ProfileChoice('none', None, {}, 'Fast DDS profile: none, Fast DDS defaults '
                             f'(FASTDDS_BUILTIN_TRANSPORTS={transports} is the user'
                             "'s transport choice; the package profile would add shared "
                             'memory)')
    if profile is None:
        return ProfileChoice('none', None, {}, 'Fast DDS profile: none, Fast DDS defaults '
                             f'(the package profile {os.path.join(*PROFILE_FILE)} is not '
                             'installed)')
    if shm_free is not None and shm_free < 2 * PROFILE_SEGMENT_BYTES:
        return ProfileChoice('none', None, {}, 'Fast DDS profile: none, Fast DDS defaults '
                             f'({SHM_DIRECTORY} has {shm_free / 2 ** 20:.0f} MB free, the '
                             f'package profile {profile} needs '
                             f'{PROFILE_SEGMENT_BYTES / 2 ** 20:.0f} MB per process: give '
                             'the container more shm, e.g. docker run --shm-size=512m)')
    return ProfileChoice('package', profile,
                         {name: profile for name in profile_variables(major)},
                         f'Fast DDS profile: {profile} (package default; {HOW_TO_CHOOSE})')


def apply_profile(environ: Optional[MutableMapping[str, str]] = None,
                  cwd: Optional[str] = None) -> ProfileChoice:
    """
    Give this process (``environ``, default ``os.environ``) the package profile if it has none.

    Call it before Fast DDS starts (before ``rclpy.init``): Fast DDS reads the profiles once.
    """
    environ = os.environ if environ is None else environ
    choice = choose_profile(environ, os.getcwd() if cwd is None else cwd, package_profile(),
                            shm_free_bytes(), fastdds_major(environ))
    environ.update(choice.variables)
    return choice
