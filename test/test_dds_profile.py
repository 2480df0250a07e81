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
The package's Fast DDS profile: who gets it, what it holds, and the consumer-side pairing.

- :func:`~depthclip_ros.core.dds_profile.choose_profile` for every way a user chooses (or
  does not choose) a profile or transports;
- ``config/fastdds_large_images.xml`` itself: a shared-memory segment for several 640x480
  depth frames, Fast DDS's own transports kept;
- over real DDS, two ``depthclip_node`` processes: one without a profile of the user's gets
  the package profile (its log line, and the 16 MB segment really mapped in the process, as
  /proc shows) and delivers 640x480 depth frames to a consumer without the profile, each
  paired exactly with its camera_info; one with a user's profile keeps it (its segment
  size, not ours). The real world differs:
  other processes on the host (drivers, Nav2) and a loaded CPU; the benchmark
  ``depthclip bench --node`` measures delivery under that load.
- :class:`~depthclip_ros.tools.delivery.ExactPairs`, the benchmark's message_filters-style
  pairing, on orders and losses a real consumer sees.
"""

import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from depthclip_ros.core.dds_profile import (choose_profile, fastdds_major, package_profile,
                                            PROFILE_SEGMENT_BYTES, PROFILE_VARIABLES,
                                            shm_free_bytes)
from depthclip_ros.tools.delivery import delivery_summary, ExactPairs

PROFILE = package_profile()
DEPTH_640x480 = 640 * 480 * 4
NS = '/dc_dds_profile'
USER_SEGMENT = 2 * 1024 * 1024
USER_PROFILE = f"""<?xml version="1.0" encoding="UTF-8" ?>
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
      <transport_descriptor>
        <transport_id>users_shm</transport_id>
        <type>SHM</type>
        <segment_size>{USER_SEGMENT}</segment_size>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="users" is_default_profile="true">
      <rtps>
        <userTransports><transport_id>users_shm</transport_id></userTransports>
      </rtps>
    </participant>
  </profiles>
</dds>
"""


# -------------------------------------------------------------------------------------------
# who gets the profile
# -------------------------------------------------------------------------------------------
def test_the_package_profile_is_found():
    assert PROFILE is not None and os.path.isfile(PROFILE)


def test_no_profile_of_the_users_gives_the_package_profile(tmp_path):
    for env in ({}, {'FASTDDS_BUILTIN_TRANSPORTS': 'SHM'},
                {'FASTDDS_BUILTIN_TRANSPORTS': 'DEFAULT'},
                {'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp'},
                {'RMW_IMPLEMENTATION': 'rmw_fastrtps_dynamic_cpp'},
                {'FASTDDS_DEFAULT_PROFILES_FILE': ''}):  # empty: not a choice
        choice = choose_profile(env, str(tmp_path), PROFILE)
        assert choice.source == 'package', env
        assert choice.variables == {name: PROFILE for name in PROFILE_VARIABLES}
        assert choice.message.startswith(f'Fast DDS profile: {PROFILE} (package default;')
        assert 'FASTRTPS_DEFAULT_PROFILES_FILE' in choice.message


def test_only_the_variable_the_installed_fast_dds_reads_is_set(tmp_path):
    """Fast DDS 3 warns at every start that FASTRTPS_DEFAULT_PROFILES_FILE is deprecated."""
    for major, names in ((3, ['FASTDDS_DEFAULT_PROFILES_FILE']),
                         (2, ['FASTRTPS_DEFAULT_PROFILES_FILE']), (None, PROFILE_VARIABLES)):
        choice = choose_profile({}, str(tmp_path), PROFILE, major=major)
        assert sorted(choice.variables) == sorted(names), major
    from importlib import metadata
    wheels = {}
    for dist in ('ros-fastdds', 'ros-fastrtps'):
        try:
            wheels[dist] = int(metadata.version(dist).split('.')[0])
        except metadata.PackageNotFoundError:
            pass
    if wheels:  # the PyPI wheels of this environment: Kilted's are Fast DDS 3, Jazzy's 2
        expected = 3 if 'ros-fastdds' in wheels else 2
        assert fastdds_major({}) == expected == next(iter(wheels.values()))
        assert fastdds_major({'ROS_DISTRO': 'humble'}) == expected  # the wheels decide
    else:  # a ROS distribution: its setup script names it
        assert fastdds_major({'ROS_DISTRO': 'jazzy'}) == 2
        assert fastdds_major({'ROS_DISTRO': 'kilted'}) == 3
        assert fastdds_major({}) is None


@pytest.mark.parametrize('name', PROFILE_VARIABLES)
def test_a_users_profile_variable_is_left_alone(tmp_path, name):
    mine = tmp_path / 'mine.xml'
    mine.write_text(USER_PROFILE)
    choice = choose_profile({name: str(mine)}, str(tmp_path), PROFILE)
    assert (choice.source, choice.path, choice.variables) == ('user', str(mine), {})
    assert choice.message == f"Fast DDS profile: user's profile {mine} ({name})"
    # A user's file that is not there is still the user's choice; the line says it is missing.
    choice = choose_profile({name: str(tmp_path / 'typo.xml')}, str(tmp_path), PROFILE)
    assert (choice.source, choice.variables) == ('user', {})
    assert 'no such file' in choice.message


@pytest.mark.parametrize('name', ['DEFAULT_FASTDDS_PROFILES.xml',
                                  'DEFAULT_FASTRTPS_PROFILES.xml'])
def test_a_profile_in_the_working_directory_is_the_users(tmp_path, name):
    (tmp_path / name).write_text(USER_PROFILE)
    choice = choose_profile({}, str(tmp_path), PROFILE)
    assert (choice.source, choice.variables) == ('user', {})
    assert 'working directory' in choice.message
    # ... unless Fast DDS is told to skip it
    assert choose_profile({'SKIP_DEFAULT_XML_FILE': '1'}, str(tmp_path),
                          PROFILE).source == 'package'


def test_the_package_profile_named_by_the_user_or_a_launch_is_reported_as_such(tmp_path):
    choice = choose_profile({'FASTRTPS_DEFAULT_PROFILES_FILE': PROFILE}, str(tmp_path),
                            PROFILE)
    assert (choice.source, choice.variables) == ('package', {})
    assert 'package default' in choice.message


@pytest.mark.parametrize('transports', ['UDPv4', 'UDPv6', 'NONE', 'LARGE_DATA', 'P2P',
                                        'SHM?max_msg_size=1MB', 'DEFAULT?sockets_size=4MB'])
def test_a_transport_choice_without_plain_shared_memory_is_left_alone(tmp_path, transports):
    choice = choose_profile({'FASTDDS_BUILTIN_TRANSPORTS': transports}, str(tmp_path),
                            PROFILE)
    assert (choice.source, choice.variables) == ('none', {})
    assert f'FASTDDS_BUILTIN_TRANSPORTS={transports}' in choice.message


def test_another_rmw_gets_no_fast_dds_profile(tmp_path):
    choice = choose_profile({'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}, str(tmp_path),
                            PROFILE)
    assert (choice.source, choice.variables) == ('none', {})
    assert 'rmw_cyclonedds_cpp' in choice.message


def test_without_an_installed_profile_nothing_is_set(tmp_path):
    choice = choose_profile({}, str(tmp_path), None)
    assert (choice.source, choice.variables) == ('none', {})
    assert 'not installed' in choice.message


def test_too_little_shared_memory_gives_no_profile(tmp_path):
    """A Docker container's default 64 MB /dev/shm, mostly taken: no segment it cannot hold."""
    choice = choose_profile({}, str(tmp_path), PROFILE, shm_free=20 * 1024 * 1024)
    assert (choice.source, choice.variables) == ('none', {})
    assert '/dev/shm has 20 MB free' in choice.message and '--shm-size' in choice.message
    assert choose_profile({}, str(tmp_path), PROFILE,
                          shm_free=2 * PROFILE_SEGMENT_BYTES).source == 'package'
    assert shm_free_bytes(str(tmp_path / 'missing')) is None


# -------------------------------------------------------------------------------------------
# what the profile holds
# -------------------------------------------------------------------------------------------
def _strip(tag):
    return tag.split('}', 1)[-1]


def test_the_profile_holds_several_depth_frames_and_keeps_fast_dds_transports():
    root = ET.parse(PROFILE).getroot()
    elements = {}
    for element in root.iter():
        elements.setdefault(_strip(element.tag), []).append(element)
    descriptors = {}
    for descriptor in elements['transport_descriptor']:
        fields = {_strip(child.tag): child.text for child in descriptor}
        descriptors[fields['transport_id']] = fields
    participants = elements['participant']
    assert [p.get('is_default_profile') for p in participants] == ['true']
    rtps = {_strip(child.tag): child for child in participants[0].find('{*}rtps')}
    used = [t.text for t in rtps['userTransports']]
    assert used and all(descriptors[t]['type'] == 'SHM' for t in used)
    segment = max(int(descriptors[t]['segment_size']) for t in used)
    assert segment == PROFILE_SEGMENT_BYTES  # the size the /dev/shm check counts on
    # Several frames of all four image outputs (depth, confidence 32FC1, colorized bgr8).
    assert segment >= 8 * 1024 * 1024
    assert segment >= 3 * (2 * DEPTH_640x480 + 640 * 480 * 3)
    # Built-in transports stay (FASTDDS_BUILTIN_TRANSPORTS still chooses them): the profile
    # adds a segment, it never takes UDP (other machines) or shared memory away.
    assert rtps['useBuiltinTransports'].text.strip() == 'true'


# -------------------------------------------------------------------------------------------
# over real DDS: the node's own participant
# -------------------------------------------------------------------------------------------
def _wait_for_profile_line(proc):
    from ros_helpers import process_output, wait_until
    return wait_until(lambda: proc.poll() is not None or next(
        (line for line in process_output(proc).splitlines() if 'Fast DDS profile:' in line),
        None), timeout=120.0, what='the Fast DDS profile line of the node')


def _segments(pid):
    from depthclip_ros.tools.process_tools import dds_transports
    return dds_transports(pid)['shm_segments']


def _start_node(namespace, params, profile=None):
    """Start depthclip_node with no profile variable set, or both set to ``profile``."""
    from ros_helpers import start_process
    saved = {name: os.environ.pop(name, None) for name in PROFILE_VARIABLES}
    try:
        if profile is not None:
            os.environ.update({name: profile for name in PROFILE_VARIABLES})
        return start_process('depthclip_node', namespace, *params)
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


@pytest.fixture(scope='module')
def params(small_overrides):
    return [f'{k}:={v}' for k, v in dict(small_overrides, flip_tta=False).items()]


def test_the_node_leaves_a_users_profile_alone(context, params, tmp_path):
    """
    A node started with a profile of the user's runs with it, not with the package's.

    It runs first and alone: a reader maps the segment of every writer it hears from, so once
    a node with the package profile runs, every process of the domain maps its 16 MB segment.
    """
    from ros_helpers import kill_process, process_output, wait_until
    user_profile = tmp_path / 'users_fastdds.xml'
    user_profile.write_text(USER_PROFILE)
    user = _start_node(NS + '_user', params, str(user_profile))
    try:
        line = _wait_for_profile_line(user)
        assert user.poll() is None, process_output(user)
        assert f"Fast DDS profile: user's profile {user_profile} (" in line
        segments = wait_until(lambda: [s for s in _segments(user.pid)
                                       if USER_SEGMENT <= s < 1.1 * USER_SEGMENT] and
                              _segments(user.pid), timeout=30.0,
                              what="the user's 2 MB segment in the node process")
        assert not any(s >= 16 * 1024 * 1024 for s in segments), segments
    finally:
        kill_process(user)


@pytest.fixture(scope='module')
def package_node(context, params):
    """Start a depthclip_node without a profile of the user's."""
    from ros_helpers import kill_process
    proc = _start_node(NS, params)
    try:
        yield proc
    finally:
        kill_process(proc)


def test_the_node_applies_the_package_profile_when_none_is_set(package_node):
    from ros_helpers import process_output, wait_until
    line = _wait_for_profile_line(package_node)
    assert package_node.poll() is None, process_output(package_node)
    assert f'Fast DDS profile: {PROFILE} (package default;' in line
    # Fast DDS really took it: the node's participant has the profile's 16 MB segment.
    wait_until(lambda: any(s >= 16 * 1024 * 1024 for s in _segments(package_node.pid)),
               timeout=30.0, what='a 16 MB shared-memory segment in the node process')


def test_640x480_depth_reaches_a_consumer_without_the_profile_each_frame_paired(
        package_node, context):
    from rclpy.qos import qos_profile_sensor_data
    from ros_helpers import Probe, Spinner
    from sensor_msgs.msg import CameraInfo, Image

    from depthclip_ros.core.geometry import Intrinsics
    from depthclip_ros.ros.msgs import stamp_to_ns
    _wait_for_profile_line(package_node)
    probe = Probe('consumer', namespace=NS, context=context)
    probe.subscribe('depth/image', Image)
    probe.subscribe('depth/camera_info', CameraInfo)
    probe.subscribe('depth/confidence', Image)
    probe.create_subscription(Image, 'depth/image', lambda m: None, qos_profile_sensor_data)
    rgb = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    intr = Intrinsics.from_fov(640, 480, 60.0)
    frames = 5
    with Spinner(probe, context=context):
        for _ in range(frames):
            def send(p):
                header = p.header()
                p.publish_camera_info(intr, header)
                return p.publish_rgb(rgb, header=header)
            out = probe.publish_until_output(send, ('depth/image', 'depth/camera_info'),
                                             timeout=120.0)
            depth = out['depth/image']
            assert (depth.width, depth.height, depth.encoding) == (640, 480, '32FC1')
            assert len(depth.data) == DEPTH_640x480
    pairs = ExactPairs()
    for topic, index in (('depth/image', 0), ('depth/camera_info', 1)):
        for k, msg in enumerate(probe.received(topic)):
            pairs.add(index, stamp_to_ns(msg.header.stamp), float(k))
    depth_stamps = {stamp_to_ns(m.header.stamp) for m in probe.received('depth/image')}
    assert len(depth_stamps) >= frames
    assert set(pairs.paired_stamps()) == depth_stamps
    probe.destroy_node()


# -------------------------------------------------------------------------------------------
# the pairing of the benchmark
# -------------------------------------------------------------------------------------------
def test_exact_pairs_pairs_equal_stamps_in_any_order():
    pairs = ExactPairs(queue_size=10)
    pairs.add(0, 100, 0.0)
    pairs.add(0, 200, 0.1)
    pairs.add(1, 200, 0.15)  # the second frame's info first
    pairs.add(1, 100, 0.3)   # a late re-send completes the first
    pairs.add(1, 300, 0.4)   # an info whose depth never comes
    assert pairs.pairs == [(200, 0.1, 0.15), (100, 0.0, 0.3)]
    assert sorted(pairs.paired_stamps()) == [100, 200]
    assert pairs.completion_delays() == pytest.approx([0.05, 0.3])
    assert pairs.queues[1] == {300: 0.4}


def test_exact_pairs_never_pairs_what_fell_out_of_the_queue():
    """As message_filters: a partner later than queue_size other stamps is never paired."""
    pairs = ExactPairs(queue_size=3)
    for k in range(5):
        pairs.add(0, k, float(k))
    assert pairs.dropped == [2, 0]
    for k in range(5):
        pairs.add(1, k, 10.0 + k)
    assert pairs.paired_stamps() == [2, 3, 4]
    with pytest.raises(ValueError, match='queue_size'):
        ExactPairs(queue_size=0)


def test_delivery_summary_counts_against_the_published_frames():
    pairs = ExactPairs()
    for stamp in (1, 2, 3):
        pairs.add(0, stamp, 0.0)
        pairs.add(1, stamp, 0.01)
    received = {'depth/image (reliable)': [1, 2, 3, 4], 'depth/camera_info (reliable)': [1, 2, 3],
                'depth/image (SensorDataQoS)': [1, 3, 3]}
    summary = delivery_summary(5, received, pairs)
    assert summary['published'] == 5 and summary['stamps_seen'] == 4
    assert summary['subscribers']['depth/image (reliable)'] == {
        'received': 4, 'duplicates': 0, 'percent': 80.0}
    assert summary['subscribers']['depth/image (SensorDataQoS)']['duplicates'] == 1
    assert (summary['pairs'], summary['unpaired']) == (3, 2)
    assert summary['pair_delay_max_s'] == pytest.approx(0.01)
    # Diagnostics that missed frames (or none at all): the stamps seen are the floor.
    assert delivery_summary(2, received, pairs)['published'] == 4
    assert delivery_summary(None, received, pairs)['published_source'].startswith('stamps')
