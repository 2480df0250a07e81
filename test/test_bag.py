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

"""``depthclip bag``: real rosbag2 files (sqlite3 and MCAP) in, real bags out."""

import os

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
import yaml

from depthclip_ros.core.config import DepthClipConfig, NodeSettings
from depthclip_ros.core.engine import DepthClipEngine
from depthclip_ros.core.geometry import depth_to_points, Intrinsics
from depthclip_ros.core.image_conversion import encode_compressed
from depthclip_ros.core.sample import load_sample_rgb, sample_intrinsics
from depthclip_ros.tools.bag import (make_typestore, namespace_of, output_topics, process_bag,
                                     select_image_topics)
from depthclip_ros.tools.cli import main

T0 = 1_700_000_000_000_000_000
PERIOD = 100_000_000
H, W = 96, 128
TS = make_typestore()
TYPES = TS.types
IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
CLOUD = 'sensor_msgs/msg/PointCloud2'
DERIVED_TYPES = {'depth': IMAGE, 'confidence': IMAGE, 'colorized': IMAGE,
                 'info': CAMERA_INFO, 'points': CLOUD}


def _header(stamp_ns):
    return TYPES['std_msgs/msg/Header'](
        stamp=TYPES['builtin_interfaces/msg/Time'](sec=stamp_ns // 10 ** 9,
                                                   nanosec=stamp_ns % 10 ** 9),
        frame_id='camera_optical')


def _rgb(i):
    return cv2.resize(load_sample_rgb(i % 4), (W, H), interpolation=cv2.INTER_AREA)


CAM_INTR = sample_intrinsics().scaled(W, H)


def write_bag(path, storage, frames=3):
    """
    Write a bag with an rgb8 camera + camera_info, a compressed camera and a chatter topic.

    Header stamps differ from bag timestamps so that the test can tell them apart.
    Returns {topic: [(bag timestamp, header stamp), ...]} of the image topics.
    """
    sent = {'/cam/image_raw': [], '/cam2/image_raw/compressed': []}
    with Writer(path, version=9, storage_plugin=getattr(StoragePlugin, storage.upper())) as w:
        image = w.add_connection('/cam/image_raw', IMAGE, typestore=TS)
        info = w.add_connection('/cam/camera_info', CAMERA_INFO, typestore=TS)
        comp = w.add_connection('/cam2/image_raw/compressed', COMPRESSED, typestore=TS)
        chat = w.add_connection('/chatter', 'std_msgs/msg/String', typestore=TS)
        # a type no type store knows: copied byte for byte with its definition
        custom = w.add_connection('/custom', 'my_pkg/msg/Tick', msgdef='uint32 count\n',
                                  rihs01='RIHS01_' + '1' * 64)
        for i in range(frames):
            t = T0 + i * PERIOD
            stamp = t - 5_000_000
            rgb = _rgb(i)
            msg = TYPES[IMAGE](header=_header(stamp), height=H, width=W, encoding='rgb8',
                               is_bigendian=0, step=W * 3, data=rgb.reshape(-1))
            cam_info = TYPES[CAMERA_INFO](
                header=_header(stamp), height=H, width=W, distortion_model='plumb_bob',
                d=np.zeros(5), k=np.array(CAM_INTR.k()), r=np.eye(3).reshape(-1),
                p=np.array(CAM_INTR.p()), binning_x=0, binning_y=0,
                roi=TYPES['sensor_msgs/msg/RegionOfInterest'](
                    x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
            if i == 1:  # the camera_info arrives after the first frame
                w.write(info, t - 1, TS.serialize_cdr(cam_info, CAMERA_INFO))
            w.write(image, t, TS.serialize_cdr(msg, IMAGE))
            sent['/cam/image_raw'].append((t, stamp))
            jpeg = np.frombuffer(encode_compressed(rgb, 'jpeg'), dtype=np.uint8)
            cmsg = TYPES[COMPRESSED](header=_header(t + 7), format='rgb8; jpeg compressed bgr8',
                                     data=jpeg)
            w.write(comp, t + 20_000_000, TS.serialize_cdr(cmsg, COMPRESSED))
            sent['/cam2/image_raw/compressed'].append((t + 20_000_000, t + 7))
            text = TYPES['std_msgs/msg/String'](data=f'hello {i}')
            w.write(chat, t + 50_000_000, TS.serialize_cdr(text, 'std_msgs/msg/String'))
            w.write(custom, t + 60_000_000, b'\x00\x01\x00\x00' + i.to_bytes(4, 'little'))
    return sent


def read_raw(path):
    """Return {topic: [(bag timestamp, raw bytes)]} and {topic: (type, definition, hash)}."""
    out = {}
    with Reader(path) as reader:
        for conn, timestamp, raw in reader.messages():
            out.setdefault(conn.topic, []).append((timestamp, bytes(raw)))
        types = {c.topic: (c.msgtype, c.msgdef.data, c.digest) for c in reader.connections}
    return out, types


def read_bag(path):
    """Return {topic: [(bag timestamp, msgtype, message)]} and the storage identifier."""
    out = {}
    with Reader(path) as reader:
        last = -1
        for conn, timestamp, raw in reader.messages():
            assert timestamp >= last  # the output is in time order
            last = timestamp
            msg = TS.deserialize_cdr(raw, conn.msgtype) if conn.topic != '/custom' else raw
            out.setdefault(conn.topic, []).append((timestamp, conn.msgtype, msg))
    with open(os.path.join(path, 'metadata.yaml')) as f:
        storage = yaml.safe_load(f)['rosbag2_bagfile_information']['storage_identifier']
    return out, storage


def _stamp(msg):
    return msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec


@pytest.fixture(scope='module')
def engine(small_overrides):
    return DepthClipEngine(DepthClipConfig.from_flat(small_overrides))


def test_namespaces_and_topic_selection():
    assert namespace_of('/cam/image_raw') == '/cam'
    assert namespace_of('/cam/image_raw/compressed') == '/cam'
    assert namespace_of('/camera/color/image_rect_color') == '/camera/color'
    assert namespace_of('/image') == ''
    assert namespace_of('/front') == '/front'
    assert output_topics('/cam/image_raw')['points'] == '/cam/points'
    assert output_topics('/image')['depth'] == '/depth/image'
    topics = {'/cam/image_raw': IMAGE, '/cam/image_raw/compressed': COMPRESSED,
              '/cam/depth/image_raw': IMAGE, '/cam2/image/compressed': COMPRESSED,
              '/cam/camera_info': CAMERA_INFO}
    # depth images are left out; the raw topic wins over the compressed one of a camera
    assert select_image_topics(topics) == ['/cam/image_raw', '/cam2/image/compressed']
    assert select_image_topics(topics, ['/cam/image_raw/compressed']) == \
        ['/cam/image_raw/compressed']
    with pytest.raises(ValueError, match='same output topics'):
        select_image_topics(topics, ['/cam/image_raw', '/cam/image_raw/compressed'])
    with pytest.raises(ValueError, match='not in the bag'):
        select_image_topics(topics, ['/nope'])
    with pytest.raises(ValueError, match='not an Image'):
        select_image_topics(topics, ['/cam/camera_info'])
    with pytest.raises(ValueError, match='already has /cam/depth/image'):
        select_image_topics(dict(topics, **{'/cam/depth/image': IMAGE}), ['/cam/image_raw'])


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_bag_outputs(tmp_path, engine, storage):
    src = str(tmp_path / 'in')
    sent = write_bag(src, storage, frames=3)
    out = str(tmp_path / 'out')
    settings = NodeSettings(cloud_stride=4)
    result = process_bag(src, out, engine, batch=2, settings=settings, progress=False)
    assert not result.interrupted and result.frames == 6 and result.skipped == 0
    assert result.image_topics == ['/cam/image_raw', '/cam2/image_raw/compressed']
    got, got_storage = read_bag(out)
    assert got_storage == storage

    originals = {'/cam/image_raw', '/cam/camera_info', '/cam2/image_raw/compressed',
                 '/chatter', '/custom'}
    expected = set(originals)
    for topic in sent:
        expected |= set(output_topics(topic).values())
    assert set(got) == expected
    # every original message is there, byte for byte, at its timestamp, with its type
    raw_in, types_in = read_raw(src)
    raw_out, types_out = read_raw(out)
    for topic in originals:
        assert raw_out[topic] == raw_in[topic]
        assert types_out[topic] == types_in[topic]
    assert len(got['/chatter']) == 3 and len(got['/cam/camera_info']) == 1
    low, high = engine.config.depth_range
    for topic, frames in sent.items():
        for kind, name in output_topics(topic).items():
            msgs = got[name]
            assert [m[1] for m in msgs] == [DERIVED_TYPES[kind]] * 3
            # written at the source's bag timestamp, stamped with the source header
            assert [(m[0], _stamp(m[2])) for m in msgs] == frames
            assert all(m[2].header.frame_id == 'camera_optical' for m in msgs)
        depth_msg = got[output_topics(topic)['depth']][0][2]
        assert (depth_msg.encoding, depth_msg.height, depth_msg.width) == ('32FC1', H, W)
        depth = np.frombuffer(depth_msg.data.tobytes(), dtype='<f4').reshape(H, W)
        assert np.isfinite(depth).all() and low <= depth.min() and depth.max() <= high
        conf_msg = got[output_topics(topic)['confidence']][0][2]
        conf = np.frombuffer(conf_msg.data.tobytes(), dtype='<f4')
        assert conf_msg.encoding == '32FC1' and 0.0 <= conf.min() and conf.max() <= 1.0
        color_msg = got[output_topics(topic)['colorized']][0][2]
        assert (color_msg.encoding, color_msg.step) == ('bgr8', W * 3)
        info_msg = got[output_topics(topic)['info']][0][2]
        cloud = got[output_topics(topic)['points']][0][2]
        assert (cloud.height, cloud.width, cloud.point_step) == (H // 4, W // 4, 12)
        assert [f.name for f in cloud.fields] == ['x', 'y', 'z']
        # the cloud is the depth back-projected with the intrinsics of depth/camera_info
        intr = Intrinsics.from_camera_info(list(info_msg.k), W, H)
        points = np.frombuffer(cloud.data.tobytes(), dtype='<f4').reshape(H // 4, W // 4, 3)
        expect = depth_to_points(depth, intr, stride=4)
        np.testing.assert_allclose(points[..., 0], expect['x'], rtol=1e-6)
        np.testing.assert_allclose(points[..., 2], depth[::4, ::4], rtol=1e-6)
    # /cam has a camera_info in the bag (the first one also serves the frame before it);
    # /cam2 has none, so its intrinsics come from the 60 degree default field of view.
    for _, _, info_msg in got['/cam/depth/camera_info']:
        np.testing.assert_allclose(info_msg.k, CAM_INTR.k())
    fov = Intrinsics.from_fov(W, H, 60.0)
    np.testing.assert_allclose(got['/cam2/depth/camera_info'][0][2].k, fov.k())


def test_cli_bag_storage_conversion_and_refusals(tmp_path, small_overrides, capsys):
    src = str(tmp_path / 'in')
    write_bag(src, 'sqlite3', frames=2)
    out = str(tmp_path / 'out')
    sets = [a for k, v in small_overrides.items() for a in ('--set', f'{k}={v}')]
    rc = main(['bag', src, out, '--image-topic', '/cam2/image_raw/compressed',
               '--storage', 'mcap', '--no-progress', '--set', 'publish.points=false',
               '--set', 'cloud.stride=2'] + sets)
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert '2 frames of /cam2/image_raw/compressed' in printed and 'frames/s' in printed
    got, storage = read_bag(out)
    assert storage == 'mcap'
    assert '/cam/depth/image' not in got and '/cam2/points' not in got
    assert len(got['/cam2/depth/image']) == 2 and len(got['/cam/image_raw']) == 2

    rc = main(['bag', src, out] + sets)  # never overwrite
    assert rc == 2 and 'exists already' in capsys.readouterr().err
    rc = main(['bag', src, str(tmp_path / 'o2'), '--image-topic', '/chatter'] + sets)
    assert rc == 2 and 'not an Image' in capsys.readouterr().err
    assert not os.path.exists(tmp_path / 'o2')
    rc = main(['bag', src, str(tmp_path / 'o3'), '--set', 'cloud.bogus=1'] + sets)
    assert rc == 2 and 'unknown parameter' in capsys.readouterr().err


def test_interrupt_leaves_a_valid_shorter_bag(tmp_path, small_overrides, monkeypatch, capsys):
    src = str(tmp_path / 'in')
    sent = write_bag(src, 'mcap', frames=4)
    calls = []
    real_predict = DepthClipEngine.predict

    def predict(self, images, output_sizes=None, **options):
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_predict(self, images, output_sizes, **options)

    monkeypatch.setattr(DepthClipEngine, 'predict', predict)
    out = str(tmp_path / 'out')
    sets = [a for k, v in small_overrides.items() for a in ('--set', f'{k}={v}')]
    rc = main(['bag', src, out, '--image-topic', '/cam/image_raw', '--batch', '2',
               '--no-progress'] + sets)
    assert rc == 130
    assert 'interrupted' in capsys.readouterr().err
    got, storage = read_bag(out)  # opens: metadata written, storage valid
    assert storage == 'mcap'
    first_two = sent['/cam/image_raw'][:2]
    for name in output_topics('/cam/image_raw').values():
        assert [(m[0], _stamp(m[2])) for m in got[name]] == first_two
    # everything up to the last finished frame is there; nothing after the interrupted batch
    assert [m[0] for m in got['/cam/image_raw']] == [t for t, _ in first_two]
    assert max(m[0] for msgs in got.values() for m in msgs) < sent['/cam/image_raw'][2][0]


def write_damaged_bag(path, storage='sqlite3', good=5):
    """
    Write an image topic of ``good`` frames with a truncated message and a String among them.

    Also a truncated camera_info. Real damage differs in where the bytes stop and what the
    foreign message holds; every such message fails to deserialize as an Image, which is
    what is tested. Returns (header stamps of the good frames, bag index of each bad one).
    """
    stamps, bad = [], {}
    with Writer(path, version=9, storage_plugin=getattr(StoragePlugin, storage.upper())) as w:
        image = w.add_connection('/cam/image_raw', IMAGE, typestore=TS)
        info = w.add_connection('/cam/camera_info', CAMERA_INFO, typestore=TS)
        index = 0
        for i in range(good):
            t = T0 + i * PERIOD
            rgb = _rgb(i)
            msg = TYPES[IMAGE](header=_header(t - 1000), height=H, width=W, encoding='rgb8',
                               is_bigendian=0, step=W * 3, data=rgb.reshape(-1))
            raw = TS.serialize_cdr(msg, IMAGE)
            if i == 1:
                w.write(image, t - 30, raw[:len(raw) // 3])  # truncated
                bad['truncated'] = index
                index += 1
                w.write(info, t - 20, b'\x00\x01\x00\x00\x05')  # a truncated camera_info
            if i == 3:
                text = TS.serialize_cdr(TYPES['std_msgs/msg/String'](data='not an image'),
                                        'std_msgs/msg/String')
                w.write(image, t - 10, text)  # another type on the image topic
                bad['other type'] = index
                index += 1
            w.write(image, t, raw)
            stamps.append(t - 1000)
            index += 1
    return stamps, bad


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_unreadable_messages_are_skipped_and_every_good_frame_comes_out(tmp_path, engine,
                                                                        storage, capsys):
    src, out = str(tmp_path / 'in'), str(tmp_path / 'out')
    stamps, bad = write_damaged_bag(src, storage)
    result = process_bag(src, out, engine, batch=2, progress=False)
    assert result.frames == 5 and result.skipped == 3, result
    assert result.skipped_by_topic == {'/cam/image_raw': 2, '/cam/camera_info': 1}
    err = capsys.readouterr().err
    for index in bad.values():
        assert f'warning: /cam/image_raw message {index} skipped, the frame cannot be read: ' \
            f'not a valid {IMAGE}' in err, err
    assert 'warning: /cam/camera_info message 0 skipped, the camera_info cannot be read' in err
    raw, _ = read_raw(out)
    assert len(raw['/cam/image_raw']) == 7 and len(raw['/cam/camera_info']) == 1  # copied
    depth = [TS.deserialize_cdr(r, IMAGE) for _, r in raw['/cam/depth/image']]
    assert [_stamp(m) for m in depth] == stamps
    assert all(m.height == H and m.width == W for m in depth)
    assert sorted(os.listdir(tmp_path)) == ['in', 'out']  # no staging folder left


def test_the_command_summarises_skips_and_a_failed_run_leaves_nothing(
        tmp_path, small_overrides, monkeypatch, capsys):
    src, out = str(tmp_path / 'in'), str(tmp_path / 'out')
    write_damaged_bag(src)
    sets = [a for k, v in small_overrides.items() for a in ('--set', f'{k}={v}')]
    real_predict = DepthClipEngine.predict

    def broken(self, images, output_sizes=None, **options):
        raise RuntimeError('the accelerator fell off')

    monkeypatch.setattr(DepthClipEngine, 'predict', broken)
    assert main(['bag', src, out, '--no-progress'] + sets) == 1
    assert 'the accelerator fell off' in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ['in']  # no output, no staging folder
    monkeypatch.setattr(DepthClipEngine, 'predict', real_predict)
    assert main(['bag', src, out, '--no-progress', '--batch', '3'] + sets) == 0
    captured = capsys.readouterr()
    assert '5 frames of /cam/image_raw' in captured.out
    assert 'warning: skipped 3 message(s) that could not be read or decoded (1 on ' \
        '/cam/camera_info, 2 on /cam/image_raw)' in captured.err
    assert 'Traceback' not in captured.err and 'SerdeError' not in captured.err
    assert sorted(os.listdir(tmp_path)) == ['in', 'out']
    assert len(read_raw(out)[0]['/cam/depth/image']) == 5


def test_bag_with_queries_writes_the_grounding_topics_of_the_node(tmp_path, engine,
                                                                  small_overrides, capsys):
    from depthclip_ros.core.grounding import locate_queries
    from depthclip_ros.core.outputs import CameraModel, choose_intrinsics
    src = str(tmp_path / 'in')
    sent = write_bag(src, 'mcap', frames=2)['/cam/image_raw']
    out = str(tmp_path / 'out')
    sets = [a for k, v in small_overrides.items() for a in ('--set', f'{k}={v}')]
    # threshold 0 and one background word: every pixel goes to its best word (random
    # weights mean nothing, and with 'sky' the chair wins: a found query); cloud.stride 1
    rc = main(['bag', src, out, '--image-topic', '/cam/image_raw', '--no-progress',
               '--set', 'grounding.queries=[door, chair]', '--set', 'grounding.threshold=0',
               '--set', 'grounding.background=[sky]', '--set', 'cloud.stride=1'] + sets)
    assert rc == 0, capsys.readouterr().err
    got, _ = read_bag(out)
    labels_msgs, marker_msgs = got['/cam/grounding/labels'], got['/cam/grounding/markers']
    assert [m[1] for m in labels_msgs] == [IMAGE] * 2
    assert [m[1] for m in marker_msgs] == ['visualization_msgs/msg/MarkerArray'] * 2
    assert [(m[0], _stamp(m[2])) for m in labels_msgs] == sent
    # the same answers as the node's path for the first frame (camera_info from the bag)
    state = engine.prepare({'grounding.queries': ['door', 'chair'], 'grounding.threshold': 0.0,
                            'grounding.background': ['sky']})
    rgb = _rgb(0)
    prediction = engine.predict([rgb], state=state)[0]
    depth = np.frombuffer(got['/cam/depth/image'][0][2].data.tobytes(), '<f4').reshape(H, W)
    info = got['/cam/camera_info'][0][2]
    choice = choose_intrinsics(CameraModel.from_message(info), W, H, 60.0)
    expected = locate_queries(prediction.grounding, depth, choice.intrinsics)
    label_msg = labels_msgs[0][2]
    assert (label_msg.encoding, label_msg.height, label_msg.width) == ('mono8', H, W)
    labels = label_msg.data.reshape(H, W)
    assert np.array_equal(labels, expected.labels) and labels.any()
    found = [(i, r) for i, r in enumerate(expected.results) if r.found]
    assert found
    markers = marker_msgs[0][2].markers
    assert markers[0].action == 3 and markers[0].ns == 'depthclip_grounding'  # DELETEALL
    assert sorted(m.id for m in markers[1:]) == sorted(
        n for i, _ in found for n in (2 * i, 2 * i + 1))
    for i, result in found:
        sphere = next(m for m in markers if m.id == 2 * i)
        text = next(m for m in markers if m.id == 2 * i + 1)
        assert sphere.type == 2 and text.type == 9 and text.text == \
            f'{result.query} {result.distance:.1f} m'
        assert sphere.header.frame_id == 'camera_optical'
        np.testing.assert_allclose([sphere.pose.position.x, sphere.pose.position.y,
                                    sphere.pose.position.z], result.point, atol=1e-5)
    cloud = got['/cam/points'][0][2]
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'label']
    label_field = np.frombuffer(cloud.data.tobytes(), dtype='<u4').reshape(H, W, 4)[..., 3]
    assert np.array_equal(label_field, labels)
