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
ROS image messages to RGB arrays and back, without cv_bridge and without ROS imports.

The node copies the fields of a ``sensor_msgs/Image`` (height, width, encoding, is_bigendian,
step, data) or ``sensor_msgs/CompressedImage`` (format, data) into :func:`image_to_rgb` or
:func:`decode_compressed` and gets a fresh, writable, C-contiguous ``uint8`` array of shape
``(H, W, 3)`` in RGB order.

Every declared size is checked against the data before anything is allocated, so a message
that claims 100000x100000 pixels with ten bytes of data is rejected at once.

Behaviour follows ROS 2 ``cv_bridge.toCvCopy(msg, 'rgb8')`` (vision_opencv, rolling):

* 16-bit to 8-bit uses ``convertTo(..., 255. / 65535.)``, i.e. ``round(v / 257)``, computed
  here exactly in integers; encoding 8-bit as 16-bit uses ``v * 257``, so the round trip
  is lossless.
* ``yuv422`` is UYVY and ``yuv422_yuy2`` is YUYV (``COLOR_YUV2RGB_UYVY`` / ``_YUY2``);
  ``uyvy`` and ``yuyv`` are the newer names of the same layouts.
* Bayer uses OpenCV's shifted names: ROS ``bayer_rggb`` is ``COLOR_BayerBG2RGB``,
  ``bayer_bggr`` is ``BayerRG``, ``bayer_gbrg`` is ``BayerGR``, ``bayer_grbg`` is ``BayerGB``;
  16-bit Bayer is demosaicked at 16 bits and then scaled.
* ``8UC1``, ``8UC3``, ``8UC4`` and ``16UC1`` are read as ``mono8``, ``bgr8``, ``bgra8`` and
  ``mono16`` (as ``cv_bridge.cvtColorForDisplay`` does).
* Bayer images smaller than 3x3 are rejected: OpenCV demosaics them to all black.

Compressed images follow ``compressed_image_transport``'s subscriber: the format string is
``'<encoding>; <jpeg|png> compressed <bgr8|rgb8|mono8|bgr16|mono16>'`` or, from old
publishers, just ``'jpeg'`` / ``'png'``; colour data is BGR unless it says ``compressed rgb``.
"""

import array
from typing import Tuple

import cv2
import numpy as np

__all__ = [
    'ImageConversionError',
    'SUPPORTED_ENCODINGS',
    'bytes_per_pixel',
    'decode_compressed',
    'encode_compressed',
    'encode_image',
    'image_to_rgb',
    'rgb_to_bgr',
]

DEFAULT_MAX_PIXELS = 50_000_000


class ImageConversionError(ValueError):
    """An image message (or array) that cannot be converted; the message says why."""


# encoding -> (layout, channels, bytes per channel).
# Layouts: 'rgb', 'bgr', 'rgba', 'bgra', 'mono', 'uyvy', 'yuyv', 'bayer_<pattern>'.
_ENCODINGS = {
    'rgb8': ('rgb', 3, 1),
    'bgr8': ('bgr', 3, 1),
    'rgba8': ('rgba', 4, 1),
    'bgra8': ('bgra', 4, 1),
    'mono8': ('mono', 1, 1),
    'mono16': ('mono', 1, 2),
    'rgb16': ('rgb', 3, 2),
    'bgr16': ('bgr', 3, 2),
    'rgba16': ('rgba', 4, 2),
    'bgra16': ('bgra', 4, 2),
    '8UC1': ('mono', 1, 1),
    '8UC3': ('bgr', 3, 1),
    '8UC4': ('bgra', 4, 1),
    '16UC1': ('mono', 1, 2),
    'yuv422': ('uyvy', 2, 1),
    'uyvy': ('uyvy', 2, 1),
    'yuv422_yuy2': ('yuyv', 2, 1),
    'yuyv': ('yuyv', 2, 1),
    'bayer_rggb8': ('bayer_rggb', 1, 1),
    'bayer_bggr8': ('bayer_bggr', 1, 1),
    'bayer_gbrg8': ('bayer_gbrg', 1, 1),
    'bayer_grbg8': ('bayer_grbg', 1, 1),
    'bayer_rggb16': ('bayer_rggb', 1, 2),
    'bayer_bggr16': ('bayer_bggr', 1, 2),
    'bayer_gbrg16': ('bayer_gbrg', 1, 2),
    'bayer_grbg16': ('bayer_grbg', 1, 2),
}

#: Every encoding :func:`image_to_rgb` and :func:`encode_image` understand (ROS names).
SUPPORTED_ENCODINGS: Tuple[str, ...] = tuple(_ENCODINGS)

_LOWER_ENCODINGS = {name.lower(): name for name in _ENCODINGS}

# ROS Bayer pattern -> OpenCV demosaicing code (OpenCV names the pattern by the 2x2 block
# starting at pixel (1, 1), hence the shift; same table as cv_bridge).
_BAYER_TO_RGB = {
    'bayer_rggb': cv2.COLOR_BayerBG2RGB,
    'bayer_bggr': cv2.COLOR_BayerRG2RGB,
    'bayer_gbrg': cv2.COLOR_BayerGR2RGB,
    'bayer_grbg': cv2.COLOR_BayerGB2RGB,
}

# ROS Bayer pattern -> RGB channel sampled at (row % 2, col % 2).
_BAYER_CHANNELS = {
    'bayer_rggb': ((0, 1), (1, 2)),
    'bayer_bggr': ((2, 1), (1, 0)),
    'bayer_gbrg': ((1, 2), (0, 1)),
    'bayer_grbg': ((1, 0), (2, 1)),
}

_YUV_TO_RGB = {'uyvy': cv2.COLOR_YUV2RGB_UYVY, 'yuyv': cv2.COLOR_YUV2RGB_YUYV}
_RGB_TO_YUV = {'uyvy': cv2.COLOR_RGB2YUV_UYVY, 'yuyv': cv2.COLOR_RGB2YUV_YUYV}

# Channel slices that take R, G, B out of each 3/4-channel layout.
_RGB_SLICE = {
    'rgb': slice(0, 3),
    'rgba': slice(0, 3),
    'bgr': slice(2, None, -1),
    'bgra': slice(2, None, -1),
    'mono': slice(0, 1),
}

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_JPEG_SOI = b'\xff\xd8'
# Start-of-frame markers (baseline, progressive, lossless, arithmetic...): C0-CF less DHT
# (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length field.
_JPEG_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}


def _lookup(encoding):
    """Return (canonical name, layout, channels, bytes per channel) for an encoding name."""
    if not isinstance(encoding, str):
        raise ImageConversionError(
            f'encoding must be a string, got {type(encoding).__name__}')
    name = encoding.strip()
    name = name if name in _ENCODINGS else _LOWER_ENCODINGS.get(name.lower())
    if name is None:
        raise ImageConversionError(
            f'unknown encoding "{encoding}"; supported: {", ".join(SUPPORTED_ENCODINGS)}')
    layout, channels, depth = _ENCODINGS[name]
    return name, layout, channels, depth


def bytes_per_pixel(encoding: str) -> int:
    """
    Bytes one pixel takes in a ``sensor_msgs/Image`` row of this encoding.

    :param encoding: a ROS encoding name from :data:`SUPPORTED_ENCODINGS`.
    :return: channels times bytes per channel (2 for the packed 4:2:2 YUV layouts).
    :raises ImageConversionError: for an unknown encoding.
    """
    _, _, channels, depth = _lookup(encoding)
    return channels * depth


def _positive_int(value, what):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ImageConversionError(f'{what} must be an integer, got {value!r}')
    value = int(value)
    if value <= 0:
        raise ImageConversionError(f'{what} must be positive, got {value}')
    return value


def _byte_length(data):
    """Return the size in bytes of a bytes-like object or uint8 array, without copying."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageConversionError(f'data must be uint8, got a {data.dtype} array')
        return int(data.nbytes)
    if isinstance(data, array.array) and data.typecode not in ('B', 'b'):
        raise ImageConversionError(
            f"data must be array.array('B'), got typecode '{data.typecode}'")
    try:
        with memoryview(data) as view:
            return int(view.nbytes)
    except TypeError:
        raise ImageConversionError(
            'data must be bytes, bytearray, memoryview, array.array or a uint8 numpy array, '
            f'got {type(data).__name__}') from None


def _byte_buffer(data):
    """Return a flat zero-copy uint8 view of the data (copied only if non-contiguous)."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1)
    view = memoryview(data)
    if view.ndim != 1 or view.format != 'B':
        view = view.cast('B') if view.c_contiguous else memoryview(view.tobytes())
    return np.frombuffer(view, dtype=np.uint8)


def _check_max_pixels(height, width, max_pixels):
    max_pixels = _positive_int(max_pixels, 'max_pixels')
    if height * width > max_pixels:
        raise ImageConversionError(
            f'declared size {width}x{height} = {height * width} pixels exceeds '
            f'max_pixels={max_pixels}')


def check_layout(height: int, width: int, step: int, bytes_per_px: int, data_size: int,
                 name: str) -> int:
    """
    Check that ``height`` rows of ``step`` bytes fit in the data, allocating nothing.

    :param bytes_per_px: bytes of one pixel of the encoding
    :param data_size: length of the data in bytes
    :param name: the encoding, for the messages
    :return: how many bytes of data follow the last row (0 for an exact buffer)
    :raises ImageConversionError: a row step shorter than a row, or data shorter than
        ``height * step``
    """
    if step < width * bytes_per_px:
        raise ImageConversionError(
            f'step {step} is smaller than width*{bytes_per_px}={width * bytes_per_px} for '
            f'{name}')
    if data_size < height * step:
        raise ImageConversionError(
            f'data has {data_size} bytes but height*step needs {height * step} '
            f'({height}*{step}) for {name}')
    return data_size - height * step


def _scale_16_to_8(values):
    """Scale like cv_bridge's ``convertTo(CV_8U, 255. / 65535.)``: ``round(v / 257)``."""
    # round(v / 257) == (v + 128) // 257 for integers (v / 257 is never exactly x.5);
    # computed as quotient plus carry so that uint16 never overflows.
    quotient, remainder = np.divmod(values, np.uint16(257))
    quotient += remainder >= 129
    return quotient.astype(np.uint8)


def image_to_rgb(height: int, width: int, encoding: str, is_bigendian: bool, step: int, data,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """
    Convert the fields of a ``sensor_msgs/Image`` into an RGB ``uint8`` array.

    The sizes are validated before anything is allocated; rows may be padded (``step`` larger
    than ``width * bytes_per_pixel``) and data longer than ``height * step`` is accepted (the
    rest is ignored).

    :param height: image rows, > 0.
    :param width: image columns, > 0 (even for the 4:2:2 YUV encodings, >= 3 for Bayer).
    :param encoding: a ROS encoding name from :data:`SUPPORTED_ENCODINGS`.
    :param is_bigendian: byte order of 16-bit samples.
    :param step: bytes per row, >= ``width * bytes_per_pixel(encoding)``.
    :param data: bytes, bytearray, memoryview, ``array.array('B')`` or a uint8 numpy array.
    :param max_pixels: largest ``height * width`` accepted.
    :return: a new writable C-contiguous ``uint8`` array of shape ``(height, width, 3)``.
    :raises ImageConversionError: when anything about the message is wrong or unsupported.
    """
    name, layout, channels, depth = _lookup(encoding)
    height = _positive_int(height, 'height')
    width = _positive_int(width, 'width')
    _check_max_pixels(height, width, max_pixels)
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)):
        raise ImageConversionError(f'step must be an integer, got {step!r}')
    step = int(step)
    check_layout(height, width, step, channels * depth, _byte_length(data), name)
    if layout in _YUV_TO_RGB and width % 2:
        raise ImageConversionError(
            f'width {width} is odd; {name} packs pixel pairs and needs an even width')
    if layout in _BAYER_TO_RGB and (height < 3 or width < 3):
        # OpenCV's bilinear demosaicing silently returns black below 3x3.
        raise ImageConversionError(
            f'{name} needs at least 3x3 pixels to demosaic, got {width}x{height}')

    buffer = _byte_buffer(data)
    dtype = np.dtype(np.uint8) if depth == 1 else np.dtype('>u2' if is_bigendian else '<u2')
    pixels = np.ndarray(shape=(height, width, channels), dtype=dtype, buffer=buffer,
                        offset=0, strides=(step, channels * depth, depth))

    if layout in _YUV_TO_RGB:
        return np.ascontiguousarray(cv2.cvtColor(pixels, _YUV_TO_RGB[layout]))
    if layout in _BAYER_TO_RGB:
        mosaic = pixels[:, :, 0]
        if depth == 2:
            mosaic = mosaic.astype(np.uint16)  # native byte order, as OpenCV needs
        rgb = cv2.cvtColor(mosaic, _BAYER_TO_RGB[layout])
        return np.ascontiguousarray(_scale_16_to_8(rgb) if depth == 2 else rgb)

    selected = pixels[:, :, _RGB_SLICE[layout]]
    if depth == 2:
        selected = _scale_16_to_8(selected)
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[...] = selected  # one pass; mono broadcasts to three identical channels
    return rgb


def _check_rgb(rgb):
    if not isinstance(rgb, np.ndarray):
        raise ImageConversionError(f'expected a numpy array, got {type(rgb).__name__}')
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageConversionError(
            f'expected a uint8 array of shape (H, W, 3), got {rgb.dtype} {rgb.shape}')
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageConversionError(f'image is empty: shape {rgb.shape}')
    return np.ascontiguousarray(rgb)


def rgb_to_bgr(rgb: np.ndarray) -> np.ndarray:
    """
    Swap the first and third channels (RGB <-> BGR) into a new C-contiguous array.

    :param rgb: a uint8 array of shape ``(H, W, 3)``.
    :return: the channel-reversed copy.
    """
    return np.ascontiguousarray(_check_rgb(rgb)[:, :, ::-1])


def encode_image(rgb: np.ndarray, encoding: str,
                 is_bigendian: bool = False) -> Tuple[int, bytes]:
    """
    Encode an RGB image as the ``(step, data)`` of a ``sensor_msgs/Image``: the inverse.

    Mono is ``cv2.COLOR_RGB2GRAY``; 16-bit values are ``v * 257``; alpha is 255; YUV 4:2:2
    uses OpenCV's ``COLOR_RGB2YUV_UYVY`` / ``_YUYV`` (the exact counterpart of the decoder,
    BT.601 limited range) and needs an even width; Bayer keeps, at each pixel, the channel
    the pattern samples there. Rows are not padded: ``step = width * bytes_per_pixel``.

    :param rgb: a uint8 array of shape ``(H, W, 3)``.
    :param encoding: a ROS encoding name from :data:`SUPPORTED_ENCODINGS`.
    :param is_bigendian: byte order of 16-bit samples.
    :return: ``(step, data)``.
    :raises ImageConversionError: for a bad array, an unknown encoding or an odd YUV width.
    """
    name, layout, channels, depth = _lookup(encoding)
    rgb = _check_rgb(rgb)
    height, width = rgb.shape[:2]
    if layout in _RGB_TO_YUV:
        if width % 2:
            raise ImageConversionError(
                f'width {width} is odd; {name} packs pixel pairs and needs an even width')
        packed = cv2.cvtColor(rgb, _RGB_TO_YUV[layout])
        return width * 2, np.ascontiguousarray(packed).tobytes()

    if layout == 'mono':
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    elif layout in _BAYER_CHANNELS:
        pixels = np.empty((height, width), dtype=np.uint8)
        for row in range(2):
            for col in range(2):
                channel = _BAYER_CHANNELS[layout][row][col]
                pixels[row::2, col::2] = rgb[row::2, col::2, channel]
    else:
        pixels = rgb if layout in ('rgb', 'rgba') else rgb[:, :, ::-1]
        if channels == 4:
            alpha = np.full((height, width, 1), 255, dtype=np.uint8)
            pixels = np.concatenate([pixels, alpha], axis=2)
    if depth == 2:
        pixels = (pixels.astype(np.uint16) * np.uint16(257)).astype(
            np.dtype('>u2' if is_bigendian else '<u2'))
    return width * channels * depth, np.ascontiguousarray(pixels).tobytes()


def _parse_compressed_format(fmt):
    """Return (codec, data_is_rgb) for a CompressedImage format string."""
    if not isinstance(fmt, str):
        raise ImageConversionError(f'format must be a string, got {type(fmt).__name__}')
    tokens = fmt.lower().replace(';', ' ').split()
    if 'compresseddepth' in tokens:
        raise ImageConversionError(
            f'format "{fmt}" is compressedDepth (a depth image), not a colour image')
    codecs = {'jpg': 'jpeg', 'jpeg': 'jpeg', 'png': 'png'}
    found = {codecs[token] for token in tokens if token in codecs}
    if len(found) != 1:
        raise ImageConversionError(
            f'unsupported compressed format "{fmt}"; expected jpeg or png, e.g. "jpeg", '
            '"png" or "rgb8; jpeg compressed bgr8"')
    data_is_rgb = False
    if 'compressed' in tokens:
        index = tokens.index('compressed')
        data_is_rgb = index + 1 < len(tokens) and tokens[index + 1].startswith('rgb')
    return found.pop(), data_is_rgb


def _be_uint(buffer, start, count):
    return int.from_bytes(buffer[start:start + count].tobytes(), 'big')


def _png_size(buffer):
    """Return the width and height a PNG stream declares; reject a truncated stream."""
    if len(buffer) < 33 or buffer[12:16].tobytes() != b'IHDR':
        raise ImageConversionError(f'PNG data is truncated or corrupt ({len(buffer)} bytes)')
    if b'IEND' not in buffer[-64:].tobytes():
        raise ImageConversionError('PNG data is truncated: no IEND chunk at the end')
    return _be_uint(buffer, 16, 4), _be_uint(buffer, 20, 4)


def _jpeg_size(buffer):
    """Return the width and height a JPEG stream declares; reject a truncated stream."""
    size = len(buffer)
    position = 2
    frame = None
    while True:
        if position + 1 >= size:
            raise ImageConversionError('JPEG data is truncated before its image data')
        if buffer[position] != 0xFF:
            raise ImageConversionError(f'JPEG data is corrupt: no marker at byte {position}')
        marker = int(buffer[position + 1])
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        if marker in (0xD8, 0xD9):
            raise ImageConversionError('JPEG data is corrupt: image ends before its data')
        if position + 4 > size:
            raise ImageConversionError('JPEG data is truncated inside its header')
        length = _be_uint(buffer, position + 2, 2)
        end = position + 2 + length
        if length < 2 or end > size:
            raise ImageConversionError('JPEG data is truncated or corrupt inside its header')
        if marker in _JPEG_SOF:
            if length < 8:
                raise ImageConversionError('JPEG data is corrupt: short frame header')
            frame = (_be_uint(buffer, position + 7, 2), _be_uint(buffer, position + 5, 2))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        position = end
    if frame is None:
        raise ImageConversionError('JPEG data is corrupt: no frame header before the scan')
    # Entropy-coded data never holds FF D9 (0xFF is stuffed), so an end-of-image marker
    # after the scan header tells a complete stream from a truncated one.
    tail = buffer[end:]
    ff = np.flatnonzero(tail[:-1] == 0xFF)
    if not np.any(tail[ff + 1] == 0xD9):
        raise ImageConversionError('JPEG data is truncated: no end-of-image marker')
    return frame


def decode_compressed(fmt: str, data, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """
    Decode the fields of a ``sensor_msgs/CompressedImage`` (JPEG or PNG) into RGB ``uint8``.

    The stream's header is read first: a truncated stream, or one declaring more than
    ``max_pixels`` pixels, is rejected before decoding. Grey images become three identical
    channels, alpha is dropped and 16-bit PNG is scaled like cv_bridge (``round(v / 257)``).

    :param fmt: the ``format`` field, e.g. ``'jpeg'``, ``'png'``,
        ``'rgb8; jpeg compressed bgr8'`` or ``'mono8; png compressed mono8'``.
    :param data: bytes, bytearray, memoryview, ``array.array('B')`` or a uint8 numpy array.
    :param max_pixels: largest ``height * width`` accepted.
    :return: a new writable C-contiguous ``uint8`` array of shape ``(H, W, 3)``.
    :raises ImageConversionError: for an unsupported format or corrupt/truncated/huge data.
    """
    codec, data_is_rgb = _parse_compressed_format(fmt)
    _positive_int(max_pixels, 'max_pixels')
    if _byte_length(data) == 0:
        raise ImageConversionError('compressed data is empty')
    buffer = _byte_buffer(data)
    head = buffer[:8].tobytes()
    if head.startswith(_PNG_SIGNATURE):
        width, height = _png_size(buffer)
    elif head.startswith(_JPEG_SOI):
        width, height = _jpeg_size(buffer)
    else:
        raise ImageConversionError(
            f'data is neither a PNG nor a JPEG stream (format "{fmt}", starts {head.hex()})')
    if height == 0 or width == 0:
        raise ImageConversionError(f'compressed image declares an empty size {width}x{height}')
    _check_max_pixels(height, width, max_pixels)

    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ImageConversionError(
            f'could not decode {len(buffer)} bytes of {codec} data (corrupt or truncated)')
    if image.dtype == np.uint16:
        image = _scale_16_to_8(image)
    elif image.dtype != np.uint8:
        raise ImageConversionError(f'decoded {codec} image has unsupported type {image.dtype}')
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2 or image.shape[2] == 2:  # grey (with alpha)
        grey = image if image.ndim == 2 else image[:, :, 0]
        rgb = np.empty(grey.shape + (3,), dtype=np.uint8)
        rgb[...] = grey[:, :, None]
        return rgb
    colour = image[:, :, 0:3] if data_is_rgb else image[:, :, 2::-1]
    return np.ascontiguousarray(colour)


def encode_compressed(rgb: np.ndarray, fmt: str = 'jpeg', quality: int = 90) -> bytes:
    """
    Compress an RGB image as a ``sensor_msgs/CompressedImage`` ``data`` field.

    The stream stores true colours, as ``compressed_image_transport`` publishes them, so the
    matching format string is ``'rgb8; jpeg compressed bgr8'`` (or ``'... png ...'``).

    :param rgb: a uint8 array of shape ``(H, W, 3)``.
    :param fmt: ``'jpeg'``, ``'png'`` or a full image_transport format string.
    :param quality: JPEG quality 0..100 (ignored for PNG).
    :return: the compressed bytes.
    :raises ImageConversionError: for a bad array, format or quality.
    """
    codec, _ = _parse_compressed_format(fmt)
    bgr = rgb_to_bgr(rgb)
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) \
            or not 0 <= quality <= 100:
        raise ImageConversionError(f'quality must be an integer in 0..100, got {quality!r}')
    if codec == 'jpeg':
        ok, encoded = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        ok, encoded = cv2.imencode('.png', bgr)
    if not ok:
        raise ImageConversionError(f'OpenCV could not encode a {bgr.shape} image as {codec}')
    return encoded.tobytes()
