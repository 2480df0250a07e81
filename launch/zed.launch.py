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
DepthCLIP on the left (RGB) image of a Stereolabs ZED camera (zed_wrapper).

Starts ``zed_wrapper``'s ``zed_camera.launch.py`` with ``camera_model`` (required by the
wrapper: zed, zedm, zed2, zed2i, zedx, zedxm, ...) when that package is installed (and
``start_driver`` is true). With zed-ros2-wrapper 5.1 and newer the rectified RGB stream is
``/zed/zed_node/rgb/color/rect/image`` with ``/zed/zed_node/rgb/color/rect/camera_info`` in
frame ``zed_left_camera_frame_optical``, published reliably (``image_qos`` defaults to
``reliable`` here). Wrappers before 5.1 publish ``/zed/zed_node/rgb/image_rect_color`` and
``/zed/zed_node/rgb/camera_info`` (frame ``zed_left_camera_optical_frame``)::

    ros2 launch depthclip_ros zed.launch.py camera_model:=zed2i \
        image:=/zed/zed_node/rgb/image_rect_color camera_info:=/zed/zed_node/rgb/camera_info \
        rviz_fixed_frame:=zed_left_camera_optical_frame

Without the package, start the camera yourself::

    ros2 launch zed_wrapper zed_camera.launch.py camera_model:=<model>

Every argument of camera.launch.py works here; this file declares only the driver's
arguments and the defaults that differ (``depthclip_ros.launch_common``).
"""

from depthclip_ros import launch_common


def generate_launch_description():
    """Declare the ZED arguments, start its wrapper, include camera.launch.py."""
    return launch_common.camera_launch_description('zed', __file__)
