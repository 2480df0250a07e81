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
The ground scale on what DepthCLIP really outputs: saturated, compressed depth.

The construction (:mod:`depthclip_ros.tools.ground_bench`): ray-cast rooms (floor, walls,
boxes; the cluttered ones hide at least 40 % of their floor), cameras 0.2 to 2.5 m up,
pitched 0 to 45 deg, rolled +-5 deg, 120 x 160 pixels; predictions = exact depth / k with
6 % per 32 x 32 patch and 2 % per pixel (log-normal), the boxes off by a factor each, then
clamped to the default bins [1, 3] m, with k such that 10 to 60 % of the floor saturates;
for the compression cases, pulled towards the bins' mean (factor 0.7 to 0.8). How the real
world differs and is tested too: a softmax saturates gradually, not at a hard limit (the
``soft`` predictions); the real errors persist from frame to frame (here they are drawn
afresh for every frame, which averages them away faster). Everything is seeded.
"""

from dataclasses import replace
import math

import numpy as np
import pytest

from depthclip_ros.core.config import ScaleSettings
from depthclip_ros.core.scale import (fit_ground_scale, floor_down_vector, GroundScale,
                                      MAX_TILT_DEG, saturation_limits)
from depthclip_ros.tools import ground_bench as gb

CASES = gb.CASES


def test_the_construction_is_a_room_seen_by_the_camera_it_says():
    for case in (CASES[1], CASES[5], CASES[9]):
        down = gb.optical_to_world(case.pitch_deg, case.roll_deg).T @ np.array([0, 0, -1.0])
        np.testing.assert_allclose(down, floor_down_vector(case.pitch_deg, case.roll_deg),
                                   atol=1e-12)
        view = gb.scene(case, 0)
        depth, floor = view['depth'], view['floor']
        # every floor pixel lies on the plane `height` below the camera
        v, u = np.nonzero(floor)
        rays = np.stack([(u - gb.INTRINSICS.cx) / gb.INTRINSICS.fx,
                         (v - gb.INTRINSICS.cy) / gb.INTRINSICS.fy, np.ones(u.size)], axis=1)
        np.testing.assert_allclose(depth[floor] * (rays @ down), case.height, rtol=1e-9)
        # exact depth / k: the fit gives k, whatever the saturation
        exact = fit_ground_scale(np.clip(depth / view['k'], *gb.BINS[::len(gb.BINS) - 1]),
                                 gb.INTRINSICS, case.height, case.pitch_deg, case.roll_deg,
                                 bins=gb.BINS, refit=False)
        assert exact.scale == pytest.approx(view['k'], rel=1e-3)
        # the share of the floor that saturates is the case's
        share = np.mean(depth[floor] / view['k'] >= gb.BINS[-1])
        assert share == pytest.approx(case.saturated, abs=0.01)
        if case.cluttered:  # the boxes hide at least 40 % of the empty room's floor
            empty = gb.Room(view['room'].left, view['room'].right, view['room'].far,
                            view['room'].ceiling, ())
            _, bare, _ = gb.render(empty, case.height, case.pitch_deg, case.roll_deg)
            assert np.count_nonzero(floor) <= 0.6 * np.count_nonzero(bare)
        # predictions never leave the bins, and compression pulls them inward
        rng = np.random.default_rng(0)
        pred = gb.predict(rng, depth, view['box_of'], view['k'], compression=0.8)
        low, high = gb.BINS[0], gb.BINS[-1]
        mid = np.mean(gb.BINS)
        assert pred.min() >= mid + 0.8 * (low - mid) - 1e-5
        assert pred.max() <= mid + 0.8 * (high - mid) + 1e-5


def test_saturation_limits_follow_the_bins_and_a_compressed_pile():
    bins = (1.0, 1.5, 2.0, 2.25, 2.5, 2.75, 3.0)
    spread = np.linspace(1.0, 3.0, 1000)
    low, high = saturation_limits(spread, bins)
    assert low == pytest.approx(1.05) and high == pytest.approx(2.875)
    # compressed output piles up inside the bins: its own extremes are the limits
    piled = np.concatenate([np.linspace(1.4, 2.7, 900), np.full(100, 2.7), np.full(60, 1.4)])
    low, high = saturation_limits(piled, bins)
    assert high == pytest.approx(2.7 * 0.95) and low == pytest.approx(1.4 * 1.05)
    # a scene that merely ends before the limits is not saturated there
    low, high = saturation_limits(np.linspace(1.6, 2.4, 1000), bins)
    assert (low, high) == (pytest.approx(1.05), pytest.approx(2.875))
    # without bins only piles count
    assert saturation_limits(spread) == (0.0, math.inf)


#: Every case of the construction, with every seed (3 each).
EVERY = [pytest.param(index, seed, id=f'case{index}-seed{seed}')
         for index in range(len(CASES)) for seed in range(3)]


def said(result) -> bool:
    """Return whether the state says why its number may be off: held with a reason, or a note."""
    if result['state'] != 'fitting':
        return 'holding' in result['reason']
    return bool(result['note'])


@pytest.mark.parametrize('index, seed', EVERY)
def test_a_right_mounting_is_within_3_percent_or_says_why(index, seed):
    """
    The right mounting, 100 frames: within 3 % after 20 (and 100), or held / noted.

    The correction stays within 0.5 deg at every frame: a right pitch is never corrected
    away (the first 20 frames are the 20-frame run of this seed).
    """
    result = gb.run_case(CASES[index], seed, frames=100, snapshots=(20,))
    for at in (result['at'][20], result):
        assert abs(at['error']) < 0.03 or said(at), at
    assert result['largest_correction'] <= 0.5, result


@pytest.mark.parametrize('error', [5.0, -5.0])
@pytest.mark.parametrize('index, seed', EVERY)
def test_a_pitch_5_degrees_off_is_within_10_percent_or_says_why(index, seed, error):
    result = gb.run_case(replace(CASES[index], pitch_error_deg=error), seed)
    assert abs(result['error']) < 0.10 or said(result), result
    if abs(result['correction']) >= 1.0:  # a correction goes towards the true pitch
        assert result['correction'] == pytest.approx(-error, abs=2.5), result
        assert 'from the mounting' in result['note']


@pytest.mark.parametrize('compression', [0.8, 0.7])
@pytest.mark.parametrize('index, seed', EVERY)
def test_compression_that_makes_the_factor_wrong_is_said(index, seed, compression):
    """One factor is wrong by construction: off by over 3 %, the state says so."""
    result = gb.run_case(replace(CASES[index], compression=compression), seed)
    assert abs(result['error']) < 0.03 or said(result), result
    assert abs(result['correction']) <= MAX_TILT_DEG


@pytest.mark.parametrize('index, seed', EVERY)
def test_soft_saturation_is_within_10_percent_or_says_why(index, seed):
    """A softmax saturates gradually: the scale is within 10 %, or the state says why not."""
    result = gb.run_case(replace(CASES[index], saturation='soft'), seed)
    assert abs(result['error']) < 0.10 or said(result), result


def test_compression_is_said_as_compression_with_the_pitch_trusted():
    """With scale.refine_pitch false the trend itself says that the depth is compressed."""
    for index in (0, 6, 9):
        result = gb.run_case(replace(CASES[index], compression=0.7), 0, refine_pitch=False)
        assert result['state'] == 'fitting', result['reason']
        assert result['correction'] == 0.0
        assert 'compressed' in result['note'], result


def test_a_single_fit_that_jumps_is_held_until_the_next_agrees():
    case = CASES[6]
    view = gb.scene(case, 0)
    settings = ScaleSettings(mode='ground', camera_height=case.height,
                             camera_pitch_deg=case.pitch_deg, camera_roll_deg=case.roll_deg,
                             refine_pitch=False)
    live = GroundScale()
    rng = np.random.default_rng(0)
    for _ in range(3):
        live.update(gb.predict(rng, view['depth'], view['box_of'], view['k']), gb.INTRINSICS,
                    settings, 1.0, bins=gb.BINS)
    before = live.scale
    # the whole scene 30 % nearer (the scale 30 % larger) for one frame: held
    near = gb.predict(rng, view['depth'] / 1.3, view['box_of'], view['k'])
    live.update(near, gb.INTRINSICS, settings, 1.0, bins=gb.BINS)
    assert live.state == 'holding' and live.scale == before
    assert 'next frame agrees' in live.reason
    # the next frame agrees: followed
    near = gb.predict(rng, view['depth'] / 1.3, view['box_of'], view['k'])
    live.update(near, gb.INTRINSICS, settings, 1.0, bins=gb.BINS)
    assert live.state == 'fitting' and live.scale > before * 1.03


def test_too_little_unsaturated_floor_holds_and_says_why():
    case = replace(CASES[5], saturated=0.95)
    result = gb.run_case(case, seed=0, frames=5)
    assert result['state'] == 'holding'
    assert 'saturated' in result['reason'] and 'holding' in result['reason'], result['reason']


def test_the_correction_stays_within_max_tilt_of_the_mounting():
    """A floor far steeper than the mounting, frame after frame: the correction is bounded."""
    case = CASES[9]
    view = gb.scene(case, 0)
    settings = ScaleSettings(mode='ground', camera_height=case.height,
                             camera_pitch_deg=case.pitch_deg - 25.0,
                             camera_roll_deg=case.roll_deg)
    live = GroundScale()
    rng = np.random.default_rng(3)
    for _ in range(30):
        pred = gb.predict(rng, view['depth'], view['box_of'], view['k'])
        live.update(pred, gb.INTRINSICS, settings, 1.0, bins=gb.BINS)
        assert abs(live.pitch_correction_deg) <= MAX_TILT_DEG
    assert abs(live.floor_pitch_deg - settings.camera_pitch_deg) <= MAX_TILT_DEG


def test_the_report_holds_what_the_diagnostics_show():
    result_scale = GroundScale()
    case = CASES[6]
    view = gb.scene(case, 0)
    settings = ScaleSettings(mode='ground', camera_height=case.height,
                             camera_pitch_deg=case.pitch_deg, camera_roll_deg=case.roll_deg)
    pred = gb.predict(np.random.default_rng(0), view['depth'], view['box_of'], view['k'])
    result_scale.update(pred, gb.INTRINSICS, settings, 1.0, bins=gb.BINS)
    values = dict(result_scale.report())
    assert float(values['scale']) == pytest.approx(result_scale.scale, rel=1e-3)
    assert values['scale state'] == 'fitting'
    for key in ('scale inlier fraction', 'scale saturated fraction', 'scale floor pitch deg',
                'scale pitch correction deg', 'scale trend', 'scale note'):
        assert key in values
    assert float(values['scale saturated fraction']) > 0.0  # the clamped far floor
