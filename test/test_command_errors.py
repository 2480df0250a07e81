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
Every ``depthclip`` command: a bad argument gives one error line naming it, never a traceback.

Most cases run ``main()`` in this process (an uncaught exception would fail the test); the
ones marked ``subprocess`` run the real console entry point, where a traceback would show.
None of these loads a model.
"""

import os
import subprocess
import sys

import pytest

from depthclip_ros.core.sample import sample_frames
from depthclip_ros.tools import predict
from depthclip_ros.tools.cli import main

FRAME = sample_frames()[0]


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Return a folder, a plain file, a not-yet-existing path and a dataset without depth."""
    root = tmp_path_factory.mktemp('errors')
    (root / 'afile.txt').write_text('not a bag, not an image\n')
    (root / 'dataset' / 'rgb').mkdir(parents=True)
    (root / 'dataset' / 'depth').mkdir()
    (root / 'existing_out').mkdir()
    return {'dir': str(root), 'file': str(root / 'afile.txt'),
            'missing': str(root / 'missing'), 'out': str(root / 'out'),
            'dataset': str(root / 'dataset'), 'existing': str(root / 'existing_out')}


# (arguments with {placeholders}, text the error line must contain, argparse usage error?)
CASES = [
    # predict
    ('predict', '', True),
    ('predict {missing}.png -o {out}', 'cannot read image {missing}.png: no such file', False),
    ('predict {dir} -o {out}', 'is a directory', False),
    ('predict {frame} -o {file}', '--output {file} is a file', False),
    ('predict {frame} -o {out} --batch 0', 'argument --batch: must be >= 1', True),
    ('predict {frame} -o {out} --batch x', 'argument --batch: must be an integer', True),
    ('predict {frame} -o {out} --set nonsense', "'nonsense' must look like name=value", False),
    ('predict {frame} -o {out} --set temperature=abc', 'temperature must be a number', False),
    ('predict {frame} -o {out} --set model.device=gpu', 'model.device must be', False),
    ('predict {frame} -o {out} --set no.such=1', "unknown parameter 'no.such'", False),
    ('predict {frame} -o {out} --set temperature=', 'temperature must be a number', False),
    ('predict {frame} -o {out} --params {missing}.yaml', '--params {missing}.yaml does not',
     False),
    ('predict {frame} -o {out} --params {dir}', '--params {dir} is a directory', False),
    ('predict {frame} -o {out} --params {frame}', 'is not a text (YAML) parameter file',
     False),
    # bench
    ('bench --size 0x0', 'argument --size: 0x0', True),
    ('bench --size abc', 'argument --size: must look like 480x640', True),
    ('bench --size 100000x100000', 'argument --size', True),
    ('bench --batch 0', 'argument --batch', True),
    ('bench --repeats 0', 'argument --repeats', True),
    ('bench --set temperature=abc', 'temperature must be a number', False),
    ('bench --node --set nonsense', "--set 'nonsense'", False),
    ('bench --node --set bogus=1', "unknown parameter 'bogus'", False),
    ('bench --node --set cloud.stride=x', 'cloud.stride must be an integer', False),
    ('bench --node --set model.device=gpu', 'model.device must be', False),
    ('bench --node --duration 0', 'argument --duration', True),
    ('bench --node --rate -1', 'argument --rate', True),
    ('bench --node --params {dir}', '--params {dir} is a directory', False),
    # checkpoint
    ('checkpoint -o {out}.pt', 'the following arguments are required: --random', True),
    ('checkpoint --random -o {dir}', '--output {dir} is a directory', False),
    ('checkpoint --random -o {out}.pt --name Bogus', "--name 'Bogus' is not an open_clip",
     False),
    ('checkpoint --random -o {out}.pt --seed x', 'argument --seed', True),
    # demo (checked before any process starts)
    ('demo --frames -1', 'argument --frames: must be >= 1', True),
    ('demo --frames x', 'argument --frames', True),
    ('demo --every 0', 'argument --every', True),
    ('demo --rate 0', 'argument --rate', True),
    ('demo --timeout 0', 'argument --timeout', True),
    ('demo --cameras 3', 'argument --cameras', True),
    ('demo --weights {missing}/RN50.pt', '--weights {missing}/RN50.pt: no such file', False),
    ('demo --weights {dir}', '--weights {dir} is a directory', False),
    ('demo --params {dir}', '--params {dir} is a directory', False),
    ('demo --params {missing}.yaml', '--params {missing}.yaml does not exist', False),
    ('demo --set nonsense', "--set 'nonsense'", False),
    ('demo --set temperature:=abc', 'temperature must be a number', False),
    ('demo --set bogus:=1', "unknown parameter 'bogus'", False),
    ('demo --set model.device:=gpu', 'model.device must be', False),
    ('demo --device gpu', '--device: model.device must be', False),
    # eval
    ('eval', '', True),
    ('eval nyu {missing}', 'dataset directory {missing} does not exist', False),
    ('eval nyu {file}', 'dataset directory {file} is a file', False),
    ('eval nyu {dir} --batch 0', 'argument --batch', True),
    ('eval nyu {dir} --limit 0', 'argument --limit', True),
    ('eval nyu {dir} --split {missing}', 'split file {missing} does not exist', False),
    ('eval kitti {dir}', 'the following arguments are required: --split', True),
    ('eval kitti {dir} --split {dir}', 'split file {dir} is a directory', False),
    ('eval kitti {dir} --split {file} --cap 0', 'argument --cap', True),
    ('eval kitti {dir} --split {file} --gt-dir {missing}', 'gt directory {missing}', False),
    # calibrate
    ('calibrate {missing}', '{missing} does not exist', False),
    ('calibrate {file}', 'is a file but not a bag', False),
    ('calibrate {dataset} --frames -1', 'argument --frames', True),
    ('calibrate {dataset} --batch 0', 'argument --batch', True),
    ('calibrate {dataset} --max-dt -1', 'argument --max-dt', True),
    ('calibrate {dataset} --max-depth 0', 'argument --max-depth', True),
    ('calibrate {dataset} --method mean', 'argument --method', True),
    ('calibrate {dataset} --output {dir}', '--output {dir} is a directory', False),
    ('calibrate {dataset}', 'has a depth file', False),
    ('calibrate {dataset} --set temperature=abc', 'temperature must be a number', False),
    # bag
    ('bag {missing} {out}', 'bag {missing} does not exist', False),
    ('bag {file} {out}', 'cannot read bag {file}', False),
    ('bag {dir} {out}', 'is not a rosbag2', False),
    ('bag {dir} {existing}', '{existing} exists already', False),
    ('bag {dir} {out} --batch 0', 'argument --batch', True),
    ('bag {dir} {out} --storage zip', 'argument --storage', True),
    ('bag {dir} {out} --set cloud.bogus=1', "unknown parameter 'cloud.bogus'", False),
]


def _expand(text: str, files) -> str:
    return text.format(frame=FRAME, **files)


def _check(rc: int, err: str, command: str, expected: str, usage: bool) -> None:
    assert rc != 0, err
    assert 'Traceback' not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if 'error:' in line]
    assert len(errors) == 1, err
    assert errors[0].startswith(f'depthclip {command}'), err
    assert expected in errors[0], (expected, err)
    if usage:  # argparse: usage lines, then the one error line, exit code 2
        assert rc == 2 and lines[0].startswith('usage: depthclip') and lines[-1] == errors[0]
    else:
        assert lines == errors, err


@pytest.mark.parametrize('arguments,expected,usage', CASES, ids=[c[0] for c in CASES])
def test_bad_arguments_give_one_error_line(arguments, expected, usage, files, capsys):
    argv = _expand(arguments, files).split()
    rc = main(argv)
    _check(rc, capsys.readouterr().err, argv[0], _expand(expected, files), usage)
    # nothing written
    assert not os.path.exists(files['out']) and not os.path.exists(files['out'] + '.pt')


@pytest.mark.parametrize('arguments,expected', [
    ('predict {missing}.png -o {out}', 'no such file'),
    ('bench --node --set model.pretrained=/no/such/file.pt --set nonsense', "'nonsense'"),
    ('demo --set model.device:=gpu', 'model.device must be'),
    ('bag {file} {out}', 'cannot read bag'),
    ('checkpoint --random -o {dir}', 'is a directory'),
], ids=['predict', 'bench-node', 'demo', 'bag', 'checkpoint'])
def test_bad_arguments_in_a_subprocess(arguments, expected, files):
    argv = _expand(arguments, files).split()
    proc = subprocess.run([sys.executable, '-m', 'depthclip_ros.tools.cli'] + argv,
                          capture_output=True, text=True, timeout=120)
    _check(proc.returncode, proc.stderr, argv[0], expected, usage=False)


def test_an_unexpected_error_is_one_line_too(monkeypatch, files, capsys):
    def broken(args):
        raise RuntimeError('something\nunforeseen')
    monkeypatch.setattr(predict, 'run_predict', broken)
    assert main(['predict', FRAME, '-o', files['out']]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ('depthclip predict: error: RuntimeError: something unforeseen '
                           '(unexpected; DEPTHCLIP_DEBUG=1 shows the traceback)')
    monkeypatch.setenv('DEPTHCLIP_DEBUG', '1')
    with pytest.raises(RuntimeError, match='unforeseen'):
        main(['predict', FRAME, '-o', files['out']])


def test_help_and_version_exit_zero(capsys):
    assert main(['--version']) == 0
    assert capsys.readouterr().out.startswith('depthclip ')
    assert main(['demo', '--help']) == 0
    assert '--weights' in capsys.readouterr().out
