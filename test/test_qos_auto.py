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
The default image QoS (``qos.image_reliability: auto``) over real DDS between two processes.

The node runs as its own process (the default parameters but a small model input); a
camera driver process (``image_publisher.py``) publishes 640x480 rgb8 frames (0.9 MB), first
a reliable one, then a best-effort one. Each time the node must choose the matching QoS,
say so in its diagnostics, count no incompatible-QoS event, and deliver depth for the
frames.

Best-effort samples bigger than Fast DDS's default 512 KB shared-memory segment are lost
when the machine is busy (ros2/rmw_fastrtps#739), whatever the node does; both processes
therefore use the profile docs/troubleshooting.md gives for best-effort drivers
(``config/fastdds_large_images.xml``: a 16 MB shared-memory segment). The driver is a
process of its own because Fast DDS reads the profiles file once per process: in this one,
earlier test modules have started Fast DDS without it.
"""

import os
import signal
import subprocess
import sys

from diagnostic_msgs.msg import DiagnosticArray
import pytest
from ros_helpers import (finish_process, kill_process, Probe, process_output,
                         Spinner, start_process, wait_until)
from sensor_msgs.msg import Image

NS = '/dc_qos_auto'
STATUS = f'{NS}/depthclip_node: depth'
PROFILE_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
PROFILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'config',
                       'fastdds_large_images.xml')
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'image_publisher.py')


@pytest.fixture(scope='module')
def context():
    """Create this module's rclpy context with the large-image Fast DDS profile."""
    from ros_helpers import close_context, new_context
    previous = os.environ.get(PROFILE_VARIABLE)
    os.environ[PROFILE_VARIABLE] = PROFILE
    try:
        ctx = new_context()
        yield ctx
        close_context(ctx)
    finally:
        if previous is None:
            os.environ.pop(PROFILE_VARIABLE, None)
        else:
            os.environ[PROFILE_VARIABLE] = previous


@pytest.fixture(scope='module')
def system(context, small_overrides):
    params = dict(small_overrides, diagnostics_period=0.2, flip_tta=False)
    proc = start_process('depthclip_node', NS, *[f'{k}:={v}' for k, v in params.items()])
    probe = Probe('camera_driver', namespace=NS, context=context)
    for publisher in (probe.image_pub, probe.compressed_pub):  # each test makes its own
        probe.destroy_publisher(publisher)
    probe.subscribe('depth/image', Image)
    probe.subscribe('/diagnostics', DiagnosticArray)
    probe.subscribe_rosout()
    spinner = Spinner(probe, context=context).start()
    try:
        wait_until(lambda: proc.poll() is not None
                   or probe.count_subscribers(f'{NS}/image') > 0,
                   timeout=120.0, period=0.1, what='the node process')
        assert proc.poll() is None, process_output(proc)
        yield probe, proc, None
    finally:
        spinner.stop()
        probe.destroy_node()
        kill_process(proc)


def node_values(probe):
    """Return the newest diagnostics key values of the node (or None)."""
    for msg in reversed(probe.received('/diagnostics')):
        for status in msg.status:
            if status.name == STATUS:
                return {kv.key: kv.value for kv in status.values}
    return None


def wait_for_qos(probe, reliability):
    """Wait until the node's diagnostics say its image subscription is ``reliability``."""
    def chosen():
        values = node_values(probe)
        return values if values and values['image QoS'].startswith(reliability + ' ') else None
    return wait_until(chosen, timeout=30.0, what=f'image QoS {reliability}')


def start_driver(reliability):
    """Start the camera driver process: 640x480 frames with ``reliability``."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env[PROFILE_VARIABLE] = PROFILE
    return subprocess.Popen(
        [sys.executable, DRIVER, f'{NS}/image', reliability, '640', '480',
         f'{reliability}_optical_frame'], env=env, cwd=os.path.dirname(DRIVER),
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


@pytest.mark.parametrize('reliability', ['reliable', 'best_effort'])
def test_auto_matches_the_publisher_and_frames_arrive(system, reliability):
    probe, proc, _ = system
    driver = start_driver(reliability)
    try:
        values = wait_for_qos(probe, reliability)
        assert 'auto:' in values['image QoS'], values['image QoS']
        depth = probe.wait_for_message(
            'depth/image', lambda m: m.header.frame_id == f'{reliability}_optical_frame',
            timeout=120.0)
        assert (depth.width, depth.height) == (640, 480)
        values = wait_until(lambda: (v := node_values(probe)) is not None
                            and int(v['frames processed']) >= 1 and v,
                            what='diagnostics counting the frame')
        assert values['incompatible QoS events'] == '0'
    finally:
        driver.send_signal(signal.SIGINT)
        assert driver.wait(timeout=30) == 0
    # With no publisher left the node goes back to best effort, which matches any.
    wait_for_qos(probe, 'best_effort')
    assert proc.poll() is None, process_output(proc)


def test_the_choice_is_logged_and_the_node_exits_cleanly(system):
    probe, proc, _ = system
    lines = wait_until(lambda: probe.log_lines('depthclip_node', 'image subscription'),
                       what='the QoS log lines')
    assert any('reliable (auto: every publisher' in line for line in lines), lines
    assert not probe.log_lines('depthclip_node', 'offers a QoS incompatible')
    proc.send_signal(2)
    output = finish_process(proc, 30)
    assert proc.returncode == 0 and 'Traceback' not in output, output
