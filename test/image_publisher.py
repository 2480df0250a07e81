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
A camera driver for tests, in a process of its own: a sample frame, 5 times a second.

``python image_publisher.py TOPIC reliable|best_effort WIDTH HEIGHT FRAME_ID`` publishes
rgb8 frames of that size with that reliability (keep last 1) until SIGINT or SIGTERM, then
exits 0. Its own process, so that the Fast DDS profile in its environment applies (Fast DDS
reads the profiles file once per process).
"""

import signal
import sys
import time

import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from ros_helpers import sample_image
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from depthclip_ros.ros import msgs

PERIOD_S = 0.2


def main(argv):
    """Publish until a signal; return the exit code."""
    topic, reliability, width, height, frame_id = argv
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.append(signum))
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('test_image_publisher')
    policy = (ReliabilityPolicy.RELIABLE if reliability == 'reliable'
              else ReliabilityPolicy.BEST_EFFORT)
    publisher = node.create_publisher(Image, topic, QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=1, reliability=policy))
    rgb = sample_image(int(width), int(height))[0]
    while not stop:
        header = Header(stamp=node.get_clock().now().to_msg(), frame_id=frame_id)
        publisher.publish(msgs.rgb_to_image_msg(rgb, header, 'rgb8'))
        time.sleep(PERIOD_S)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
