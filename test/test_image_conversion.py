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

"""Tests for the ROS-free sensor_msgs/Image and CompressedImage conversions."""

import array
import struct
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest

from depthclip_ros.core.image_conversion import (bytes_per_pixel, decode_compressed,
                                                 encode_compressed, encode_image, image_to_rgb,
                                                 ImageConversionError, rgb_to_bgr,
                                                 SUPPORTED_ENCODINGS)

EXACT_COLOUR = ['rgb8', 'bgr8', 'rgba8', 'bgra8', '8UC3', '8UC4',
                'rgb16', 'bgr16', 'rgba16', 'bgra16']
MONO = ['mono8', 'mono16', '8UC1', '16UC1']
YUV = ['yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv']
BAYER = [f'bayer_{p}{d}' for p in ('rggb', 'bggr', 'gbrg', 'grbg') for d in (8, 16)]
SIXTEEN_BIT = ['mono16', '16UC1', 'rgb16', 'bgr16', 'rgba16', 'bgra16',
               'bayer_rggb16', 'bayer_bggr16', 'bayer_gbrg16', 'bayer_grbg16']

# ROS pattern name -> colour (index into RGB) at (row % 2, col % 2), written out independently.
PATTERNS = {
    'rggb': (('R', 'G'), ('G', 'B')),
    'bggr': (('B', 'G'), ('G', 'R')),
    'gbrg': (('G', 'B'), ('R', 'G')),
    'grbg': (('G', 'R'), ('B', 'G')),
}


def random_rgb(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def smooth_rgb(height=48, width=64):
    y, x = np.mgrid[0:height, 0:width]
    r = 40 + 170 * x / (width - 1)
    g = 30 + 190 * y / (height - 1)
    b = 200 - 150 * (x + y) / (width + height - 2)
    return np.dstack([r, g, b]).round().astype(np.uint8)


def check_output(out, height, width):
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.uint8
    assert out.shape == (height, width, 3)
    assert out.flags.c_contiguous
    assert out.flags.writeable


def convert(rgb, encoding, is_bigendian=False):
    step, data = encode_image(rgb, encoding, is_bigendian)
    height, width = rgb.shape[:2]
    out = image_to_rgb(height, width, encoding, is_bigendian, step, data)
    check_output(out, height, width)
    return out


def png_chunk(kind, payload):
    body = kind + payload
    return struct.pack('>I', len(payload)) + body + struct.pack('>I', zlib.crc32(body))


# --------------------------------------------------------------------------- raw images


def test_supported_encodings_cover_the_brief():
    expected = set(EXACT_COLOUR + MONO + YUV + BAYER)
    assert isinstance(SUPPORTED_ENCODINGS, tuple)
    assert set(SUPPORTED_ENCODINGS) == expected


@pytest.mark.parametrize('encoding, expected', [
    ('rgb8', 3), ('bgra8', 4), ('mono8', 1), ('mono16', 2), ('rgb16', 6), ('bgra16', 8),
    ('8UC3', 3), ('16UC1', 2), ('yuv422', 2), ('yuyv', 2), ('bayer_grbg8', 1),
    ('bayer_rggb16', 2)])
def test_bytes_per_pixel(encoding, expected):
    assert bytes_per_pixel(encoding) == expected


@pytest.mark.parametrize('is_bigendian', [False, True])
@pytest.mark.parametrize('encoding', EXACT_COLOUR)
def test_colour_round_trip_is_exact(encoding, is_bigendian):
    rgb = random_rgb(7, 9)
    np.testing.assert_array_equal(convert(rgb, encoding, is_bigendian), rgb)


@pytest.mark.parametrize('encoding', MONO)
def test_mono_round_trip_of_grey_is_exact_and_three_channels(encoding):
    grey = np.random.default_rng(1).integers(0, 256, (6, 5), dtype=np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    out = convert(rgb, encoding)
    np.testing.assert_array_equal(out, rgb)


def test_mono_from_colour_uses_rgb2gray():
    rgb = random_rgb(4, 6)
    step, data = encode_image(rgb, 'mono8')
    assert step == 6
    np.testing.assert_array_equal(
        np.frombuffer(data, np.uint8).reshape(4, 6), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def test_layouts_of_bgr_and_alpha_encodings():
    rgb = np.array([[[10, 20, 30]]], dtype=np.uint8)
    assert encode_image(rgb, 'bgr8') == (3, bytes([30, 20, 10]))
    assert encode_image(rgb, 'rgba8') == (4, bytes([10, 20, 30, 255]))
    assert encode_image(rgb, 'bgra8') == (4, bytes([30, 20, 10, 255]))
    # Alpha is ignored when reading.
    assert image_to_rgb(1, 1, 'rgba8', False, 4, bytes([1, 2, 3, 0])).tolist() == [[[1, 2, 3]]]
    # 8UC3 / 8UC4 read as bgr8 / bgra8, like cv_bridge.
    assert image_to_rgb(1, 1, '8UC3', False, 3, bytes([1, 2, 3])).tolist() == [[[3, 2, 1]]]
    assert image_to_rgb(1, 1, '8UC4', False, 4, bytes([1, 2, 3, 9])).tolist() == [[[3, 2, 1]]]


@pytest.mark.parametrize('encoding', SIXTEEN_BIT)
def test_16bit_big_and_little_endian_give_the_same_rgb(encoding):
    # Arbitrary 16-bit samples (not v * 257, whose two bytes are equal).
    channels = bytes_per_pixel(encoding) // 2
    samples = np.random.default_rng(3).integers(0, 65536, (6, 8, channels), dtype=np.uint16)
    little = samples.astype('<u2').tobytes()
    big = samples.astype('>u2').tobytes()
    assert little != big
    step = 8 * channels * 2
    out_le = image_to_rgb(6, 8, encoding, False, step, little)
    out_be = image_to_rgb(6, 8, encoding, True, step, big)
    check_output(out_le, 6, 8)
    np.testing.assert_array_equal(out_le, out_be)
    # Reading with the wrong byte order gives something else (the flag is honoured).
    assert not np.array_equal(image_to_rgb(6, 8, encoding, True, step, little), out_le)
    # And encode_image writes the requested byte order.
    rgb = random_rgb(6, 8, seed=4)
    rgb[0, 0] = 1
    step_le, data_le = encode_image(rgb, encoding, is_bigendian=False)
    step_be, data_be = encode_image(rgb, encoding, is_bigendian=True)
    assert step_le == step_be == step
    assert np.frombuffer(data_le, '<u2').tolist() == np.frombuffer(data_be, '>u2').tolist()


def test_16bit_encoding_is_value_times_257():
    rgb = np.array([[[0, 1, 255]]], dtype=np.uint8)
    step, data = encode_image(rgb, 'rgb16', is_bigendian=True)
    assert step == 6
    assert struct.unpack('>3H', data) == (0, 257, 65535)


def test_16_to_8_bit_scaling_matches_cv_bridge_for_every_value():
    # cv_bridge (ROS 2): convertTo(CV_8U, 255. / 65535.), i.e. OpenCV's saturating round.
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    out = image_to_rgb(256, 256, 'mono16', False, 512, values.astype('<u2').tobytes())
    expected = cv2.convertScaleAbs(values, alpha=255.0 / 65535.0)
    np.testing.assert_array_equal(out[:, :, 0], expected)
    np.testing.assert_array_equal(out[:, :, 0], np.rint(values / 257.0).astype(np.uint8))
    assert out[0, 128, 0] == 0 and out[0, 129, 0] == 1  # 128 -> 0, 129 -> 1
    assert out[-1, -1, 0] == 255


@pytest.mark.parametrize('encoding', YUV)
def test_yuv_round_trip_is_close_on_a_smooth_image(encoding):
    rgb = smooth_rgb()
    out = convert(rgb, encoding)
    assert np.abs(out.astype(int) - rgb).max() <= 6


def test_yuv_byte_layouts():
    grey = np.full((2, 4, 3), 128, dtype=np.uint8)
    step, uyvy = encode_image(grey, 'yuv422')
    assert step == 8
    assert encode_image(grey, 'uyvy') == (step, uyvy)
    _, yuyv = encode_image(grey, 'yuv422_yuy2')
    assert encode_image(grey, 'yuyv')[1] == yuyv
    uyvy = np.frombuffer(uyvy, np.uint8)
    yuyv = np.frombuffer(yuyv, np.uint8)
    assert set(uyvy[0::2].tolist()) == {128}  # U, V neutral
    assert set(yuyv[1::2].tolist()) == {128}
    np.testing.assert_array_equal(uyvy[1::2], yuyv[0::2])  # the same luma
    # Reading UYVY bytes as YUYV swaps luma and chroma: a different image.
    colour = random_rgb(2, 4, seed=5)
    step, data = encode_image(colour, 'uyvy')
    assert not np.array_equal(image_to_rgb(2, 4, 'yuyv', False, step, data),
                              image_to_rgb(2, 4, 'uyvy', False, step, data))


@pytest.mark.parametrize('encoding', YUV)
def test_yuv_odd_width_is_rejected(encoding):
    with pytest.raises(ImageConversionError, match='width 3 is odd'):
        image_to_rgb(2, 3, encoding, False, 6, bytes(12))
    with pytest.raises(ImageConversionError, match='odd'):
        encode_image(random_rgb(2, 3), encoding)


@pytest.mark.parametrize('size', [(8, 8), (3, 3), (3, 5), (5, 4)])
@pytest.mark.parametrize('encoding', BAYER)
def test_bayer_mosaic_of_a_flat_colour_demosaics_back_to_it(encoding, size):
    height, width = size
    colour = {'R': 200, 'G': 30, 'B': 90}
    pattern = PATTERNS[encoding[6:10]]
    mosaic = np.empty((height, width), dtype=np.uint16)
    for row in range(2):
        for col in range(2):
            mosaic[row::2, col::2] = colour[pattern[row][col]]
    sixteen = encoding.endswith('16')
    if sixteen:
        data = (mosaic * 257).astype('<u2').tobytes()
    else:
        data = mosaic.astype(np.uint8).tobytes()
    out = image_to_rgb(height, width, encoding, False, width * (2 if sixteen else 1), data)
    check_output(out, height, width)
    expected = np.broadcast_to(np.array([200, 30, 90], dtype=np.uint8), (height, width, 3))
    np.testing.assert_array_equal(out, expected)


def test_rggb_maps_to_opencv_bayer_bg():
    mosaic = np.array([[250, 0], [0, 0]] * 2, dtype=np.uint8)  # R at (0, 0) only
    mosaic = np.tile(mosaic[:2], (3, 3))
    out = image_to_rgb(6, 6, 'bayer_rggb8', False, 6, mosaic.tobytes())
    np.testing.assert_array_equal(out, cv2.cvtColor(mosaic, cv2.COLOR_BayerBG2RGB))
    assert out[2, 2].tolist() == [250, 0, 0]


@pytest.mark.parametrize('encoding', BAYER)
def test_bayer_encode_round_trip_on_flat_patches(encoding):
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    rgb[:8, :8] = (220, 40, 10)
    rgb[:8, 8:] = (10, 200, 60)
    rgb[8:, :8] = (50, 60, 230)
    rgb[8:, 8:] = (128, 128, 128)
    out = convert(rgb, encoding)
    inner = (slice(2, 6), slice(10, 14))
    for rows, cols in [(inner[0], inner[0]), (inner[0], inner[1]), (inner[1], inner[0]),
                       (inner[1], inner[1])]:
        np.testing.assert_array_equal(out[rows, cols], rgb[rows, cols])


@pytest.mark.parametrize('size', [(1, 1), (1, 4), (4, 1), (2, 2), (2, 5), (5, 2)])
def test_bayer_smaller_than_3x3_is_rejected(size):
    # OpenCV's demosaicing returns an all-black image below 3x3 instead of failing.
    height, width = size
    with pytest.raises(ImageConversionError, match='at least 3x3'):
        image_to_rgb(height, width, 'bayer_rggb8', False, width, bytes(height * width))


@pytest.mark.parametrize('size', [(1, 1), (3, 5)])
@pytest.mark.parametrize('encoding', EXACT_COLOUR + MONO)
def test_tiny_images(encoding, size):
    rgb = random_rgb(*size, seed=7)
    if encoding in MONO:
        rgb = np.repeat(rgb[:, :, :1], 3, axis=2)
    np.testing.assert_array_equal(convert(rgb, encoding), rgb)


@pytest.mark.parametrize('size', [(1, 2), (3, 4)])
@pytest.mark.parametrize('encoding', YUV)
def test_tiny_yuv_images(encoding, size):
    rgb = np.full(size + (3,), (90, 140, 60), dtype=np.uint8)
    assert np.abs(convert(rgb, encoding).astype(int) - rgb).max() <= 3


def test_padded_rows_are_read_through_step():
    rgb = random_rgb(5, 7)
    step, data = encode_image(rgb, 'bgr8')
    padded_step = step + 5
    rows = [data[i * step:(i + 1) * step] + b'\xee' * 5 for i in range(5)]
    out = image_to_rgb(5, 7, 'bgr8', False, padded_step, b''.join(rows))
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize('is_bigendian', [False, True])
def test_padded_16bit_rows_with_odd_step(is_bigendian):
    rgb = random_rgb(4, 3, seed=2)
    step, data = encode_image(rgb, 'bgra16', is_bigendian)
    padded_step = step + 3  # odd: every other row starts unaligned
    rows = [data[i * step:(i + 1) * step] + b'\x01\x02\x03' for i in range(4)]
    out = image_to_rgb(4, 3, 'bgra16', is_bigendian, padded_step, b''.join(rows))
    np.testing.assert_array_equal(out, rgb)


def test_step_smaller_than_a_row_is_rejected():
    with pytest.raises(ImageConversionError,
                       match=r'^step 100 is smaller than width\*3=192 for rgb8$'):
        image_to_rgb(10, 64, 'rgb8', False, 100, bytes(10 * 192))
    with pytest.raises(ImageConversionError, match=r'width\*6=12 for rgb16'):
        image_to_rgb(1, 2, 'rgb16', False, 6, bytes(12))


def test_short_data_is_rejected():
    with pytest.raises(ImageConversionError,
                       match=r'^data has 10 bytes but height\*step needs 480000'):
        image_to_rgb(480, 320, 'mono8', False, 1000, bytes(10))
    with pytest.raises(ImageConversionError, match='data has 17 bytes'):
        image_to_rgb(2, 3, 'rgb8', False, 9, bytes(17))


def test_longer_data_is_accepted_and_the_rest_ignored():
    rgb = random_rgb(3, 4)
    step, data = encode_image(rgb, 'rgb8')
    out = image_to_rgb(3, 4, 'rgb8', False, step, data + b'\xff' * 100)
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize('height, width, message', [
    (0, 4, 'height must be positive'), (4, 0, 'width must be positive'),
    (-1, 4, 'height must be positive'), (2.0, 4, 'height must be an integer'),
    (True, 4, 'height must be an integer')])
def test_bad_dimensions_are_rejected(height, width, message):
    with pytest.raises(ImageConversionError, match=message):
        image_to_rgb(height, width, 'rgb8', False, 12, bytes(48))


def test_unknown_encoding_lists_the_supported_ones():
    with pytest.raises(ImageConversionError, match=r'^unknown encoding "foo"; supported: rgb8'):
        image_to_rgb(1, 1, 'foo', False, 3, bytes(3))
    for bad in ('32FC1', '16UC3', 'jpeg', ''):
        with pytest.raises(ImageConversionError, match='unknown encoding'):
            bytes_per_pixel(bad)
    with pytest.raises(ImageConversionError, match='encoding must be a string'):
        image_to_rgb(1, 1, None, False, 3, bytes(3))


def test_absurd_declared_size_with_tiny_data_allocates_nothing():
    tracemalloc.start()
    try:
        with pytest.raises(ImageConversionError, match='exceeds max_pixels=50000000'):
            image_to_rgb(100000, 100000, 'rgb8', False, 300000, b'0123456789')
        # Even with the pixel limit lifted, the size check fails before any allocation.
        with pytest.raises(ImageConversionError, match='data has 10 bytes'):
            image_to_rgb(100000, 100000, 'rgb16', True, 600000, b'0123456789',
                         max_pixels=10 ** 12)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_max_pixels_is_configurable():
    rgb = random_rgb(10, 10)
    step, data = encode_image(rgb, 'rgb8')
    with pytest.raises(ImageConversionError, match='100 pixels exceeds max_pixels=99'):
        image_to_rgb(10, 10, 'rgb8', False, step, data, max_pixels=99)
    np.testing.assert_array_equal(
        image_to_rgb(10, 10, 'rgb8', False, step, data, max_pixels=100), rgb)


def test_full_size_4000x3000_rgb8_frame():
    height, width = 3000, 4000
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[:, :, 0] = (np.arange(width) % 256)[None, :]
    rgb[:, :, 1] = (np.arange(height) % 256)[:, None]
    rgb[:, :, 2] = 77
    data = rgb.tobytes()
    out = image_to_rgb(height, width, 'rgb8', False, width * 3, data)
    check_output(out, height, width)
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize('wrap', [
    bytes, bytearray, memoryview, lambda b: array.array('B', b),
    lambda b: np.frombuffer(b, np.uint8), lambda b: np.frombuffer(b, np.uint8).copy()[::1],
    lambda b: memoryview(np.frombuffer(b, np.uint8).reshape(3, -1)),
])
def test_all_buffer_kinds_are_accepted(wrap):
    rgb = random_rgb(3, 4, seed=9)
    step, data = encode_image(rgb, 'bgr16', is_bigendian=True)
    out = image_to_rgb(3, 4, 'bgr16', True, step, wrap(data))
    np.testing.assert_array_equal(out, rgb)


def test_non_contiguous_numpy_input_is_accepted():
    rgb = random_rgb(3, 4)
    step, data = encode_image(rgb, 'rgb8')
    doubled = np.repeat(np.frombuffer(data, np.uint8), 2)[::2]
    assert not doubled.flags.c_contiguous
    np.testing.assert_array_equal(image_to_rgb(3, 4, 'rgb8', False, step, doubled), rgb)


@pytest.mark.parametrize('data, message', [
    ([0] * 12, 'data must be bytes'), (np.zeros(12, np.float32), 'data must be uint8'),
    (array.array('H', [0] * 12), "typecode 'H'"), ('x' * 12, 'data must be bytes')])
def test_wrong_data_types_are_rejected(data, message):
    with pytest.raises(ImageConversionError, match=message):
        image_to_rgb(2, 2, 'rgb8', False, 6, data)


def test_output_owns_its_memory():
    rgb = random_rgb(3, 4)
    step, data = encode_image(rgb, 'rgb8')
    buffer = bytearray(data)
    out = image_to_rgb(3, 4, 'rgb8', False, step, buffer)
    buffer[:] = bytes(len(buffer))
    np.testing.assert_array_equal(out, rgb)
    out[:] = 0  # writable, and does not reach back into the message
    assert bytes(buffer) == bytes(len(buffer))


def test_errors_are_value_errors():
    assert issubclass(ImageConversionError, ValueError)
    with pytest.raises(ValueError):
        image_to_rgb(1, 1, 'rgb8', False, 3, b'')


def test_rgb_to_bgr_and_encode_argument_checks():
    rgb = random_rgb(2, 3)
    bgr = rgb_to_bgr(rgb)
    assert bgr.flags.c_contiguous
    np.testing.assert_array_equal(bgr, rgb[:, :, ::-1])
    np.testing.assert_array_equal(rgb_to_bgr(bgr), rgb)
    for bad in (np.zeros((2, 3), np.uint8), np.zeros((2, 3, 3), np.float32),
                np.zeros((0, 3, 3), np.uint8), [[1, 2, 3]]):
        with pytest.raises(ImageConversionError):
            encode_image(bad, 'rgb8')
    with pytest.raises(ImageConversionError, match='unknown encoding'):
        encode_image(rgb, 'rgb9')


# --------------------------------------------------------------------------- compressed


@pytest.mark.parametrize('fmt', ['jpeg', 'jpg', 'rgb8; jpeg compressed bgr8',
                                 'bgr8; jpeg compressed bgr8', 'rgba8; jpeg compressed bgr8'])
def test_jpeg_round_trip_is_close(fmt):
    rgb = smooth_rgb()
    out = decode_compressed(fmt, encode_compressed(rgb, 'jpeg', quality=95))
    check_output(out, *rgb.shape[:2])
    assert np.abs(out.astype(int) - rgb).mean() < 2.0
    assert np.abs(out.astype(int) - rgb).max() <= 12


@pytest.mark.parametrize('fmt', ['png', 'rgb8; png compressed bgr8', 'bgr8; png compressed bgr8'])
def test_png_round_trip_is_exact(fmt):
    rgb = random_rgb(9, 11)
    out = decode_compressed(fmt, encode_compressed(rgb, 'png'))
    check_output(out, 9, 11)
    np.testing.assert_array_equal(out, rgb)


def test_compressed_rgb_data_is_not_swapped():
    # An old publisher that compressed RGB memory as if it were BGR says 'compressed rgb8'.
    rgb = random_rgb(4, 5)
    swapped_file = cv2.imencode('.png', rgb)[1].tobytes()
    np.testing.assert_array_equal(decode_compressed('rgb8; png compressed rgb8', swapped_file),
                                  rgb)


@pytest.mark.parametrize('fmt, ext', [('mono8; jpeg compressed mono8', '.jpg'),
                                      ('mono8; png compressed mono8', '.png'), ('png', '.png')])
def test_grey_compressed_gives_three_identical_channels(fmt, ext):
    grey = smooth_rgb()[:, :, 1].copy()
    data = cv2.imencode(ext, grey)[1].tobytes()
    out = decode_compressed(fmt, array.array('B', data))
    check_output(out, *grey.shape)
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 1])
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 2])
    assert np.abs(out[:, :, 0].astype(int) - grey).max() <= (0 if ext == '.png' else 8)


def test_16bit_png_is_scaled_like_cv_bridge():
    values = np.array([[0, 128, 129, 257, 32896, 65535]], dtype=np.uint16)
    grey = decode_compressed('mono16; png compressed mono16', cv2.imencode('.png', values)[1])
    assert grey[0, :, 0].tolist() == [0, 0, 1, 1, 128, 255]
    bgr16 = np.zeros((1, 2, 3), dtype=np.uint16)
    bgr16[0, 0] = (65535, 0, 257)  # B, G, R
    out = decode_compressed('rgb16; png compressed bgr16', cv2.imencode('.png', bgr16)[1])
    assert out[0, 0].tolist() == [1, 0, 255]


def test_png_with_alpha_drops_it():
    bgra = np.zeros((2, 2, 4), dtype=np.uint8)
    bgra[...] = (10, 20, 30, 0)
    out = decode_compressed('rgba8; png compressed bgra8', cv2.imencode('.png', bgra)[1])
    assert out.reshape(-1, 3).tolist() == [[30, 20, 10]] * 4


@pytest.mark.parametrize('fmt', ['tiff', 'foo', '', 'rgb8; tiff compressed bgr8',
                                 '16UC1; compressedDepth png', '32FC1; compressedDepth',
                                 'jpeg png'])
def test_unknown_compressed_formats_are_rejected(fmt):
    data = encode_compressed(random_rgb(4, 4), 'png')
    with pytest.raises(ImageConversionError):
        decode_compressed(fmt, data)
    with pytest.raises(ImageConversionError):
        encode_compressed(random_rgb(4, 4), fmt)


@pytest.mark.parametrize('codec', ['jpeg', 'png'])
@pytest.mark.parametrize('fraction', [0.1, 0.5, 0.9, 0.99])
def test_truncated_compressed_data_is_rejected(codec, fraction):
    data = encode_compressed(smooth_rgb(), codec)
    with pytest.raises(ImageConversionError, match='truncated|corrupt'):
        decode_compressed(codec, data[:int(len(data) * fraction)])


@pytest.mark.parametrize('data', [b'', b'\x00' * 100, b'hello, world', b'\xff\xd8',
                                  b'\x89PNG\r\n\x1a\n', bytes(range(256)) * 4])
def test_garbage_compressed_data_is_rejected(data):
    with pytest.raises(ImageConversionError):
        decode_compressed('jpeg', data)


def test_corrupt_png_body_is_rejected():
    data = bytearray(encode_compressed(random_rgb(16, 16), 'png'))
    idat = data.index(b'IDAT')
    data[idat + 10:idat + 30] = bytes(20)
    with pytest.raises(ImageConversionError, match='could not decode'):
        decode_compressed('png', bytes(data))


def test_corrupt_jpeg_header_is_rejected():
    data = bytearray(encode_compressed(smooth_rgb(), 'jpeg'))
    data[2:6] = b'\x12\x34\x56\x78'  # first marker destroyed
    with pytest.raises(ImageConversionError, match='corrupt'):
        decode_compressed('jpeg', bytes(data))


def test_png_header_declaring_a_huge_size_is_rejected_before_decoding():
    ihdr = struct.pack('>IIBBBBB', 100000, 100000, 8, 2, 0, 0, 0)
    data = (b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', ihdr)
            + png_chunk(b'IDAT', zlib.compress(b'\x00' * 64)) + png_chunk(b'IEND', b''))
    tracemalloc.start()
    try:
        with pytest.raises(ImageConversionError,
                           match='100000x100000 = 10000000000 pixels exceeds max_pixels'):
            decode_compressed('png', data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    # The declared size of a real stream is checked against a custom limit too.
    with pytest.raises(ImageConversionError, match='exceeds max_pixels=100'):
        decode_compressed('png', encode_compressed(random_rgb(20, 20), 'png'), max_pixels=100)


def test_jpeg_header_declaring_a_huge_size_is_rejected_before_decoding():
    data = bytearray(encode_compressed(smooth_rgb(), 'jpeg'))
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = struct.pack('>HH', 60000, 60000)  # height, width
    with pytest.raises(ImageConversionError, match='60000x60000'):
        decode_compressed('rgb8; jpeg compressed bgr8', bytes(data))


def test_encode_compressed_checks_quality():
    with pytest.raises(ImageConversionError, match='quality'):
        encode_compressed(random_rgb(4, 4), 'jpeg', quality=101)
    low = encode_compressed(smooth_rgb(), 'jpeg', quality=10)
    high = encode_compressed(smooth_rgb(), 'jpeg', quality=95)
    assert len(low) < len(high)
