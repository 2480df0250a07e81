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
"""

import os

from ament_index_python.packages import get_package_share_directory
from ament_index_python.packages import PackageNotFoundError
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import GroupAction
from launch.actions import IncludeLaunchDescription
from launch.actions import LogInfo
from launch.actions import OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

#: simulator -> (image topic, camera_info topic, frame_id of the images) by default.
SIMULATORS = {
    'gazebo': ('/camera/image', '/camera/camera_info', 'camera_optical_frame'),
    'isaac': ('/rgb', '/camera_info', 'sim_camera'),
}

#: Arguments handed on to camera.launch.py unchanged.
FORWARDED = ('camera_name', 'namespace', 'params_file', 'device', 'use_rviz', 'log_level',
             'use_sim_time', 'image_qos')


def package_share(package):
    """Return the share directory of an installed package, or None."""
    try:
        return get_package_share_directory(package)
    except (PackageNotFoundError, OSError):  # not installed, or no ament index
        return None


def default_params_file():
    """Return config/depthclip.yaml: installed, or of this source tree."""
    share = package_share('depthclip_ros')
    if share is None:
        share = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(share, 'config', 'depthclip.yaml')


def is_true(context, name):
    """Return whether launch argument ``name`` is set to true."""
    return LaunchConfiguration(name).perform(context).strip().lower() in ('true', '1', 'yes')


def bridge_arguments(image, camera_info, clock):
    """
    Return the parameter_bridge arguments: Gazebo to ROS 2 for the camera (and /clock).

    :param image: image topic (the same name in Gazebo and ROS 2)
    :param camera_info: camera_info topic
    :param clock: also bridge /clock
    """
    arguments = [f'{image}@sensor_msgs/msg/Image[gz.msgs.Image',
                 f'{camera_info}@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo']
    if clock:
        arguments.append('/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock')
    return arguments


def launch_setup(context):
    """Resolve the simulator's topics; return the bridge (Gazebo) and DepthCLIP actions."""
    simulator = LaunchConfiguration('simulator').perform(context)
    default_image, default_info, default_frame = SIMULATORS[simulator]
    image = LaunchConfiguration('image').perform(context).strip() or default_image
    camera_info = LaunchConfiguration('camera_info').perform(context).strip() or default_info
    frame = LaunchConfiguration('rviz_fixed_frame').perform(context).strip() or default_frame

    actions = []
    if simulator == 'gazebo' and is_true(context, 'start_bridge'):
        arguments = bridge_arguments(image, camera_info, is_true(context, 'bridge_clock'))
        if package_share('ros_gz_bridge') is None:
            actions.append(LogInfo(
                msg='ros_gz_bridge is not installed: bridge the camera yourself (ros2 run '
                    'ros_gz_bridge parameter_bridge ' + ' '.join(arguments) + ') or install '
                    'ros-$ROS_DISTRO-ros-gz-bridge'))
        else:
            actions.append(Node(
                package='ros_gz_bridge',
                executable='parameter_bridge',
                name='depthclip_camera_bridge',
                output='screen',
                arguments=arguments,
            ))

    here = os.path.dirname(os.path.abspath(__file__))
    launch_arguments = [(name, LaunchConfiguration(name)) for name in FORWARDED]
    launch_arguments += [('image', image), ('camera_info', camera_info),
                         ('rviz_fixed_frame', frame)]
    actions.append(GroupAction([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(here, 'camera.launch.py')),
        launch_arguments=launch_arguments,
    )]))
    return actions


def generate_launch_description():
    """Declare the arguments, the Gazebo bridge and DepthCLIP on the simulated camera."""
    return LaunchDescription([
        DeclareLaunchArgument(
            'simulator', default_value='gazebo', choices=sorted(SIMULATORS),
            description='Simulator publishing the camera: gazebo (through ros_gz_bridge) or '
                        'isaac (Isaac Sim ROS 2 bridge)'),
        DeclareLaunchArgument(
            'start_bridge', default_value='true',
            description='Gazebo: start ros_gz_bridge for the camera topics when installed'),
        DeclareLaunchArgument(
            'bridge_clock', default_value='true',
            description='Gazebo: also bridge /clock (needed by use_sim_time)'),
        DeclareLaunchArgument(
            'image', default_value='',
            description='Camera image topic; empty: /camera/image (gazebo) or /rgb (isaac)'),
        DeclareLaunchArgument(
            'camera_info', default_value='',
            description='camera_info topic; empty: /camera/camera_info (gazebo) or '
                        '/camera_info (isaac)'),
        DeclareLaunchArgument(
            'rviz_fixed_frame', default_value='',
            description='RViz fixed frame, the frame_id of the images; empty: '
                        'camera_optical_frame (gazebo) or sim_camera (isaac)'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='true',
            description='Use the simulation clock (/clock)'),
        DeclareLaunchArgument(
            'camera_name', default_value='camera',
            description='DepthCLIP node name suffix and default output namespace'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of the DepthCLIP outputs; empty: camera_name'),
        DeclareLaunchArgument(
            'params_file', default_value=default_params_file(),
            description='Full path to the depthclip_node parameter file'),
        DeclareLaunchArgument(
            'image_qos', default_value='',
            description='Image subscription reliability (best_effort or reliable); '
                        'empty: params file; '
                        'reliable for a reliable driver on the same host'),
        DeclareLaunchArgument(
            'device', default_value='',
            description='Inference device (auto, cpu, cuda, cuda:N); empty: params file'),
        DeclareLaunchArgument(
            'use_rviz', default_value='false',
            description='Start RViz with the input image, colorized depth and points'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            description='Log level (debug, info, warn, error, fatal)'),
        OpaqueFunction(function=launch_setup),
    ])
