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
Camera geometry without ROS: pinhole intrinsics, depth back-projection and point clouds.

Point clouds are NumPy structured arrays with ``float32`` fields ``x``, ``y``, ``z`` (metres,
REP 103 optical frame: z forward, x right, y down) and optionally ``rgb``: a ``float32`` whose
bits hold ``0x00RRGGBB`` (the PCL / RViz convention). :func:`pack_cloud` turns such an array
into the plain values of a ``sensor_msgs/PointCloud2`` message and :func:`cloud_fields`
describes its fields as ``(name, offset, datatype, count)`` tuples, so the ROS node can build
``PointField`` messages without this module importing any ROS package.
"""

from dataclasses import dataclass
import math
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

# sensor_msgs/PointField datatype constants.
INT8 = 1
UINT8 = 2
INT16 = 3
UINT16 = 4
INT32 = 5
UINT32 = 6
FLOAT32 = 7
FLOAT64 = 8

# (NumPy kind, item size) -> PointField datatype.
_DATATYPES = {
    ('i', 1): INT8,
    ('u', 1): UINT8,
    ('i', 2): INT16,
    ('u', 2): UINT16,
    ('i', 4): INT32,
    ('u', 4): UINT32,
    ('f', 4): FLOAT32,
    ('f', 8): FLOAT64,
}

#: Structured dtype of an ``x, y, z`` cloud (point_step 12).
XYZ_DTYPE = np.dtype({'names': ['x', 'y', 'z'],
                      'formats': ['<f4', '<f4', '<f4'],
                      'offsets': [0, 4, 8],
                      'itemsize': 12})

#: Structured dtype of an ``x, y, z, rgb`` cloud (point_step 16).
XYZRGB_DTYPE = np.dtype({'names': ['x', 'y', 'z', 'rgb'],
                         'formats': ['<f4', '<f4', '<f4', '<f4'],
                         'offsets': [0, 4, 8, 12],
                         'itemsize': 16})


def _finite_number(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a number, got {value!r}') from None
    if not math.isfinite(number):
        raise ValueError(f'{name} must be finite, got {number}')
    return number


def _positive_int(name: str, value) -> int:
    try:
        is_int = not isinstance(value, bool) and int(value) == value
    except (TypeError, ValueError, OverflowError):
        is_int = False
    if not is_int:
        raise ValueError(f'{name} must be an integer, got {value!r}')
    if int(value) <= 0:
        raise ValueError(f'{name} must be positive, got {value}')
    return int(value)


@dataclass(frozen=True)
class Intrinsics:
    """
    Pinhole camera intrinsics of an image of ``width`` x ``height`` pixels.

    Pixel ``(u, v)`` (column, row; pixel centres at integer coordinates, as in
    ``sensor_msgs/CameraInfo``) sees the ray ``((u - cx) / fx, (v - cy) / fy, 1)`` in the
    optical frame. Construction validates the values and raises ValueError for non-finite
    numbers, non-positive focal lengths or a non-positive image size.

    :param fx: Focal length along x, in pixels.
    :param fy: Focal length along y, in pixels.
    :param cx: Principal point column, in pixels.
    :param cy: Principal point row, in pixels.
    :param width: Image width, in pixels.
    :param height: Image height, in pixels.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self):
        for name in ('fx', 'fy', 'cx', 'cy'):
            object.__setattr__(self, name, _finite_number(name, getattr(self, name)))
        for name in ('fx', 'fy'):
            if getattr(self, name) <= 0.0:
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)}')
        for name in ('width', 'height'):
            object.__setattr__(self, name, _positive_int(name, getattr(self, name)))

    @classmethod
    def from_camera_info(cls, k: Sequence[float], width: int, height: int) -> 'Intrinsics':
        """
        Build intrinsics from the row-major 3x3 ``K`` of a ``sensor_msgs/CameraInfo``.

        :param k: The 9 values of K, row-major: ``[fx, 0, cx, 0, fy, cy, 0, 0, 1]``.
        :param width: Image width in pixels (CameraInfo.width).
        :param height: Image height in pixels (CameraInfo.height).
        :return: The intrinsics.
        :raises ValueError: If K does not have 9 values, a value is NaN or infinite,
            fx or fy is not positive (e.g. the all-zero K of an uncalibrated camera),
            or the image size is not positive.
        """
        try:
            values = [float(v) for v in k]
        except (TypeError, ValueError):
            raise ValueError(f'K must be a sequence of 9 numbers, got {k!r}') from None
        if len(values) != 9:
            raise ValueError(f'K must have 9 values (row-major 3x3), got {len(values)}')
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f'K must contain only finite values, got {values}')
        return cls(fx=values[0], fy=values[4], cx=values[2], cy=values[5],
                   width=width, height=height)

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float) -> 'Intrinsics':
        """
        Build intrinsics from a horizontal field of view, with square pixels.

        The principal point is the image centre ``((width - 1) / 2, (height - 1) / 2)``
        and ``fx = fy = width / (2 tan(fov / 2))``.

        :param width: Image width in pixels.
        :param height: Image height in pixels.
        :param fov_deg: Horizontal field of view in degrees, in (0, 180).
        :return: The intrinsics.
        :raises ValueError: If the field of view or the size is out of range.
        """
        fov = _finite_number('fov_deg', fov_deg)
        if not 0.0 < fov < 180.0:
            raise ValueError(f'fov_deg must be in (0, 180), got {fov}')
        width = _positive_int('width', width)
        height = _positive_int('height', height)
        f = width / (2.0 * math.tan(math.radians(fov) / 2.0))
        return cls(fx=f, fy=f, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0,
                   width=width, height=height)

    def scaled(self, width: int, height: int) -> 'Intrinsics':
        """
        Return the intrinsics of this camera's image resized to ``width`` x ``height``.

        Follows image_proc's resize node: fx and cx are multiplied by
        ``width / self.width``, fy and cy by ``height / self.height``.

        :param width: New image width in pixels.
        :param height: New image height in pixels.
        :return: The scaled intrinsics.
        """
        width = _positive_int('width', width)
        height = _positive_int('height', height)
        sx = width / self.width
        sy = height / self.height
        return Intrinsics(fx=self.fx * sx, fy=self.fy * sy, cx=self.cx * sx, cy=self.cy * sy,
                          width=width, height=height)

    @property
    def fov_deg(self) -> Tuple[float, float]:
        """Horizontal and vertical field of view in degrees (``width / (2 tan(fov/2)) = fx``)."""
        return (math.degrees(2.0 * math.atan(self.width / (2.0 * self.fx))),
                math.degrees(2.0 * math.atan(self.height / (2.0 * self.fy))))

    def k(self) -> List[float]:
        """Return the row-major 3x3 camera matrix K as 9 floats (CameraInfo.k)."""
        return [self.fx, 0.0, self.cx,
                0.0, self.fy, self.cy,
                0.0, 0.0, 1.0]

    def p(self) -> List[float]:
        """Return the row-major 3x4 projection matrix ``[K | 0]`` as 12 floats (CameraInfo.p)."""
        return [self.fx, 0.0, self.cx, 0.0,
                0.0, self.fy, self.cy, 0.0,
                0.0, 0.0, 1.0, 0.0]


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """
    Pack 8-bit RGB colours into float32 values holding the bits ``0x00RRGGBB``.

    This is the ``rgb`` field convention of PCL and RViz.

    :param rgb: Array of shape (..., 3), uint8, channels in R, G, B order.
    :return: float32 array of shape (...).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError(f'rgb must have shape (..., 3), got {rgb.shape}')
    if rgb.dtype != np.uint8:
        raise ValueError(f'rgb must be uint8, got {rgb.dtype}')
    c = rgb.astype(np.uint32)
    packed = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
    return packed.view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """
    Unpack float32 ``0x00RRGGBB`` values (see :func:`pack_rgb`) into uint8 RGB.

    :param packed: float32 array of shape (...).
    :return: uint8 array of shape (..., 3), channels in R, G, B order.
    """
    bits = np.ascontiguousarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF],
                    axis=-1).astype(np.uint8)


def depth_to_points(
        depth: np.ndarray,
        intr: Intrinsics,
        stride: int = 1,
        min_range: float = 0.0,
        max_range: float = math.inf,
        confidence: Optional[np.ndarray] = None,
        min_confidence: float = 0.0,
        rgb: Optional[np.ndarray] = None,
        organized: bool = True) -> np.ndarray:
    """
    Back-project a metric depth image into a point cloud.

    Samples the pixels ``depth[::stride, ::stride]`` (columns ``u = 0, stride, 2 stride...``)
    and computes, exactly as depth_image_proc's point_cloud_xyz,
    ``x = (u - cx) * z / fx``, ``y = (v - cy) * z / fy``, ``z = depth`` (z is the depth value,
    not the length of the ray).

    A pixel is invalid when its depth is not finite, outside ``[min_range, max_range]``, or its
    confidence is below ``min_confidence`` (or NaN). Invalid pixels have NaN x, y, z in an
    organized cloud (their ``rgb`` is kept, as in depth_image_proc) and are dropped from an
    unorganized one.

    :param depth: (H, W) floating-point depth in metres (REP 118 32FC1).
    :param intr: Intrinsics of the depth image; their size must be W x H.
    :param stride: Keep every ``stride``-th row and column (>= 1).
    :param min_range: Smallest valid depth in metres.
    :param max_range: Largest valid depth in metres.
    :param confidence: Optional (H, W) per-pixel confidence.
    :param min_confidence: Pixels with confidence below this are invalid.
    :param rgb: Optional (H, W, 3) uint8 RGB colours registered to the depth image; adds the
        packed ``rgb`` field.
    :param organized: If True return shape ``(ceil(H / stride), ceil(W / stride))`` with NaN
        for invalid points; if False return shape ``(n,)`` with only valid points.
    :return: Structured array of dtype :data:`XYZ_DTYPE` or :data:`XYZRGB_DTYPE`.
    :raises ValueError: On mismatched shapes or sizes, a non-float depth or bad parameters.
    """
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[:, :, 0]
    if depth.ndim != 2:
        raise ValueError(f'depth must be a 2-D (H, W) array, got shape {depth.shape}')
    if not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f'depth must be floating-point metres, got {depth.dtype} '
                         '(convert 16UC1 millimetres to metres first)')
    height, width = depth.shape
    if (intr.width, intr.height) != (width, height):
        raise ValueError(f'intrinsics are for {intr.width}x{intr.height} but depth is '
                         f'{width}x{height}; use Intrinsics.scaled()')
    if isinstance(stride, bool) or int(stride) != stride or stride < 1:
        raise ValueError(f'stride must be an integer >= 1, got {stride!r}')
    stride = int(stride)
    min_range = float(min_range)
    max_range = float(max_range)
    if math.isnan(min_range) or math.isnan(max_range) or min_range > max_range:
        raise ValueError(f'need min_range <= max_range, got {min_range}, {max_range}')

    z = depth[::stride, ::stride].astype(np.float32, copy=False)
    rows, cols = z.shape
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(z) & (z >= min_range) & (z <= max_range)
        if confidence is not None:
            confidence = np.asarray(confidence)
            if confidence.ndim == 3 and confidence.shape[2] == 1:
                confidence = confidence[:, :, 0]
            if confidence.shape != depth.shape:
                raise ValueError(f'confidence shape {confidence.shape} does not match depth '
                                 f'shape {depth.shape}')
            valid &= confidence[::stride, ::stride] >= min_confidence

    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape != (height, width, 3):
            raise ValueError(f'rgb must have shape {(height, width, 3)}, got {rgb.shape}')
        if rgb.dtype != np.uint8:
            raise ValueError(f'rgb must be uint8, got {rgb.dtype}')

    # Per-column and per-row ray slopes (u - cx) / fx and (v - cy) / fy.
    ax = ((np.arange(0, width, stride, dtype=np.float64) - intr.cx) / intr.fx).astype(np.float32)
    ay = ((np.arange(0, height, stride, dtype=np.float64) - intr.cy) / intr.fy).astype(np.float32)

    dtype = XYZ_DTYPE if rgb is None else XYZRGB_DTYPE
    if organized:
        zv = np.where(valid, z, np.float32(np.nan))
        out = np.empty((rows, cols), dtype=dtype)
        out['x'] = ax[np.newaxis, :] * zv
        out['y'] = ay[:, np.newaxis] * zv
        out['z'] = zv
        if rgb is not None:
            out['rgb'] = pack_rgb(rgb[::stride, ::stride])
        return out

    vi, ui = np.nonzero(valid)
    zv = z[vi, ui]
    out = np.empty(zv.shape[0], dtype=dtype)
    out['x'] = ax[ui] * zv
    out['y'] = ay[vi] * zv
    out['z'] = zv
    if rgb is not None:
        out['rgb'] = pack_rgb(rgb[vi * stride, ui * stride])
    return out


def _datatype_of(dtype: np.dtype) -> int:
    code = _DATATYPES.get((dtype.kind, dtype.itemsize))
    if code is None or (dtype.itemsize > 1 and not dtype.isnative) or dtype.byteorder == '>':
        raise ValueError(f'unsupported point field dtype {dtype} (need little-endian int/uint '
                         'of 8-32 bits or float32/float64)')
    return code


def cloud_fields(points: np.ndarray) -> List[Tuple[str, int, int, int]]:
    """
    Describe the fields of a structured point array as PointField values.

    :param points: Structured NumPy array (e.g. from :func:`depth_to_points`).
    :return: List of ``(name, offset, datatype, count)`` tuples, ``datatype`` being a
        sensor_msgs/PointField constant (7 = FLOAT32), in offset order.
    :raises ValueError: If the array is not structured or has an unsupported field type.
    """
    dtype = np.asarray(points).dtype
    if dtype.names is None:
        raise ValueError('points must be a structured array with named fields')
    fields = []
    for name in dtype.names:
        field_dtype, offset = dtype.fields[name][:2]
        count = 1
        if field_dtype.subdtype is not None:
            field_dtype, shape = field_dtype.subdtype
            count = int(np.prod(shape))
        fields.append((name, int(offset), _datatype_of(field_dtype), count))
    return sorted(fields, key=lambda f: f[1])


def pack_cloud(points: np.ndarray) -> Dict[str, object]:
    """
    Serialize a structured point array into the values of a sensor_msgs/PointCloud2.

    A 2-D array is an organized cloud (``height`` rows); a 1-D array has ``height`` 1.

    :param points: Structured NumPy array of shape (rows, cols) or (n,).
    :return: Dict with keys ``height``, ``width``, ``point_step``, ``row_step``,
        ``is_dense`` (False when any floating-point field holds a NaN), ``is_bigendian``
        (always False), ``data`` (bytes) and ``fields`` (see :func:`cloud_fields`).
    :raises ValueError: If the array is not a 1-D or 2-D structured array.
    """
    points = np.asarray(points)
    fields = cloud_fields(points)
    if points.ndim == 2:
        height, width = points.shape
    elif points.ndim == 1:
        height, width = 1, points.shape[0]
    else:
        raise ValueError(f'points must be 1-D or 2-D, got shape {points.shape}')
    is_dense = True
    for name in points.dtype.names:
        if points.dtype.fields[name][0].kind == 'f' and np.isnan(points[name]).any():
            is_dense = False
            break
    point_step = points.dtype.itemsize
    return {
        'height': int(height),
        'width': int(width),
        'point_step': int(point_step),
        'row_step': int(point_step * width),
        'is_dense': is_dense,
        'is_bigendian': False,
        'data': np.ascontiguousarray(points).tobytes(),
        'fields': fields,
    }


def write_ply(path: str, points: np.ndarray, binary: bool = True) -> int:
    """
    Write a point cloud to a PLY file, skipping points with a NaN coordinate.

    Writes ``float x, y, z`` and, when the cloud has an ``rgb`` field, ``uchar red, green,
    blue`` vertex properties.

    :param path: Output file path.
    :param points: Structured array with ``x``, ``y``, ``z`` (and optionally ``rgb``) fields.
    :param binary: Write ``binary_little_endian`` if True, ``ascii`` otherwise.
    :return: Number of vertices written.
    """
    points = np.asarray(points)
    names = points.dtype.names or ()
    if not {'x', 'y', 'z'} <= set(names):
        raise ValueError('points must be a structured array with x, y, z fields')
    flat = points.reshape(-1)
    keep = ~(np.isnan(flat['x']) | np.isnan(flat['y']) | np.isnan(flat['z']))
    flat = flat[keep]
    has_rgb = 'rgb' in names
    out_fields = [('x', '<f4'), ('y', '<f4'), ('z', '<f4')]
    if has_rgb:
        out_fields += [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
    vertices = np.empty(flat.shape[0], dtype=out_fields)
    for name in ('x', 'y', 'z'):
        vertices[name] = flat[name]
    if has_rgb:
        colours = unpack_rgb(flat['rgb'])
        vertices['red'] = colours[:, 0]
        vertices['green'] = colours[:, 1]
        vertices['blue'] = colours[:, 2]

    header = ['ply', 'format {} 1.0'.format('binary_little_endian' if binary else 'ascii'),
              'comment written by depthclip_ros',
              f'element vertex {vertices.shape[0]}',
              'property float x', 'property float y', 'property float z']
    if has_rgb:
        header += ['property uchar red', 'property uchar green', 'property uchar blue']
    header.append('end_header')
    with open(os.fspath(path), 'wb') as f:
        f.write(('\n'.join(header) + '\n').encode('ascii'))
        if binary:
            f.write(vertices.tobytes())
        else:
            xyz = np.stack([vertices['x'], vertices['y'], vertices['z']], axis=1)
            lines = []
            for i in range(vertices.shape[0]):
                line = ' '.join(repr(float(c)) for c in xyz[i])
                if has_rgb:
                    line += ' {} {} {}'.format(*colours[i])
                lines.append(line)
            if lines:
                f.write(('\n'.join(lines) + '\n').encode('ascii'))
    return int(vertices.shape[0])


_PLY_TYPES = {
    'char': 'i1', 'int8': 'i1', 'uchar': 'u1', 'uint8': 'u1',
    'short': 'i2', 'int16': 'i2', 'ushort': 'u2', 'uint16': 'u2',
    'int': 'i4', 'int32': 'i4', 'uint': 'u4', 'uint32': 'u4',
    'float': 'f4', 'float32': 'f4', 'double': 'f8', 'float64': 'f8',
}


def read_ply(path: str) -> np.ndarray:
    """
    Read the vertices of a PLY file written by :func:`write_ply` (or a similar simple PLY).

    Supports ``ascii`` and ``binary_little_endian`` files whose first element is ``vertex``
    with scalar ``x``, ``y``, ``z`` and optionally ``red``, ``green``, ``blue`` properties.

    :param path: PLY file path.
    :return: Unorganized structured array of dtype :data:`XYZ_DTYPE` or
        :data:`XYZRGB_DTYPE`.
    :raises ValueError: If the file is not a supported PLY.
    """
    with open(os.fspath(path), 'rb') as f:
        if f.readline().strip() != b'ply':
            raise ValueError(f'{path} is not a PLY file')
        fmt = None
        count = None
        props = []
        in_vertex = False
        while True:
            line = f.readline()
            if not line:
                raise ValueError(f'{path}: PLY header has no end_header')
            words = line.decode('ascii').split()
            if not words or words[0] in ('comment', 'obj_info'):
                continue
            if words[0] == 'end_header':
                break
            if words[0] == 'format':
                fmt = words[1]
            elif words[0] == 'element':
                in_vertex = words[1] == 'vertex' and count is None
                if in_vertex:
                    count = int(words[2])
                elif count is None:
                    raise ValueError(f'{path}: the first PLY element must be vertex')
            elif words[0] == 'property' and in_vertex:
                if words[1] == 'list' or words[1] not in _PLY_TYPES:
                    raise ValueError(f'{path}: unsupported vertex property {line!r}')
                props.append((words[2], _PLY_TYPES[words[1]]))
        body = f.read()
    if count is None:
        raise ValueError(f'{path}: PLY has no vertex element')
    names = [p[0] for p in props]
    if not {'x', 'y', 'z'} <= set(names):
        raise ValueError(f'{path}: PLY vertices need x, y, z properties')
    if fmt == 'binary_little_endian':
        dtype = np.dtype([(n, '<' + t) for n, t in props])
        vertices = np.frombuffer(body, dtype=dtype, count=count)
    elif fmt == 'ascii':
        rows = body.decode('ascii').split('\n')
        values = [r.split() for r in rows[:count]]
        vertices = np.zeros(count, dtype=[(n, t) for n, t in props])
        if count:
            table = np.array(values, dtype=np.float64).reshape(count, -1)
            for i, name in enumerate(names):
                vertices[name] = table[:, i]
    else:
        raise ValueError(f'{path}: unsupported PLY format {fmt!r}')

    has_rgb = {'red', 'green', 'blue'} <= set(names)
    out = np.empty(count, dtype=XYZRGB_DTYPE if has_rgb else XYZ_DTYPE)
    for name in ('x', 'y', 'z'):
        out[name] = vertices[name]
    if has_rgb:
        colours = np.stack([vertices['red'], vertices['green'], vertices['blue']], axis=-1)
        out['rgb'] = pack_rgb(colours.astype(np.uint8))
    return out


def benchmark_cloud(width: int = 640, height: int = 480, stride: int = 4,
                    repeats: int = 50) -> Dict[str, float]:
    """
    Time :func:`depth_to_points` (organized, with rgb) plus :func:`pack_cloud`.

    Uses a synthetic slanted-plane depth image with some invalid pixels and random colours.

    :param width: Depth image width.
    :param height: Depth image height.
    :param stride: Sampling stride.
    :param repeats: Number of timed runs (after one warm-up run).
    :return: Dict with ``median_ms``, ``min_ms``, ``mean_ms``, ``points``, ``width``,
        ``height``, ``stride`` and ``repeats``.
    """
    width = _positive_int('width', width)
    height = _positive_int('height', height)
    repeats = _positive_int('repeats', repeats)
    intr = Intrinsics.from_fov(width, height, 60.0)
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    depth = (1.0 + 3.0 * v / height + 0.5 * u / width).astype(np.float32)
    depth[rng.random((height, width)) < 0.05] = np.nan
    rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    times = []
    points = 0
    for i in range(repeats + 1):
        start = time.perf_counter()
        cloud = depth_to_points(depth, intr, stride=stride, rgb=rgb, organized=True)
        msg = pack_cloud(cloud)
        elapsed = (time.perf_counter() - start) * 1000.0
        if i > 0:
            times.append(elapsed)
        points = msg['width'] * msg['height']
    return {
        'median_ms': float(np.median(times)),
        'min_ms': float(np.min(times)),
        'mean_ms': float(np.mean(times)),
        'points': int(points),
        'width': width,
        'height': height,
        'stride': int(stride),
        'repeats': repeats,
    }
