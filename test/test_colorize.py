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

"""Tests for depthclip_ros.core.colorize: fixed-scale depth colours, colour bar, strips."""

import cv2
import numpy as np
import pytest

from depthclip_ros.core.colorize import (add_colorbar, colorize_confidence, colorize_depth,
                                         nice_ticks, side_by_side)


def turbo(index):
    """BGR colour of TURBO at an index, straight from OpenCV."""
    return cv2.applyColorMap(np.array([[index]], np.uint8), cv2.COLORMAP_TURBO)[0, 0]


def test_fixed_scale_same_depth_same_colour():
    rng = np.random.default_rng(0)
    frame_a = rng.uniform(0.5, 2.0, size=(40, 50)).astype(np.float32)
    frame_b = rng.uniform(3.0, 9.0, size=(30, 20)).astype(np.float32)
    frame_a[5, 7] = 2.5
    frame_b[11, 3] = 2.5
    a = colorize_depth(frame_a, 0.5, 10.0)
    b = colorize_depth(frame_b, 0.5, 10.0)
    assert a.dtype == np.uint8 and a.shape == (40, 50, 3)
    np.testing.assert_array_equal(a[5, 7], b[11, 3])
    # Near is the top of the colormap (red for TURBO), far its bottom (dark blue).
    ends = colorize_depth(np.array([[0.5, 10.0, 0.1, 50.0]], np.float32), 0.5, 10.0)
    np.testing.assert_array_equal(ends[0, 0], turbo(255))
    np.testing.assert_array_equal(ends[0, 1], turbo(0))
    np.testing.assert_array_equal(ends[0, 2], ends[0, 0])     # clipped to the near end
    np.testing.assert_array_equal(ends[0, 3], ends[0, 1])     # clipped to the far end
    assert ends[0, 0, 2] > ends[0, 0, 0]                      # red > blue when near
    # Linear in metres: the middle of the range is the middle of the colormap.
    mid = colorize_depth(np.array([[5.25]], np.float32), 0.5, 10.0)
    np.testing.assert_array_equal(mid[0, 0], turbo(128))


def test_invalid_depth_is_black():
    depth = np.array([[np.nan, np.inf, -np.inf, 1.0]], np.float32)
    bgr = colorize_depth(depth, 0.0, 5.0)
    np.testing.assert_array_equal(bgr[0, :3], 0)
    assert bgr[0, 3].any()
    with pytest.raises(ValueError):
        colorize_depth(depth, 5.0, 1.0)
    with pytest.raises(ValueError):
        colorize_depth(depth, 0.0, np.nan)
    with pytest.raises(ValueError):
        colorize_depth(np.zeros((2, 2, 2)), 0.0, 1.0)


def test_colorize_confidence():
    conf = np.array([[0.0, 1.0, 0.5, np.nan, 2.0]], np.float32)
    gray = colorize_confidence(conf)
    assert gray.shape == (1, 5, 3) and gray.dtype == np.uint8
    np.testing.assert_array_equal(gray[0, 0], 0)
    np.testing.assert_array_equal(gray[0, 1], 255)
    np.testing.assert_array_equal(gray[0, 2], 128)
    np.testing.assert_array_equal(gray[0, 3], 0)
    np.testing.assert_array_equal(gray[0, 4], 255)
    coloured = colorize_confidence(conf, cv2.COLORMAP_VIRIDIS)
    expected = cv2.applyColorMap(np.array([[255]], np.uint8), cv2.COLORMAP_VIRIDIS)[0, 0]
    np.testing.assert_array_equal(coloured[0, 1], expected)
    np.testing.assert_array_equal(coloured[0, 3], 0)


def test_colorbar_appended():
    depth = np.linspace(0.5, 6.0, 240 * 320, dtype=np.float32).reshape(240, 320)
    image = colorize_depth(depth, 0.5, 6.0)
    out = add_colorbar(image, 0.5, 6.0)
    assert out.shape[0] == 240 and out.shape[1] > 320 and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :320], image)
    panel = out[:, 320:]
    colours = {tuple(c) for c in panel.reshape(-1, 3)}
    # The bar shows both ends of the scale in the colours of colorize_depth.
    near = tuple(colorize_depth(np.array([[0.5]], np.float32), 0.5, 6.0)[0, 0])
    far = tuple(colorize_depth(np.array([[6.0]], np.float32), 0.5, 6.0)[0, 0])
    assert near in colours and far in colours
    # Tick labels are drawn in white.
    assert (255, 255, 255) in colours
    # Far at the top of the bar, near at the bottom.
    bar_column = [c for c in range(panel.shape[1]) if tuple(panel[120, c]) not in
                  {(32, 32, 32), (255, 255, 255)}][0]
    column = panel[:, bar_column]
    rows = [r for r in range(240) if tuple(column[r]) in (near, far)]
    assert tuple(column[rows[0]]) == far and tuple(column[rows[-1]]) == near
    # Grayscale input and small images work too.
    small = add_colorbar(np.zeros((60, 80), np.uint8), 0.0, 10.0, label='')
    assert small.shape[0] == 60 and small.shape[1] > 80 and small.shape[2] == 3
    with pytest.raises(ValueError):
        add_colorbar(image, 2.0, 2.0)


def test_nice_ticks():
    np.testing.assert_allclose(nice_ticks(0.5, 6.0), [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(nice_ticks(0.0, 10.0, 6), [0, 2, 4, 6, 8, 10])
    ticks = nice_ticks(0.3, 0.7, 5)
    assert 2 <= len(ticks) <= 5 and ticks[0] >= 0.3 and ticks[-1] <= 0.7 + 1e-9


def test_side_by_side_size_and_labels():
    a = np.full((100, 200, 3), 50, np.uint8)
    b = np.full((50, 50), 200, np.uint8)
    c = np.full((200, 100, 3), 90, np.uint8)
    strip = side_by_side([a, b, c])
    assert strip.shape == (200, 400 + 200 + 100, 3)
    strip = side_by_side([a, b, c], height=100)
    assert strip.shape == (100, 200 + 100 + 50, 3)
    np.testing.assert_array_equal(strip[:, :200], a)
    labelled = side_by_side([a, b, c], height=100, labels=['rgb', 'depth', ''])
    assert labelled.shape == strip.shape
    assert not np.array_equal(labelled[:, :200], a)            # label drawn on the first
    np.testing.assert_array_equal(labelled[:, 300:], strip[:, 300:])   # none on the last
    np.testing.assert_array_equal(a, 50)                       # inputs untouched
    with pytest.raises(ValueError):
        side_by_side([])
    with pytest.raises(ValueError):
        side_by_side([a, b], labels=['one'])
    with pytest.raises(ValueError):
        side_by_side([a], height=0)
