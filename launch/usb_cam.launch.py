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
DepthCLIP on a USB (UVC / V4L2) webcam, with the usb_cam or v4l2_camera driver.

Both drivers publish ``/image_raw`` and ``/camera_info``. The driver chosen with ``driver``
is started when it is installed (and ``start_driver`` is true) with ``video_device``,
``frame_id`` and ``camera_info_url``; otherwise start it yourself::

    ros2 run usb_cam usb_cam_node_exe --ros-args -p video_device:=/dev/video0 \
        -p frame_id:=camera_color_optical_frame
    ros2 run v4l2_camera v4l2_camera_node --ros-args -p video_device:=/dev/video0 \
        -p camera_frame_id:=camera_color_optical_frame

Without a calibration (``camera_info_url``) the drivers publish a camera_info with a zero
camera matrix; calibrate with camera_calibration for metric point clouds. ``frame_id`` is also
the RViz fixed frame unless ``rviz_fixed_frame`` is given.

Every argument of camera.launch.py works here; this file declares only the driver's
arguments and the defaults that differ (``depthclip_ros.launch_common``).
"""

from depthclip_ros import launch_common


def generate_launch_description():
    """Declare the webcam arguments, start its driver, include camera.launch.py."""
    return launch_common.camera_launch_description('usb_cam', __file__)
