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
Camera models without ROS: rectification, P for rectified inputs, output sizes, waits.

The distorted images are made the way a lens makes them: every pixel of the raw image looks
up, through the known distortion, the point of an ideal pinhole image of straight lines.
A real lens is not exactly its calibrated model, and a calibration is not exact either: the
rectified lines are straight to the accuracy of the model the camera_info states, which is
all rectification can do (image_proc does the same).
"""

import math
import threading

import cv2
import numpy as np
import pytest

from depthclip_ros.core.config import NodeSettings, output_divisor
from depthclip_ros.core.geometry import camera_geometry, Intrinsics, RectifyMaps
from depthclip_ros.core.outputs import (camera_info_fields, CameraModel, choose_intrinsics,
                                        compute_outputs, output_factor, output_size)
from depthclip_ros.core.scheduler import Frame, Scheduler

W, H = 320, 240
K = (250.0, 0.0, 160.0, 0.0, 250.0, 120.0, 0.0, 0.0, 1.0)
# The rectified camera: a little narrower focal length, so the image keeps its corners.
P = (220.0, 0.0, 158.0, 0.0, 0.0, 221.0, 121.0, 0.0, 0.0, 0.0, 1.0, 0.0)
DISTORTIONS = {
    'plumb_bob': (-0.30, 0.10, 0.001, -0.001, 0.0),
    'rational_polynomial': (-0.30, 0.10, 0.0, 0.0, 0.0, 0.05, 0.01, 0.0),
    'equidistant': (0.10, -0.05, 0.01, 0.0),
}


def _matrix(values, rows=3):
    return np.array(values, dtype=np.float64).reshape(rows, -1)


def _line_image(start, end):
    """Draw one straight white line on black: the ideal (rectified, intrinsics P) image."""
    image = np.zeros((H, W, 3), np.uint8)
    cv2.line(image, start, end, (255, 255, 255), 3, cv2.LINE_AA)
    return image


def _distort(ideal, model, d):
    """Return what the distorted camera (K, D) sees of the scene imaged ``ideal`` by P."""
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    points = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
    k, p = _matrix(K), _matrix(P)[:, :3]
    dist = np.array(d, dtype=np.float64)
    if model == 'equidistant':
        ideal_points = cv2.fisheye.undistortPoints(points, k, dist.reshape(4, 1), R=np.eye(3),
                                                   P=p)
    else:
        ideal_points = cv2.undistortPoints(points, k, dist, R=np.eye(3), P=p)
    maps = ideal_points.reshape(H, W, 2).astype(np.float32)
    return cv2.remap(ideal, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT)


def _straightness(image, vertical):
    """Return the largest distance (px) of the line's centroids from their fitted line."""
    gray = image[..., 0].astype(np.float64)
    if vertical:
        gray = gray.T
    weight = gray.sum(axis=0)
    columns = np.nonzero(weight > 0.5 * weight.max())[0][3:-3]  # not the round line ends
    rows = np.arange(gray.shape[0], dtype=np.float64)
    centroid = (gray[:, columns] * rows[:, None]).sum(axis=0) / weight[columns]
    fit = np.polyfit(columns, centroid, 1)
    return float(np.abs(centroid - np.polyval(fit, columns)).max()), len(columns)


LINES = {'horizontal': ((30, 25), (290, 25), False), 'vertical': ((25, 20), (25, 220), True),
         'diagonal': ((15, 110), (170, 15), False)}


@pytest.mark.parametrize('model', sorted(DISTORTIONS))
@pytest.mark.parametrize('line', sorted(LINES))
def test_rectified_lines_are_straight_and_the_intrinsics_are_p(model, line):
    start, end, vertical = LINES[line]
    ideal = _line_image(start, end)
    raw = _distort(ideal, model, DISTORTIONS[model])
    geo = camera_geometry(W, H, K, DISTORTIONS[model], (), P, model)
    assert geo.problem is None
    assert geo.rectification is not None
    intr = geo.intrinsics
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (P[0], P[5], P[2], P[6])
    assert geo.d == (0.0,) * 5 and geo.distortion_model == 'plumb_bob'
    rectified = RectifyMaps().rectify(raw, geo.rectification)

    bent, _ = _straightness(raw, vertical)
    straight, samples = _straightness(rectified, vertical)
    assert samples > 100
    assert bent > 2.0, f'the distortion is too weak to test anything ({bent:.2f} px)'
    assert straight < 0.5, f'{model} {line}: {straight:.2f} px from straight'
    # Where the rectified line lies: where the pinhole camera P draws it.
    ideal_fit, _ = _straightness(ideal, vertical)
    assert ideal_fit < 0.5
    overlap = (rectified[..., 0] > 128) & (ideal[..., 0] > 128)
    assert overlap.sum() > 0.8 * (ideal[..., 0] > 128).sum()


def test_maps_are_computed_once_per_calibration():
    maps = RectifyMaps()
    geo = camera_geometry(W, H, K, DISTORTIONS['plumb_bob'], (), P, 'plumb_bob')
    image = np.zeros((H, W, 3), np.uint8)
    for _ in range(3):
        maps.rectify(image, geo.rectification)
    assert maps.computed == 1
    other = camera_geometry(W, H, K, (-0.2, 0.0, 0.0, 0.0, 0.0), (), P, 'plumb_bob')
    maps.rectify(image, other.rectification)
    assert maps.computed == 2
    with pytest.raises(ValueError, match='rectification is for 320x240'):
        maps.rectify(np.zeros((10, 10, 3), np.uint8), geo.rectification)


def test_rectified_input_uses_p_and_plain_input_uses_k():
    rectified = camera_geometry(W, H, K, (0.0,) * 5, (), P, 'plumb_bob')
    assert rectified.rectification is None and rectified.problem is None
    assert rectified.intrinsics.k() == [220.0, 0.0, 158.0, 0.0, 221.0, 121.0, 0.0, 0.0, 1.0]
    assert rectified.origin == 'camera_info P (rectified input)'
    plain_p = (250.0, 0.0, 160.0, 0.0, 0.0, 250.0, 120.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    for d, p in (((), ()), ((0.0,) * 5, plain_p), ((0.0,) * 5, (0.0,) * 12)):
        plain = camera_geometry(W, H, K, d, (), p, 'plumb_bob')
        assert plain.intrinsics.k() == list(K) and plain.origin == 'camera_info K'
        assert plain.rectification is None and plain.problem is None
    # camera.rectify false: today's behaviour, K and D passed on.
    legacy = camera_geometry(W, H, K, DISTORTIONS['plumb_bob'], (), P, 'plumb_bob',
                             rectify=False)
    assert legacy.rectification is None and legacy.intrinsics.k() == list(K)
    assert legacy.d == DISTORTIONS['plumb_bob']


def test_stereo_baseline_of_p_is_kept_and_scaled():
    right = P[:3] + (-22.0,) + P[4:]  # -fx * 0.1 m
    choice = choose_intrinsics(CameraModel(W, H, K, 'plumb_bob', (0.0,) * 5, p=right), W, H,
                               60.0, rectify=True)
    fields = camera_info_fields(choice.intrinsics.scaled(W // 2, H // 2), choice.published)
    assert fields['p'][3] == pytest.approx(-11.0)
    assert fields['p'][0] == pytest.approx(110.0) and fields['d'] == [0.0] * 5


BAD = {
    'nan_d': (dict(d=(math.nan, 0.0, 0.0, 0.0, 0.0)), 'non-finite', (0.0,) * 5),
    'wrong_length_d': (dict(d=(-0.3, 0.1, 0.0)), 'must have', (-0.3, 0.1, 0.0)),
    'unknown_model': (dict(model='kannala_brandt_9', d=(0.1,) * 9), 'cannot be rectified',
                      (0.1,) * 9),
    'nan_p': (dict(p=(math.nan,) * 12), 'non-finite', None),
    'short_p': (dict(p=(1.0, 2.0)), '12 values', None),
    'absurd_p': (dict(p=(25000.0, 0, 160, 0, 0, 25000.0, 120, 0, 0, 0, 1, 0)),
                 'disagrees absurdly', None),
    'negative_p': (dict(p=(-220.0, 0, 160, 0, 0, 220.0, 120, 0, 0, 0, 1, 0)),
                   'fx must be > 0', None),
    'nan_r': (dict(r=(math.nan,) * 9), 'R must be', None),
    'not_a_rotation': (dict(r=(2.0, 0, 0, 0, 2.0, 0, 0, 0, 2.0)), 'not a rotation', None),
}


@pytest.mark.parametrize('case', sorted(BAD))
def test_invalid_distortion_or_projection_is_ignored_with_a_reason(case):
    values, words, published_d = BAD[case]
    d = values.get('d', DISTORTIONS['plumb_bob'])
    geo = camera_geometry(W, H, K, d, values.get('r', ()), values.get('p', P),
                          values.get('model', 'plumb_bob'))
    assert geo.problem is not None and words in geo.problem, geo.problem
    assert all(math.isfinite(v) for v in geo.intrinsics.k())
    if published_d is not None:  # D unusable: not rectified, K
        assert geo.rectification is None and geo.intrinsics.k() == list(K)
        assert geo.d == published_d
    elif 'p' in values:  # P unusable: rectified into K
        assert geo.rectification is not None and geo.intrinsics.k() == list(K)
        assert geo.d == (0.0,) * 5
    else:  # R unusable: rectified without it
        assert geo.rectification is not None and geo.rectification.r == (
            1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    # Through the output path: never an exception, finite intrinsics.
    model = CameraModel(W, H, K, values.get('model', 'plumb_bob'), d,
                        values.get('r', (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)),
                        values.get('p', P))
    choice = choose_intrinsics(model, W, H, 60.0, rectify=True)
    assert choice.problem == geo.problem and not choice.fov_fallback
    fields = camera_info_fields(choice.intrinsics, choice.published)
    assert all(math.isfinite(v) for v in fields['k'] + fields['p'] + fields['d'])


def test_unusable_k_falls_back_to_the_field_of_view():
    choice = choose_intrinsics(CameraModel(W, H, (0.0,) * 9), W, H, 60.0, rectify=True)
    assert choice.fov_fallback and 'fx must be > 0' in choice.problem
    assert choice.intrinsics == Intrinsics.from_fov(W, H, 60.0)


# -------------------------------------------------------------------------------------------
# output_scale
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize('scale, n', [(1.0, 1), (0.5, 2), (0.3333, 3), (0.333, 3),
                                      (1 / 3, 3), (0.25, 4), (0.2, 5), (0.125, 8),
                                      (0.1, 10)])
def test_output_scale_is_one_over_n(scale, n):
    assert output_divisor(scale) == n
    assert NodeSettings.from_flat({'output_scale': scale}).output_scale == scale


@pytest.mark.parametrize('scale', [0.3, 0.6, 0.75, 0.9, 0.4, 0.33])
def test_other_output_scales_are_refused_naming_the_nearest(scale):
    with pytest.raises(ValueError, match=r'1/N .*nearest: '):
        NodeSettings.from_flat({'output_scale': scale})


@pytest.mark.parametrize('width, height', [(640, 480), (160, 120), (544, 416), (1280, 720),
                                           (161, 121), (99, 77)])
@pytest.mark.parametrize('scale', [1.0, 0.5, 1 / 3, 0.25, 0.2, 0.125])
def test_output_size_divides_the_input_on_both_axes(width, height, scale):
    out_w, out_h = output_size(width, height, scale)
    used, asked = output_factor(width, height, scale)
    assert width == out_w * used and height == out_h * used
    assert used <= asked  # never coarser than asked
    if width % asked == 0 and height % asked == 0:
        assert used == asked


# -------------------------------------------------------------------------------------------
# depth.min_confidence
# -------------------------------------------------------------------------------------------
def test_depth_below_the_confidence_is_nan_and_off_by_default():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 3.0, (12, 16)).astype(np.float32)
    confidence = rng.uniform(0.0, 1.0, (12, 16)).astype(np.float32)
    rgb = np.zeros((12, 16, 3), np.uint8)
    choice = choose_intrinsics(None, 16, 12, 60.0)
    off = compute_outputs(depth, confidence, rgb, choice, NodeSettings(), (1.0, 3.0))
    assert np.isfinite(off.depth).all()
    settings = NodeSettings.from_flat({'depth.min_confidence': 0.5, 'cloud.stride': 1})
    out = compute_outputs(depth, confidence, rgb, choice, settings, (1.0, 3.0))
    assert out.depth.dtype == np.float32
    low = confidence < 0.5
    assert np.isnan(out.depth[low]).all()
    np.testing.assert_array_equal(out.depth[~low], depth[~low])
    assert (out.colorized[low] == 0).all()
    cloud = np.frombuffer(out.cloud['data'], dtype=np.float32).reshape(12, 16, 3)
    assert np.isnan(cloud[low]).all() and np.isfinite(cloud[~low]).all()


# -------------------------------------------------------------------------------------------
# The scheduler: frames wait for their camera_info
# -------------------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _frame(stamp, received, expected=True):
    return Frame(message=None, compressed=False, camera=None, stamp_ns=stamp, frame_id='f',
                 received=received, info_expected=expected)


def _take_in_thread(scheduler, timeout):
    result = {}

    def run():
        result['batch'] = scheduler.take_batch(info_timeout=lambda: timeout)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_a_frame_waits_for_the_first_camera_info_and_gets_it():
    logs = []
    scheduler = Scheduler([''], lambda level, text: logs.append(text), clock=Clock())
    camera = scheduler.cameras[0]
    scheduler.offer(camera, _frame(1, 100.0))
    thread, result = _take_in_thread(scheduler, 3600.0)
    thread.join(0.2)
    assert thread.is_alive()  # waits (nothing to do with time: an hour of timeout)
    scheduler.offer_info(camera, 'model-2', 2)
    thread.join(30.0)
    (_, frame), = result['batch']
    assert frame.stamp_ns == 1 and frame.camera == 'model-2'  # the newest
    assert scheduler.counts()['dropped'] == 0 and not logs


def test_without_a_publisher_or_past_the_timeout_the_frame_goes_with_fov():
    clock = Clock()
    logs = []
    scheduler = Scheduler([''], lambda level, text: logs.append(text), clock=clock)
    camera = scheduler.cameras[0]
    scheduler.offer(camera, _frame(1, 100.0, expected=False))
    (_, frame), = scheduler.take_batch(info_timeout=lambda: 2.0)
    assert frame.camera is None
    # With a publisher: the frame waits until 2 s after it came, then goes without.
    scheduler.offer(camera, _frame(2, 100.0))
    clock.now = 102.0
    (_, frame), = scheduler.take_batch(info_timeout=lambda: 2.0)
    assert frame.camera is None and scheduler.counts()['camera_info_timeouts'] == 1
    assert any('within camera.info_timeout=2 s' in line for line in logs)
    # Once timed out, later frames do not wait again; a camera_info ends it.
    scheduler.offer(camera, _frame(3, 102.5))
    (_, frame), = scheduler.take_batch(info_timeout=lambda: 2.0)
    assert frame.camera is None
    scheduler.offer_info(camera, 'late', 50)
    scheduler.offer(camera, _frame(4, 102.6))
    (_, frame), = scheduler.take_batch(info_timeout=lambda: 2.0)
    assert frame.camera == 'late'
    assert any('using its intrinsics from now on' in line for line in logs)


def test_frames_pair_with_the_camera_info_of_their_stamp():
    clock = Clock()
    scheduler = Scheduler([''], lambda level, text: None, clock=clock)
    camera = scheduler.cameras[0]
    for stamp in (1, 2, 3):
        scheduler.offer_info(camera, f'model-{stamp}', stamp)
    scheduler.offer(camera, _frame(2, 100.0))
    (_, frame), = scheduler.take_batch(info_timeout=lambda: 2.0)
    assert frame.camera == 'model-2'
    # The camera stamps its camera_info like its images: a frame whose own has not come
    # yet waits for it (images often arrive first), and a newer frame replaces it as usual.
    scheduler.offer(camera, _frame(4, 100.0))
    thread, result = _take_in_thread(scheduler, 3600.0)
    thread.join(0.2)
    assert thread.is_alive()
    scheduler.offer_info(camera, 'model-4', 4)
    thread.join(30.0)
    (_, frame), = result['batch']
    assert frame.camera == 'model-4'
    # Its own never comes: after the timeout the newest.
    scheduler.offer(camera, _frame(5, 100.0))
    clock.now = 102.0
    (_, frame), = scheduler.take_batch(info_timeout=lambda: 2.0)
    assert frame.camera == 'model-4'
    # Pairing again once one matches; a camera_info newer than the frame came: the
    # frame's own is lost, no wait.
    scheduler.offer(camera, _frame(6, 102.0))
    scheduler.offer_info(camera, 'model-6', 6)
    assert camera.info_paired
    (_, frame), = scheduler.take_batch(info_timeout=lambda: 3600.0)
    assert frame.camera == 'model-6'
    scheduler.offer(camera, _frame(7, 102.0))
    scheduler.offer_info(camera, 'model-8', 8)
    (_, frame), = scheduler.take_batch(info_timeout=lambda: 3600.0)
    assert frame.camera == 'model-8'


def test_a_camera_info_with_every_tenth_image_only_makes_one_frame_wait():
    clock = Clock()
    scheduler = Scheduler([''], lambda level, text: None, clock=clock)
    camera = scheduler.cameras[0]
    for stamp in range(1, 31):
        scheduler.offer(camera, _frame(stamp, clock.now))
        if stamp % 10 == 1:
            scheduler.offer_info(camera, f'model-{stamp}', stamp)
        if stamp == 2:  # the second frame cannot know yet: it waits for its own, once
            clock.now += 2.0
        thread, result = _take_in_thread(scheduler, 2.0)
        thread.join(30.0)
        assert not thread.is_alive(), f'frame {stamp} waits'
        (_, frame), = result['batch']
        assert frame.camera == f'model-{stamp - (stamp - 1) % 10}'
