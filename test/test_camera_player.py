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

"""camera_player over real DDS: rate, intrinsics, frame_id, sources, max_frames, exit codes."""

import signal

import cv2
import numpy as np
import pytest
from ros_helpers import (finish_process, kill_process, overrides, Probe, process_output, Spinner,
                         start_process, wait_until)
from sensor_msgs.msg import CameraInfo, Image

from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.sample import load_sample_rgb, sample_frames, sample_intrinsics
from depthclip_ros.ros import msgs as ros_msgs
from depthclip_ros.ros.camera_player import CameraPlayer, SourceError


def play(context, namespace, params, expect, timeout=20.0):
    """
    Run a player with ``params`` until it has finished and ``expect`` frames arrived.

    The player is spun only once the probe is matched, so no frame is lost to discovery.

    :return: (player, [Image], [CameraInfo])
    """
    probe = Probe(namespace=namespace, context=context)
    probe.subscribe('image', Image)
    probe.subscribe('camera_info', CameraInfo)
    player = CameraPlayer(namespace=namespace, context=context,
                          parameter_overrides=overrides(params))
    try:
        wait_until(lambda: player.image_pub.get_subscription_count() > 0
                   and player.info_pub.get_subscription_count() > 0, what='matching')
        with Spinner(probe, context=context):
            with Spinner(player, context=context):
                wait_until(lambda: len(probe.received('image')) >= expect
                           and len(probe.received('camera_info')) >= expect,
                           timeout=timeout, what=f'{expect} frames')
                # Finished: nothing is published after it, so the counts below are final.
                wait_until(player.finished.is_set, timeout=timeout, what='the player to finish')
        return player, probe.received('image'), probe.received('camera_info')
    finally:
        probe.destroy_node()
        player.destroy_node()


def test_bundled_sample_rate_intrinsics_frame_id_max_frames(context):
    player, images, infos = play(context, '/cp_sample',
                                 {'rate': 20.0, 'max_frames': 6, 'width': 320}, expect=6)
    assert player.finished.is_set() and player.published == 6
    assert len(images) == 6 and len(infos) == 6
    intr = sample_intrinsics().scaled(320, 240)
    for image, info in zip(images, infos):
        assert image.encoding == 'rgb8' and (image.width, image.height) == (320, 240)
        assert image.header.frame_id == 'camera_color_optical_frame'
        assert info.header == image.header
        assert (info.width, info.height) == (320, 240)
        np.testing.assert_allclose(info.k, intr.k())
        np.testing.assert_allclose(info.p, intr.p())
    frames = sample_frames()
    first = cv2.resize(load_sample_rgb(0), (320, 240), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(ros_msgs.image_msg_to_array(images[0]), first)
    # loop: frame len(frames) is the first frame again
    np.testing.assert_array_equal(ros_msgs.image_msg_to_array(images[len(frames)]), first)
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in images])
    intervals = np.diff(stamps)
    assert (intervals > 0).all()
    assert 0.03 <= float(np.median(intervals)) <= 0.09, intervals


def test_folder_source_resize_fov_and_fx_override(context, tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for i, colour in enumerate(colours):
        image = np.zeros((48, 64, 3), np.uint8)
        image[:] = colour
        cv2.imwrite(str(tmp_path / f'img_{i}.png'), image[:, :, ::-1])
    (tmp_path / 'notes.txt').write_text('not an image')
    params = {'source': str(tmp_path), 'rate': 50.0, 'max_frames': 5, 'width': 32,
              'height': 24, 'fov_deg': 90.0, 'fx': 20.0, 'frame_id': 'cam'}
    player, images, infos = play(context, '/cp_folder', params, expect=5)
    assert player.published == 5 and len(images) == 5
    fov = Intrinsics.from_fov(32, 24, 90.0)
    for i, (image, info) in enumerate(zip(images, infos)):
        assert image.header.frame_id == 'cam' and info.header == image.header
        pixels = ros_msgs.image_msg_to_array(image)
        assert pixels.shape == (24, 32, 3)
        assert tuple(pixels[12, 16]) == colours[i % 3]
        np.testing.assert_allclose(info.k, [20.0, 0, fov.cx, 0, fov.fy, fov.cy, 0, 0, 1])


def test_video_file_plays_once_without_loop(context, tmp_path):
    path = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (64, 48))
    assert writer.isOpened()
    for i in range(4):
        writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
    writer.release()
    player, images, infos = play(context, '/cp_video',
                                 {'source': path, 'rate': 50.0, 'loop': False}, expect=4)
    assert player.finished.is_set() and player.published == 4 and len(images) == 4
    means = [float(ros_msgs.image_msg_to_array(m).mean()) for m in images]
    np.testing.assert_allclose(means, [0, 60, 120, 180], atol=6)
    np.testing.assert_allclose(infos[0].k, Intrinsics.from_fov(64, 48, 60.0).k())


def test_bad_source_raises(context, tmp_path):
    with pytest.raises(SourceError, match='not an image folder'):
        CameraPlayer(namespace='/cp_bad', context=context,
                     parameter_overrides=overrides({'source': str(tmp_path / 'missing')}))
    with pytest.raises(SourceError, match='no .png'):
        CameraPlayer(namespace='/cp_bad', context=context,
                     parameter_overrides=overrides({'source': str(tmp_path)}))


def test_process_exit_codes(context, tmp_path):
    module = 'camera_player'
    finite = start_process(module, '/cp_finite', 'rate:=50', 'max_frames:=3')
    forever = start_process(module, '/cp_forever', 'rate:=5')
    missing = start_process(module, '/cp_missing', f'source:={tmp_path / "missing.mp4"}')
    watcher = Probe('watcher', context=context)
    try:
        output = finish_process(finite, 60)
        assert finite.returncode == 0 and 'Traceback' not in output, output
        assert 'done after 3 frames' in output
        output = finish_process(missing, 60)
        assert missing.returncode == 1 and 'Traceback' not in output, output
        assert 'FATAL' in output and 'missing.mp4' in output
        wait_until(lambda: forever.poll() is not None
                   or watcher.count_publishers('/cp_forever/image') > 0,
                   timeout=60, what='the player process')
        assert forever.poll() is None, process_output(forever)
        forever.send_signal(signal.SIGINT)
        output = finish_process(forever, 30)
        assert forever.returncode == 0 and 'Traceback' not in output, output
    finally:
        watcher.destroy_node()
        for proc in (finite, forever, missing):
            kill_process(proc)
