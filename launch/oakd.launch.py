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
DepthCLIP on the colour camera of a Luxonis OAK (OAK-D, OAK-D Lite, OAK-D Pro, ...).

Starts ``depthai_ros_driver``'s ``camera.launch.py`` (camera ``name:=oak``) when that package
is installed (and ``start_driver`` is true): the colour stream is ``/oak/rgb/image_raw`` with
``/oak/rgb/camera_info`` in frame ``oak_rgb_camera_optical_frame``. Other driver arguments
given on the command line (``camera_model:=OAK-D-LITE``, ...) reach the driver. Without the
package, start the camera yourself::

    ros2 launch depthai_ros_driver camera.launch.py

The outputs are ``/oak/depthclip/depth/image``, ``/oak/depthclip/points``, ... (not
``/oak/points``, which is the driver's own point cloud).

The driver's rectified stream (``rectify_rgb:=true``) is ``/oak/rgb/image_rect``:
``image:=/oak/rgb/image_rect``.

Every argument of camera.launch.py works here; this file declares only ``start_driver`` and
the defaults that differ (``depthclip_ros.launch_common``).
"""

from depthclip_ros import launch_common


def generate_launch_description():
    """Declare the OAK arguments, start its driver, include camera.launch.py."""
    return launch_common.camera_launch_description('oakd', __file__)
