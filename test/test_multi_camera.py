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
One node, several cameras, one model: topics, batching, outputs, diagnostics.

The node under test is built from a cameras file exactly as launch/cameras.launch.py builds
it (parameters and remappings from :mod:`depthclip_ros.core.cameras`), without ``launch``;
the launch file itself is tested in test_launch_files.py.
"""

import os
from types import SimpleNamespace

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_helpers import (overrides, Probe, sample_image, Spinner, wait_until)
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
import yaml

from depthclip_ros.core import scheduler as scheduler_module
from depthclip_ros.core.cameras import (load_cameras_file, node_parameters, node_remappings,
                                        parse_cameras)
from depthclip_ros.ros import msgs as ros_msgs
from depthclip_ros.ros.node import DepthClipNode, StartupError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, 'config', 'cameras.yaml')
NS = '/dc_multi'
DRIVERS = '/dc_multi_drivers'
SIZES = {'front': (160, 120), 'left': (320, 240), 'rear': (96, 72)}
SETTINGS = {'diagnostics_period': 0.2, 'flip_tta': False, 'qos.image_reliability': 'reliable',
            'publish.points': False, 'publish.colorized': False, 'publish.confidence': False}


def cameras_document():
    return {'cameras': [
        {'name': 'front', 'image': f'{NS}/front/image', 'camera_info': f'{NS}/front/camera_info'},
        {'name': 'left', 'image': f'{NS}/left/image', 'camera_info': f'{NS}/left/camera_info',
         'frame_id': 'left_optical'},
        {'name': 'rear', 'image': f'{DRIVERS}/rear/color/image_raw',
         'camera_info': f'{DRIVERS}/rear/color/camera_info'},
    ]}


def camera_probe(context, name, index=0):
    """Return a probe that publishes as camera ``name``'s driver and hears its outputs."""
    cli_args = None
    if name == 'rear':
        image = f'{DRIVERS}/rear/color/image_raw'
        cli_args = ['--ros-args', '-r', f'image:={image}',
                    '-r', f'image/compressed:={image}/compressed',
                    '-r', f'camera_info:={DRIVERS}/rear/color/camera_info']
    probe = Probe(f'probe_{name}_{index}', namespace=f'{NS}/{name}', context=context,
                  cli_args=cli_args)
    probe._seconds += 100000 * index
    return probe


@pytest.fixture(scope='module')
def system(context, small_overrides, tmp_path_factory):
    path = tmp_path_factory.mktemp('cameras') / 'cameras.yaml'
    path.write_text(yaml.safe_dump(cameras_document()))
    cameras = load_cameras_file(str(path))
    cli_args = ['--ros-args']
    for source, target in node_remappings(cameras):
        cli_args += ['-r', f'{source}:={target}']
    params = dict(small_overrides, **SETTINGS, **node_parameters(cameras))
    node = DepthClipNode(namespace=NS, context=context, cli_args=cli_args,
                         parameter_overrides=overrides(params))
    probes = {name: camera_probe(context, name) for name in SIZES}
    spinners = [Spinner(node, context=context).start()]
    for probe in probes.values():
        probe.subscribe('depth/image', Image)
        probe.subscribe('depth/camera_info', CameraInfo)
        spinners.append(Spinner(probe, context=context).start())
    probes['front'].subscribe('/diagnostics', DiagnosticArray)
    images = {}
    for name, (width, height) in SIZES.items():
        images[name] = sample_image(width, height, index=list(SIZES).index(name))
        probe = probes[name]
        wait_until(lambda n=name: node.count_subscribers(f'{NS}/{n}/depth/image') > 0)
        probe.wait_for_subscribers(probe.image_pub)
        probe.wait_for_subscribers(probe.info_pub)
        count = node.camera_stats(name)['camera_info_received']
        probe.publish_camera_info(images[name][1])
        wait_until(lambda n=name, c=count: node.camera_stats(n)['camera_info_received'] > c)
    yield SimpleNamespace(node=node, probes=probes, images=images, context=context,
                          spinners=spinners)
    for spinner in spinners:
        spinner.stop()
    for probe in probes.values():
        probe.destroy_node()
    node.destroy_node()


def publish_all(system, names=tuple(SIZES)):
    """Publish one frame per camera while the worker is held; return {name: header}."""
    node = system.node
    before = {name: node.camera_stats(name)['received'] for name in names}
    with node.worker_paused():  # hold the worker so that the frames meet in the mailboxes
        headers = {name: system.probes[name].publish_rgb(system.images[name][0])
                   for name in names}
        for name in names:
            wait_until(lambda n=name: node.camera_stats(n)['received'] > before[n],
                       what=f'{name} frame')
    return headers


def outputs(system, headers, topic='depth/image'):
    return {name: system.probes[name].wait_for_stamp(topic, header, timeout=30.0)
            for name, header in headers.items()}


# -------------------------------------------------------------------------------------------
# topics
# -------------------------------------------------------------------------------------------
def test_each_camera_has_its_own_remappable_topics(system):
    node = system.node
    assert node.camera_names == ['front', 'left', 'rear']
    assert node.image_topics == {'front': f'{NS}/front/image', 'left': f'{NS}/left/image',
                                 'rear': f'{DRIVERS}/rear/color/image_raw'}
    for name in SIZES:
        for topic in ('depth/image', 'depth/camera_info', 'depth/confidence',
                      'depth/colorized', 'points'):
            assert node.count_publishers(f'{NS}/{name}/{topic}') == 1, (name, topic)
    assert node.count_subscribers(f'{DRIVERS}/rear/color/camera_info') == 1
    assert node.count_subscribers(f'{NS}/image') == 0
    assert node.count_publishers(f'{NS}/depth/image') == 0
    assert node.describe_parameter('cameras').read_only
    assert node.get_parameter('left.frame_id').value == 'left_optical'
    assert node.get_parameter('front.frame_id').value == ''


def test_each_camera_gets_its_outputs_with_its_stamp_size_and_intrinsics(system):
    headers = publish_all(system)
    depths = outputs(system, headers)
    infos = outputs(system, headers, 'depth/camera_info')
    for name, (width, height) in SIZES.items():
        depth, info = depths[name], infos[name]
        assert depth.header.stamp == headers[name].stamp
        assert (depth.width, depth.height) == (width, height)
        assert np.isfinite(ros_msgs.image_msg_to_array(depth)).all()
        np.testing.assert_allclose(info.k, system.images[name][1].k())
        expected_frame = 'left_optical' if name == 'left' else 'test_optical_frame'
        assert depth.header.frame_id == info.header.frame_id == expected_frame
    for name in SIZES:
        stats = system.node.camera_stats(name)
        assert stats['errors'] == stats['rejected'] == stats['camera_info_rejected'] == 0


def test_newest_frames_of_all_cameras_share_one_encoder_pass(system):
    node = system.node
    passes, frames = node.batch_stats
    headers = publish_all(system)
    batched = outputs(system, headers)
    passes_after, frames_after = node.batch_stats
    assert frames_after - frames == 3
    assert passes_after - passes <= 2  # 3 frames, at most 2 passes: some were batched
    # The same image alone gives the same depth as in the batch.
    for name in SIZES:
        alone = outputs(system, publish_all(system, (name,)))[name]
        np.testing.assert_allclose(ros_msgs.image_msg_to_array(alone),
                                   ros_msgs.image_msg_to_array(batched[name]), atol=1e-4)


def test_max_batch_size_limits_the_frames_per_pass_oldest_first(system, monkeypatch):
    node = system.node
    passes_seen = []
    predict = node.engine.predict

    def recording(images, sizes, **options):
        by_size = {(h, w): name for name, (w, h) in SIZES.items()}
        passes_seen.append([by_size[tuple(size)] for size in sizes])
        return predict(images, sizes, **options)
    monkeypatch.setattr(node.engine, 'predict', recording)
    for bad in (-1, 17, 2.0, 'two'):
        result = node.set_parameters([Parameter('max_batch_size', value=bad)])[0]
        assert not result.successful and result.reason, bad
    result = node.set_parameters([Parameter('max_batch_size', value=1)])[0]
    assert result.successful, result.reason
    try:
        passes, frames = node.batch_stats
        headers = publish_all(system)
        depths = outputs(system, headers)
        assert node.batch_stats == (passes + 3, frames + 3)  # one frame per pass
        assert passes_seen[-3:] == [['front'], ['left'], ['rear']]  # in order of arrival
        for name, depth in depths.items():
            assert (depth.width, depth.height) == SIZES[name]
    finally:
        assert node.set_parameters([Parameter('max_batch_size', value=0)])[0].successful


def test_bad_frame_on_one_camera_leaves_the_others_alone(system):
    node, probes = system.node, system.probes
    before = {name: node.camera_stats(name) for name in SIZES}
    with node.worker_paused():
        bad = ros_msgs.rgb_to_image_msg(system.images['left'][0], probes['left'].header(),
                                        'rgb8')
        bad.encoding = 'nonsense'
        probes['left'].image_pub.publish(bad)
        good = {name: probes[name].publish_rgb(system.images[name][0])
                for name in ('front', 'rear')}
        wait_until(lambda: all(node.camera_stats(n)['received'] > before[n]['received']
                               for n in SIZES))
    outputs(system, good)
    wait_until(lambda: node.camera_stats('left')['rejected'] > before['left']['rejected'])
    assert 'unknown encoding "nonsense"' in node.last_problem('left')
    for name in ('front', 'rear'):
        assert node.camera_stats(name)['rejected'] == before[name]['rejected']
        assert 'nonsense' not in node.last_problem(name)
    assert all(m.header.stamp != bad.header.stamp for m in probes['left'].received(
        'depth/image'))
    outputs(system, publish_all(system, ('left',)))


def test_one_diagnostic_status_per_camera(system):
    node, probe = system.node, system.probes['front']
    fqn = node.get_fully_qualified_name()
    outputs(system, publish_all(system))
    processed = {name: node.camera_stats(name)['processed'] for name in SIZES}

    def fresh():
        for msg in reversed(probe.received('/diagnostics')):
            statuses = {s.name: s for s in msg.status}
            if len(statuses) != 3:
                continue
            values = {n: {kv.key: kv.value for kv in statuses[f'{fqn}: {n} depth'].values}
                      for n in SIZES}
            if all(int(values[n]['frames processed']) >= processed[n] for n in SIZES):
                return statuses, values
        return None
    statuses, values = wait_until(fresh, what='diagnostics of every camera')
    for name in SIZES:
        assert values[name]['camera'] == name
        assert values[name]['input topic'] == node.image_topics[name]
        assert float(values[name]['mean batch size']) >= 1.0
        level = statuses[f'{fqn}: {name} depth'].level
        assert level in (DiagnosticStatus.OK, DiagnosticStatus.WARN)
    assert values['left']['frame_id'] == 'left_optical'
    assert values['front']['frame_id'] == '(from the input)'


def test_frame_id_override_is_live_and_checked(system):
    node = system.node
    try:
        for bad, words in (('/left_optical', 'must not start with "/"'),
                           ('left optical', 'white space')):
            result = node.set_parameters([Parameter('left.frame_id', value=bad)])[0]
            assert not result.successful and words in result.reason, result.reason
        result = node.set_parameters([Parameter('left.frame_id', value='')])[0]
        assert result.successful, result.reason
        depth = outputs(system, publish_all(system, ('left',)))['left']
        assert depth.header.frame_id == 'test_optical_frame'
        result = node.set_parameters([Parameter('rear.frame_id', value='rear_link')])[0]
        assert result.successful, result.reason
        depth = outputs(system, publish_all(system, ('rear',)))['rear']
        assert depth.header.frame_id == 'rear_link'
    finally:
        node.set_parameters([Parameter('left.frame_id', value='left_optical'),
                             Parameter('rear.frame_id', value='')])
    result = node.set_parameters([Parameter('cameras', value=['front'])])[0]
    assert not result.successful and 'read-only' in result.reason


def test_compressed_transport_per_camera(system):
    node = system.node
    result = node.set_parameters([Parameter('input_transport', value='compressed')])[0]
    assert result.successful, result.reason
    try:
        assert node.image_topics == {
            'front': f'{NS}/front/image/compressed', 'left': f'{NS}/left/image/compressed',
            'rear': f'{DRIVERS}/rear/color/image_raw/compressed'}
        headers = {}
        for name in ('front', 'rear'):
            probe = system.probes[name]
            probe.wait_for_subscribers(probe.compressed_pub)
            headers[name] = probe.publish_compressed(system.images[name][0], 'png')
        for name, depth in outputs(system, headers).items():
            assert (depth.width, depth.height) == SIZES[name]
    finally:
        node.set_parameters([Parameter('input_transport', value='raw')])


def test_a_camera_that_stops_and_restarts(system, monkeypatch):
    node = system.node
    monkeypatch.setattr(scheduler_module, 'STALE_AFTER_S', 0.5)
    outputs(system, publish_all(system))
    old = system.probes['rear']
    old.destroy_node()  # the rear camera driver stops
    fqn = node.get_fully_qualified_name()
    probe = system.probes['front']

    def rear_status(words):
        for msg in reversed(probe.received('/diagnostics')[-5:]):
            for status in msg.status:
                if status.name == f'{fqn}: rear depth' and words in status.message:
                    return status
        return None
    status = wait_until(lambda: rear_status('no images'), what='rear reported stale')
    assert status.level == DiagnosticStatus.WARN
    outputs(system, publish_all(system, ('front',)))  # the others go on
    # The driver comes back (a new publisher on the same topics).
    new = camera_probe(system.context, 'rear', index=1)
    new.subscribe('depth/image', Image)
    system.spinners.append(Spinner(new, context=system.context).start())
    system.probes['rear'] = new
    new.wait_for_subscribers(new.image_pub)
    new.publish_until_output(lambda p: p.publish_rgb(system.images['rear'][0]))
    wait_until(lambda: rear_status('Hz'), what='rear back to a rate')


# -------------------------------------------------------------------------------------------
# start-up errors of the cameras parameter
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize('cameras,words', [
    (['front', 'front'], 'front listed more than once'),
    (['front', '1st'], "'1st' is not a valid camera name"),
    (['front', 'a/b'], 'not a valid camera name'),
    ('front', 'must be a list of camera names'),
    ([f'cam{i}' for i in range(17)], 'at most 16'),
])
def test_invalid_cameras_parameter_stops_the_start(context, small_overrides, cameras, words):
    with pytest.raises(StartupError, match='cameras') as info:
        DepthClipNode('bad_cameras', namespace='/dc_multi_bad', context=context,
                      parameter_overrides=overrides(dict(small_overrides, cameras=cameras)))
    assert words in str(info.value)
    assert '\n' not in str(info.value)


# -------------------------------------------------------------------------------------------
# cameras files
# -------------------------------------------------------------------------------------------
def test_example_cameras_file():
    cameras = load_cameras_file(EXAMPLE)
    assert [c.name for c in cameras] == ['front', 'left']
    assert node_parameters(cameras) == {'cameras': ['front', 'left'],
                                        'left.frame_id': 'left_color_optical_frame'}
    remaps = dict(node_remappings(cameras))
    assert remaps['front/image'] == '/front/color/image_raw'
    assert remaps['front/image/compressed'] == '/front/color/image_raw/compressed'
    assert remaps['left/camera_info'] == '/left/color/camera_info'


def _camera(**values):
    base = {'name': 'front', 'image': '/f/image', 'camera_info': '/f/camera_info'}
    base.update(values)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize('document,words', [
    (None, 'must have a "cameras:" list'),
    ({'cameras': 'front'}, 'must have a "cameras:" list'),
    ({'cameras': []}, 'lists no cameras'),
    ({'cameras': [_camera(), _camera()]}, 'front used more than once'),
    ({'cameras': [_camera(name='front camera')]}, 'letters, digits'),
    ({'cameras': [_camera(image=None)]}, 'image must name a topic'),
    ({'cameras': [_camera(camera_info='')]}, 'camera_info must name a topic'),
    ({'cameras': [_camera(frame_id='/front')]}, 'frame_id'),
    ({'cameras': [_camera(topic='/x')]}, 'unknown key(s) topic'),
    ({'cameras': ['front']}, 'must be a mapping'),
    ({'cameras': [_camera(name=f'c{i}') for i in range(17)]}, 'at most 16'),
])
def test_bad_cameras_files_give_one_clear_error(document, words):
    with pytest.raises(ValueError) as info:
        parse_cameras(document, 'cameras.yaml')
    assert words in str(info.value)


def test_unreadable_cameras_file(tmp_path):
    with pytest.raises(ValueError, match='cameras file .* does not exist'):
        load_cameras_file(str(tmp_path / 'missing.yaml'))
    bad = tmp_path / 'bad.yaml'
    bad.write_text('cameras: [unclosed\n')
    with pytest.raises(ValueError, match='not valid YAML'):
        load_cameras_file(str(bad))


def test_header_helper_keeps_the_input_frame_when_no_override():
    header = Header(frame_id='cam')
    assert ros_msgs.header_with_frame(header, '').frame_id == 'cam'
    assert ros_msgs.header_with_frame(header, 'other').frame_id == 'other'
    assert header.frame_id == 'cam'
