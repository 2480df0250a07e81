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
Malformed and unusual input against the real node over DDS; invalid parameter values.

Every case: the node stays up, counts the case (rejected, camera_info rejected, stamps
going backwards, ...), remembers one clear line about it ('last problem' in diagnostics, the
line it logs at most once per few seconds), and processes the next good frame normally: the
depth of that frame arrives with its stamp.

Decided behaviour: frames whose stamp goes backwards, with an empty frame_id or with data
beyond ``height * step`` are processed (depth_image_proc passes them through) and reported;
malformed images are rejected; an unusable camera_info gives FoV intrinsics for the frame.
"""

import math
import os
import struct
import time
from types import SimpleNamespace
import zlib

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_helpers import (overrides, Probe, rss_mb, sample_image, Spinner, wait_until)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from depthclip_ros.core.config import ENGINE_PARAMETERS, NODE_PARAMETERS
from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.image_conversion import encode_compressed
from depthclip_ros.ros import msgs as ros_msgs
from depthclip_ros.ros.node import DepthClipNode

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = '/dc_bad_input'
NODE = 'depthclip_node'
SETTINGS = {'diagnostics_period': 0.2, 'flip_tta': False, 'qos.image_reliability': 'reliable',
            'publish.points': False, 'publish.colorized': False,
            'publish.confidence': False}


@pytest.fixture(scope='module')
def system(context, small_overrides):
    """One node under test for the whole module, and a probe in its namespace."""
    node = DepthClipNode(namespace=NS, context=context,
                         parameter_overrides=overrides(dict(small_overrides, **SETTINGS)))
    probe = Probe(namespace=NS, context=context)
    probe.subscribe('depth/image', Image)
    probe.subscribe('depth/camera_info', CameraInfo)
    probe.subscribe('/diagnostics', DiagnosticArray)
    probe.subscribe_rosout()
    spinners = [Spinner(node, context=context).start(), Spinner(probe, context=context).start()]
    rgb, intr = sample_image(160, 120)
    wait_until(lambda: node.count_subscribers(f'{NS}/depth/image') > 0, what='probe')
    probe.wait_for_subscribers(probe.image_pub)
    probe.wait_for_subscribers(probe.info_pub)
    system = SimpleNamespace(node=node, probe=probe, rgb=rgb, intr=intr, spinners=spinners)
    send_info(system, intr)
    yield system
    for spinner in spinners:
        spinner.stop()
    probe.destroy_node()
    node.destroy_node()


@pytest.fixture(autouse=True)
def node_stays_up(system):
    """After every case the node's executor still spins and its worker still runs."""
    yield
    assert all(spinner.error is None for spinner in system.spinners)
    assert system.node.worker_running


def send_info(system, intr):
    node = system.node
    count = node.stats['camera_info_received']
    system.probe.publish_camera_info(intr)
    wait_until(lambda: node.stats['camera_info_received'] > count, what='camera_info')


def good_roundtrip(system, send=None, size=(120, 160)):
    """Publish a good frame (republishing if needed); return (depth msg, camera_info msg)."""
    send = send or (lambda p: p.publish_rgb(system.rgb))
    out = system.probe.publish_until_output(send, ('depth/image', 'depth/camera_info'),
                                            retry=4.0)
    depth, info, header = out['depth/image'], out['depth/camera_info'], out['header']
    assert depth.header.stamp == header.stamp
    assert (depth.height, depth.width) == size
    assert depth.encoding == '32FC1'
    assert np.isfinite(ros_msgs.image_msg_to_array(depth)).all()
    return depth, info


def raw(system, **fields):
    """Return the test picture as an rgb8 Image with some fields overwritten."""
    msg = ros_msgs.rgb_to_image_msg(system.rgb, Header(), 'rgb8')
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg


def expect(system, send, counter, words, processed, size=None):
    """
    Send one bad input; check it is counted and described, then a good frame works.

    :param send: ``send(probe) -> header`` publishes the case
    :param counter: node counter that must go up
    :param words: text of the problem line
    :param processed: whether the case itself gives depth (with its stamp)
    :param size: (height, width) of that depth
    """
    node, probe = system.node, system.probe
    before = node.stats
    header = send(probe)
    wait_until(lambda: node.stats[counter] > before[counter], timeout=60.0,
               what=f'{counter} to count the case')
    assert words in node.last_problem(), node.last_problem()
    if processed:
        depth = probe.wait_for_stamp('depth/image', header, timeout=60.0)
        if size is not None:
            assert (depth.height, depth.width) == size
        assert np.isfinite(ros_msgs.image_msg_to_array(depth)).all()
    after = node.stats
    if not processed:
        assert after['processed'] == before['processed']
    assert after['errors'] == before['errors']
    good_roundtrip(system)
    if not processed:
        assert all(m.header.stamp != header.stamp for m in probe.received('depth/image'))
    return header


# -------------------------------------------------------------------------------------------
# one clear line, throttled
# -------------------------------------------------------------------------------------------
def test_a_flood_of_bad_frames_logs_one_line_and_counts_them(system):
    """Runs first: nothing of this kind was logged before."""
    node, probe = system.node, system.probe
    before = node.stats
    for _ in range(15):
        probe.publish_image_msg(raw(system, encoding='no_such_encoding'))
        time.sleep(0.01)
    wait_until(lambda: node.stats['rejected'] > before['rejected'], what='a rejection')
    good_roundtrip(system)
    after = node.stats
    bad = after['received'] - before['received'] - (after['processed'] - before['processed'])
    assert after['rejected'] - before['rejected'] + after['dropped'] - before['dropped'] == bad
    wait_until(lambda: probe.log_lines(NODE, 'rejected an image'), what='the log line')
    probe.rosout_barrier(node)  # every line of the flood has arrived
    lines = probe.log_lines(NODE, 'rejected an image')
    assert len(lines) == 1, lines
    assert 'unknown encoding "no_such_encoding"' in lines[0]
    assert f'{NS}/image' in lines[0]
    assert node.stats['rejected'] > before['rejected']


# -------------------------------------------------------------------------------------------
# raw images
# -------------------------------------------------------------------------------------------
def _short_data(s):
    msg = raw(s)
    msg.data = msg.data[:len(msg.data) - msg.step]
    return msg


def _bayer_2x2(s):
    return ros_msgs.rgb_to_image_msg(np.zeros((2, 2, 3), np.uint8), Header(), 'bayer_rggb8')


REJECTED = {
    'step_smaller_than_a_row': (lambda s: raw(s, step=160 * 3 - 1), 'step 479'),
    'step_zero': (lambda s: raw(s, step=0), 'step 0'),
    'data_shorter_than_height_x_step': (_short_data, 'data has 57120 bytes'),
    'data_empty': (lambda s: raw(s, data=[]), 'data has 0 bytes'),
    'zero_width': (lambda s: raw(s, width=0), 'is empty'),
    'zero_height': (lambda s: raw(s, height=0), 'is empty'),
    'unknown_encoding': (lambda s: raw(s, encoding='rgb9'), 'unknown encoding "rgb9"'),
    'empty_encoding': (lambda s: raw(s, encoding=''), 'unknown encoding ""'),
    'depth_encoding_on_the_colour_input': (lambda s: ros_msgs.array_to_image_msg(
        np.ones((120, 160), np.float32), Header()), 'unknown encoding "32FC1"'),
    'absurd_size_tiny_data': (lambda s: raw(s, width=100_000, height=100_000,
                                            step=300_000, data=list(range(10))),
                              'exceeds max_pixels'),
    'absurd_step_tiny_data': (lambda s: raw(s, step=4_000_000_000, data=list(range(10))),
                              'data has 10 bytes'),
    'odd_width_yuv422': (lambda s: raw(s, encoding='yuv422', width=3, height=5, step=6,
                                       data=[128] * 30), 'odd'),
    'bayer_smaller_than_3x3': (_bayer_2x2, 'at least 3x3'),
}


@pytest.mark.parametrize('case', sorted(REJECTED))
def test_malformed_image_is_rejected(system, case):
    make, words = REJECTED[case]
    rss = rss_mb()
    expect(system, lambda p: p.publish_image_msg(make(system)), 'rejected', words,
           processed=False)
    assert rss_mb() - rss < 200.0  # nothing of a declared size was allocated


def _sized(width, height):
    def send(probe):
        rgb = np.random.default_rng(width * height).integers(0, 256, (height, width, 3),
                                                             dtype=np.uint8)
        return probe.publish_rgb(rgb)
    return send


@pytest.mark.parametrize('width,height', [(1, 1), (3, 5), (5, 3), (4000, 3000)])
def test_odd_sizes_are_processed(system, width, height):
    node, probe = system.node, system.probe
    before = node.stats
    header = _sized(width, height)(probe)
    depth = probe.wait_for_stamp('depth/image', header, timeout=120.0)
    assert (depth.height, depth.width) == (height, width)
    assert np.isfinite(ros_msgs.image_msg_to_array(depth)).all()
    # The camera_info is for 160x120: FoV intrinsics of this size instead, reported.
    info = probe.wait_for_stamp('depth/camera_info', header)
    assert (info.width, info.height) == (width, height)
    np.testing.assert_allclose(info.k, Intrinsics.from_fov(width, height, 60.0).k())
    assert node.stats['camera_info_rejected'] > before['camera_info_rejected']
    assert 'camera_info is for 160x120' in node.last_problem()
    _, info = good_roundtrip(system)
    np.testing.assert_allclose(info.k, system.intr.k())


def test_big_endian_16_bit_gives_the_same_depth_as_8_bit(system):
    rejected = system.node.stats['rejected']
    reference, _ = good_roundtrip(system)
    expected = ros_msgs.image_msg_to_array(reference)
    for encoding in ('rgb16', 'bgr16', 'rgba16'):
        depth, _ = good_roundtrip(system, lambda p, e=encoding: p.publish_image_msg(
            ros_msgs.rgb_to_image_msg(system.rgb, Header(), e, is_bigendian=True)))
        np.testing.assert_allclose(ros_msgs.image_msg_to_array(depth), expected, atol=1e-4)
    assert system.node.stats['rejected'] == rejected


def test_row_padding_gives_the_same_depth(system):
    reference, _ = good_roundtrip(system)
    padded = np.zeros((120, 160 * 3 + 32), np.uint8)
    padded[:, :160 * 3] = system.rgb.reshape(120, -1)
    msg = raw(system, step=160 * 3 + 32, data=padded.tobytes())
    before = system.node.stats
    depth, _ = good_roundtrip(system, lambda p: p.publish_image_msg(msg))
    np.testing.assert_allclose(ros_msgs.image_msg_to_array(depth),
                               ros_msgs.image_msg_to_array(reference), atol=1e-4)
    assert system.node.stats['extra_data'] == before['extra_data']


def test_data_longer_than_height_x_step_is_processed_and_reported(system):
    msg = raw(system)
    msg.data = list(msg.data) + [7] * 100
    expect(system, lambda p: p.publish_image_msg(msg), 'extra_data',
           '100 bytes after its 120 rows', processed=True, size=(120, 160))


def test_stamp_going_backwards_is_processed_and_reported(system):
    good_roundtrip(system)

    def send(probe):
        header = probe.header()
        header.stamp = Time(sec=header.stamp.sec - 500, nanosec=0)
        return probe.publish_rgb(system.rgb, header=header)
    expect(system, send, 'stamp_backwards', 'stamp went backwards by', processed=True)


def test_zero_stamp_is_processed(system):
    header = system.probe.header()
    header.stamp = Time(sec=0, nanosec=0)
    depth, _ = good_roundtrip(system, lambda p: p.publish_rgb(system.rgb, header=header))
    assert depth.header.stamp == header.stamp


def test_empty_frame_id_is_processed_passed_through_and_reported(system):
    header = expect(system, lambda p: p.publish_rgb(system.rgb, header=p.header(frame_id='')),
                    'empty_frame_id', 'empty frame_id', processed=True)
    depth = system.probe.wait_for_stamp('depth/image', header)
    assert depth.header.frame_id == ''


# -------------------------------------------------------------------------------------------
# camera_info
# -------------------------------------------------------------------------------------------
def _info(intr, **k_values):
    msg = ros_msgs.camera_info_msg(intr, Header())
    k = list(msg.k)
    for index, value in k_values.items():
        k[int(index[1:])] = value
    msg.k = k
    return msg


BAD_INFO = {
    'nan_fx': ({'k0': math.nan}, 'finite'),
    'inf_cx': ({'k2': math.inf}, 'finite'),
    'zero_fx': ({'k0': 0.0}, 'fx must be > 0'),
    'uncalibrated_all_zero_k': ({f'k{i}': 0.0 for i in range(9)}, 'fx must be > 0'),
    'negative_fy': ({'k4': -100.0}, 'fy must be > 0'),
}


@pytest.mark.parametrize('case', sorted(BAD_INFO) + ['size_disagrees_with_image'])
def test_unusable_camera_info_falls_back_to_fov_then_recovers(system, case):
    node, probe = system.node, system.probe
    if case == 'size_disagrees_with_image':
        bad, words = ros_msgs.camera_info_msg(system.intr.scaled(320, 240), Header()), \
            'camera_info is for 320x240'
    else:
        k_values, words = BAD_INFO[case]
        bad = _info(system.intr, **k_values)
    count = node.stats['camera_info_received']
    bad.header = probe.header()
    probe.info_pub.publish(bad)
    wait_until(lambda: node.stats['camera_info_received'] > count, what='camera_info')
    before = node.stats
    _, info = good_roundtrip(system)
    assert node.stats['camera_info_rejected'] > before['camera_info_rejected']
    assert words in node.last_problem(), node.last_problem()
    np.testing.assert_allclose(info.k, Intrinsics.from_fov(160, 120, 60.0).k())
    send_info(system, system.intr)
    _, info = good_roundtrip(system)
    np.testing.assert_allclose(info.k, system.intr.k())


# -------------------------------------------------------------------------------------------
# overload
# -------------------------------------------------------------------------------------------
def test_frames_at_ten_times_the_processing_rate(system):
    """
    Input far faster than inference: stale frames dropped, the newest processed, no growth.

    The worker is held while the frames arrive, so the input is faster than the model on
    any machine, however fast its inference.
    """
    node, probe = system.node, system.probe
    good_roundtrip(system)
    per_frame_s = max(node.timings()['pipeline_ms_median'], 10.0) / 1000.0
    rate = min(10.0 / per_frame_s, 300.0)
    before = node.stats
    rss = rss_mb()
    headers = []
    end = time.monotonic() + 2.0
    with node.worker_paused():
        while time.monotonic() < end:
            headers.append(probe.publish_rgb(system.rgb))
            time.sleep(1.0 / rate)
        wait_until(lambda: node.stats['received'] - before['received'] >= 2,
                   what='two frames of the burst')
    depth = probe.wait_for_stamp('depth/image', headers[-1], timeout=30.0)
    assert depth.header.stamp == headers[-1].stamp
    after = node.stats
    received = after['received'] - before['received']
    processed = after['processed'] - before['processed']
    assert processed < received <= len(headers)
    assert after['dropped'] - before['dropped'] >= received - processed - 1
    assert after['errors'] == before['errors'] and after['rejected'] == before['rejected']
    assert 'faster than inference' in node.last_problem()
    assert rss_mb() - rss < 200.0
    good_roundtrip(system)


# -------------------------------------------------------------------------------------------
# compressed input (last: the transport is switched for the rest of the module)
# -------------------------------------------------------------------------------------------
def _png_declaring(width, height):
    """Return a PNG stream whose header declares width x height, with a few bytes of data."""
    def chunk(kind, body):
        return (struct.pack('>I', len(body)) + kind + body
                + struct.pack('>I', zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
            + chunk(b'IDAT', zlib.compress(b'\x00' * 16)) + chunk(b'IEND', b''))


def _compressed(fmt, data):
    msg = CompressedImage()
    msg.format = fmt
    msg.data = bytes(data)
    return msg


def _corrupt_jpeg(rgb):
    data = bytearray(encode_compressed(rgb, 'jpeg'))
    data[2:6] = b'\x00\x00\x00\x00'
    return data


def _corrupt_png(rgb):
    data = bytearray(encode_compressed(rgb, 'png'))
    middle = len(data) // 2
    data[middle:middle + 32] = b'\x00' * 32
    return data


COMPRESSED = {
    'corrupt_jpeg': (lambda rgb: _compressed('jpeg', _corrupt_jpeg(rgb)), 'corrupt'),
    'truncated_jpeg': (lambda rgb: _compressed(
        'jpeg', encode_compressed(rgb, 'jpeg')[:2000]), 'truncated'),
    'corrupt_png': (lambda rgb: _compressed('png', _corrupt_png(rgb)), 'could not decode'),
    'truncated_png': (lambda rgb: _compressed(
        'png', encode_compressed(rgb, 'png')[:3000]), 'truncated'),
    'unknown_format': (lambda rgb: _compressed('tiff', encode_compressed(rgb, 'png')),
                       'unsupported compressed format "tiff"'),
    'compressed_depth': (lambda rgb: _compressed('16UC1; compressedDepth png',
                                                 encode_compressed(rgb, 'png')),
                         'compressedDepth'),
    'empty_data': (lambda rgb: _compressed('jpeg', b''), 'empty'),
    'not_an_image': (lambda rgb: _compressed('jpeg', b'hello world, no image here'),
                     'neither a PNG nor a JPEG'),
    'png_declaring_an_absurd_size': (lambda rgb: _compressed('png',
                                                             _png_declaring(100000, 100000)),
                                     'exceeds max_pixels'),
}


@pytest.fixture(scope='class')
def compressed_transport(system):
    node, probe = system.node, system.probe
    result = node.set_parameters([Parameter('input_transport', value='compressed')])[0]
    assert result.successful, result.reason
    probe.wait_for_subscribers(probe.compressed_pub)
    yield
    node.set_parameters([Parameter('input_transport', value='raw')])


@pytest.mark.usefixtures('compressed_transport')
class TestCompressed:

    @pytest.mark.parametrize('case', sorted(COMPRESSED))
    def test_malformed_compressed_image_is_rejected(self, system, case):
        make, words = COMPRESSED[case]
        node, probe = system.node, system.probe
        rss = rss_mb()
        before = node.stats
        header = probe.publish_compressed_msg(make(system.rgb))
        wait_until(lambda: node.stats['rejected'] > before['rejected'], timeout=30.0,
                   what='the rejection')
        assert words in node.last_problem(), node.last_problem()
        assert rss_mb() - rss < 200.0
        depth = probe.publish_until_output(lambda p: p.publish_compressed(system.rgb, 'png'),
                                           retry=4.0)['depth/image']
        assert (depth.height, depth.width) == (120, 160)
        assert all(m.header.stamp != header.stamp for m in probe.received('depth/image'))
        assert node.stats['processed'] > before['processed']


# -------------------------------------------------------------------------------------------
# parameters: every invalid value of every parameter
# -------------------------------------------------------------------------------------------
#: parameter -> invalid values (each must be refused with a reason).
INVALID = {
    'prompts.templates': [[], ['no slots'], ['{} {} {}'], ['{x} is {}'], [1, 2]],
    'prompts.objects': [[], [''], ['  '], [1.0]],
    'prompts.depth_classes': [[], ['near', 'far'], [''] * 7],
    'depth_bins': [[], [1.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 4.0, 5.0, 6.0, 7.0],
                   [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [-1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                   [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, math.nan],
                   [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, math.inf], ['a'] * 7],
    'temperature': [0.0, -1.0, math.nan, math.inf, 'hot'],
    'flip_tta': ['yes', 1],
    'smoothing_sigma': [-0.5, 51.0, math.nan, math.inf],
    'depth_scale': [0.0, 0.001, 101.0, math.nan, -1.0],
    'input_transport': ['ffmpeg', '', 'RAW', 5],
    'output_scale': [0.0, -0.5, 1.5, math.nan, math.inf, 0.3, 0.75],
    'camera.fov_deg': [0.0, 180.0, 200.0, -10.0, math.nan],
    'camera.info_timeout': [-1.0, 61.0, math.nan, math.inf],
    'camera.rectify': ['yes', 1],
    'depth.min_confidence': [-0.1, 1.1, math.nan],
    'cloud.stride': [0, -1, 65, 1000, 2.5],
    'cloud.min_range': [-1.0, 10.0, 50.0, math.nan],
    'cloud.max_range': [0.05, -1.0, math.nan, math.inf],
    'cloud.min_confidence': [-0.1, 1.1, math.nan],
    'cloud.organized': ['true', 0],
    'cloud.color': ['false', 1.0],
    'qos.image_reliability': ['sometimes', '', 'RELIABLE'],
    'qos.image_depth': [0, -5, 1001],
    'publish.confidence': ['no'],
    'publish.colorized': [0],
    'publish.points': ['off'],
    'diagnostics_period': [0.0, 0.01, 4000.0, math.nan, -1.0],
    'max_batch_size': [-1, 17, 2.0, 'two'],
    'temporal.enable': ['yes', 1],
    'temporal.alpha': [0.0, -0.1, 1.5, math.nan],
    'temporal.reset_threshold': [-0.1, 1.5, math.nan],
    'temporal.max_gap': [0.0, -1.0, 4000.0, math.nan],
    'scale.mode': ['floor', '', 5],
    'scale.camera_height': [0.0, -1.0, 101.0, math.nan],
    'scale.camera_pitch_deg': [90.0, -90.0, math.nan],
    'scale.camera_roll_deg': [90.0, math.nan],
    'scale.min': [0.0, 101.0, 20.0],
    'scale.max': [0.0, 0.05, 101.0],
    'scale.smoothing': [-0.1, 1.0, math.nan],
    'scale.min_inliers': [-0.1, 1.5],
    'scale.refine_pitch': ['no', 0],
    'scale.floor_frame': ['/odom', 'base footprint', 5],
    'prompts.embeddings_file': ['/nonexistent/embeddings.npz', '/', REPO + '/README.md', 5],
    'grounding.queries': [[''], ['door', 'Door'], ['floor'], ['x' * 201], [f'q{i}' for i in
                                                                           range(17)], [1]],
    'grounding.templates': [[], ['no slot'], ['{} and {}'], ['{x}'], [2]],
    'grounding.background': [[], ['wall', 'wall'], ['  '], [3]],
    'grounding.threshold': [-0.1, 1.1, math.nan, 'high'],
}

#: read-only parameter -> a valid, different value that must still be refused.
READ_ONLY = {
    'model.name': 'RN101', 'model.pretrained': 'openai', 'model.device': 'cpu',
    'model.precision': 'bf16', 'model.quick_gelu': 'false', 'input.height': 256,
    'input.width': 320, 'input.normalization': 'clip', 'feature_mode': 'projected',
    'model.backend': 'onnxruntime', 'model.onnx_file': '/tmp/encoder.onnx',
    'model.onnx_providers': ['CPUExecutionProvider'], 'cameras': ['front', 'left'],
}


def test_every_parameter_has_invalid_cases():
    live = {s.name for s in ENGINE_PARAMETERS if not s.read_only} | {
        s.name for s in NODE_PARAMETERS}
    read_only = {s.name for s in ENGINE_PARAMETERS if s.read_only} | {'cameras'}
    assert set(INVALID) == live
    assert set(READ_ONLY) == read_only


@pytest.mark.parametrize('name', sorted(INVALID))
def test_invalid_values_are_rejected_with_a_reason(system, name):
    node = system.node
    old = node.get_parameter(name).value
    config, settings = node.engine.config, node.settings
    for value in INVALID[name]:
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful, (name, value)
        reason = result.reason
        assert reason and (name.split('.')[-1] in reason or 'type' in reason
                           or 'range' in reason), (name, value, reason)
    new = node.get_parameter(name).value
    assert (list(new) == list(old)) if isinstance(old, (list, tuple)) or hasattr(
        old, 'tolist') else new == old
    assert node.engine.config == config and node.settings == settings


def test_read_only_parameters_refuse_change_over_the_parameter_service(system):
    node, probe = system.node, system.probe
    client = AsyncParameterClient(probe, f'{NS}/{NODE}')
    assert client.wait_for_services(timeout_sec=10.0)
    params = [Parameter(name, value=value) for name, value in sorted(READ_ONLY.items())]
    future = client.set_parameters(params)
    wait_until(future.done, timeout=15.0, what='the parameter service')
    for param, result in zip(params, future.result().results):
        assert not result.successful, param.name
        assert 'read-only' in result.reason, (param.name, result.reason)
    assert node.get_parameter('model.name').value == 'RN50'
    assert node.get_parameter('input.height').value == 128
    good_roundtrip(system)
