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
DepthCLIP on an Intel RealSense colour stream (realsense2_camera, ROS 2 wrapper 4.x).

Starts ``realsense2_camera``'s ``rs_launch.py`` with ``camera_namespace:=camera
camera_name:=camera`` when that package is installed (and ``start_driver`` is true), so the
colour stream is ``/camera/camera/color/image_raw`` with ``/camera/camera/color/camera_info``
in frame ``camera_color_optical_frame``, published reliably (``image_qos`` defaults to
``reliable`` here). Other rs_launch.py arguments given on the command line
(``enable_depth:=false``, ``rgb_camera.color_profile:=640x480x30``, ...) reach the driver.
Without the package, start the camera yourself::

    ros2 launch realsense2_camera rs_launch.py

Wrapper 3.x (``/camera/color/image_raw``): ``image:=/camera/color/image_raw
camera_info:=/camera/color/camera_info``.

Every argument of camera.launch.py works here; this file declares only ``start_driver`` and
the defaults that differ (the RealSense topics, frame and QoS: ``depthclip_ros.launch_common``).
"""

from depthclip_ros import launch_common


def generate_launch_description():
    """Declare the RealSense arguments, start its driver, include camera.launch.py."""
    return launch_common.camera_launch_description('realsense', __file__)
