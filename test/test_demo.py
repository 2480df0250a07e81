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

"""``depthclip demo``: player and node as real ROS 2 processes, files a person looks at."""

import os
import subprocess
import sys

import cv2
import numpy as np

from depthclip_ros.core.geometry import read_ply
from depthclip_ros.core.sample import sample_frames


def run_demo(args, tmp_path, extra_env=None, timeout=240):
    env = dict(os.environ, **(extra_env or {}))
    return subprocess.run([sys.executable, '-m', 'depthclip_ros.tools.cli', 'demo'] + args,
                          capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=str(tmp_path))


def test_demo_end_to_end_with_a_local_checkpoint(tmp_path, rn50_checkpoint):
    out = tmp_path / 'demo'
    proc = run_demo(['--weights', rn50_checkpoint, '--frames', '3', '--every', '2',
                     '--rate', '4', '--output', str(out), '--device', 'cpu',
                     '--set', 'input.height:=128', '--set', 'input.width:=160'], tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert 'Traceback' not in proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith('weights: RN50 ' + rn50_checkpoint) for line in lines)
    summary = [line for line in lines if line.startswith('demo: ')]
    assert summary and '3 frames' in summary[0] and 'frames/s' in summary[0]
    assert 'latency median' in summary[0]
    strip = cv2.imread(str(out / 'strip_000.png'))
    assert strip is not None and strip.shape[0] == 480 and strip.shape[1] > 3 * 640
    points = read_ply(str(out / 'points.ply'))
    assert len(points) > 1000
    assert (points['z'] > 0).all()


def test_demo_with_two_cameras_on_one_node(tmp_path, rn50_checkpoint):
    out = tmp_path / 'demo2'
    proc = run_demo(['--weights', rn50_checkpoint, '--frames', '2', '--every', '2',
                     '--rate', '4', '--output', str(out), '--device', 'cpu', '--cameras', '2',
                     '--set', 'input.height:=128', '--set', 'input.width:=160'], tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert 'Traceback' not in proc.stderr
    summary = [line for line in proc.stdout.splitlines() if line.startswith('demo: ')]
    assert [line.split(':')[1].strip() for line in summary] == ['cam0', 'cam1'], summary
    assert all(int(line.split(':')[2].split()[0]) >= 2 for line in summary), summary
    strips = {}
    for camera in ('cam0', 'cam1'):
        strips[camera] = cv2.imread(str(out / f'{camera}_strip_000.png'))
        assert strips[camera] is not None and strips[camera].shape[0] == 480
        points = read_ply(str(out / f'{camera}_points.ply'))
        assert len(points) > 1000 and (points['z'] > 0).all()
    # cam1 plays the mirror image of the sample.
    for path in sample_frames():
        mirrored = cv2.imread(str(out / 'mirrored_sample' / os.path.basename(path)))
        np.testing.assert_array_equal(mirrored, cv2.flip(cv2.imread(path), 1))
    log = (out / 'node.log').read_text()
    assert 'subscribed to /demo/cam0/image, /demo/cam1/image' in log


def test_demo_fails_with_one_clear_message_without_weights(tmp_path):
    env = {'HF_HUB_OFFLINE': '1', 'HF_HOME': str(tmp_path / 'hf'),
           'XDG_CACHE_HOME': str(tmp_path / 'cache')}
    proc = run_demo(['--frames', '1', '--output', str(tmp_path / 'o'), '--device', 'cpu'],
                    tmp_path, env)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if 'error' in line]
    assert len(errors) == 1, proc.stderr
    assert 'model.pretrained' in errors[0]
    proc = run_demo(['--weights', str(tmp_path / 'missing' / 'RN50.pt'), '--output',
                     str(tmp_path / 'o')], tmp_path)
    assert proc.returncode == 1 and 'no such file' in proc.stderr
