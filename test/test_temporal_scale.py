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
Steady and metric depth: the temporal filter and the ground-plane scale (ROS-free).

The ground-scale tests use the bundled synthetic room, whose depth is exact and whose
camera is known (1.0 m above the floor, pitched 3 degrees down): predictions are made from
the ground truth divided by 1.7, with DepthCLIP-like errors (a smooth multiplicative field,
5 % per 32 x 32 patch, plus 2 % per pixel) and a wrong depth on the boxes standing on the
floor. Everything is seeded: the same numbers on every machine.
"""

import math

import cv2
import numpy as np
import pytest
import torch

from depthclip_ros.core.config import NodeSettings, ScaleSettings, TemporalSettings
from depthclip_ros.core.engine import DepthClipEngine
from depthclip_ros.core.filters import CameraFilters
from depthclip_ros.core.sample import load_sample_depth, load_sample_rgb, sample_intrinsics
from depthclip_ros.core.scale import (fit_ground_scale, floor_down_vector, GroundScale,
                                      Mounting)
from depthclip_ros.core.temporal import scene_change, TemporalFilter

TRUE_SCALE = 1.7
HEIGHT, PITCH = 1.0, 3.0  # the sample camera


def smooth_noise(shape, sigma, rng, patch=32):
    """Return a multiplicative error field: one log-normal value per patch, upsampled."""
    h, w = shape
    small = rng.normal(0.0, sigma, (h // patch + 1, w // patch + 1)).astype(np.float32)
    return np.exp(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))


def floor_mask(gt):
    intr = sample_intrinsics()
    v = np.arange(gt.shape[0])[:, None]
    down = floor_down_vector(PITCH)
    g = down[1] * (v - intr.cy) / intr.fy + down[2]
    return np.abs(gt * g - HEIGHT) < 0.01


def prediction(index, rng):
    """Ground truth / 1.7 with DepthCLIP-like errors and wrong depth on the boxes."""
    gt = load_sample_depth(index)
    pred = gt / TRUE_SCALE * smooth_noise(gt.shape, 0.05, rng) \
        * np.exp(rng.normal(0.0, 0.02, gt.shape)).astype(np.float32)
    objects = ~floor_mask(gt) & (gt < 3.9)  # the boxes (the walls are at 4.2 m and beyond)
    pred[objects] *= np.float32(rng.uniform(0.5, 1.5))
    return pred.astype(np.float32)


# -------------------------------------------------------------------------------------------
# ground scale
# -------------------------------------------------------------------------------------------
def test_fitted_scale_is_within_2_percent_with_the_right_mounting():
    rng = np.random.default_rng(0)
    intr = sample_intrinsics()
    for index in range(4):
        fit = fit_ground_scale(prediction(index, rng), intr, HEIGHT, PITCH)
        assert fit.scale == pytest.approx(TRUE_SCALE, rel=0.02), index
        assert fit.inlier_fraction > 0.05
    # exact predictions: exact scale
    exact = fit_ground_scale(load_sample_depth(0) / TRUE_SCALE, intr, HEIGHT, PITCH)
    assert exact.scale == pytest.approx(TRUE_SCALE, rel=0.005)


@pytest.mark.parametrize('pitch_error', [5.0, -5.0])
def test_live_scale_is_within_10_percent_with_a_5_degree_pitch_error(pitch_error):
    """The live estimator learns the pitch correction from the floor over a few frames."""
    rng = np.random.default_rng(0)
    intr = sample_intrinsics()
    settings = ScaleSettings(mode='ground', camera_height=HEIGHT,
                             camera_pitch_deg=PITCH + pitch_error)
    scale = GroundScale()
    for frame in range(20):
        factor = scale.update(prediction(frame % 4, rng), intr, settings, depth_scale=1.0)
    assert scale.state == 'fitting'
    assert factor == pytest.approx(TRUE_SCALE, rel=0.10)
    assert abs(scale.floor_pitch_deg - PITCH) < abs(pitch_error)  # corrected towards 3 deg
    # trusting the wrong pitch instead costs far more than 10 %
    fixed = fit_ground_scale(prediction(0, rng), intr, HEIGHT, PITCH + pitch_error)
    assert abs(fixed.scale / TRUE_SCALE - 1.0) > 0.10


def test_no_floor_in_view_holds_the_last_scale_and_says_so():
    rng = np.random.default_rng(0)
    intr = sample_intrinsics()
    settings = ScaleSettings(mode='ground', camera_height=HEIGHT, camera_pitch_deg=PITCH,
                             smoothing=0.0)
    scale = GroundScale()
    assert scale.update(prediction(0, rng), intr, settings, 1.0) == pytest.approx(
        TRUE_SCALE, rel=0.02)
    good = scale.scale
    wall = np.full((intr.height, intr.width), 0.9, np.float32)  # a wall 0.9 m ahead (x 1.7)
    wall[intr.height // 2:] = np.nan  # nothing valid below the horizon either
    assert scale.update(wall, intr, settings, 1.0) == good
    assert scale.state == 'holding' and 'holding' in scale.reason
    assert scale.inlier_fraction < settings.min_inliers
    # out of bounds: held as well
    tight = ScaleSettings(mode='ground', camera_height=HEIGHT, camera_pitch_deg=PITCH,
                          max=1.5)
    assert scale.update(prediction(1, rng), intr, tight, 1.0) == good
    assert scale.state == 'out of bounds'
    # fixed mode: factor 1, whatever was learnt
    assert scale.update(prediction(1, rng), intr, ScaleSettings(), 1.0) == 1.0
    assert scale.state == 'fixed'


def test_scale_follows_depth_scale_and_camera_height():
    rng = np.random.default_rng(1)
    intr = sample_intrinsics()
    pred = prediction(2, rng)
    base = ScaleSettings(mode='ground', camera_height=HEIGHT, camera_pitch_deg=PITCH,
                         smoothing=0.0, refine_pitch=False)
    one = GroundScale().update(pred, intr, base, 1.0)
    # the prediction was made with depth_scale 2: the factor halves, the total stays
    halved = GroundScale()
    assert halved.update(pred * 2, intr, base, 2.0) == pytest.approx(one / 2, rel=1e-4)
    assert halved.scale == pytest.approx(one, rel=1e-4)
    # a camera twice as high: twice the scale
    higher = ScaleSettings(mode='ground', camera_height=2 * HEIGHT, camera_pitch_deg=PITCH,
                           smoothing=0.0, refine_pitch=False)
    assert GroundScale().update(pred, intr, higher, 1.0) == pytest.approx(2 * one, rel=1e-4)


def test_mounting_from_tf_rotation():
    """An optical frame (z forward, y down) under a z-up floor frame, pitched 10 deg down."""
    pitch = math.radians(10.0)
    # rotation optical -> floor: columns are the optical axes in the floor frame
    rotation = np.array([[0.0, -math.sin(pitch), math.cos(pitch)],
                         [-1.0, 0.0, 0.0],
                         [0.0, -math.cos(pitch), -math.sin(pitch)]])
    w = math.sqrt(1.0 + np.trace(rotation)) / 2.0
    quaternion = ((rotation[2, 1] - rotation[1, 2]) / (4 * w),
                  (rotation[0, 2] - rotation[2, 0]) / (4 * w),
                  (rotation[1, 0] - rotation[0, 1]) / (4 * w), w)
    mounting = Mounting.from_quaternion(1.25, quaternion)
    assert mounting.height == 1.25
    assert mounting.pitch_deg == pytest.approx(10.0, abs=1e-9)
    assert mounting.roll_deg == pytest.approx(0.0, abs=1e-9)
    assert Mounting.from_down(1.0, floor_down_vector(4.0, 7.0)).roll_deg == pytest.approx(7.0)


# -------------------------------------------------------------------------------------------
# temporal filter
# -------------------------------------------------------------------------------------------
def distribution(seed, shape=(7, 4, 5)):
    p = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    return p / p.sum(dim=0, keepdim=True)


def test_filter_is_an_exponential_average_of_distributions():
    settings = TemporalSettings(enable=True, alpha=0.25, reset_threshold=1.0, max_gap=1.0)
    filt = TemporalFilter()
    p0, p1 = distribution(0), distribution(1)
    assert torch.equal(filt.update(p0, 0, settings), p0)  # first frame: as it is
    out = filt.update(p1, 100_000_000, settings)
    torch.testing.assert_close(out, 0.25 * p1 + 0.75 * p0)
    torch.testing.assert_close(out.sum(dim=0), torch.ones(4, 5))  # still a distribution
    assert filt.resets == 1 and filt.last_reset == 'first frame'
    assert filt.last_change == pytest.approx(scene_change(p1, p0))


@pytest.mark.parametrize('case', ['gap', 'backwards', 'scene_change', 'classes_changed',
                                  'disabled'])
def test_filter_resets(case):
    settings = TemporalSettings(enable=True, alpha=0.25, reset_threshold=0.05, max_gap=1.0)
    filt = TemporalFilter()
    p0, p1 = distribution(0), distribution(1)
    filt.update(p0, 10 * 10 ** 9, settings)
    new, stamp = 0.9 * p0 + 0.1 * p1, 10 * 10 ** 9 + 10 ** 8  # a small change, 0.1 s later
    words = ''
    if case == 'gap':
        stamp, words = 12 * 10 ** 9, 'since the last frame'
    elif case == 'backwards':
        stamp, words = 9 * 10 ** 9, 'went backwards'
    elif case == 'scene_change':
        new, words = p1, 'scene change'
    elif case == 'classes_changed':
        new, words = distribution(2, (5, 4, 5)), 'depth classes changed'
    elif case == 'disabled':
        settings = TemporalSettings(enable=False)
    out = filt.update(new, stamp, settings)
    assert torch.equal(out, new)
    if case == 'disabled':
        assert not filt.active and 'enable is false' in filt.last_reset
    else:
        assert filt.resets == 2 and words in filt.last_reset, filt.last_reset
    # the small change itself does not reset
    calm = TemporalFilter()
    calm.update(p0, 0, TemporalSettings(enable=True, reset_threshold=0.05))
    calm.update(0.9 * p0 + 0.1 * p1, 10 ** 8, TemporalSettings(enable=True, reset_threshold=0.05))
    assert calm.resets == 1


@pytest.fixture(scope='module')
def engine(small_overrides):
    from depthclip_ros.core.config import DepthClipConfig
    return DepthClipEngine(DepthClipConfig.from_flat(dict(small_overrides, flip_tta=False)))


def test_filters_off_leave_the_paper_depth_bit_for_bit(engine):
    image = load_sample_rgb(0)
    filters = CameraFilters()
    settings = NodeSettings()
    step = filters.step(123, settings)
    assert step is None
    plain = engine.predict([image])[0]
    same = engine.predict([image], steps=[step])[0]
    assert np.array_equal(plain.depth, same.depth)
    assert np.array_equal(plain.confidence, same.confidence)
    depth, _ = filters.scaled(plain.depth, sample_intrinsics(), settings, engine.state)
    assert depth is plain.depth  # ground scale in fixed mode: the depth itself


def test_every_camera_keeps_its_own_history(engine):
    settings = NodeSettings(temporal_enable=True, temporal_alpha=0.5,
                            temporal_reset_threshold=1.0)
    first, second = CameraFilters(), CameraFilters()
    a, b = load_sample_rgb(0), load_sample_rgb(3)
    engine.predict([a, b], steps=[first.step(0, settings), second.step(0, settings)])
    out = engine.predict([b, a], steps=[first.step(10 ** 8, settings),
                                        second.step(10 ** 8, settings)])
    # each camera's output is what it would be with that camera alone (a then b, b then a)
    for index, (before, now) in enumerate(((a, b), (b, a))):
        alone = CameraFilters()
        engine.predict([before], steps=[alone.step(0, settings)])
        expected = engine.predict([now], steps=[alone.step(10 ** 8, settings)])[0].depth
        np.testing.assert_allclose(out[index].depth, expected, rtol=1e-4, atol=1e-4)
        # and differs from the frame without history: the filter did blend
        assert not np.allclose(out[index].depth, engine.predict([now])[0].depth, atol=1e-4)
    second.temporal.reset('test')  # a reset of one camera never touches another
    assert first.temporal.active and not second.temporal.active
    assert first.temporal.resets == 1


def test_bench_temporal_measures_flicker_and_settling(engine):
    from depthclip_ros.tools.bench_temporal import run_temporal_benchmark
    result = run_temporal_benchmark(engine, NodeSettings(), static=8, after=3, warmup=3)
    for key in ('flicker_off_m', 'flicker_on_m', 'flicker_ratio', 'settle_frames', 'alpha'):
        assert key in result, key
    assert result['flicker_on_m'] < result['flicker_off_m']
    assert result['alpha'] == NodeSettings().temporal_alpha
    assert result['scene_change_at_cut'] > result['scene_change_static_max']
