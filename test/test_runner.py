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
The executables end cleanly on a signal at any moment, including while torch still imports.

Ctrl-C (SIGINT) or SIGTERM sent while the node process is importing its modules, loading
the model or spinning ends it with exit code 0 and no traceback. Whatever moment the
signal lands in, the outcome asserted is the same.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
from ros_helpers import finish_process, kill_process, start_process

from depthclip_ros.ros.runner import EXECUTABLES, main


@pytest.mark.parametrize('executable', ['depthclip_node', 'depthclip_lifecycle_node',
                                        'camera_player'])
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_start_up_exits_0_without_a_traceback(small_overrides, executable,
                                                              sig):
    params = [f'{k}:={v}' for k, v in small_overrides.items()] if 'depthclip' in executable \
        else []
    for delay in (0.5, 2.0):
        proc = start_process(executable, f'/dc_runner_{executable}', *params)
        try:
            time.sleep(delay)  # importing torch / rclpy, or loading the model
            proc.send_signal(sig)
            output = finish_process(proc, 60)
            assert proc.returncode == 0, (delay, output)
            assert 'Traceback' not in output, (delay, output)
        finally:
            kill_process(proc)


def test_console_script_handles_ctrl_c_while_importing():
    """The installed ``depthclip_node`` script (what ``ros2 run`` starts) does the same."""
    script = os.path.join(os.path.dirname(sys.executable), 'depthclip_node')
    if not os.path.isfile(script):
        pytest.skip(f'no console script at {script} (package not installed with pip here)')
    proc = subprocess.Popen([script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, output
        assert 'Traceback' not in output, output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_runner_names_the_executables(capsys):
    assert set(EXECUTABLES) == {'depthclip_node', 'depthclip_lifecycle_node',
                                'camera_player'}
    assert main(['nonsense']) == 2
    assert 'depthclip_node' in capsys.readouterr().err


def test_steady_memory_returns_a_trim_on_glibc():
    import platform
    from depthclip_ros.ros.runner import steady_memory
    trim = steady_memory()
    if platform.libc_ver()[0] != 'glibc':
        assert trim is None
        return
    assert callable(trim)
    assert trim() is None  # returns the heap's free pages; nothing to report
