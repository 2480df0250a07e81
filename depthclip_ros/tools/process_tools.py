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

"""Running ``depthclip_node`` as a child process: its command line, its log, stopping it."""

import os
import signal
import subprocess
import sys
from typing import Dict, Iterable, List, Optional, Sequence

#: Node parameters for reliable image input. The demo, the node benchmark and the soak publish
#: images reliably; a best-effort subscription would lose images over ~0.5 MB in Fast DDS's
#: shared-memory transport (ros2/rmw_fastrtps#739).
RELIABLE_IMAGES: Dict[str, str] = {'qos.image_reliability': 'reliable'}


def node_command(params_files: Sequence[str], ros_args: Sequence[str] = ()) -> List[str]:
    """
    Return the command line of a ``depthclip_node`` process.

    :param params_files: parameter files in order (a later file overrides an earlier one)
    :param ros_args: further ROS arguments (remappings ``-r from:=to``)
    """
    cmd = [sys.executable, '-m', 'depthclip_ros.ros.runner', 'depthclip_node', '--ros-args']
    for path in params_files:
        cmd += ['--params-file', path]
    return cmd + list(ros_args)


def last_error_line(log_path: str, default: str = 'exited without a message') -> str:
    """Return the last FATAL or error line of a node log (else its last line, else ``default``)."""
    try:
        with open(log_path, encoding='utf-8', errors='replace') as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        lines = []
    fatal = [line for line in lines if 'FATAL' in line or 'error' in line.lower()]
    return (fatal or lines or [default])[-1]


def proc_status(pid: Optional[int] = None) -> Dict[str, int]:
    """Return the numeric fields of /proc/<pid>/status (kB for sizes; Threads, ...)."""
    out = {}
    with open(f'/proc/{pid or "self"}/status', encoding='utf-8') as f:
        for line in f:
            key, _, value = line.partition(':')
            parts = value.split()
            if parts and parts[0].isdigit():
                out[key] = int(parts[0])
    return out


def stop_processes(procs: Iterable[subprocess.Popen], timeout: float = 20.0) -> None:
    """Send SIGINT to every running process, wait ``timeout`` s each, then kill stragglers."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def dds_transports(pid: Optional[int] = None) -> Dict[str, object]:
    """
    Return the Fast DDS transports a process really has, read from /proc (Linux).

    ``udp_sockets``: its UDP sockets (0: no UDP transport: shared memory only);
    ``shm_segments``: the sizes in bytes of the Fast DDS shared-memory segments it has mapped
    (``/dev/shm/fastdds_*`` files, ``fastrtps_*`` for Fast DDS 2, that are not ports),
    largest first: its own and those of the writers it has read from (a reader maps each
    writer's segment); a segment is its configured size plus a few percent of bookkeeping
    (512 KB shows as 549,408 bytes).
    """
    pid = pid or os.getpid()
    sockets = set()
    for fd in os.listdir(f'/proc/{pid}/fd'):
        try:
            target = os.readlink(f'/proc/{pid}/fd/{fd}')
        except OSError:
            continue
        if target.startswith('socket:['):
            sockets.add(target[len('socket:['):-1])
    udp = 0
    for table in ('udp', 'udp6'):
        try:
            with open(f'/proc/{pid}/net/{table}', encoding='ascii') as f:
                rows = [line.split() for line in f.readlines()[1:]]
        except OSError:
            continue
        udp += sum(1 for row in rows if len(row) > 9 and row[9] in sockets)
    segments = {}
    with open(f'/proc/{pid}/maps', encoding='utf-8', errors='replace') as f:
        for line in f:
            parts = line.split()
            path = parts[-1] if len(parts) >= 6 else ''
            name = os.path.basename(path)
            # Fast DDS 3 names its files fastdds_*, Fast DDS 2 (Humble, Jazzy) fastrtps_*
            prefix = next((start for start in ('fastdds_', 'fastrtps_')
                           if name.startswith(start)), None)
            if (path.startswith('/dev/shm/') and prefix is not None
                    and not name.startswith(prefix + 'port')):
                try:
                    segments[path] = os.stat(path).st_size
                except OSError:  # removed meanwhile: the mapping's size
                    start, end = (int(x, 16) for x in parts[0].split('-'))
                    segments[path] = max(segments.get(path, 0), end - start)
    return {'udp_sockets': udp, 'shm_segments': sorted(segments.values(), reverse=True)}
