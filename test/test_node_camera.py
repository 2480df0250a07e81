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
What consumers get over real DDS: intrinsics of the camera, exact pairs, rectified depth.

A consumer-side exact-stamp pairing (what message_filters' TimeSynchronizer does for
depth_image_proc, rtabmap and nvblox), a first frame published before its camera_info,
distorted and rectified inputs, output sizes that divide the input, NaN depth below a
confidence. The real world differs: camera drivers publish the image first and its
camera_info right after (image_transport's CameraPublisher), so half the frames here do
that and half the other way round; a driver may also publish camera_info without an image
stamp of its own, which the core tests of the scheduler cover.
"""

import math
from types import SimpleNamespace

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_helpers import overrides, Probe, sample_image, Spinner, wait_until
from sensor_msgs.msg import CameraInfo, Image

from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.ros import msgs as ros_msgs
from depthclip_ros.ros.node import DepthClipNode

NS = '/dc_node_camera'
# camera.info_timeout is a bound, long here: a loaded machine may take seconds to deliver.
SETTINGS = {'diagnostics_period': 0.2, 'flip_tta': False, 'qos.image_reliability': 'reliable',
            'publish.points': False, 'publish.colorized': False, 'camera.info_timeout': 30.0}
IDENTITY = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def _start(context, small_overrides, namespace):
    node = DepthClipNode(namespace=namespace, context=context,
                         parameter_overrides=overrides(dict(small_overrides, **SETTINGS)))
    probe = Probe(namespace=namespace, context=context)
    for topic in ('depth/image', 'depth/confidence'):
        probe.subscribe(topic, Image)
    probe.subscribe('depth/camera_info', CameraInfo)
    probe.subscribe_rosout()
    spinners = [Spinner(node, context=context).start(), Spinner(probe, context=context).start()]
    for topic in ('depth/image', 'depth/camera_info', 'depth/confidence'):
        wait_until(lambda topic=topic: node.count_subscribers(f'{namespace}/{topic}') > 0,
                   what=f'a subscriber on {topic}')
    probe.wait_for_subscribers(probe.image_pub)
    probe.wait_for_subscribers(probe.info_pub)
    return node, probe, spinners


def _stop(node, probe, spinners):
    for spinner in spinners:
        spinner.stop()
    probe.destroy_node()
    node.destroy_node()


@pytest.fixture(scope='module')
def system(context, small_overrides):
    node, probe, spinners = _start(context, small_overrides, NS)
    rgb, intr = sample_image(160, 120)
    yield SimpleNamespace(node=node, probe=probe, rgb=rgb, intr=intr)
    _stop(node, probe, spinners)


@pytest.fixture
def restore(system):
    """Put back the parameters a test changes."""
    names = ('output_scale', 'camera.rectify', 'depth.min_confidence')
    before = [Parameter(name, value=system.node.get_parameter(name).value) for name in names]
    yield
    result = system.node.set_parameters_atomically(before)
    assert result.successful, result.reason


def _info_msg(width, height, k, d=(), p=None, model='plumb_bob', header=None):
    msg = CameraInfo()
    msg.width, msg.height = width, height
    msg.k = [float(v) for v in k]
    msg.distortion_model = model
    msg.d = [float(v) for v in d]
    msg.r = IDENTITY
    msg.p = [float(v) for v in (p if p is not None else
                                (k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0))]
    if header is not None:
        msg.header = header
    return msg


def _send_pair(system, info, image_first=True):
    """Return a sender publishing ``info`` and the test image with one new stamp."""
    def send(probe):
        header = probe.header()
        info.header = header
        if image_first:
            probe.publish_rgb(system.rgb, header=header)
            probe.info_pub.publish(info)
        else:
            probe.info_pub.publish(info)
            probe.publish_rgb(system.rgb, header=header)
        return header
    return send


def _stamp(msg):
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


# -------------------------------------------------------------------------------------------
# no frame with guessed intrinsics
# -------------------------------------------------------------------------------------------
def test_first_frame_waits_for_a_camera_info_published_after_it(context, small_overrides):
    node, probe, spinners = _start(context, small_overrides, NS + '_first')
    try:
        rgb, intr = sample_image(160, 120)
        camera = Intrinsics(fx=525.0 * 0.25, fy=525.0 * 0.25, cx=79.0, cy=60.5, width=160,
                            height=120)
        assert abs(camera.fx - Intrinsics.from_fov(160, 120, 60.0).fx) > 5.0
        header = probe.publish_rgb(rgb)
        # The camera_info comes after the node has the image (which must wait for it).
        wait_until(lambda: node.stats['received'] >= 1, what='the image at the node')
        probe.publish_camera_info(camera, header)
        info = probe.wait_for_stamp('depth/camera_info', header, timeout=60.0)
        np.testing.assert_allclose(info.k, camera.k())
        first = probe.received('depth/camera_info')[0]
        assert first.header.stamp == header.stamp  # no earlier frame with FoV intrinsics
        assert node.stats['dropped'] == 0 and node.stats['camera_info_timeouts'] == 0
    finally:
        _stop(node, probe, spinners)


def test_exact_stamp_pairs_over_fifty_frames_each_with_its_own_camera_info(system):
    """A TimeSynchronizer on depth/image + depth/camera_info gets every frame, right K."""
    probe = system.probe
    sent_fx = {}
    for i in range(50):
        intr = Intrinsics(fx=130.0 + i, fy=131.0 + i, cx=79.5, cy=59.5, width=160,
                          height=120)
        info = _info_msg(160, 120, intr.k())
        send = _send_pair(system, info, image_first=i % 2 == 0)
        out = probe.publish_until_output(
            lambda p, send=send, fx=intr.fx: _remember(send(p), sent_fx, fx),
            ('depth/image', 'depth/camera_info'), retry=5.0, timeout=90.0)
        assert out['depth/camera_info'].k[0] == intr.fx
    depth = {_stamp(m): m for m in probe.received('depth/image') if _stamp(m) in sent_fx}
    wait_until(lambda: all(s in {_stamp(m) for m in probe.received('depth/camera_info')}
                           for s in depth), what='a camera_info partner of every depth frame')
    infos = {_stamp(m): m for m in probe.received('depth/camera_info') if _stamp(m) in sent_fx}
    assert len(depth) >= 50
    assert set(depth) == set(infos), 'unpaired depth/image or depth/camera_info'
    for stamp, info in infos.items():
        assert info.k[0] == sent_fx[stamp], stamp
        assert info.header == depth[stamp].header


def _remember(header, sent, fx):
    sent[(header.stamp.sec, header.stamp.nanosec)] = fx
    return header


# -------------------------------------------------------------------------------------------
# distortion and rectified inputs
# -------------------------------------------------------------------------------------------
def test_distorted_input_gives_zero_d_and_the_intrinsics_of_its_p(system, restore):
    k = (140.0, 0.0, 80.0, 0.0, 141.0, 60.0, 0.0, 0.0, 1.0)
    p = (120.0, 0.0, 78.0, 0.0, 0.0, 121.0, 61.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    d = (-0.3, 0.1, 0.001, -0.001, 0.0)
    out = system.probe.publish_until_output(
        _send_pair(system, _info_msg(160, 120, k, d, p)), ('depth/image', 'depth/camera_info'))
    info = out['depth/camera_info']
    assert list(info.d) == [0.0] * 5 and info.distortion_model == 'plumb_bob'
    np.testing.assert_allclose(info.k, [p[0], 0, p[2], 0, p[5], p[6], 0, 0, 1])
    np.testing.assert_allclose(info.p, p)
    np.testing.assert_allclose(info.r, IDENTITY)
    depth = ros_msgs.image_msg_to_array(out['depth/image'])
    assert depth.shape == (120, 160) and np.isfinite(depth).all()

    # Already rectified (image_rect: D = 0, P != K): P's intrinsics.
    out = system.probe.publish_until_output(
        _send_pair(system, _info_msg(160, 120, k, (0.0,) * 5, p)), ('depth/camera_info',))
    np.testing.assert_allclose(out['depth/camera_info'].k, [p[0], 0, p[2], 0, p[5], p[6], 0,
                                                            0, 1])

    # camera.rectify false: the image as it is, K and D passed on, P = [K|0].
    result = system.node.set_parameters([Parameter('camera.rectify', value=False)])[0]
    assert result.successful, result.reason
    out = system.probe.publish_until_output(
        _send_pair(system, _info_msg(160, 120, k, d, p)), ('depth/camera_info',))
    info = out['depth/camera_info']
    np.testing.assert_allclose(info.k, k)
    np.testing.assert_allclose(info.d, d)
    np.testing.assert_allclose(info.p, [k[0], 0, k[2], 0, 0, k[4], k[5], 0, 0, 0, 1, 0])


@pytest.mark.parametrize('case', ['nan_d', 'nan_p', 'absurd_p'])
def test_invalid_distortion_or_p_warns_and_falls_back(system, case):
    k = (140.0, 0.0, 80.0, 0.0, 141.0, 60.0, 0.0, 0.0, 1.0)
    good_p = (120.0, 0.0, 78.0, 0.0, 0.0, 121.0, 61.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    d, p, words = {
        'nan_d': ((math.nan, 0.1, 0.0, 0.0, 0.0), good_p, 'non-finite'),
        # (P and K are fixed-size arrays in the message: no wrong length over DDS.)
        'nan_p': ((-0.3, 0.1, 0.0, 0.0, 0.0), (math.nan,) * 12, 'P holds non-finite'),
        'absurd_p': ((0.0,) * 5, (1.4e5, 0, 80, 0, 0, 1.4e5, 60, 0, 0, 0, 1, 0),
                     'disagrees absurdly'),
    }[case]
    node, probe = system.node, system.probe
    before = node.stats
    out = probe.publish_until_output(_send_pair(system, _info_msg(160, 120, k, d, p)),
                                     ('depth/image', 'depth/camera_info'))
    info = out['depth/camera_info']
    np.testing.assert_allclose(info.k, k)  # K: the fallback
    assert all(math.isfinite(v) for v in list(info.d) + list(info.p))
    assert node.stats['camera_info_rejected'] > before['camera_info_rejected']
    assert words in node.last_problem(), node.last_problem()
    assert node.stats['errors'] == before['errors']


# -------------------------------------------------------------------------------------------
# output sizes, NaN depth
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize('scale, size', [(1.0, (120, 160)), (0.5, (60, 80)),
                                         (0.25, (30, 40)), (0.2, (24, 32)),
                                         (1 / 3, (60, 80))])  # 3 divides neither: 1/2
def test_depth_sizes_divide_the_input(system, restore, scale, size):
    node = system.node
    result = node.set_parameters([Parameter('output_scale', value=scale)])[0]
    assert result.successful, result.reason
    out = system.probe.publish_until_output(
        _send_pair(system, _info_msg(160, 120, system.intr.k())),
        ('depth/image', 'depth/camera_info'))
    depth = ros_msgs.image_msg_to_array(out['depth/image'])
    assert depth.shape == size
    assert 160 % depth.shape[1] == 0 and 120 % depth.shape[0] == 0
    assert 160 // depth.shape[1] == 120 // depth.shape[0]
    info = out['depth/camera_info']
    assert (info.height, info.width) == size
    n = 160 // size[1]
    np.testing.assert_allclose(info.k[0], system.intr.fx / n)
    if scale == 1 / 3:
        assert 'does not divide' in node.last_problem()


def test_output_scale_not_one_over_n_is_refused_and_the_old_value_stays(system, restore):
    node = system.node
    result = node.set_parameters([Parameter('output_scale', value=0.3)])[0]
    assert not result.successful and '1/N' in result.reason and '0.3333' in result.reason
    assert node.get_parameter('output_scale').value == 1.0


def test_depth_is_nan_below_the_confidence(system, restore):
    node, probe = system.node, system.probe
    topics = ('depth/image', 'depth/confidence')
    send = _send_pair(system, _info_msg(160, 120, system.intr.k()))
    out = probe.publish_until_output(send, topics)
    assert np.isfinite(ros_msgs.image_msg_to_array(out['depth/image'])).all()  # off
    threshold = float(np.median(ros_msgs.image_msg_to_array(out['depth/confidence'])))
    result = node.set_parameters([Parameter('depth.min_confidence', value=threshold)])[0]
    assert result.successful, result.reason
    out = probe.publish_until_output(send, topics)
    depth = ros_msgs.image_msg_to_array(out['depth/image'])
    confidence = ros_msgs.image_msg_to_array(out['depth/confidence'])
    low = confidence < threshold
    assert low.any() and (~low).any()
    assert np.isnan(depth[low]).all()
    assert np.isfinite(depth[~low]).all()
    assert out['depth/image'].encoding == '32FC1'


def test_no_camera_info_in_time_falls_back_once_and_says_so(context, small_overrides):
    node, probe, spinners = _start(context, small_overrides, NS + '_late')
    probe.subscribe('/diagnostics', DiagnosticArray)
    try:
        result = node.set_parameters([Parameter('camera.info_timeout', value=0.5)])[0]
        assert result.successful, result.reason
        rgb, _ = sample_image(160, 120)
        out = probe.publish_until_output(lambda p: p.publish_rgb(rgb), ('depth/camera_info',))
        np.testing.assert_allclose(out['depth/camera_info'].k,
                                   Intrinsics.from_fov(160, 120, 60.0).k())
        assert node.stats['camera_info_timeouts'] == 1
        lines = wait_until(lambda: probe.log_lines('depthclip_node', 'no camera_info on'),
                           what='the log line')
        assert len(lines) == 1, lines
        probe.publish_until_output(lambda p: p.publish_rgb(rgb), ('depth/camera_info',))
        assert node.stats['camera_info_timeouts'] == 1

        def fov_in_diagnostics():
            for array in probe.received('/diagnostics'):
                for status in array.status:
                    values = {kv.key: kv.value for kv in status.values}
                    if status.name.startswith(NS + '_late/') and values.get(
                            'camera_info timeouts') == '1' and 'no camera_info within' in \
                            values.get('intrinsics from', ''):
                        return True
            return False
        wait_until(fov_in_diagnostics, what='the FoV intrinsics in /diagnostics')
    finally:
        _stop(node, probe, spinners)
