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

DRIVER_PACKAGE = 'depthai_ros_driver'
DRIVER_COMMAND = 'ros2 launch depthai_ros_driver camera.launch.py'

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
    """Include the depthai camera.launch.py when asked for and installed; else say what to run."""
    if not is_true(context, 'start_driver'):
        return []
    share = package_share(DRIVER_PACKAGE)
    if share is None:
        return [LogInfo(msg=f'{DRIVER_PACKAGE} is not installed: start the camera yourself '
                            f'({DRIVER_COMMAND}) or install ros-$ROS_DISTRO-depthai-ros')]
    # The driver declares namespace, params_file and use_rviz too: give it its own values.
    return [GroupAction([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'camera.launch.py')),
        launch_arguments={
            'name': 'oak',
            'namespace': '',
            'params_file': os.path.join(share, 'config', 'camera.yaml'),
            'use_rviz': 'false',
        }.items(),
    )])]


def generate_launch_description():
    """Declare the arguments, the OAK driver and DepthCLIP on its colour stream."""
    here = os.path.dirname(os.path.abspath(__file__))
    return LaunchDescription([
        DeclareLaunchArgument(
            'start_driver', default_value='true',
            description=f'Start the OAK driver ({DRIVER_COMMAND}) when {DRIVER_PACKAGE} is '
                        'installed'),
        DeclareLaunchArgument(
            'camera_name', default_value='oak',
            description='DepthCLIP node name suffix and default output namespace'),
        DeclareLaunchArgument(
            'namespace', default_value='oak/depthclip',
            description='Namespace of the DepthCLIP outputs (default: beside the driver '
                        'topics, not on its /oak/points); empty: camera_name'),
        DeclareLaunchArgument(
            'image', default_value='/oak/rgb/image_raw',
            description='OAK colour image topic'),
        DeclareLaunchArgument(
            'camera_info', default_value='/oak/rgb/camera_info',
            description='OAK colour camera_info topic'),
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
            'rviz_fixed_frame', default_value='oak_rgb_camera_optical_frame',
            description='RViz fixed frame (the colour optical frame of the OAK)'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            description='Log level (debug, info, warn, error, fatal)'),
        OpaqueFunction(function=start_driver),
        GroupAction([IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(here, 'camera.launch.py')),
            launch_arguments={name: LaunchConfiguration(name) for name in FORWARDED}.items(),
        )]),
    ])
