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

"""Tests for depthclip_ros.core.geometry: intrinsics, back-projection, cloud packing, PLY."""

import math

import numpy as np
import pytest

from depthclip_ros.core.geometry import (benchmark_cloud, cloud_fields, depth_to_points, FLOAT32,
                                         Intrinsics, pack_cloud, pack_rgb, read_ply, unpack_rgb,
                                         write_ply)

KINECT_K = [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]


def plane_depth(intr, normal, offset):
    """Depth image of the plane n . X = offset seen through intr (every ray hits it)."""
    v, u = np.mgrid[0:intr.height, 0:intr.width].astype(np.float64)
    a = (u - intr.cx) / intr.fx
    b = (v - intr.cy) / intr.fy
    return (offset / (normal[0] * a + normal[1] * b + normal[2])).astype(np.float32)


# --- Intrinsics -----------------------------------------------------------------------------


def test_from_camera_info_reads_k():
    intr = Intrinsics.from_camera_info(KINECT_K, 640, 480)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (525.0, 525.0, 319.5, 239.5)
    assert (intr.width, intr.height) == (640, 480)
    assert intr.k() == KINECT_K
    assert intr.p() == [525.0, 0.0, 319.5, 0.0, 0.0, 525.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert Intrinsics.from_camera_info(np.array(KINECT_K), 640, 480) == intr


@pytest.mark.parametrize('index, value', [
    (0, math.nan), (2, math.nan), (4, math.inf), (5, -math.inf), (0, 0.0), (4, 0.0),
    (0, -525.0), (4, -1.0)])
def test_from_camera_info_rejects_bad_values(index, value):
    k = list(KINECT_K)
    k[index] = value
    with pytest.raises(ValueError):
        Intrinsics.from_camera_info(k, 640, 480)


def test_from_camera_info_rejects_uncalibrated_and_wrong_length():
    with pytest.raises(ValueError):
        Intrinsics.from_camera_info([0.0] * 9, 640, 480)
    with pytest.raises(ValueError):
        Intrinsics.from_camera_info(KINECT_K[:8], 640, 480)
    with pytest.raises(ValueError):
        Intrinsics.from_camera_info(KINECT_K + [0.0], 640, 480)
    with pytest.raises(ValueError):
        Intrinsics.from_camera_info(KINECT_K[:4] + ['x'] + KINECT_K[5:], 640, 480)


@pytest.mark.parametrize('width, height', [(0, 480), (640, 0), (-1, 480), (640.5, 480)])
def test_from_camera_info_rejects_bad_size(width, height):
    with pytest.raises(ValueError):
        Intrinsics.from_camera_info(KINECT_K, width, height)


def test_intrinsics_direct_construction_is_validated():
    with pytest.raises(ValueError):
        Intrinsics(fx=0.0, fy=1.0, cx=0.0, cy=0.0, width=2, height=2)
    with pytest.raises(ValueError):
        Intrinsics(fx=1.0, fy=1.0, cx=math.nan, cy=0.0, width=2, height=2)


def test_scaled_follows_image_proc_resize():
    intr = Intrinsics.from_camera_info(KINECT_K, 640, 480)
    small = intr.scaled(320, 120)
    assert small.width == 320 and small.height == 120
    assert small.fx == pytest.approx(525.0 * 0.5)
    assert small.cx == pytest.approx(319.5 * 0.5)
    assert small.fy == pytest.approx(525.0 * 0.25)
    assert small.cy == pytest.approx(239.5 * 0.25)
    assert intr.scaled(640, 480) == intr
    back = small.scaled(640, 480)
    for name in ('fx', 'fy', 'cx', 'cy'):
        assert getattr(back, name) == pytest.approx(getattr(intr, name))
    with pytest.raises(ValueError):
        intr.scaled(0, 10)


def test_from_fov():
    intr = Intrinsics.from_fov(640, 480, 90.0)
    assert intr.fx == pytest.approx(320.0)
    assert intr.fy == intr.fx
    assert (intr.cx, intr.cy) == (319.5, 239.5)
    assert intr.fov_deg[0] == pytest.approx(90.0)
    # The Kinect camera's horizontal field of view is 2 atan(320 / 525), about 62.7 degrees.
    kinect = Intrinsics.from_fov(640, 480, math.degrees(2 * math.atan(320 / 525)))
    assert kinect.fx == pytest.approx(525.0)
    for fov in (0.0, 180.0, -10.0, math.nan):
        with pytest.raises(ValueError):
            Intrinsics.from_fov(640, 480, fov)


# --- depth_to_points -------------------------------------------------------------------------


def test_plane_reprojects_through_k():
    intr = Intrinsics(fx=500.0, fy=480.0, cx=310.2, cy=245.7, width=64, height=48)
    normal = np.array([0.2, -0.3, 0.93])
    normal /= np.linalg.norm(normal)
    offset = 2.0
    depth = plane_depth(intr, normal, offset)
    cloud = depth_to_points(depth, intr)
    assert cloud.shape == (48, 64)
    assert cloud.dtype.names == ('x', 'y', 'z')
    x = cloud['x'].astype(np.float64)
    y = cloud['y'].astype(np.float64)
    z = cloud['z'].astype(np.float64)
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(normal[0] * x + normal[1] * y + normal[2] * z, offset, rtol=1e-5)
    v, u = np.mgrid[0:48, 0:64]
    np.testing.assert_array_equal(z, depth)
    np.testing.assert_allclose(x, (u - intr.cx) * depth / intr.fx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, (v - intr.cy) * depth / intr.fy, rtol=1e-5, atol=1e-6)
    # Projecting the points back through K lands on the pixel centres.
    np.testing.assert_allclose(intr.fx * x / z + intr.cx, u, atol=1e-3)
    np.testing.assert_allclose(intr.fy * y / z + intr.cy, v, atol=1e-3)


@pytest.mark.parametrize('height, width, stride', [(7, 10, 3), (480, 640, 4), (5, 5, 5),
                                                   (9, 13, 4), (3, 4, 1)])
def test_stride_shapes_and_counts(height, width, stride):
    intr = Intrinsics.from_fov(width, height, 60.0)
    depth = np.full((height, width), 2.0, dtype=np.float32)
    rows, cols = math.ceil(height / stride), math.ceil(width / stride)
    cloud = depth_to_points(depth, intr, stride=stride)
    assert cloud.shape == (rows, cols)
    dense = depth_to_points(depth, intr, stride=stride, organized=False)
    assert dense.shape == (rows * cols,)
    # The sampled columns are u = 0, stride, 2 stride, ...
    u = np.arange(0, width, stride)
    np.testing.assert_allclose(cloud['x'][0], (u - intr.cx) * 2.0 / intr.fx, rtol=1e-6)
    v = np.arange(0, height, stride)
    np.testing.assert_allclose(cloud['y'][:, 0], (v - intr.cy) * 2.0 / intr.fy, rtol=1e-6)


def test_range_and_invalid_depth_masks():
    intr = Intrinsics.from_fov(4, 3, 60.0)
    depth = np.array([[0.5, 1.0, 2.0, 3.0],
                      [np.nan, np.inf, -np.inf, 4.0],
                      [0.0, 1.5, 10.0, -1.0]], dtype=np.float32)
    cloud = depth_to_points(depth, intr, min_range=1.0, max_range=4.0)
    expected_valid = np.array([[False, True, True, True],
                               [False, False, False, True],
                               [False, True, False, False]])
    for name in ('x', 'y', 'z'):
        np.testing.assert_array_equal(np.isfinite(cloud[name]), expected_valid)
        assert np.all(np.isnan(cloud[name][~expected_valid]))
    dense = depth_to_points(depth, intr, min_range=1.0, max_range=4.0, organized=False)
    assert dense.shape == (expected_valid.sum(),)
    np.testing.assert_array_equal(dense['z'], depth[expected_valid])
    # Default range keeps every finite non-negative depth.
    assert np.isfinite(depth_to_points(depth, intr)['z']).sum() == 8
    with pytest.raises(ValueError):
        depth_to_points(depth, intr, min_range=5.0, max_range=1.0)


def test_confidence_mask():
    intr = Intrinsics.from_fov(3, 2, 60.0)
    depth = np.full((2, 3), 2.0, dtype=np.float32)
    conf = np.array([[0.1, 0.5, 0.9], [np.nan, 0.49, 1.0]], dtype=np.float32)
    cloud = depth_to_points(depth, intr, confidence=conf, min_confidence=0.5)
    np.testing.assert_array_equal(np.isfinite(cloud['z']),
                                  [[False, True, True], [False, False, True]])
    dense = depth_to_points(depth, intr, confidence=conf, min_confidence=0.5, organized=False)
    assert dense.shape == (3,)
    with pytest.raises(ValueError):
        depth_to_points(depth, intr, confidence=np.ones((3, 2)))


def test_rgb_packing_round_trip():
    rng = np.random.default_rng(1)
    colours = rng.integers(0, 256, size=(11, 13, 3), dtype=np.uint8)
    packed = pack_rgb(colours)
    assert packed.dtype == np.float32 and packed.shape == (11, 13)
    bits = packed.view(np.uint32)
    np.testing.assert_array_equal(bits >> 24, 0)
    np.testing.assert_array_equal((bits >> 16) & 0xFF, colours[..., 0])
    np.testing.assert_array_equal(bits & 0xFF, colours[..., 2])
    np.testing.assert_array_equal(unpack_rgb(packed), colours)
    assert pack_rgb(np.array([255, 128, 1], np.uint8)).view(np.uint32) == 0x00FF8001

    intr = Intrinsics.from_fov(13, 11, 60.0)
    depth = np.full((11, 13), 1.5, dtype=np.float32)
    depth[0, 0] = np.nan
    cloud = depth_to_points(depth, intr, stride=2, rgb=colours)
    assert cloud.dtype.names == ('x', 'y', 'z', 'rgb')
    np.testing.assert_array_equal(unpack_rgb(cloud['rgb']), colours[::2, ::2])
    dense = depth_to_points(depth, intr, stride=2, rgb=colours, organized=False)
    np.testing.assert_array_equal(unpack_rgb(dense['rgb']),
                                  colours[::2, ::2].reshape(-1, 3)[1:])
    with pytest.raises(ValueError):
        depth_to_points(depth, intr, rgb=colours.astype(np.float32))
    with pytest.raises(ValueError):
        depth_to_points(depth, intr, rgb=colours[:, :, :2])


def test_depth_validation():
    intr = Intrinsics.from_fov(8, 6, 60.0)
    with pytest.raises(ValueError):
        depth_to_points(np.ones((6, 9), np.float32), intr)
    with pytest.raises(ValueError):
        depth_to_points(np.ones((6, 8), np.uint16), intr)
    with pytest.raises(ValueError):
        depth_to_points(np.ones(48, np.float32), intr)
    for stride in (0, -1, 1.5):
        with pytest.raises(ValueError):
            depth_to_points(np.ones((6, 8), np.float32), intr, stride=stride)
    # A (H, W, 1) image and a float64 image are accepted.
    assert depth_to_points(np.ones((6, 8, 1)), intr).shape == (6, 8)


# --- PointCloud2 packing ---------------------------------------------------------------------


def test_cloud_fields():
    xyz = np.zeros(3, dtype=depth_to_points(np.ones((1, 1), np.float32),
                                            Intrinsics.from_fov(1, 1, 60.0)).dtype)
    assert cloud_fields(xyz) == [('x', 0, FLOAT32, 1), ('y', 4, FLOAT32, 1),
                                 ('z', 8, FLOAT32, 1)]
    assert FLOAT32 == 7
    custom = np.zeros(2, dtype=[('x', '<f4'), ('intensity', '<u2'), ('ring', 'u1'),
                                ('t', '<f8')])
    assert cloud_fields(custom) == [('x', 0, 7, 1), ('intensity', 4, 4, 1), ('ring', 6, 2, 1),
                                    ('t', 7, 8, 1)]
    with pytest.raises(ValueError):
        cloud_fields(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError):
        cloud_fields(np.zeros(2, dtype=[('x', '>f4')]))


def test_pack_cloud_byte_layout():
    rng = np.random.default_rng(2)
    intr = Intrinsics.from_fov(10, 7, 70.0)
    depth = rng.uniform(0.5, 4.0, size=(7, 10)).astype(np.float32)
    depth[3, 4] = np.nan
    colours = rng.integers(0, 256, size=(7, 10, 3), dtype=np.uint8)
    cloud = depth_to_points(depth, intr, stride=3, rgb=colours)
    msg = pack_cloud(cloud)
    assert (msg['height'], msg['width']) == (3, 4)
    assert msg['point_step'] == 16
    assert msg['row_step'] == 16 * 4
    assert msg['is_bigendian'] is False
    assert len(msg['data']) == msg['row_step'] * msg['height']
    assert msg['fields'] == [('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 12, 7, 1)]

    # Decode the bytes the way a PointCloud2 reader does: from the field offsets.
    raw = np.frombuffer(msg['data'], dtype=np.uint8).reshape(msg['height'], msg['width'],
                                                             msg['point_step'])
    for name, offset, _, _ in msg['fields']:
        column = np.ascontiguousarray(raw[:, :, offset:offset + 4]).view('<f4')[..., 0]
        np.testing.assert_array_equal(column.view(np.uint32), cloud[name].view(np.uint32))
    floats = np.frombuffer(msg['data'], dtype='<f4').reshape(3, 4, 4)
    np.testing.assert_allclose(floats[..., 2], depth[::3, ::3])
    np.testing.assert_array_equal(unpack_rgb(floats[..., 3]), colours[::3, ::3])

    flat = pack_cloud(depth_to_points(depth, intr, organized=False))
    assert flat['height'] == 1 and flat['width'] == 69
    assert flat['point_step'] == 12 and flat['row_step'] == 12 * 69
    assert len(flat['data']) == 12 * 69


def test_pack_cloud_is_dense():
    intr = Intrinsics.from_fov(4, 4, 60.0)
    depth = np.full((4, 4), 2.0, dtype=np.float32)
    assert pack_cloud(depth_to_points(depth, intr))['is_dense'] is True
    depth[1, 1] = np.nan
    assert pack_cloud(depth_to_points(depth, intr))['is_dense'] is False
    assert pack_cloud(depth_to_points(depth, intr, organized=False))['is_dense'] is True
    assert pack_cloud(depth_to_points(depth, intr, stride=2))['is_dense'] is True
    with pytest.raises(ValueError):
        pack_cloud(np.zeros((2, 2, 2), dtype=[('x', '<f4')]))


# --- PLY ---------------------------------------------------------------------------------------


@pytest.mark.parametrize('binary', [True, False])
@pytest.mark.parametrize('with_rgb', [True, False])
def test_ply_round_trip(tmp_path, binary, with_rgb):
    rng = np.random.default_rng(3)
    intr = Intrinsics.from_fov(20, 15, 60.0)
    depth = rng.uniform(0.3, 5.0, size=(15, 20)).astype(np.float32)
    depth[rng.random((15, 20)) < 0.2] = np.nan
    colours = rng.integers(0, 256, size=(15, 20, 3), dtype=np.uint8) if with_rgb else None
    cloud = depth_to_points(depth, intr, rgb=colours)
    path = tmp_path / 'cloud.ply'
    count = write_ply(str(path), cloud, binary=binary)
    valid = cloud.reshape(-1)[np.isfinite(cloud['z'].reshape(-1))]
    assert count == valid.shape[0] == np.isfinite(depth).sum()
    header = path.read_bytes().split(b'end_header\n')[0].decode()
    assert ('binary_little_endian' in header) == binary
    assert ('property uchar red' in header) == with_rgb
    assert f'element vertex {count}' in header
    back = read_ply(str(path))
    assert back.dtype == cloud.dtype
    for name in ('x', 'y', 'z'):
        np.testing.assert_array_equal(back[name], valid[name])
    if with_rgb:
        np.testing.assert_array_equal(unpack_rgb(back['rgb']), unpack_rgb(valid['rgb']))


def test_read_ply_rejects_other_files(tmp_path):
    path = tmp_path / 'not.ply'
    path.write_bytes(b'hello\n')
    with pytest.raises(ValueError):
        read_ply(str(path))


def test_benchmark_cloud_reports_timings():
    result = benchmark_cloud(width=64, height=48, stride=4, repeats=3)
    assert result['points'] == 16 * 12
    assert result['repeats'] == 3
    assert result['median_ms'] > 0.0
    assert result['min_ms'] <= result['median_ms']
