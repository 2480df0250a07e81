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
Camera geometry without ROS: intrinsics, rectification, depth back-projection, point clouds.

:func:`camera_geometry` reads a camera calibration (the K, D, R, P of a
``sensor_msgs/CameraInfo``) and says which intrinsics an image has, whether it must be
rectified first (:class:`Rectification`, maps cached by :class:`RectifyMaps`, as
image_proc's rectify does) and what the ``camera_info`` of a depth image made from it says.

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

import cv2
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


#: Distortion models that can be rectified, and the lengths of D each may have.
DISTORTION_MODELS: Dict[str, Tuple[int, ...]] = {
    'plumb_bob': (4, 5, 8, 12, 14), 'rational_polynomial': (8, 12, 14), 'equidistant': (4,)}
#: A P whose focal lengths differ from K's by more than this factor is refused.
MAX_P_K_RATIO = 4.0
IDENTITY_3X3 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
ZERO_DISTORTION = (0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Rectification:
    """
    How to rectify a distorted ``width`` x ``height`` image: OpenCV's inputs.

    ``k``, ``r`` and ``new_k`` are row-major 3x3 (``new_k``: the left 3x3 of P, the
    intrinsics of the rectified image), ``d`` the distortion of ``model``.
    """

    k: Tuple[float, ...]
    d: Tuple[float, ...]
    r: Tuple[float, ...]
    new_k: Tuple[float, ...]
    width: int
    height: int
    model: str

    def maps(self) -> Tuple[np.ndarray, np.ndarray]:
        """Compute the fixed-point ``cv2.remap`` maps from the rectified image to this one."""
        k = np.array(self.k, dtype=np.float64).reshape(3, 3)
        r = np.array(self.r, dtype=np.float64).reshape(3, 3)
        new_k = np.array(self.new_k, dtype=np.float64).reshape(3, 3)
        d = np.array(self.d, dtype=np.float64)
        size = (self.width, self.height)
        if self.model == 'equidistant':
            return cv2.fisheye.initUndistortRectifyMap(k, d[:4].reshape(4, 1), r, new_k, size,
                                                       cv2.CV_16SC2)
        return cv2.initUndistortRectifyMap(k, d, r, new_k, size, cv2.CV_16SC2)


def rectify_image(image: np.ndarray, maps: Tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Return ``image`` rectified with ``maps`` (bilinear; black outside the input)."""
    return cv2.remap(image, maps[0], maps[1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT)


class RectifyMaps:
    """One camera's rectification maps, computed again only when its calibration changes."""

    def __init__(self):
        self._key: Optional[Rectification] = None
        self._maps: Optional[Tuple[np.ndarray, np.ndarray]] = None
        #: How many times maps were computed (a new calibration or size).
        self.computed = 0

    def rectify(self, image: np.ndarray, rectification: Rectification) -> np.ndarray:
        """Return ``image`` rectified by ``rectification`` (its size must be the image's)."""
        if image.shape[:2] != (rectification.height, rectification.width):
            raise ValueError(f'rectification is for {rectification.width}x'
                             f'{rectification.height}, the image is {image.shape[1]}x'
                             f'{image.shape[0]}')
        if rectification != self._key:
            self._maps = rectification.maps()
            self._key = rectification
            self.computed += 1
        return rectify_image(image, self._maps)


@dataclass(frozen=True)
class ImageGeometry:
    """
    What a calibration means for one image (see :func:`camera_geometry`).

    :param intrinsics: of the image the network sees (the rectified one when
        ``rectification`` is set)
    :param rectification: how to rectify the input first; None: use it as it is
    :param distortion_model: for the ``camera_info`` of outputs made from that image
    :param d: idem, the distortion (zero once rectified)
    :param r: idem, the rectification rotation
    :param p_tail: P's fourth column (stereo baseline terms) at the input size
    :param origin: where the intrinsics come from, in words (diagnostics)
    :param problem: what was wrong with D, R or P and is ignored (None: nothing)
    """

    intrinsics: Intrinsics
    rectification: Optional[Rectification]
    distortion_model: str
    d: Tuple[float, ...]
    r: Tuple[float, ...]
    p_tail: Tuple[float, float, float]
    origin: str
    problem: Optional[str] = None


def _floats(values: Sequence[float]) -> Tuple[float, ...]:
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f'not a sequence of numbers: {values!r}') from None


def _distortion(model: str, d: Tuple[float, ...]) -> Tuple[bool, Optional[str]]:
    """Return (distorted, problem) for distortion ``d`` of ``model``."""
    if not d or all(v == 0.0 for v in d):
        return False, None
    if not all(math.isfinite(v) for v in d):
        return False, f'D holds non-finite values {list(d)}'
    lengths = DISTORTION_MODELS.get(model)
    if lengths is None:
        return False, (f'distortion model {model!r} cannot be rectified (supported: '
                       f'{", ".join(DISTORTION_MODELS)})')
    if len(d) not in lengths:
        return False, (f'{model} D must have {" or ".join(str(n) for n in lengths)} values, '
                       f'got {len(d)}')
    return True, None


def _rotation(r: Tuple[float, ...]) -> Tuple[Tuple[float, ...], Optional[str]]:
    """Return R (identity when absent or all zero) and what was wrong with it."""
    if not r or all(v == 0.0 for v in r):
        return IDENTITY_3X3, None
    if len(r) != 9 or not all(math.isfinite(v) for v in r):
        return IDENTITY_3X3, f'R must be 9 finite values, got {list(r)}'
    m = np.array(r, dtype=np.float64).reshape(3, 3)
    if not np.allclose(m @ m.T, np.eye(3), atol=1e-3):
        return IDENTITY_3X3, f'R is not a rotation: {list(r)}'
    return r, None


def _projection(p: Tuple[float, ...],
                k: Intrinsics) -> Tuple[Optional[Intrinsics], Optional[str]]:
    """Return P's intrinsics (None when absent, all zero or unusable) and what was wrong."""
    if not p or all(v == 0.0 for v in p):
        return None, None
    if len(p) != 12:
        return None, f'P must have 12 values (row-major 3x4), got {len(p)}'
    if not all(math.isfinite(v) for v in p):
        return None, f'P holds non-finite values {list(p)}'
    if p[8:11] != (0.0, 0.0, 1.0):
        return None, f'the third row of P must be [0, 0, 1, t], got {list(p[8:12])}'
    try:
        intr = Intrinsics(fx=p[0], fy=p[5], cx=p[2], cy=p[6], width=k.width, height=k.height)
    except ValueError as error:
        return None, f'P is unusable ({error})'
    ratios = (intr.fx / k.fx, intr.fy / k.fy)
    inside = (-k.width <= intr.cx <= 2 * k.width) and (-k.height <= intr.cy <= 2 * k.height)
    if not inside or any(not 1.0 / MAX_P_K_RATIO <= q <= MAX_P_K_RATIO for q in ratios):
        return None, (f'P (fx {intr.fx:g}, fy {intr.fy:g}, cx {intr.cx:g}, cy {intr.cy:g}) '
                      f'disagrees absurdly with K (fx {k.fx:g}, fy {k.fy:g}, cx {k.cx:g}, '
                      f'cy {k.cy:g})')
    return intr, None


def camera_geometry(width: int, height: int, k: Sequence[float], d: Sequence[float] = (),
                    r: Sequence[float] = (), p: Sequence[float] = (),
                    distortion_model: str = '', rectify: bool = True) -> ImageGeometry:
    """
    Decide how to use a calibration (``CameraInfo`` K, D, R, P) for one image.

    ``rectify`` true (the node's ``camera.rectify``): a distorted image (D not zero) is
    rectified into P (into K when P is absent), so its intrinsics are P's and its outputs'
    ``camera_info`` has D = 0, K = P, R = I; an undistorted image (D zero, an
    ``image_rect``) has P's intrinsics (K's when P is absent or equals K). A D, R or P that
    is invalid (non-finite, wrong length, unknown model, a P absurdly far from K) is
    ignored, and ``problem`` says so. ``rectify`` false: K's intrinsics, D and R passed on.

    :raises ValueError: K is unusable (the caller falls back to a field of view)
    """
    intr = Intrinsics.from_camera_info(k, width, height)
    try:
        d, r, p = _floats(d), _floats(r), _floats(p)
    except ValueError as error:
        return ImageGeometry(intr, None, 'plumb_bob', ZERO_DISTORTION, IDENTITY_3X3,
                             (0.0, 0.0, 0.0), 'camera_info K', f'D, R or P unusable: {error}')
    if not rectify:
        model = distortion_model or 'plumb_bob'
        return ImageGeometry(intr, None, model, d or ZERO_DISTORTION, r or IDENTITY_3X3,
                             (0.0, 0.0, 0.0), 'camera_info K (camera.rectify false)')
    problems = []
    distorted, d_problem = _distortion(distortion_model, d)
    if d_problem:
        problems.append(f'{d_problem}: not rectified, the depth is in the image as it came')
    rotation, problem = _rotation(r)
    if problem:
        problems.append(f'{problem}: ignored')
    target, problem = _projection(p, intr)
    if problem:
        problems.append(f'{problem}: using K')
    tail = (p[3], p[7], p[11]) if target is not None else (0.0, 0.0, 0.0)
    text = '; '.join(problems) or None
    if distorted:
        new = target or intr
        rect = Rectification(tuple(intr.k()), d, rotation, tuple(new.k()), width, height,
                             distortion_model)
        origin = f'camera_info {"P" if target is not None else "K"} (rectified here, ' \
                 f'{distortion_model})'
        return ImageGeometry(new, rect, 'plumb_bob', ZERO_DISTORTION, IDENTITY_3X3, tail,
                             origin, text)
    if d_problem:
        # Not rectified: K; a finite D is passed on (the depth is in the distorted image).
        finite = all(math.isfinite(v) for v in d)
        return ImageGeometry(intr, None, distortion_model if finite else 'plumb_bob',
                             d if finite else ZERO_DISTORTION, rotation, (0.0, 0.0, 0.0),
                             'camera_info K (not rectified)', text)
    if target is not None and target.k() != intr.k():
        return ImageGeometry(target, None, 'plumb_bob', ZERO_DISTORTION, IDENTITY_3X3, tail,
                             'camera_info P (rectified input)', text)
    return ImageGeometry(intr, None, 'plumb_bob', ZERO_DISTORTION, IDENTITY_3X3, tail,
                         'camera_info K', text)


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
        organized: bool = True,
        labels: Optional[np.ndarray] = None) -> np.ndarray:
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
    :param labels: Optional (H, W) integer label per pixel (0 none); adds a ``uint32 label``
        field after the others (PCL's ``PointXYZL`` / ``PointXYZRGBL`` name and type).
    :return: Structured array of dtype :data:`XYZ_DTYPE` or :data:`XYZRGB_DTYPE` (with
        ``label``: the same fields, then ``label``).
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

    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (height, width) or labels.dtype.kind not in 'ui':
            raise ValueError(f'labels must be an integer array of shape {(height, width)}, '
                             f'got {labels.dtype} {labels.shape}')
    dtype = XYZ_DTYPE if rgb is None else XYZRGB_DTYPE
    if labels is not None:
        dtype = with_label_field(dtype)
    if organized:
        zv = np.where(valid, z, np.float32(np.nan))
        out = np.empty((rows, cols), dtype=dtype)
        out['x'] = ax[np.newaxis, :] * zv
        out['y'] = ay[:, np.newaxis] * zv
        out['z'] = zv
        if rgb is not None:
            out['rgb'] = pack_rgb(rgb[::stride, ::stride])
        if labels is not None:
            out['label'] = labels[::stride, ::stride]
        return out

    vi, ui = np.nonzero(valid)
    zv = z[vi, ui]
    out = np.empty(zv.shape[0], dtype=dtype)
    out['x'] = ax[ui] * zv
    out['y'] = ay[vi] * zv
    out['z'] = zv
    if rgb is not None:
        out['rgb'] = pack_rgb(rgb[vi * stride, ui * stride])
    if labels is not None:
        out['label'] = labels[vi * stride, ui * stride]
    return out


def with_label_field(dtype: np.dtype) -> np.dtype:
    """Return ``dtype`` (a cloud's) with a little-endian ``uint32 label`` field appended."""
    names = list(dtype.names)
    formats = [dtype.fields[name][0] for name in names]
    offsets = [dtype.fields[name][1] for name in names]
    return np.dtype({'names': names + ['label'], 'formats': formats + ['<u4'],
                     'offsets': offsets + [dtype.itemsize], 'itemsize': dtype.itemsize + 4})


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
