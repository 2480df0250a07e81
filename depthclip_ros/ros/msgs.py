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
Glue between ROS 2 messages and NumPy arrays (the only place that builds or reads them).

Images, compressed images, camera info, point clouds and the grounding markers are
converted here; the numerics (pixel encodings, back-projection, packing, what the markers
say) live in the ROS-free core modules :mod:`depthclip_ros.core.image_conversion`,
:mod:`depthclip_ros.core.geometry` and :mod:`depthclip_ros.core.grounding`.

``visualization_msgs`` is optional: without it :data:`MarkerArray` is None and the node
has no ``grounding/markers`` output (it says so).
"""

import array
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from builtin_interfaces.msg import Time
import cv2
import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header
try:  # optional: only grounding/markers needs it
    from visualization_msgs.msg import Marker, MarkerArray
except ImportError:
    Marker = MarkerArray = None

from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.grounding import MARKER_NAMESPACE, MarkerSpec
from depthclip_ros.core.image_conversion import (bytes_per_pixel, check_layout, decode_compressed,
                                                 DEFAULT_MAX_PIXELS, encode_compressed,
                                                 encode_image, image_to_rgb, ImageConversionError)
from depthclip_ros.core.outputs import camera_info_fields, CameraModel

#: encoding -> (NumPy dtype character code, channels) for :func:`image_msg_to_array`.
ARRAY_ENCODINGS: Dict[str, Tuple[str, int]] = {
    '32FC1': ('f4', 1), '64FC1': ('f8', 1), '16UC1': ('u2', 1), '16SC1': ('i2', 1),
    '32SC1': ('i4', 1), '8UC1': ('u1', 1), 'mono8': ('u1', 1), 'mono16': ('u2', 1),
    '8UC3': ('u1', 3), 'bgr8': ('u1', 3), 'rgb8': ('u1', 3), '8UC4': ('u1', 4),
    'bgra8': ('u1', 4), 'rgba8': ('u1', 4), '16UC3': ('u2', 3), 'bgr16': ('u2', 3),
    'rgb16': ('u2', 3), '32FC3': ('f4', 3),
}

#: NumPy (kind, item size, channels) -> encoding, for :func:`array_to_image_msg`.
_ENCODING_OF = {
    ('f', 4, 1): '32FC1', ('f', 8, 1): '64FC1', ('u', 2, 1): '16UC1', ('u', 1, 1): 'mono8',
    ('i', 2, 1): '16SC1', ('i', 4, 1): '32SC1',
}


def copy_header(header: Header) -> Header:
    """Return an independent copy of ``header`` (same stamp and frame_id)."""
    return Header(stamp=Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec),
                  frame_id=header.frame_id)


def stamp_to_ns(stamp: Time) -> int:
    """Return a ``builtin_interfaces/Time`` as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def header_with_frame(header: Header, frame_id: str = '') -> Header:
    """Return a copy of ``header``; a non-empty ``frame_id`` replaces its frame_id."""
    copy = copy_header(header)
    if frame_id:
        copy.frame_id = frame_id
    return copy


# -------------------------------------------------------------------------------------------
# Images
# -------------------------------------------------------------------------------------------
def array_to_image_msg(data: np.ndarray, header: Header,
                       encoding: Optional[str] = None) -> Image:
    """
    Wrap a NumPy image as a ``sensor_msgs/Image`` without changing its pixels.

    :param data: (H, W) or (H, W, C) array; float32 (H, W) becomes ``32FC1`` (REP 118 depth)
    :param header: header copied into the message
    :param encoding: the encoding of ``data`` (``bgr8``, ``rgb8``, ...); inferred for
        single-channel arrays when ``None``
    :raises ValueError: the array's shape or dtype does not fit the encoding
    """
    data = np.asarray(data)
    if data.ndim not in (2, 3):
        raise ValueError(f'image arrays must be (H, W) or (H, W, C), got shape {data.shape}')
    channels = 1 if data.ndim == 2 else data.shape[2]
    if encoding is None:
        encoding = _ENCODING_OF.get((data.dtype.kind, data.dtype.itemsize, channels))
        if encoding is None:
            raise ValueError(f'cannot infer an encoding for a {data.dtype} array with '
                             f'{channels} channel(s); pass encoding=')
    expected = ARRAY_ENCODINGS.get(encoding)
    if expected is None:
        raise ValueError(f'unsupported encoding {encoding!r}')
    dtype = np.dtype(expected[0])
    if data.dtype.kind != dtype.kind or data.dtype.itemsize != dtype.itemsize \
            or channels != expected[1]:
        raise ValueError(f'{encoding} needs {expected[1]} channel(s) of {dtype}, got '
                         f'{channels} of {data.dtype}')
    data = np.ascontiguousarray(data, dtype=dtype.newbyteorder('<'))
    msg = Image()
    msg.header = copy_header(header)
    msg.height, msg.width = int(data.shape[0]), int(data.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(data.shape[1] * channels * dtype.itemsize)
    msg.data = array.array('B', data.tobytes())
    return msg


def image_msg_to_array(msg: Image) -> np.ndarray:
    """
    Return the pixels of an ``Image`` as a NumPy array in its own encoding (no conversion).

    Honours ``step`` (row padding) and ``is_bigendian``; the result is a native-endian copy.

    :raises ValueError: unknown encoding or a buffer too small for height x step
    """
    spec = ARRAY_ENCODINGS.get(msg.encoding)
    if spec is None:
        raise ValueError(f'image_msg_to_array: unsupported encoding {msg.encoding!r}')
    dtype = np.dtype(spec[0]).newbyteorder('>' if msg.is_bigendian else '<')
    channels = spec[1]
    row_bytes = msg.width * channels * dtype.itemsize
    if msg.step < row_bytes or len(msg.data) < msg.height * msg.step:
        raise ValueError(f'image buffer too small: {len(msg.data)} bytes for {msg.height} rows '
                         f'of step {msg.step} (need {row_bytes} bytes per row)')
    raw = np.frombuffer(msg.data, dtype=np.uint8, count=msg.height * msg.step)
    rows = raw.reshape(msg.height, msg.step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype).astype(dtype.newbyteorder('='))
    shape = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    return pixels.reshape(shape)


def check_image_msg(msg: Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """
    Check the declared size of an ``Image`` against its data, allocating nothing.

    Catches what would make any converter (cv_bridge included) fail or read out of bounds:
    a zero or absurd size, a row step shorter than a row, data shorter than
    ``height * step``. Encodings unknown to :mod:`depthclip_ros.core.image_conversion` are only
    checked for sizes and data length.

    :return: how many bytes of ``data`` follow the last row (0 for an exact buffer)
    :raises depthclip_ros.core.image_conversion.ImageConversionError: naming the problem
    """
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f'image size {width}x{height} is empty')
    if height * width > max_pixels:
        raise ImageConversionError(f'declared size {width}x{height} = {height * width} pixels '
                                   f'exceeds max_pixels={max_pixels}')
    try:
        bpp = bytes_per_pixel(msg.encoding)
    except ImageConversionError:
        bpp = 1  # unknown here: a converter that knows it checks the rest
    return check_layout(height, width, step, bpp, len(msg.data), msg.encoding)


def image_msg_to_rgb(msg: Image, max_pixels: Optional[int] = None) -> np.ndarray:
    """
    Convert any supported ``Image`` to RGB uint8 (H, W, 3).

    :raises depthclip_ros.core.image_conversion.ImageConversionError: unsupported or malformed
    """
    kwargs = {} if max_pixels is None else {'max_pixels': max_pixels}
    return image_to_rgb(msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step,
                        msg.data, **kwargs)


def compressed_msg_to_rgb(msg: CompressedImage) -> np.ndarray:
    """
    Decode a ``CompressedImage`` (jpeg, png, image_transport formats) to RGB uint8.

    :raises depthclip_ros.core.image_conversion.ImageConversionError: undecodable data
    """
    return decode_compressed(msg.format, msg.data)


def rgb_to_image_msg(rgb: np.ndarray, header: Header, encoding: str = 'rgb8',
                     is_bigendian: bool = False) -> Image:
    """
    Encode an RGB uint8 image as an ``Image`` in ``encoding`` (any supported encoding).

    :raises depthclip_ros.core.image_conversion.ImageConversionError: unsupported encoding
    """
    step, data = encode_image(rgb, encoding, is_bigendian=is_bigendian)
    msg = Image()
    msg.header = copy_header(header)
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(bool(is_bigendian))
    msg.step = int(step)
    msg.data = array.array('B', bytes(data))
    return msg


def rgb_to_compressed_msg(rgb: np.ndarray, header: Header, fmt: str = 'jpeg',
                          quality: int = 90) -> CompressedImage:
    """Compress an RGB uint8 image into a ``CompressedImage`` (``format`` = ``fmt``)."""
    msg = CompressedImage()
    msg.header = copy_header(header)
    msg.format = fmt
    msg.data = array.array('B', bytes(encode_compressed(rgb, fmt=fmt, quality=quality)))
    return msg


# -------------------------------------------------------------------------------------------
# Camera info
# -------------------------------------------------------------------------------------------
def intrinsics_from_camera_info(msg: CameraInfo) -> Intrinsics:
    """
    Read the pinhole intrinsics (K, width, height) of a ``CameraInfo``.

    :raises ValueError: uncalibrated (all-zero K), NaN values or a zero size
    """
    return Intrinsics.from_camera_info(list(msg.k), msg.width, msg.height)


def camera_info_msg(intr: Intrinsics, header: Header, source=None) -> CameraInfo:
    """
    Build a ``CameraInfo`` for an image with intrinsics ``intr``.

    :param intr: intrinsics of the image this message describes (its size is used)
    :param header: header copied into the message
    :param source: the camera info (a ``CameraInfo`` or a
        :class:`~depthclip_ros.core.outputs.CameraModel`) the image was derived from; its
        distortion model, coefficients and rectification are kept (they do not change with
        resizing)
    """
    model = None if source is None else CameraModel.from_message(source)
    fields = camera_info_fields(intr, model)
    msg = CameraInfo()
    msg.header = copy_header(header)
    msg.width, msg.height = fields['width'], fields['height']
    msg.k, msg.p = fields['k'], fields['p']
    msg.distortion_model, msg.d, msg.r = fields['distortion_model'], fields['d'], fields['r']
    return msg


# -------------------------------------------------------------------------------------------
# Image conversion: cv_bridge when it works in this process, else depthclip_ros's own
# -------------------------------------------------------------------------------------------
class RgbConverter:
    """
    Convert Image / CompressedImage messages to RGB uint8 arrays.

    cv_bridge is used when it imports and passes a self-test (it is broken under NumPy 2);
    otherwise, and for anything cv_bridge cannot convert,
    :mod:`depthclip_ros.core.image_conversion`.
    """

    def __init__(self, try_cv_bridge: bool = True):
        self.bridge = None
        self.reason = 'disabled'
        if try_cv_bridge:
            self.bridge, self.reason = self._probe_cv_bridge()
        self.name = 'cv_bridge' if self.bridge is not None else 'image_conversion'

    @staticmethod
    def _probe_cv_bridge():
        try:
            from cv_bridge import CvBridge
            bridge = CvBridge()
            test = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
            back = bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(test, encoding='rgb8'), 'rgb8')
            if not np.array_equal(np.asarray(back), test):
                return None, 'cv_bridge self-test returned wrong pixels'
            return bridge, 'cv_bridge self-test passed'
        except Exception as error:  # noqa: B902 - ImportError, NumPy 2 ABI errors, ...
            return None, f'cv_bridge unusable ({type(error).__name__}: {error})'

    def to_rgb(self, msg, compressed: bool) -> Tuple[np.ndarray, int]:
        """
        Return the image as (H, W, 3) RGB uint8, and the bytes of data after its last row.

        :raises depthclip_ros.core.image_conversion.ImageConversionError: unsupported
            encoding or malformed data (OpenCV's errors are turned into it); a ValueError
        """
        extra = 0 if compressed else check_image_msg(msg)
        if self.bridge is not None:
            try:
                if compressed:
                    rgb = self.bridge.compressed_imgmsg_to_cv2(msg, 'rgb8')
                else:
                    rgb = self.bridge.imgmsg_to_cv2(msg, 'rgb8')
                rgb = np.asarray(rgb)
                if rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3:
                    return np.ascontiguousarray(rgb), extra
            except Exception:  # noqa: B902 - cv_bridge cannot do it: try our converter
                pass
        try:
            if compressed:
                return compressed_msg_to_rgb(msg), extra
            return image_msg_to_rgb(msg), extra
        except cv2.error as error:
            raise ImageConversionError(f'OpenCV could not convert the image: {error}') from None


# -------------------------------------------------------------------------------------------
# Point clouds
# -------------------------------------------------------------------------------------------
def cloud_msg(packed: Dict[str, object], header: Header) -> PointCloud2:
    """
    Build a ``PointCloud2`` from :func:`depthclip_ros.core.geometry.pack_cloud`'s output.

    :param packed: dict with height, width, point_step, row_step, is_dense, is_bigendian,
        data and fields ``[(name, offset, datatype, count)]``
    :param header: header copied into the message
    """
    msg = PointCloud2()
    msg.header = copy_header(header)
    msg.height = int(packed['height'])
    msg.width = int(packed['width'])
    msg.fields = point_fields(packed['fields'])
    msg.is_bigendian = bool(packed['is_bigendian'])
    msg.point_step = int(packed['point_step'])
    msg.row_step = int(packed['row_step'])
    msg.is_dense = bool(packed['is_dense'])
    msg.data = array.array('B', packed['data'])
    return msg


def point_fields(fields: Sequence[Tuple[str, int, int, int]]) -> List[PointField]:
    """Return ``PointField`` messages for ``(name, offset, datatype, count)`` tuples."""
    return [PointField(name=name, offset=int(offset), datatype=int(datatype), count=int(count))
            for name, offset, datatype, count in fields]


#: PointField datatype -> NumPy type character code.
_FIELD_DTYPES = {PointField.INT8: 'i1', PointField.UINT8: 'u1', PointField.INT16: 'i2',
                 PointField.UINT16: 'u2', PointField.INT32: 'i4', PointField.UINT32: 'u4',
                 PointField.FLOAT32: 'f4', PointField.FLOAT64: 'f8'}


def cloud_msg_to_array(msg: PointCloud2) -> np.ndarray:
    """
    Read a ``PointCloud2`` into a structured NumPy array (rows, cols), native byte order.

    :raises ValueError: unknown field datatype or a buffer too small
    """
    order = '>' if msg.is_bigendian else '<'
    names, formats, offsets = [], [], []
    for field in msg.fields:
        code = _FIELD_DTYPES.get(field.datatype)
        if code is None:
            raise ValueError(f'point field {field.name!r}: unknown datatype {field.datatype}')
        names.append(field.name)
        fmt = np.dtype(order + code)
        formats.append(fmt if field.count <= 1 else (fmt, (field.count,)))
        offsets.append(field.offset)
    dtype = np.dtype({'names': names, 'formats': formats, 'offsets': offsets,
                      'itemsize': msg.point_step})
    if len(msg.data) < msg.height * msg.row_step or msg.row_step < msg.width * msg.point_step:
        raise ValueError(f'point cloud buffer too small: {len(msg.data)} bytes for '
                         f'{msg.height} rows of {msg.row_step}')
    raw = np.frombuffer(msg.data, dtype=np.uint8, count=msg.height * msg.row_step)
    rows = np.ascontiguousarray(
        raw.reshape(msg.height, msg.row_step)[:, :msg.width * msg.point_step])
    points = rows.view(dtype).reshape(msg.height, msg.width)
    native = '<' if sys.byteorder == 'little' else '>'
    if order != native:
        points = points.astype(points.dtype.newbyteorder('='))
    return points


# -------------------------------------------------------------------------------------------
# Grounding markers (visualization_msgs, when installed)
# -------------------------------------------------------------------------------------------
#: Why ``grounding/markers`` is off, or ``''`` when visualization_msgs imports.
MARKERS_MISSING = '' if MarkerArray is not None else (
    'grounding/markers is off: visualization_msgs is not installed (apt install '
    'ros-$ROS_DISTRO-visualization-msgs, or pip install ros-visualization-msgs); '
    'grounding/labels, the label field of points and the diagnostics work without it')


def markers_msg(specs: Sequence[MarkerSpec], header: Header):
    """
    Build a ``MarkerArray``: a ``DELETEALL`` of the grounding namespace, then ``specs``.

    The deletion first removes the markers of queries no longer found; every marker has
    the image's header (its optical frame) and no lifetime.
    """
    markers = [Marker(header=copy_header(header), ns=MARKER_NAMESPACE, id=0,
                      action=Marker.DELETEALL)]
    for spec in specs:
        marker = Marker(header=copy_header(header), ns=MARKER_NAMESPACE, id=spec.marker_id,
                        type=Marker.SPHERE if spec.kind == 'sphere' else Marker.TEXT_VIEW_FACING,
                        action=Marker.ADD, text=spec.text)
        marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = (
            float(v) for v in spec.position)
        marker.pose.orientation.w = 1.0
        marker.scale.x, marker.scale.y, marker.scale.z = (float(v) for v in spec.scale)
        marker.color.r, marker.color.g, marker.color.b, marker.color.a = (
            float(v) for v in spec.rgba)
        markers.append(marker)
    return MarkerArray(markers=markers)
