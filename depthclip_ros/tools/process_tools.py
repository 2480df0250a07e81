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

"""Small helpers for the scripts and tests that run the node as a child process."""

import signal
import subprocess
from typing import Dict, Iterable, Optional


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
