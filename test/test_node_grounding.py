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
Grounding through the real node over DDS: labels, markers, the cloud's label field, diagnostics.

The node runs the seeded random RN50 with ``grounding.queries: [door, chair]``. Its image
encoder is wrapped by a *designed* one: the depth features are the real encoder's, and the
semantic features of a feature cell are the real text embedding of ``door`` (computed by
the node from its own text encoder) where the input image is red there, and that of
``floor`` elsewhere. So the red region of the published image is a door, there is no chair,
and everything after the encoder (probabilities, upsampling, masks, the median 3D point,
the messages) is the node's own code. The expected labels are computed here independently
(numpy softmax, separable bilinear interpolation), the expected point from the published
depth and camera_info.
"""

from types import SimpleNamespace

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_helpers import overrides, Probe, Spinner, wait_until
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
import torch
import torch.nn.functional as F

from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.model import LOGIT_SCALE
from depthclip_ros.ros import msgs as ros_msgs
from depthclip_ros.ros.node import DepthClipNode

NS = '/dc_grounding_test'
#: Depth (and image) size: (W - 1) = 21 (w - 1) and (H - 1) = 21 (h - 1) for the 4 x 5
#: feature cells of a 128 x 160 input, so no pixel sits on a mask's 0.5 border (OpenCV's
#: bilinear weights are quantized to 1/32).
WIDTH, HEIGHT = 85, 64
CELLS = (4, 5)
#: The door: feature row 1, columns 1 and 2 (image rows 16-31, columns 17-50).
DOOR_ROWS, DOOR_COLS = (1, 2), (1, 3)
QUERIES = ['door', 'chair']
BACKGROUND = ['floor', 'wall', 'ceiling']
SETTINGS = {'diagnostics_period': 0.2, 'flip_tta': False, 'grounding.queries': QUERIES,
            'grounding.background': BACKGROUND, 'cloud.stride': 1}
TOPICS = (('depth/image', Image), ('depth/camera_info', CameraInfo), ('points', PointCloud2),
          ('grounding/labels', Image))


class DesignedEncoder:
    """The real encoder's depth features; semantic features: door where red, floor elsewhere."""

    def __init__(self, real, door: torch.Tensor, floor: torch.Tensor):
        self.real = real
        self.door, self.floor = door, floor

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __call__(self, batch):
        return self.real(batch)

    def with_semantics(self, batch, count=None):
        features = self.real(batch)
        images = batch[:count]
        # normalized input: red (255, 0, 0) has R - G of about 4.3, grey 128 about 0.1
        redness = F.adaptive_avg_pool2d(images[:, 0:1] - images[:, 1:2], CELLS)
        red = (redness > 2.0).float()
        semantic = red * self.door.reshape(1, -1, 1, 1) + \
            (1 - red) * self.floor.reshape(1, -1, 1, 1)
        return features, F.normalize(semantic, dim=1)


def image(door: bool) -> np.ndarray:
    rgb = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    if door:
        rgb[16 * DOOR_ROWS[0]:16 * DOOR_ROWS[1], 17 * DOOR_COLS[0]:17 * DOOR_COLS[1]] = \
            (255, 0, 0)
    return rgb


@pytest.fixture(scope='module')
def system(context, small_overrides):
    node = DepthClipNode(namespace=NS, context=context,
                         parameter_overrides=overrides(dict(small_overrides, **SETTINGS)))
    engine = node.depthclip.engine
    embeddings = engine.state.grounding.embeddings  # door, chair, floor, wall, ceiling
    engine._encoder = DesignedEncoder(engine._encoder, embeddings[0], embeddings[2])
    probe = Probe(namespace=NS, context=context)
    for topic, msg_type in TOPICS:
        probe.subscribe(topic, msg_type)
    probe.subscribe('/diagnostics', DiagnosticArray)
    probe.subscribe_rosout()
    if ros_msgs.MarkerArray is not None:
        probe.subscribe('grounding/markers', ros_msgs.MarkerArray)
    spinners = [Spinner(node, context=context).start(), Spinner(probe, context=context).start()]
    topics = [t for t, _ in TOPICS] + (['grounding/markers'] if ros_msgs.MarkerArray else [])
    for topic in topics:
        wait_until(lambda topic=topic: node.count_subscribers(f'{NS}/{topic}') > 0,
                   what=f'a subscriber on {topic}')
    intr = Intrinsics(fx=60.0, fy=62.0, cx=41.0, cy=30.5, width=WIDTH, height=HEIGHT)
    probe.wait_for_subscribers(probe.info_pub)
    probe.publish_camera_info(intr)
    wait_until(lambda: node.stats['camera_info_received'] > 0, what='camera_info')
    yield SimpleNamespace(node=node, probe=probe, intr=intr,
                          embeddings=embeddings.cpu().double().numpy())
    for spinner in spinners:
        spinner.stop()
    probe.destroy_node()
    node.destroy_node()


def frame(system, door: bool, topics=tuple(t for t, _ in TOPICS)):
    """Publish the image (with or without the red door); return its outputs by topic."""
    out = system.probe.publish_until_output(lambda p: p.publish_rgb(image(door)), topics,
                                            retry=6.0, timeout=60.0)
    if ros_msgs.MarkerArray is not None:  # a MarkerArray has no header: its markers have
        out['grounding/markers'] = system.probe.wait_for_message(
            'grounding/markers', lambda m: m.markers[0].header.stamp == out['header'].stamp,
            timeout=30.0)
    return out


def expected_labels(embeddings: np.ndarray):
    """
    Softmax over queries + background per cell, bilinear (corners aligned), 0.5, argmax.

    :return: the label image and the door's best cell probability (its score)
    """
    rows, cols = CELLS
    door = np.zeros(CELLS, bool)
    door[DOOR_ROWS[0]:DOOR_ROWS[1], DOOR_COLS[0]:DOOR_COLS[1]] = True
    features = np.where(door[..., None], embeddings[0], embeddings[2])       # (h, w, C)
    features /= np.linalg.norm(features, axis=-1, keepdims=True)
    logits = LOGIT_SCALE * features @ embeddings.T                             # (h, w, N)
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    ys = np.arange(HEIGHT) * (rows - 1) / (HEIGHT - 1)
    xs = np.arange(WIDTH) * (cols - 1) / (WIDTH - 1)
    up = np.empty((p.shape[-1], HEIGHT, WIDTH))
    for n in range(p.shape[-1]):
        along_x = np.stack([np.interp(xs, np.arange(cols), p[r, :, n]) for r in range(rows)])
        up[n] = np.stack([np.interp(ys, np.arange(rows), along_x[:, u])
                          for u in range(WIDTH)], axis=1)
    winner = up.argmax(axis=0)
    passed = (winner < len(QUERIES)) & (up.max(axis=0) >= 0.5)
    return np.where(passed, winner + 1, 0).astype(np.uint8), float(p[..., 0].max())


def diagnostic_values(system, predicate):
    """Return the key-values of the node's depth status once ``predicate`` holds for them."""
    def find():
        for array in reversed(system.probe.received('/diagnostics')):
            for status in array.status:
                if status.name.endswith(': depth'):
                    values = {kv.key: kv.value for kv in status.values}
                    if predicate(values):
                        return values
        return None
    return wait_until(find, timeout=30.0, what='grounding diagnostics')


def test_the_red_door_is_labelled_located_and_marked_the_chair_is_not_found(system):
    out = frame(system, door=True)
    labels = ros_msgs.image_msg_to_array(out['grounding/labels'])
    assert out['grounding/labels'].encoding == 'mono8'
    assert out['grounding/labels'].header == out['header']  # the input header, copied
    expected, score = expected_labels(system.embeddings)
    assert (expected == 1).sum() > 300 and not (expected == 2).any()
    assert np.array_equal(labels, expected)
    # the 3D point: the median back-projection of the labelled pixels of the published depth
    depth = ros_msgs.image_msg_to_array(out['depth/image']).astype(np.float64)
    k = out['depth/camera_info'].k
    v, u = np.nonzero(labels == 1)
    z = depth[v, u]
    point = np.array([np.median((u - k[2]) * z / k[0]), np.median((v - k[5]) * z / k[4]),
                      np.median(z)])
    distance = float(np.linalg.norm(point))
    # the cloud: a label per point, the same as the label image (stride 1, organized)
    cloud = ros_msgs.cloud_msg_to_array(out['points'])
    assert 'label' in cloud.dtype.names and np.array_equal(cloud['label'], labels)
    if ros_msgs.MarkerArray is not None:
        markers = out['grounding/markers'].markers
        assert markers[0].action == ros_msgs.Marker.DELETEALL
        added = {m.id: m for m in markers[1:]}
        assert sorted(added) == [0, 1]  # the door's sphere and text; no chair
        sphere, text = added[0], added[1]
        assert sphere.type == ros_msgs.Marker.SPHERE
        assert text.type == ros_msgs.Marker.TEXT_VIEW_FACING
        assert text.text == f'door {distance:.1f} m'
        for marker in markers:
            assert marker.header == out['header']  # the image's optical frame
        position = np.array([sphere.pose.position.x, sphere.pose.position.y,
                             sphere.pose.position.z])
        assert np.allclose(position, point, atol=1e-4)
        assert text.pose.position.x == pytest.approx(point[0], abs=1e-4)
        assert text.pose.position.y < sphere.pose.position.y  # above it (y points down)
    else:
        system.probe.rosout_barrier(system.node)
        assert system.probe.log_lines(system.node.get_name(), 'visualization_msgs is not '
                                      'installed')
    values = diagnostic_values(system,
                               lambda values: values.get('query door: found') == 'yes')
    assert values['grounding queries'] == 'door, chair'
    assert float(values['query door: distance (m)']) == pytest.approx(distance, abs=1e-3)
    assert int(values['query door: pixels']) == (labels == 1).sum()
    # random weights: the text embeddings are alike, so the door wins at a modest probability
    assert float(values['query door: score']) == pytest.approx(score, abs=1e-3)
    assert score > 0.5
    assert values['query chair: found'].startswith('no: ')
    assert values['query chair: distance (m)'] == '-'


def test_a_door_no_longer_there_disappears_and_off_leaves_no_label_field(system):
    frame(system, door=True)
    out = frame(system, door=False)
    assert not ros_msgs.image_msg_to_array(out['grounding/labels']).any()
    assert not ros_msgs.cloud_msg_to_array(out['points'])['label'].any()
    if ros_msgs.MarkerArray is not None:
        markers = out['grounding/markers'].markers
        assert [m.action for m in markers] == [ros_msgs.Marker.DELETEALL]
    diagnostic_values(system,
                      lambda values: values.get('query door: found', '').startswith('no: '))
    # grounding off: the cloud as before (no label field), no more labels, markers cleared
    result = system.node.set_parameters([Parameter('grounding.queries',
                                                   Parameter.Type.STRING_ARRAY, [])])
    assert result[0].successful, result[0].reason
    labels_before = len(system.probe.received('grounding/labels'))
    out = frame(system, door=True, topics=('points',))
    assert ros_msgs.cloud_msg_to_array(out['points']).dtype.names == ('x', 'y', 'z')
    assert len(system.probe.received('grounding/labels')) == labels_before
    if ros_msgs.MarkerArray is not None:
        assert [m.action for m in out['grounding/markers'].markers] == [
            ros_msgs.Marker.DELETEALL]
    values = diagnostic_values(system, lambda values: 'grounding queries' not in values)
    assert not [key for key in values if key.startswith('query ')]
