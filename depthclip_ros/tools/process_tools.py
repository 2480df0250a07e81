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
