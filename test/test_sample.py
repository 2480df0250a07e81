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

"""Tests for the bundled synthetic sample scene (depthclip_ros.core.sample and its data)."""

import os

import cv2
import numpy as np
import pytest

from depthclip_ros.core.geometry import depth_to_points
from depthclip_ros.core.sample import (load_sample_depth, load_sample_rgb, render_scene,
                                       sample_camera_z, sample_dir, SAMPLE_FRAME_COUNT,
                                       sample_frames, sample_intrinsics, SAMPLE_STEP_M)


@pytest.fixture(scope='module')
def renders():
    """Fresh renders of the bundled frames (about a second each)."""
    return [render_scene(sample_camera_z(i)) for i in range(SAMPLE_FRAME_COUNT)]


def test_sample_files_exist():
    frames = sample_frames()
    assert len(frames) == SAMPLE_FRAME_COUNT == 4
    assert frames == sorted(frames)
    for i, path in enumerate(frames):
        assert os.path.basename(path) == f'frame_{i:03d}.png'
        assert os.path.dirname(path) == sample_dir()
        assert os.path.getsize(path) < 400 * 1024
        depth_path = os.path.join(sample_dir(), f'depth_{i:03d}.png')
        assert os.path.isfile(depth_path)
        raw = cv2.imread(depth_path, cv2.IMREAD_UNCHANGED)
        assert raw.dtype == np.uint16 and raw.shape == (480, 640)
        rgb = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert rgb.dtype == np.uint8 and rgb.shape == (480, 640, 3)


def test_sample_intrinsics_are_kinect_like():
    intr = sample_intrinsics()
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (525.0, 525.0, 319.5, 239.5)
    assert (intr.width, intr.height) == (640, 480)
    assert [sample_camera_z(i) for i in range(4)] == [0.0, 0.25, 0.5, 0.75]
    assert SAMPLE_STEP_M == 0.25


def test_load_sample_depth_plausible():
    for i in range(SAMPLE_FRAME_COUNT):
        depth = load_sample_depth(i)
        assert depth.dtype == np.float32 and depth.shape == (480, 640)
        assert np.all(np.isfinite(depth))
        # Boxes about 1.7-2.5 m away, the back wall 4.2 m - 0.25 m per frame.
        assert 1.5 < depth.min() < 2.6
        assert depth.max() == pytest.approx(4.2 - 0.25 * i + 0.05, abs=0.07)
        assert 2.5 < np.median(depth) < 3.6
    # Moving forward brings the room closer.
    medians = [np.median(load_sample_depth(i)) for i in range(SAMPLE_FRAME_COUNT)]
    assert load_sample_depth(3).max() < load_sample_depth(0).max()
    assert medians[3] < medians[0]
    with pytest.raises(ValueError):
        load_sample_depth(4)
    with pytest.raises(ValueError):
        load_sample_depth(-1)


def test_saved_files_match_fresh_render(renders):
    for i, (rgb, depth) in enumerate(renders):
        assert rgb.dtype == np.uint8 and rgb.shape == (480, 640, 3)
        assert depth.dtype == np.float32 and depth.shape == (480, 640)
        saved_rgb = load_sample_rgb(i)
        diff = np.abs(saved_rgb.astype(np.int16) - rgb.astype(np.int16))
        # Identical up to last-bit floating-point differences between NumPy builds.
        assert diff.mean() < 0.05
        assert np.count_nonzero(diff > 2) <= 0.001 * diff.size
        saved_depth = load_sample_depth(i)
        err = np.abs(saved_depth - depth)
        assert np.count_nonzero(err > 0.0006) <= 0.0005 * err.size
        assert np.median(err) <= 0.0005


def test_back_wall_is_a_plane_in_the_point_cloud(renders):
    """The exact depth back-projects the back wall onto one plane, 4.2 m down the room."""
    _, depth = renders[0]
    intr = sample_intrinsics()
    centre = depth[200:240, 260:380]           # back wall around the window's bottom edge
    sub_intr = type(intr)(fx=intr.fx, fy=intr.fy, cx=intr.cx - 260, cy=intr.cy - 200,
                          width=120, height=40)
    cloud = depth_to_points(centre, sub_intr, organized=False)
    xyz = np.stack([cloud['x'], cloud['y'], cloud['z']], axis=1).astype(np.float64)
    # The camera is pitched 3 degrees down: the wall normal in the optical frame is
    # (0, -sin 3, cos 3) and the wall is 4.2 m from the camera along the room.
    pitch = np.radians(3.0)
    distance = xyz @ np.array([0.0, -np.sin(pitch), np.cos(pitch)])
    np.testing.assert_allclose(distance, 4.2, atol=1e-5)


def test_render_scene_other_sizes_and_validation():
    rgb, depth = render_scene(0.0, width=160, height=120)
    assert rgb.shape == (120, 160, 3) and depth.shape == (120, 160)
    full = load_sample_depth(0)
    # Pixel (u, v) at quarter size sees the ray of full-size pixel (4u, 4v) (image_proc scaling).
    np.testing.assert_allclose(depth[30, 40], full[120, 160], atol=0.002)
    for bad in (float('nan'), 5.0, -3.0):
        with pytest.raises(ValueError):
            render_scene(bad)
