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
The node with the ground scale and the temporal filter, over real DDS.

The scale and its state are in each camera's diagnostics; a live change of
``scale.camera_height`` changes the published depth (and the cloud made from it) at the next
frame: twice the height, twice the depth, since the fit puts the same floor twice as far.
"""

from types import SimpleNamespace

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_helpers import overrides, Probe, sample_image, Spinner, wait_until
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from depthclip_ros.ros import msgs
from depthclip_ros.ros.floor_tf import tf2_available
from depthclip_ros.ros.node import DepthClipNode

NS = '/dc_filters'
SETTINGS = {'diagnostics_period': 0.2, 'flip_tta': False, 'qos.image_reliability': 'reliable',
            'publish.colorized': False, 'publish.confidence': False,
            'scale.mode': 'ground', 'scale.camera_height': 1.0, 'scale.camera_pitch_deg': 3.0,
            'scale.min_inliers': 0.0, 'scale.smoothing': 0.0, 'scale.refine_pitch': False,
            'scale.min': 0.01, 'scale.max': 100.0}


@pytest.fixture(scope='module')
def system(context, small_overrides):
    node = DepthClipNode(namespace=NS, context=context,
                         parameter_overrides=overrides(dict(small_overrides, **SETTINGS)))
    probe = Probe(namespace=NS, context=context)
    for topic, kind in (('depth/image', Image), ('depth/camera_info', CameraInfo),
                        ('points', PointCloud2), ('/diagnostics', DiagnosticArray)):
        probe.subscribe(topic, kind)
    spinners = [Spinner(node, context=context).start(), Spinner(probe, context=context).start()]
    rgb, intr = sample_image(160, 120)
    probe.wait_for_subscribers(probe.image_pub)
    probe.wait_for_subscribers(probe.info_pub)
    count = node.stats['camera_info_received']
    probe.publish_camera_info(intr)
    wait_until(lambda: node.stats['camera_info_received'] > count, what='camera_info')
    yield SimpleNamespace(node=node, probe=probe, rgb=rgb, intr=intr)
    for spinner in spinners:
        spinner.stop()
    probe.destroy_node()
    node.destroy_node()


def roundtrip(system, topics=('depth/image',)):
    return system.probe.publish_until_output(lambda p: p.publish_rgb(system.rgb), topics)


def scale_values(system, processed):
    """Return the newest diagnostics key values counting ``processed`` frames or more."""
    fqn = system.node.get_fully_qualified_name()
    for msg in reversed(system.probe.received('/diagnostics')):
        for status in msg.status:
            if status.name.startswith(fqn):
                values = {kv.key: kv.value for kv in status.values}
                if int(values['frames processed']) >= processed:
                    return values
    return None


def test_scale_in_diagnostics_and_a_live_height_change(system):
    node = system.node
    first = roundtrip(system, ('depth/image', 'points'))
    values = wait_until(lambda: scale_values(system, node.stats['processed']),
                        what='diagnostics with the scale')
    assert values['scale mode'] == 'ground'
    assert values['scale state'] == 'fitting', values['scale note']
    scale = float(values['scale'])
    assert 0.01 <= scale <= 100.0
    assert float(values['scale inlier fraction']) > 0.0
    depth = msgs.image_msg_to_array(first['depth/image'])

    result = node.set_parameters([Parameter('scale.camera_height', value=2.0)])[0]
    assert result.successful, result.reason
    try:
        second = roundtrip(system, ('depth/image', 'points'))
        doubled = msgs.image_msg_to_array(second['depth/image'])
        np.testing.assert_allclose(doubled, 2.0 * depth, rtol=1e-4)
        cloud = msgs.cloud_msg_to_array(second['points'])
        before = msgs.cloud_msg_to_array(first['points'])
        valid = np.isfinite(cloud['z']) & np.isfinite(before['z'])
        np.testing.assert_allclose(cloud['z'][valid], 2.0 * before['z'][valid], rtol=1e-4)
        values = wait_until(lambda: scale_values(system, node.stats['processed']),
                            what='diagnostics with the new scale')
        assert float(values['scale']) == pytest.approx(2.0 * scale, rel=1e-3)
    finally:
        assert node.set_parameters([Parameter('scale.camera_height', value=1.0)])[0].successful


def test_no_floor_is_held_and_said(system):
    node = system.node
    roundtrip(system)
    result = node.set_parameters([Parameter('scale.min_inliers', value=1.0)])[0]
    assert result.successful, result.reason
    try:
        roundtrip(system)
        values = wait_until(lambda: (v := scale_values(system, node.stats['processed']))
                            and v['scale state'] == 'holding' and v,
                            what='the holding state in diagnostics')
        assert 'holding' in values['scale note']
    finally:
        node.set_parameters([Parameter('scale.min_inliers', value=0.0)])


def test_floor_frame_needs_tf2(system):
    node = system.node
    if tf2_available():
        pytest.skip('tf2_ros is installed: the TF path is used instead')
    result = node.set_parameters([Parameter('scale.floor_frame', value='base_footprint')])[0]
    assert not result.successful and 'tf2_ros' in result.reason
    assert node.get_parameter('scale.floor_frame').value == ''


def test_temporal_filter_in_the_node(system):
    node = system.node
    results = node.set_parameters([Parameter('scale.mode', value='fixed'),
                                   Parameter('temporal.enable', value=True)])
    assert all(result.successful for result in results), results
    try:
        a = msgs.image_msg_to_array(roundtrip(system)['depth/image'])
        b = msgs.image_msg_to_array(roundtrip(system)['depth/image'])
        np.testing.assert_allclose(b, a, atol=1e-5)  # the same image: a fixed point
        values = wait_until(lambda: (v := scale_values(system, node.stats['processed']))
                            and v['temporal filter'] != 'off' and v,
                            what='the filter in diagnostics')
        assert values['temporal filter'].startswith('alpha 0.2')
        for bad in (0.0, 1.5):
            result = node.set_parameters([Parameter('temporal.alpha', value=bad)])[0]
            assert not result.successful and 'alpha' in result.reason
    finally:
        results = node.set_parameters([Parameter('scale.mode', value='ground'),
                                       Parameter('temporal.enable', value=False)])
        assert all(result.successful for result in results), results


def test_the_node_drops_the_temporal_history_on_a_new_image_size(system):
    """The feature grid stays the same (every image is resized): the node tells the size."""
    import cv2
    node = system.node
    results = node.set_parameters([Parameter('scale.mode', value='fixed'),
                                   Parameter('temporal.enable', value=True),
                                   Parameter('temporal.reset_threshold', value=1.0)])
    assert all(result.successful for result in results), results
    try:
        roundtrip(system)
        roundtrip(system)
        other = cv2.resize(system.rgb, (200, 150), interpolation=cv2.INTER_LINEAR)
        out = system.probe.publish_until_output(lambda p: p.publish_rgb(other))
        assert (out['depth/image'].width, out['depth/image'].height) == (200, 150)
        values = wait_until(lambda: (v := scale_values(system, node.stats['processed']))
                            and 'input image size changed' in v['temporal filter'] and v,
                            what='the size-change reset in diagnostics')
        assert 'from 160x120 to 200x150' in values['temporal filter']
    finally:
        results = node.set_parameters([Parameter('scale.mode', value='ground'),
                                       Parameter('temporal.enable', value=False),
                                       Parameter('temporal.reset_threshold', value=0.05)])
        assert all(result.successful for result in results), results
