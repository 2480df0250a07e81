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
The temporal filter drops its history when the camera's input changes (size or K).

Every image is resized to the network input, so the feature grid is the same for a 480x640
and a 240x320 frame: the filter is told the input's own size (and camera_info K) and resets
when it changes. A real camera changing resolution or zoom also changes the content's
scale; here the size change is a crop or resize of the same scene, the harder case (the
class maps stay close, so the scene-change reset does not fire).
"""

import cv2
import numpy as np
import pytest
import torch

from depthclip_ros.core.config import DepthClipConfig, NodeSettings, TemporalSettings
from depthclip_ros.core.engine import DepthClipEngine
from depthclip_ros.core.filters import CameraFilters
from depthclip_ros.core.sample import load_sample_rgb
from depthclip_ros.core.temporal import TemporalFilter

SETTINGS = TemporalSettings(enable=True, alpha=0.25, reset_threshold=1.0, max_gap=10.0)
K1 = (500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0)
K2 = (250.0, 0.0, 160.0, 0.0, 250.0, 120.0, 0.0, 0.0, 1.0)


def distribution(seed, shape=(7, 4, 5)):
    p = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    return p / p.sum(dim=0, keepdim=True)


@pytest.mark.parametrize('case', ['size', 'k', 'same', 'k_first_seen'])
def test_input_size_or_k_change_resets(case):
    filt = TemporalFilter()
    p0, p1 = distribution(0), distribution(1)
    filt.update(p0, 0, SETTINGS, (480, 640), K1 if case != 'k_first_seen' else None)
    size, k = {'size': ((240, 320), K1), 'k': ((480, 640), K2), 'same': ((480, 640), K1),
               'k_first_seen': ((480, 640), K1)}[case]
    out = filt.update(p1, 10 ** 8, SETTINGS, size, k)
    if case in ('size', 'k'):
        assert torch.equal(out, p1) and filt.resets == 2, filt.last_reset
        assert {'size': 'input image size changed from 640x480 to 320x240',
                'k': 'camera_info K changed'}[case] == filt.last_reset
        # the new input is the reference from now on: the next frame blends again
        p2 = distribution(2)
        torch.testing.assert_close(filt.update(p2, 2 * 10 ** 8, SETTINGS, size, k),
                                   0.25 * p2 + 0.75 * p1)
    else:  # the feature grid is the same and nothing else changed: it blends
        torch.testing.assert_close(out, 0.25 * p1 + 0.75 * p0)
        assert filt.resets == 1


@pytest.fixture(scope='module')
def engine(small_overrides):
    return DepthClipEngine(DepthClipConfig.from_flat(dict(small_overrides, flip_tta=False)))


def test_after_a_size_change_the_depth_is_that_frames_own(engine):
    """The issue's case: the output differed from the frame's own depth by 0.03-0.22 m."""
    settings = NodeSettings(temporal_enable=True, temporal_alpha=0.3,
                            temporal_reset_threshold=1.0)
    big = load_sample_rgb(0)
    small = cv2.resize(big[: big.shape[0] * 3 // 4], (big.shape[1] // 2, big.shape[0] // 2),
                       interpolation=cv2.INTER_AREA)  # another size, much the same scene
    filters = CameraFilters()
    for i in range(3):
        engine.predict([big], steps=[filters.step(i * 10 ** 8, settings, big.shape[:2])])
    out = engine.predict([small], steps=[filters.step(3 * 10 ** 8, settings,
                                                      small.shape[:2])])[0]
    own = engine.predict([small])[0]
    assert 'input image size changed' in filters.temporal.last_reset
    assert np.array_equal(out.depth, own.depth)
    # without the size the filter cannot tell (the feature grid is the same): it blends
    blind = CameraFilters()
    for i in range(3):
        engine.predict([big], steps=[blind.step(i * 10 ** 8, settings)])
    mixed = engine.predict([small], steps=[blind.step(3 * 10 ** 8, settings)])[0]
    assert not np.allclose(mixed.depth, own.depth, atol=1e-4)
