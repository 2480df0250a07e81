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
DepthCLIP on a simulated camera: Gazebo (through ros_gz_bridge) or NVIDIA Isaac Sim.

The simulator and its world are started separately.

Gazebo (``simulator:=gazebo``): a ``camera`` sensor with ``<topic>camera/image</topic>``
publishes ``/camera/image`` and ``/camera/camera_info`` in Gazebo. When ``ros_gz_bridge``
is installed (and ``start_bridge`` is true) they are bridged to ROS 2 with ``/clock``,
as this command does::

    ros2 run ros_gz_bridge parameter_bridge \
        /camera/image@sensor_msgs/msg/Image[gz.msgs.Image \
        /camera/camera_info@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo \
        /clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock

Give the sensor ``<gz_frame_id>camera_optical_frame</gz_frame_id>`` and publish a TF from its
link to that optical frame (rpy -pi/2 0 -pi/2): the point cloud is in the optical frame.

Isaac Sim (``simulator:=isaac``): the ROS2 Camera Helper and Camera Info Helper graph nodes
publish ``/rgb`` and ``/camera_info`` (frame ``sim_camera``, ROS optical axes); add a ROS2
Publish Clock node for ``use_sim_time``.

``image``, ``camera_info`` and ``rviz_fixed_frame`` default to the chosen simulator's. Every
argument of camera.launch.py works here (``ros2 launch -s`` lists them); this file declares
only the simulator's arguments and the defaults that differ (``depthclip_ros.launch_common``).
"""

from depthclip_ros import launch_common


def generate_launch_description():
    """Declare the simulator arguments, start the Gazebo bridge, include camera.launch.py."""
    return launch_common.camera_launch_description('sim', __file__)
