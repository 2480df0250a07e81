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
in frame ``camera_color_optical_frame``. Other rs_launch.py arguments given on the command
line (``enable_depth:=false``, ``rgb_camera.color_profile:=640x480x30``, ...) reach the
driver. Without the package, start the camera yourself::

    ros2 launch realsense2_camera rs_launch.py

Wrapper 3.x (``/camera/color/image_raw``): ``image:=/camera/color/image_raw
camera_info:=/camera/color/camera_info``.
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

DRIVER_PACKAGE = 'realsense2_camera'
DRIVER_COMMAND = 'ros2 launch realsense2_camera rs_launch.py'

#: Arguments handed on to camera.launch.py.
FORWARDED = ('camera_name', 'namespace', 'image', 'camera_info', 'params_file', 'device',
             'use_rviz', 'log_level', 'rviz_fixed_frame', 'image_qos')


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


def start_driver(context):
    """Include rs_launch.py when asked for and installed; otherwise say what to run."""
    if not is_true(context, 'start_driver'):
        return []
    share = package_share(DRIVER_PACKAGE)
    if share is None:
        return [LogInfo(msg=f'{DRIVER_PACKAGE} is not installed: start the camera yourself '
                            f'({DRIVER_COMMAND}) or install ros-$ROS_DISTRO-realsense2-camera')]
    return [GroupAction([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'rs_launch.py')),
        launch_arguments={'camera_namespace': 'camera', 'camera_name': 'camera'}.items(),
    )])]


def generate_launch_description():
    """Declare the arguments, the driver and DepthCLIP on its colour stream."""
    here = os.path.dirname(os.path.abspath(__file__))
    return LaunchDescription([
        DeclareLaunchArgument(
            'start_driver', default_value='true',
            description=f'Start the RealSense driver ({DRIVER_COMMAND}) when '
                        f'{DRIVER_PACKAGE} is installed'),
        DeclareLaunchArgument(
            'camera_name', default_value='camera',
            description='DepthCLIP node name suffix and default output namespace'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of the DepthCLIP outputs; empty: camera_name'),
        DeclareLaunchArgument(
            'image', default_value='/camera/camera/color/image_raw',
            description='RealSense colour image topic'),
        DeclareLaunchArgument(
            'camera_info', default_value='/camera/camera/color/camera_info',
            description='RealSense colour camera_info topic'),
        DeclareLaunchArgument(
            'params_file', default_value=default_params_file(),
            description='Full path to the depthclip_node parameter file'),
        DeclareLaunchArgument(
            'image_qos', default_value='reliable',
            description='Image subscription reliability (best_effort or reliable); '
                        'empty: params file. '
                        'realsense2_camera publishes images reliably by default'),
        DeclareLaunchArgument(
            'device', default_value='',
            description='Inference device (auto, cpu, cuda, cuda:N); empty: params file'),
        DeclareLaunchArgument(
            'use_rviz', default_value='false',
            description='Start RViz with the input image, colorized depth and points'),
        DeclareLaunchArgument(
            'rviz_fixed_frame', default_value='camera_color_optical_frame',
            description='RViz fixed frame (the colour optical frame of the RealSense)'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            description='Log level (debug, info, warn, error, fatal)'),
        OpaqueFunction(function=start_driver),
        GroupAction([IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(here, 'camera.launch.py')),
            launch_arguments={name: LaunchConfiguration(name) for name in FORWARDED}.items(),
        )]),
    ])
