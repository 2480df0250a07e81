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
``depthclip demo``: player and node as real ROS 2 processes, files a person looks at.

Nothing here depends on the machine's speed: the demo counts exactly ``--frames`` depth
frames whenever they come, and the assertions hold for any frame rate and latency.
"""

import os
import subprocess
import sys

import cv2
import numpy as np

from depthclip_ros.core.geometry import read_ply
from depthclip_ros.core.sample import sample_frames
from depthclip_ros.tools.demo import (_Stream, add_banner, add_ply_comment, cloud_key,
                                      frame_settled, RANDOM_BANNER, strip_choices)

SMALL = ['--device', 'cpu', '--set', 'input.height:=128', '--set', 'input.width:=160',
         '--set', 'model.backend:=torch']


def run_demo(args, tmp_path, extra_env=None, timeout=600):
    env = dict(os.environ, **(extra_env or {}))
    return subprocess.run([sys.executable, '-m', 'depthclip_ros.tools.cli', 'demo'] + args,
                          capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=str(tmp_path))


def test_demo_end_to_end_with_a_local_checkpoint(tmp_path, rn50_checkpoint):
    out = tmp_path / 'demo'
    proc = run_demo(['--weights', rn50_checkpoint, '--frames', '3', '--every', '2',
                     '--rate', '4', '--output', str(out), '--device', 'cpu',
                     '--set', 'input.height:=128', '--set', 'input.width:=160',
                     '--set', 'model.backend:=torch'], tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert 'Traceback' not in proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith('weights: RN50 ' + rn50_checkpoint) for line in lines)
    summary = [line for line in lines if line.startswith('demo: ')]
    assert summary and '3 frames' in summary[0] and 'frames/s' in summary[0]
    assert 'latency median' in summary[0]
    # exactly the goal: frames after the third are not counted, whatever the rate
    assert len(summary) == 1 and summary[0].startswith('demo: 3 frames, ')
    assert 'RANDOM' not in proc.stdout  # a local checkpoint: no mark
    strip = cv2.imread(str(out / 'strip_000.png'))
    assert strip is not None and strip.shape[0] == 480 and strip.shape[1] > 3 * 640
    # --every 2 of 3 frames: the strips of frames 1 and 3
    assert (out / 'strip_001.png').exists()
    assert not (out / 'strip_002.png').exists()
    points = read_ply(str(out / 'points.ply'))
    assert len(points) > 1000
    assert (points['z'] > 0).all()


def test_demo_with_two_cameras_on_one_node(tmp_path, rn50_checkpoint):
    out = tmp_path / 'demo2'
    proc = run_demo(['--weights', rn50_checkpoint, '--frames', '2', '--every', '2',
                     '--rate', '4', '--output', str(out), '--device', 'cpu', '--cameras', '2',
                     '--set', 'input.height:=128', '--set', 'input.width:=160',
                     '--set', 'model.backend:=torch'], tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert 'Traceback' not in proc.stderr
    summary = [line for line in proc.stdout.splitlines() if line.startswith('demo: ')]
    assert [line.split(':')[1].strip() for line in summary] == ['cam0', 'cam1'], summary
    assert all(int(line.split(':')[2].split()[0]) >= 2 for line in summary), summary
    assert all(int(line.split(':')[2].split()[0]) == 2 for line in summary), summary
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


def _random_cache(tmp_path, rn50_checkpoint):
    """Return a cache folder whose seeded random RN50 weights are the session's (same seed)."""
    cache = tmp_path / 'cache'
    (cache / 'depthclip').mkdir(parents=True)
    os.symlink(rn50_checkpoint, cache / 'depthclip' / 'RN50-random-seed0.safetensors')
    return str(cache)


def _assert_marked_random(proc, out):
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert 'Traceback' not in proc.stderr
    lines = proc.stdout.splitlines()
    weights = [line for line in lines if line.startswith('weights: ')]
    summary = [line for line in lines if line.startswith('demo: ') and ' frames, ' in line]
    assert len(weights) == 1 and weights[0].endswith(f'({RANDOM_BANNER})'), lines
    assert len(summary) == 1 and summary[0].endswith(f'; {RANDOM_BANNER}'), lines
    strip = cv2.imread(str(out / 'strip_000.png'))
    band = strip[:strip.shape[0] - 480]  # the banner above the 480-row strip
    assert band.shape[0] >= 20 and band.shape[1] > 3 * 640
    assert (band[:3] == (0, 0, 200)).all()  # red across the whole width
    assert (band.min(axis=2) > 200).sum() > 1000  # white letters
    with open(out / 'points.ply', 'rb') as f:
        header = f.read(400).split(b'end_header')[0].decode('ascii')
    assert f'comment {RANDOM_BANNER}' in header.splitlines()
    assert len(read_ply(str(out / 'points.ply'))) > 1000


def test_demo_falls_back_to_marked_random_weights_when_the_tag_cannot_be_obtained(
        tmp_path, rn50_checkpoint):
    # A tag that is certainly not in this empty cache, offline: it cannot be obtained.
    env = {'HF_HUB_OFFLINE': '1', 'HF_HOME': str(tmp_path / 'hf'),
           'XDG_CACHE_HOME': _random_cache(tmp_path, rn50_checkpoint)}
    out = tmp_path / 'o'
    proc = run_demo(['--frames', '1', '--every', '1', '--rate', '4', '--output', str(out),
                     '--set', 'model.pretrained:=openai'] + SMALL, tmp_path, env)
    _assert_marked_random(proc, out)
    notes = [line for line in proc.stdout.splitlines() if 'cannot be obtained' in line]
    assert len(notes) == 1 and 'make demo WEIGHTS=/path/to/RN50.pt' in notes[0], proc.stdout
    assert "'openai' weights of RN50" in notes[0]
    assert proc.stderr.count('error') == 0, proc.stderr
    # The node did not fall back itself: it stopped with its model.pretrained error, and
    # the demo started it again with the random checkpoint.
    log = (out / 'node.log').read_text()
    assert 'FATAL' in log and "cannot obtain the 'openai' weights" in log
    assert 'RN50-random-seed0.safetensors' in (out / 'node_params.yaml').read_text()


def test_demo_with_random_weights_is_marked(tmp_path, rn50_checkpoint):
    env = {'XDG_CACHE_HOME': _random_cache(tmp_path, rn50_checkpoint)}
    out = tmp_path / 'o'
    proc = run_demo(['--weights', 'random', '--frames', '1', '--every', '1', '--rate', '4',
                     '--output', str(out)] + SMALL, tmp_path, env)
    _assert_marked_random(proc, out)
    assert 'cannot be obtained' not in proc.stdout


def test_a_due_frame_with_a_missing_image_gives_way_to_the_next():
    """
    A frame whose colorized image never came gives its strip to the next frame.

    Right after start-up the node may publish a frame before it matched the listener's
    colorized subscription; the demo does not wait for an image that never comes.
    """
    stream = _Stream({'name': '', 'prefix': '', 'input': 'image', 'out': ''})
    stream.counted, stream.pending = [1, 2, 3], [1, 3]
    for key in (1, 2, 3):
        stream.inputs[key] = stream.confidence[key] = object()
    stream.colorized[2] = object()  # frame 1's colorized image never came
    assert frame_settled(stream, 1)  # a later one came: this one never will
    assert not frame_settled(stream, 3)  # frame 3's may still come
    assert strip_choices(stream) == ({1: 2}, False)  # frame 3: wait for its images
    stream.colorized[3] = object()
    assert frame_settled(stream, 3)
    assert strip_choices(stream) == ({1: 2, 3: 3}, True)


def test_the_last_due_frame_gives_way_to_a_frame_after_the_goal():
    """
    The last due frame's images lost: a frame after the goal makes its strip and its cloud.

    As for a listener starved of CPU on a slow machine for longer than the node's output
    history (5 frames) lets a reliable writer keep what it has not delivered.
    """
    stream = _Stream({'name': '', 'prefix': '', 'input': 'image', 'out': ''})
    stream.counted, stream.pending = [1, 2, 3], [1, 3]
    for key in (1, 2, 3, 4, 5, 6):
        stream.inputs[key] = object()
    for key in (1, 2, 5, 6):  # frame 3's and 4's colorized images were replaced unsent
        stream.colorized[key] = stream.confidence[key] = stream.clouds[key] = object()
    stream.confidence[4] = object()
    assert strip_choices(stream) == ({1: 1, 3: 5}, True)
    assert cloud_key(stream) == 5
    stream.clouds[3] = object()
    assert cloud_key(stream) == 3
    # nothing after the lost frame yet: undecided, the demo waits for the next frames
    late = _Stream({'name': '', 'prefix': '', 'input': 'image', 'out': ''})
    late.counted, late.pending = [1, 2, 3], [3]
    late.inputs[3] = late.confidence[3] = object()
    late.colorized[2] = object()
    assert strip_choices(late) == ({}, False) and cloud_key(late) is None
    late.inputs[4] = object()  # the camera's next frame, not processed yet
    assert strip_choices(late) == ({}, False)
    late.colorized[4] = late.confidence[4] = late.clouds[4] = object()
    assert strip_choices(late) == ({3: 4}, True) and cloud_key(late) == 4


def test_banner_and_ply_comment(tmp_path):
    strip = np.full((480, 2000, 3), 90, np.uint8)
    marked = add_banner(strip)
    assert marked.shape[1] == 2000 and marked.shape[0] > 480
    np.testing.assert_array_equal(marked[-480:], strip)  # nothing of the strip is covered
    from depthclip_ros.core.geometry import write_ply, XYZ_DTYPE
    points = np.zeros(3, XYZ_DTYPE)
    points['z'] = [1.0, 2.0, 3.0]
    path = str(tmp_path / 'p.ply')
    write_ply(path, points)
    add_ply_comment(path, RANDOM_BANNER)
    assert list(read_ply(path)['z']) == [1.0, 2.0, 3.0]
    with open(path, 'rb') as f:
        assert f.read().split(b'\n')[:3] == [b'ply', b'format binary_little_endian 1.0',
                                             f'comment {RANDOM_BANNER}'.encode()]


def test_demo_fails_with_one_clear_message_for_a_missing_weights_file(tmp_path):
    proc = run_demo(['--weights', str(tmp_path / 'missing' / 'RN50.pt'), '--output',
                     str(tmp_path / 'o')], tmp_path)
    assert proc.returncode == 1 and 'no such file' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if 'error' in line]) == 1


def test_demo_refuses_a_bad_number_before_starting_anything(tmp_path):
    proc = run_demo(['--frames', '0', '--output', str(tmp_path / 'o')], tmp_path, timeout=60)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert 'argument --frames: must be >= 1, got 0' in proc.stderr
    assert not (tmp_path / 'o').exists()


def test_demo_with_queries_writes_an_overlay_beside_the_strip(tmp_path, rn50_checkpoint):
    # Random weights mean nothing; with threshold 0 and 'sky' as the only background word
    # the chair wins every pixel of the sample (see test_bag.py): a found query to draw.
    out = tmp_path / 'demo'
    proc = run_demo(['--weights', rn50_checkpoint, '--frames', '1', '--every', '1',
                     '--rate', '4', '--output', str(out), '--query', 'door', '--query', 'chair',
                     '--set', 'grounding.threshold:=0.0', '--set', 'grounding.background:=[sky]',
                     '--set', 'model.precision:=fp32'] + SMALL, tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert 'Traceback' not in proc.stderr
    lines = proc.stdout.splitlines()
    answers = [line for line in lines if line.startswith('grounding: overlay_000.png: ')]
    assert len(answers) == 2, lines
    assert [line.split(': ')[2] for line in answers] == ['door', 'chair']
    assert any(' m at (' in line for line in answers), answers  # a found query
    assert any('wrote 1 grounding overlay(s)' in line for line in lines), lines
    overlay = cv2.imread(str(out / 'overlay_000.png'))
    strip = cv2.imread(str(out / 'strip_000.png'))
    assert overlay.shape == (480, 640, 3) and strip is not None
    # the outline and the label are drawn over the input: it differs from every sample frame
    for path in sample_frames():
        assert (np.abs(overlay.astype(int) - cv2.imread(path).astype(int)).max(axis=2)
                > 40).sum() > 200
    params = (out / 'node_params.yaml').read_text()
    assert 'grounding.queries' in params or 'queries' in params
