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


def _run_node(tmp_path, namespace, params_file, *extra, timeout=120):
    """Run depthclip_node with a parameter file; return (exit code, output)."""
    cmd = [sys.executable, '-m', 'depthclip_ros.ros.runner', 'depthclip_node', '--ros-args',
           '-r', f'__ns:={namespace}', '--params-file', params_file, *extra]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, cwd=os.path.dirname(os.path.dirname(__file__)),
                          env=dict(os.environ, PYTHONUNBUFFERED='1'))
    return proc.returncode, proc.stdout


def _params_file(tmp_path, parameters, name='params.yaml'):
    import yaml
    path = tmp_path / name
    path.write_text(yaml.safe_dump({'/**': {'ros__parameters': parameters}}))
    return str(path)


def _lying_npz(path):
    """Write an embeddings file whose embeddings header declares 1 GiB (its data: none)."""
    import io
    import zipfile

    import numpy as np
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {'descr': '<f4', 'fortran_order': False,
                                                  'shape': (1 << 18, 1024)})
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('embeddings.npy', header.getvalue())
    return str(path)


@pytest.mark.parametrize('case', ['empty_bins', 'empty_providers', 'long_camera',
                                  'long_namespace', 'dev_zero_embeddings', 'fifo_embeddings',
                                  'lying_embeddings', 'fifo_onnx', 'fifo_params',
                                  'deep_params', 'laughs_params', 'huge_value'])
def test_bad_start_up_values_give_one_fatal_line(small_overrides, tmp_path, case):
    """Each exits 1 with one FATAL line naming the parameter or file, before the model loads."""
    fifo = str(tmp_path / 'fifo')
    os.mkfifo(fifo)
    namespace = '/dc_fatal'
    values = dict(small_overrides)
    values['model.pretrained'] = str(tmp_path / 'never_loaded.pt')  # the model never loads
    extra = []
    expected = {
        'empty_bins': ('depth_bins', []), 'empty_providers': ('model.onnx_providers', []),
        'long_camera': ('cameras', ['c' * 300]), 'long_namespace': ('cameras', ['c' * 60]),
        'dev_zero_embeddings': ('prompts.embeddings_file', '/dev/zero'),
        'fifo_embeddings': ('prompts.embeddings_file', fifo),
        'lying_embeddings': ('prompts.embeddings_file', _lying_npz(tmp_path / 'lying.npz')),
        'fifo_onnx': ('model.onnx_file', fifo),
        'huge_value': ('model.device', 'x' * 200_000),
    }
    words = {'empty_bins': 'parameter depth_bins has no value: an empty list []',
             'empty_providers': 'parameter model.onnx_providers has no value',
             'long_camera': 'cameras: a name of 300 characters',
             'long_namespace': 'has an invalid topic c',
             'dev_zero_embeddings': 'prompts.embeddings_file /dev/zero is not a regular file',
             'fifo_embeddings': f'prompts.embeddings_file {fifo} is not a regular file',
             'lying_embeddings': 'declares a 262144x1024 float32 array of 1073741824 bytes',
             'fifo_onnx': f'model.onnx_file {fifo} is not a regular file',
             'fifo_params': f'--params-file {fifo} is not a regular file',
             'deep_params': 'nests deeper than 32 levels',
             'laughs_params': 'expands to more than 100000 values',
             'huge_value': "model.device must be auto, cpu, cuda or cuda:N, got 'xxxx"}[case]
    if case in expected:
        name, value = expected[case]
        values[name] = value
    if case == 'fifo_onnx':
        values['model.backend'] = 'onnxruntime'
    if case == 'long_namespace':
        namespace = '/' + 'n' * 200
    params = _params_file(tmp_path, {k: v for k, v in values.items()})
    if case == 'fifo_params':
        extra = ['--params-file', fifo]
    elif case == 'deep_params':
        params = str(tmp_path / 'deep.yaml')
        with open(params, 'w') as f:
            f.write('/**:\n  ros__parameters:\n    a: ' + '[' * 100_000 + ']' * 100_000 + '\n')
    elif case == 'laughs_params':
        lines = ['l0: &l0 lol'] + [f'l{i}: &l{i} [{", ".join([f"*l{i - 1}"] * 9)}]'
                                   for i in range(1, 10)]
        params = str(tmp_path / 'laughs.yaml')
        with open(params, 'w') as f:
            f.write('\n'.join(lines) + '\n/**:\n  ros__parameters:\n    temperature: *l9\n')
    rc, output = _run_node(tmp_path, namespace, params, *extra)
    assert rc == 1, output
    assert 'Traceback' not in output, output
    fatal = [line for line in output.splitlines() if 'FATAL' in line]
    assert len(fatal) == 1 and words in fatal[0], output
    assert len(fatal[0]) < 600, fatal[0]


def test_misspelt_parameters_are_warned_about_naming_the_closest(small_overrides, tmp_path):
    """The node warns (ROS convention), before it refuses another value or starts."""
    params = _params_file(tmp_path, {'temporal': {'alpah': 0.5}, 'temperatur': 0.1,
                                     'qos_overrides': {'/image': {'subscription': {'depth': 3}}},
                                     'depth_bins': []})
    rc, output = _run_node(tmp_path, '/dc_misspelt', params, '-p', 'scale.mdoe:=ground')
    assert rc == 1 and 'Traceback' not in output, output
    warnings = [line for line in output.splitlines() if 'WARN' in line]
    assert len(warnings) == 3, output
    for text in (f"parameter file {params}: unknown parameter 'temporal.alpah' (did you mean "
                 'temporal.alpha?): ignored',
                 f"parameter file {params}: unknown parameter 'temperatur' (did you mean "
                 'temperature?): ignored',
                 "-p: unknown parameter 'scale.mdoe' (did you mean scale.mode?): ignored"):
        assert sum(text in line for line in warnings) == 1, (text, output)


def test_override_names_read_every_source(tmp_path):
    from depthclip_ros.ros.parameters import override_names
    params = _params_file(tmp_path, {'a': {'b': 1}, 'c': 2})
    node_file = tmp_path / 'node.yaml'
    node_file.write_text('depthclip_node:\n  ros__parameters:\n    d: 3\nother:\n'
                         '  ros__parameters:\n    e: 4\n')
    argv = ['prog', '-p', 'not.ros', '--ros-args', '-p', 'x.y:=1', '--param', 'z:=2',
            '--params-file', params, '--params-file', str(node_file), '--params-file',
            str(tmp_path / 'missing.yaml'), '--', '-p', 'after:=1']
    assert override_names(argv, ['/**', 'depthclip_node']) == [
        ('-p', 'x.y'), ('-p', 'z'), (f'parameter file {params}', 'a.b'),
        (f'parameter file {params}', 'c'), (f'parameter file {node_file}', 'd')]
