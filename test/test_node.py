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

"""depthclip_node over real DDS: outputs, geometry, live parameters, robustness, shutdown."""

import math
import signal
import time
from types import SimpleNamespace

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_helpers import (finish_process, kill_process, overrides, Probe, process_output,
                         sample_image, Spinner, start_process, wait_until)
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from depthclip_ros.core.colorize import colorize_depth
from depthclip_ros.core.config import (default_params_file, ENGINE_PARAMETERS, load_params_file,
                                       NODE_PARAMETERS)
from depthclip_ros.core.geometry import Intrinsics, unpack_rgb
from depthclip_ros.core.image_conversion import SUPPORTED_ENCODINGS
from depthclip_ros.ros import msgs as ros_msgs
from depthclip_ros.ros.node import DepthClipNode

NS = '/dc_node_test'
OUTPUTS = (('depth/image', Image), ('depth/camera_info', CameraInfo),
           ('depth/confidence', Image), ('depth/colorized', Image), ('points', PointCloud2))
# Faster diagnostics, and half the encoder work per frame.
TEST_SETTINGS = {'diagnostics_period': 0.2, 'flip_tta': False}


# -------------------------------------------------------------------------------------------
# fixtures
# -------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def system(context, small_overrides):
    """Start the node under test (model loaded once) and a probe node, both spinning."""
    params = dict(small_overrides, **TEST_SETTINGS)
    node = DepthClipNode(namespace=NS, context=context, parameter_overrides=overrides(params))
    probe = Probe(namespace=NS, context=context)
    for topic, msg_type in OUTPUTS:
        probe.subscribe(topic, msg_type)
    probe.subscribe('/diagnostics', DiagnosticArray)
    spinners = [Spinner(node, context=context).start(), Spinner(probe, context=context).start()]
    rgb, intr = sample_image(160, 120)
    for topic, _ in OUTPUTS:
        wait_until(lambda topic=topic: node.count_subscribers(f'{NS}/{topic}') > 0,
                   what=f'a subscriber on {topic}')
    probe.wait_for_subscribers(probe.info_pub)
    probe.publish_camera_info(intr)
    wait_until(lambda: node.stats['camera_info_received'] > 0, what='camera_info')
    yield SimpleNamespace(node=node, probe=probe, rgb=rgb, intr=intr, context=context)
    for spinner in spinners:
        spinner.stop()
    probe.destroy_node()
    node.destroy_node()


@pytest.fixture
def restore(system):
    """Put back every live parameter a test changed."""
    node = system.node
    names = [spec.name for spec in ENGINE_PARAMETERS + NODE_PARAMETERS
             if not node.describe_parameter(spec.name).read_only]
    before = {name: node.get_parameter(name).value for name in names}
    yield
    changed = [Parameter(name, value=value) for name, value in before.items()
               if _differs(node.get_parameter(name).value, value)]
    if changed:
        result = node.set_parameters_atomically(changed)
        assert result.successful, result.reason


def _differs(a, b):
    if isinstance(a, (list, tuple)) or hasattr(a, 'tolist'):
        return list(a) != list(b)
    return a != b


def roundtrip(system, topics=('depth/image',), send=None, timeout=30.0):
    """
    Publish the test image (``send(probe)`` publishes something else) and wait for outputs.

    Republishes with a new stamp if nothing came back within a few seconds (best-effort
    input, or a subscription that was just recreated).

    :return: {topic: message} of one frame, all with that frame's header
    """
    send = send or (lambda p: p.publish_rgb(system.rgb))
    return system.probe.publish_until_output(send, topics, retry=4.0, timeout=timeout)


def set_params(node, **values):
    """Set parameters (dots written as __) through the node; assert success."""
    params = [Parameter(name.replace('__', '.'), value=value) for name, value in values.items()]
    result = node.set_parameters_atomically(params)
    assert result.successful, result.reason


def check_cloud_geometry(cloud, depth, k, stride):
    """Every valid point must be the back-projection of its pixel with K."""
    h, w = depth.shape
    assert cloud.shape == (math.ceil(h / stride), math.ceil(w / stride))
    fx, cx, fy, cy = k[0], k[2], k[4], k[5]
    u = np.arange(0, w, stride, dtype=np.float64)[None, :]
    v = np.arange(0, h, stride, dtype=np.float64)[:, None]
    z = depth[::stride, ::stride].astype(np.float64)
    valid = np.isfinite(cloud['z'])
    assert valid.any()
    np.testing.assert_allclose(cloud['z'][valid], z[valid], rtol=1e-6)
    np.testing.assert_allclose(cloud['x'][valid], ((u - cx) * z / fx)[valid],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cloud['y'][valid], ((v - cy) * z / fy)[valid],
                               rtol=1e-5, atol=1e-6)
    return valid


def diag_values(status):
    return {kv.key: kv.value for kv in status.values}


# -------------------------------------------------------------------------------------------
# parameters: declaration
# -------------------------------------------------------------------------------------------
def test_parameters_match_yaml_and_descriptors(system, small_overrides):
    node = system.node
    yaml_values = load_params_file(default_params_file())
    declared = {spec.name for spec in ENGINE_PARAMETERS} | {s.name for s in NODE_PARAMETERS}
    assert set(yaml_values) == declared
    for name, value in yaml_values.items():
        if name in small_overrides or name in TEST_SETTINGS:
            continue
        got = node.get_parameter(name).value
        if isinstance(value, list):
            assert list(got) == value, name
        else:
            assert got == value, name
    for name, value in TEST_SETTINGS.items():
        assert node.get_parameter(name).value == value

    bins = node.describe_parameter('depth_bins')
    assert bins.type == ParameterType.PARAMETER_DOUBLE_ARRAY and not bins.read_only
    assert node.describe_parameter('prompts.objects').type == \
        ParameterType.PARAMETER_STRING_ARRAY
    for name in ('model.name', 'model.pretrained', 'input.height', 'feature_mode'):
        assert node.describe_parameter(name).read_only, name
    stride = node.describe_parameter('cloud.stride')
    assert (stride.integer_range[0].from_value, stride.integer_range[0].to_value) == (1, 64)
    scale = node.describe_parameter('output_scale').floating_point_range[0]
    assert (scale.from_value, scale.to_value) == (0.0, 1.0)
    assert 'fp16' in node.describe_parameter('model.precision').additional_constraints
    assert node.describe_parameter('temperature').description
    assert node.engine.config.input.height == 128
    assert node.converter_name in ('cv_bridge', 'image_conversion')


# -------------------------------------------------------------------------------------------
# outputs
# -------------------------------------------------------------------------------------------
def test_all_outputs_raw_rgb8(system):
    node, intr = system.node, system.intr
    before = node.stats
    out = roundtrip(system, [t for t, _ in OUTPUTS])
    header = out['header']
    bins = node.engine.config.depth_bins

    depth_msg = out['depth/image']
    assert depth_msg.encoding == '32FC1'
    assert (depth_msg.height, depth_msg.width) == (120, 160)
    assert depth_msg.header.frame_id == header.frame_id == 'test_optical_frame'
    assert depth_msg.header.stamp == header.stamp
    depth = ros_msgs.image_msg_to_array(depth_msg)
    assert np.isfinite(depth).all()
    assert depth.min() >= bins[0] - 1e-5 and depth.max() <= bins[-1] + 1e-5

    info = out['depth/camera_info']
    assert info.header == depth_msg.header
    assert (info.width, info.height) == (160, 120)
    np.testing.assert_allclose(info.k, intr.k())

    conf_msg = out['depth/confidence']
    assert conf_msg.encoding == '32FC1' and conf_msg.header == depth_msg.header
    conf = ros_msgs.image_msg_to_array(conf_msg)
    assert conf.shape == (120, 160)
    assert np.isfinite(conf).all() and conf.min() >= 0.0 and conf.max() <= 1.0

    color_msg = out['depth/colorized']
    assert color_msg.encoding == 'bgr8' and color_msg.header == depth_msg.header
    colorized = ros_msgs.image_msg_to_array(color_msg)
    np.testing.assert_array_equal(colorized, colorize_depth(depth, bins[0], bins[-1]))

    cloud_msg = out['points']
    assert cloud_msg.header == depth_msg.header
    assert [f.name for f in cloud_msg.fields] == ['x', 'y', 'z']
    assert all(f.datatype == 7 and f.count == 1 for f in cloud_msg.fields)  # FLOAT32
    cloud = ros_msgs.cloud_msg_to_array(cloud_msg)
    valid = check_cloud_geometry(cloud, depth, info.k, stride=4)
    assert valid.all()  # default range 0.1..10 m holds the whole bin range

    after = node.stats
    assert after['processed'] > before['processed']
    assert after['clouds_built'] > before['clouds_built']
    assert after['errors'] == 0 and after['camera_info_rejected'] == 0


def test_output_scale_color_stride_range(system, restore):
    node, intr = system.node, system.intr
    set_params(node, output_scale=0.5, cloud__stride=3, cloud__color=True)
    out = roundtrip(system, ['depth/image', 'depth/camera_info', 'depth/confidence', 'points'])
    depth = ros_msgs.image_msg_to_array(out['depth/image'])
    assert depth.shape == (60, 80)
    assert ros_msgs.image_msg_to_array(out['depth/confidence']).shape == (60, 80)
    info = out['depth/camera_info']
    assert (info.width, info.height) == (80, 60)
    assert info.header == out['depth/image'].header
    np.testing.assert_allclose([info.k[0], info.k[2], info.k[4], info.k[5]],
                               [intr.fx * 0.5, intr.cx * 0.5, intr.fy * 0.5, intr.cy * 0.5])
    np.testing.assert_allclose(info.p[:3], [intr.fx * 0.5, 0.0, intr.cx * 0.5])
    cloud_msg = out['points']
    assert [f.name for f in cloud_msg.fields] == ['x', 'y', 'z', 'rgb']
    cloud = ros_msgs.cloud_msg_to_array(cloud_msg)
    assert (cloud_msg.height, cloud_msg.width) == (20, 27)  # ceil(60 / 3), ceil(80 / 3)
    check_cloud_geometry(cloud, depth, info.k, stride=3)

    # Full resolution: colours are exactly the input pixels; a range keeps only its points.
    set_params(node, output_scale=1.0)
    full = roundtrip(system, ['depth/image'])
    median = float(np.median(ros_msgs.image_msg_to_array(full['depth/image'])))
    set_params(node, cloud__min_range=median, cloud__max_range=10.0)
    out = roundtrip(system, ['depth/image', 'depth/camera_info', 'points'])
    depth = ros_msgs.image_msg_to_array(out['depth/image'])
    cloud = ros_msgs.cloud_msg_to_array(out['points'])
    valid = check_cloud_geometry(cloud, depth, out['depth/camera_info'].k, stride=3)
    np.testing.assert_array_equal(valid, depth[::3, ::3] >= median)
    assert 0 < valid.sum() < valid.size
    assert not out['points'].is_dense
    np.testing.assert_array_equal(unpack_rgb(cloud['rgb']), system.rgb[::3, ::3])

    set_params(node, cloud__organized=False)
    cloud_msg = roundtrip(system, ['points'])['points']
    cloud = ros_msgs.cloud_msg_to_array(cloud_msg)
    assert cloud_msg.height == 1 and cloud_msg.width == valid.sum()
    assert np.isfinite(cloud['z']).all() and cloud_msg.is_dense


def test_compressed_input_jpeg_and_png(system, restore):
    node, probe = system.node, system.probe
    set_params(node, input_transport='compressed')
    assert node.image_topic == f'{NS}/image/compressed'
    probe.wait_for_subscribers(probe.compressed_pub)
    for fmt in ('rgb8; jpeg compressed bgr8', 'png'):
        out = roundtrip(system, ['depth/image'],
                        send=lambda p, fmt=fmt: p.publish_compressed(system.rgb, fmt))
        msg = out['depth/image']
        assert msg.header.stamp == out['header'].stamp
        assert (msg.height, msg.width) == (120, 160)
        assert np.isfinite(ros_msgs.image_msg_to_array(msg)).all()


def test_every_supported_encoding_gives_depth(system):
    node = system.node
    before = node.stats
    for encoding in SUPPORTED_ENCODINGS:
        out = roundtrip(system, ['depth/image'],
                        send=lambda p, e=encoding: p.publish_rgb(system.rgb, e))
        msg = out['depth/image']
        assert (msg.encoding, msg.height, msg.width) == ('32FC1', 120, 160), encoding
        assert np.isfinite(ros_msgs.image_msg_to_array(msg)).all(), encoding
    assert node.stats['rejected'] == before['rejected']


def test_camera_info_size_mismatch_falls_back_to_fov(system):
    node, probe = system.node, system.probe
    before = node.stats
    probe.publish_camera_info(system.intr.scaled(320, 240))
    wait_until(lambda: node.stats['camera_info_received'] > before['camera_info_received'])
    try:
        info = roundtrip(system, ['depth/camera_info'])['depth/camera_info']
        fov = Intrinsics.from_fov(160, 120, node.get_parameter('camera.fov_deg').value)
        np.testing.assert_allclose(info.k, fov.k())
        assert node.stats['camera_info_rejected'] > before['camera_info_rejected']
    finally:
        count = node.stats['camera_info_received']
        probe.publish_camera_info(system.intr)
        wait_until(lambda: node.stats['camera_info_received'] > count)
    info = roundtrip(system, ['depth/camera_info'])['depth/camera_info']
    np.testing.assert_allclose(info.k, system.intr.k())


# -------------------------------------------------------------------------------------------
# live parameters
# -------------------------------------------------------------------------------------------
def test_live_depth_bins_move_depth_and_colour_scale(system, restore):
    node = system.node
    bins = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0]
    set_params(node, depth_bins=bins)
    assert node.engine.config.depth_bins == tuple(bins)
    out = roundtrip(system, ['depth/image', 'depth/colorized'])
    depth = ros_msgs.image_msg_to_array(out['depth/image'])
    assert depth.min() >= 10.0 - 1e-4 and depth.max() <= 16.0 + 1e-4
    colorized = ros_msgs.image_msg_to_array(out['depth/colorized'])
    np.testing.assert_array_equal(colorized, colorize_depth(depth, 10.0, 16.0))


def test_invalid_changes_are_rejected_and_old_values_stay(system, restore):
    node = system.node
    old_config = node.engine.config
    old_bins = list(node.get_parameter('depth_bins').value)
    cases = [
        (Parameter('depth_bins', value=[1.0, 2.0, 3.0]), 'depth_bins'),
        (Parameter('temperature', value=-1.0), 'temperature'),
        (Parameter('model.name', value='ViT-B-16'), 'read-only'),
        (Parameter('cloud.min_range', value=20.0), 'min_range'),
        (Parameter('output_scale', value=0.0), 'output_scale'),
        (Parameter('prompts.templates', value=['no slots here']), 'slot'),
    ]
    for param, words in cases:
        result = node.set_parameters([param])[0]
        assert not result.successful, param.name
        assert words in result.reason, (param.name, result.reason)
    # Atomic: one bad value rejects the whole set.
    result = node.set_parameters_atomically([Parameter('temperature', value=0.5),
                                             Parameter('cloud.max_range', value=-1.0)])
    assert not result.successful
    assert node.get_parameter('temperature').value == old_config.temperature
    assert list(node.get_parameter('depth_bins').value) == old_bins
    assert node.get_parameter('model.name').value == 'RN50'
    assert node.get_parameter('cloud.min_range').value == 0.1
    assert node.get_parameter('output_scale').value == 1.0
    assert node.engine.config == old_config
    assert node.settings.cloud_min_range == 0.1
    out = roundtrip(system, ['depth/image'])
    assert out['depth/image'].width == 160


def test_parameter_service_with_integer_bins(system, restore):
    node, probe = system.node, system.probe
    client = AsyncParameterClient(probe, f'{NS}/depthclip_node')
    assert client.wait_for_services(timeout_sec=10.0)

    def call(future):
        wait_until(future.done, timeout=15.0, what='parameter service reply')
        return future.result()

    ints = [1, 2, 3, 4, 5, 6, 8]
    results = call(client.set_parameters([Parameter('depth_bins', value=ints),
                                          Parameter('temperature', value=1)])).results
    assert all(r.successful for r in results), [r.reason for r in results]
    assert node.engine.config.depth_bins == tuple(float(b) for b in ints)
    assert node.engine.config.temperature == 1.0
    depth = ros_msgs.image_msg_to_array(roundtrip(system)['depth/image'])
    assert depth.min() >= 1.0 - 1e-5 and depth.max() <= 8.0 + 1e-5

    for param, words in ((Parameter('depth_bins', value=[1.0, 2.0, 3.0]), 'depth_bins'),
                         (Parameter('temperature', value=-1.0), 'temperature'),
                         (Parameter('model.name', value='RN101'), 'read-only')):
        result = call(client.set_parameters([param])).results[0]
        assert not result.successful and words in result.reason, result.reason
    values = call(client.get_parameters(['depth_bins', 'temperature', 'model.name'])).values
    assert list(values[0].double_array_value) == [float(b) for b in ints]
    assert values[1].double_value == 1.0
    assert values[2].string_value == 'RN50'


def test_prompts_change_is_live(system, restore):
    node = system.node
    count = node.engine.text_computations
    set_params(node, prompts__objects=['object', 'thing'], temperature=0.2)
    assert node.engine.text_computations == count + 1
    assert node.engine.config.prompts.objects == ('object', 'thing')
    out = roundtrip(system, ['depth/image'])
    assert np.isfinite(ros_msgs.image_msg_to_array(out['depth/image'])).all()


# -------------------------------------------------------------------------------------------
# work only for listeners, robustness, diagnostics
# -------------------------------------------------------------------------------------------
def test_no_subscriber_no_cloud_and_publish_toggle(system, restore):
    node, probe = system.node, system.probe
    probe.unsubscribe('points')
    try:
        wait_until(lambda: node.count_subscribers(f'{NS}/points') == 0)
        before = node.stats
        roundtrip(system, ['depth/image'])
        after = node.stats
        assert after['processed'] > before['processed']
        assert after['clouds_built'] == before['clouds_built']
    finally:
        probe.subscribe('points', PointCloud2)
    wait_until(lambda: node.count_subscribers(f'{NS}/points') > 0)
    set_params(node, publish__points=False, publish__colorized=False)
    before = node.stats
    roundtrip(system, ['depth/image'])
    after = node.stats
    assert after['clouds_built'] == before['clouds_built']
    assert after['colorized_built'] == before['colorized_built']
    set_params(node, publish__points=True)
    roundtrip(system, ['depth/image', 'points'])
    assert node.stats['clouds_built'] > after['clouds_built']


def test_bad_frame_is_rejected_then_good_frame_processed_and_diagnosed(system):
    node, probe = system.node, system.probe
    before = node.stats

    def send_truncated(p):
        header = p.header()
        msg = ros_msgs.rgb_to_image_msg(system.rgb, header, 'rgb8')
        msg.data = msg.data[:1000]
        p.image_pub.publish(msg)
        return header

    send_truncated(probe)
    wait_until(lambda: node.stats['rejected'] > before['rejected'], what='a rejection')
    bad = ros_msgs.rgb_to_image_msg(system.rgb, probe.header(), 'rgb8')
    bad.encoding = 'not_an_encoding'
    probe.image_pub.publish(bad)
    wait_until(lambda: node.stats['rejected'] > before['rejected'] + 1, what='a rejection')
    assert all(m.header.stamp != bad.header.stamp for m in probe.received('depth/image'))
    roundtrip(system, ['depth/image'])
    after = node.stats
    assert after['processed'] > before['processed']
    assert after['errors'] == 0

    def fresh_status():
        for msg in reversed(probe.received('/diagnostics')):
            for status in msg.status:
                if status.name.startswith(f'{NS}/depthclip_node'):
                    values = diag_values(status)
                    if int(values['frames processed']) >= after['processed']:
                        return status
        return None
    status = wait_until(fresh_status, what='diagnostics with the new counts')
    values = diag_values(status)
    assert int(values['frames received']) >= after['received']
    assert int(values['frames rejected']) >= before['rejected'] + 2
    assert int(values['frames dropped']) >= 0 and int(values['errors']) == 0
    assert values['device'] == 'cpu' and values['precision'] == 'fp32'
    assert values['model'] == 'RN50' and 'safetensors' in values['weights']
    assert float(values['inference ms median']) > 0.0
    assert float(values['inference ms p95']) >= float(values['inference ms median'])
    assert float(values['latency ms median']) > 0.0
    assert status.level in (DiagnosticStatus.OK, DiagnosticStatus.WARN)
    assert status.hardware_id == 'cpu'


def test_flood_drops_stale_frames_and_processes_newest(system):
    """
    Frames arriving while the model is busy replace each other; the newest is processed.

    The worker is held during the flood (a model slower than the camera, on any machine).
    """
    node, probe = system.node, system.probe
    before = node.stats
    headers = []
    with node.worker_paused():
        for _ in range(20):
            headers.append(probe.publish_rgb(system.rgb))
            time.sleep(0.01)
        wait_until(lambda: node.stats['received'] - before['received'] >= 2,
                   what='two frames of the flood')
    probe.wait_for_stamp('depth/image', headers[-1], timeout=30.0)
    after = node.stats
    assert after['dropped'] > before['dropped']
    assert after['processed'] - before['processed'] < 20
    assert after['received'] - before['received'] <= 20
    done = {m.header.stamp.sec for m in probe.received('depth/image')}
    assert headers[-1].stamp.sec in done


def test_engine_and_node_settings_never_half_applied(system, restore):
    """Every frame made while parameters change matches one consistent parameter set."""
    node, probe = system.node, system.probe
    a = [1.0, 1.5, 2.0, 2.25, 2.5, 2.75, 3.0]
    b = [20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0]
    headers = []
    for i in range(6):
        scale, bins = (1.0, a) if i % 2 == 0 else (0.5, b)
        node.set_parameters_atomically([Parameter('output_scale', value=scale),
                                        Parameter('depth_bins', value=bins)])
        headers.append(probe.publish_rgb(system.rgb))
        time.sleep(0.15)
    probe.wait_for_stamp('depth/image', headers[-1], timeout=30.0)
    stamps = {h.stamp.sec for h in headers}
    checked = 0
    for msg in probe.received('depth/image'):
        if msg.header.stamp.sec not in stamps:
            continue
        depth = ros_msgs.image_msg_to_array(msg)
        if depth.shape == (120, 160):
            assert depth.max() <= 3.0 + 1e-4
        else:
            assert depth.shape == (60, 80) and depth.min() >= 20.0 - 1e-4
        checked += 1
    assert checked >= 1


# -------------------------------------------------------------------------------------------
# a real process: clean shutdown and start-up errors
# -------------------------------------------------------------------------------------------
def _model_params(small_overrides):
    return [f'{name}:={value}' for name, value in small_overrides.items()]


def _start(namespace, *params):
    return start_process('depthclip_node', namespace, *params)


@pytest.fixture(scope='module', autouse=True)
def processes(small_overrides):
    """
    Real node processes, started when the module starts so that they load in the background.

    sigint/sigterm: healthy nodes; missing/bad_size: must fail to start.
    """
    model = _model_params(small_overrides)
    procs = {
        'sigint': _start('/dc_sigint', *model),
        # integers given for doubles are converted, not rejected
        'sigterm': _start('/dc_sigterm', *model, 'temperature:=1',
                          'depth_bins:=[1,2,3,4,5,6,7]'),
        'missing': _start('/dc_missing',
                          *_model_params(dict(small_overrides, **{
                              'model.pretrained': '/nonexistent/weights.safetensors'}))),
        'bad_size': _start('/dc_bad', *_model_params(dict(small_overrides,
                                                          **{'input.width': 100}))),
        # wrong types and nonsense on the command line: one line, before the model loads
        'wrong_int': _start('/dc_wrong_int', *_model_params(dict(small_overrides, **{
            'input.height': 'tall'}))),
        'wrong_double': _start('/dc_wrong_double', *_model_params(small_overrides),
                               'temperature:=hot'),
        'wrong_list': _start('/dc_wrong_list', *_model_params(small_overrides),
                             'cameras:=[front, front]'),
    }
    yield procs
    for proc in procs.values():
        kill_process(proc)


def test_process_exits_cleanly_on_sigint_and_sigterm(system, processes):
    probe = system.probe
    signals = {'sigint': signal.SIGINT, 'sigterm': signal.SIGTERM}
    for name in signals:
        proc = processes[name]
        wait_until(lambda: proc.poll() is not None
                   or probe.count_publishers(f'/dc_{name}/depth/image') > 0,
                   timeout=90.0, period=0.1, what=f'{name} process to come up')
        assert proc.poll() is None, process_output(proc)
    for name, sig in signals.items():
        processes[name].send_signal(sig)
    for name in signals:
        proc = processes[name]
        output = finish_process(proc, 30)
        assert proc.returncode == 0, (name, output)
        assert 'Traceback' not in output, output
        assert 'ready' in output


def test_process_startup_errors_exit_1_with_one_line(processes):
    missing, bad_size = processes['missing'], processes['bad_size']
    output = finish_process(missing, 90)
    assert missing.returncode == 1, output
    assert 'Traceback' not in output, output
    fatal = [line for line in output.splitlines() if 'FATAL' in line]
    assert len(fatal) == 1 and '/nonexistent/weights.safetensors' in fatal[0], output
    output = finish_process(bad_size, 90)
    assert bad_size.returncode == 1, output
    assert 'Traceback' not in output, output
    assert 'multiple of 32' in output
    for name, words in (('wrong_int', 'input.height'), ('wrong_double', 'temperature'),
                        ('wrong_list', 'front listed more than once')):
        proc = processes[name]
        output = finish_process(proc, 90)
        assert proc.returncode == 1, (name, output)
        assert 'Traceback' not in output, (name, output)
        fatal = [line for line in output.splitlines() if 'FATAL' in line]
        assert len(fatal) == 1 and words in fatal[0], (name, output)
