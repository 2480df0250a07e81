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
DepthCLIP demo without a camera: camera_player, depthclip_node and RViz.

camera_player publishes the bundled sample frames (or ``source``: an image folder, a video
file or /dev/videoN) reliably on ``image`` and ``camera_info`` (default
``/camera/color/image_raw`` and ``/camera/color/camera_info``, the topics camera.launch.py
listens to by default) in frame ``rviz_fixed_frame`` (default ``camera_color_optical_frame``);
the depth comes out on ``/camera/depth/image``, ``/camera/depth/colorized``,
``/camera/points``, ...::

    ros2 launch depthclip_ros demo.launch.py
    ros2 launch depthclip_ros demo.launch.py source:=/path/to/video.mp4 rate:=5.0 device:=cuda

RViz starts by default when rviz2 is installed (``use_rviz:=false`` to skip); without it the
launch says how to install it and goes on. Every argument of camera.launch.py works here
(``camera_name:=front`` gives ``/front/depth/image``); this file declares only camera_player's
arguments and the defaults that differ (``depthclip_ros.launch_common``).
"""

from depthclip_ros import launch_common


def generate_launch_description():
    """Declare the camera_player arguments, start it, include camera.launch.py."""
    return launch_common.camera_launch_description('demo', __file__)
