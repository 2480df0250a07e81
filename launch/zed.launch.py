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
frame ``zed_left_camera_frame_optical``. Wrappers before 5.1 publish
``/zed/zed_node/rgb/image_rect_color`` and ``/zed/zed_node/rgb/camera_info`` (frame
``zed_left_camera_optical_frame``)::

    ros2 launch depthclip_ros zed.launch.py camera_model:=zed2i \
        image:=/zed/zed_node/rgb/image_rect_color camera_info:=/zed/zed_node/rgb/camera_info \
        rviz_fixed_frame:=zed_left_camera_optical_frame

Without the package, start the camera yourself::

    ros2 launch zed_wrapper zed_camera.launch.py camera_model:=<model>
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

DRIVER_PACKAGE = 'zed_wrapper'
DRIVER_COMMAND = 'ros2 launch zed_wrapper zed_camera.launch.py camera_model:=<model>'

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
    """Include zed_camera.launch.py when asked for and installed; otherwise say what to run."""
    if not is_true(context, 'start_driver'):
        return []
    share = package_share(DRIVER_PACKAGE)
    if share is None:
        return [LogInfo(msg=f'{DRIVER_PACKAGE} is not installed: start the camera yourself '
                            f'({DRIVER_COMMAND}); zed-ros2-wrapper is built from source with '
                            'the ZED SDK')]
    camera_model = LaunchConfiguration('camera_model').perform(context).strip()
    if not camera_model:
        raise ValueError('zed.launch.py: set camera_model:=<zed|zedm|zed2|zed2i|zedx|zedxm|...> '
                         'to start zed_wrapper, or start_driver:=false to use a running one')
    # The wrapper declares camera_name and namespace too: give it its own values.
    return [GroupAction([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'zed_camera.launch.py')),
        launch_arguments={
            'camera_model': camera_model,
            'camera_name': 'zed',
            'namespace': '',
        }.items(),
    )])]


def generate_launch_description():
    """Declare the arguments, the ZED wrapper and DepthCLIP on its left image."""
    here = os.path.dirname(os.path.abspath(__file__))
    return LaunchDescription([
        DeclareLaunchArgument(
            'start_driver', default_value='true',
            description=f'Start the ZED wrapper ({DRIVER_COMMAND}) when {DRIVER_PACKAGE} is '
                        'installed'),
        DeclareLaunchArgument(
            'camera_model', default_value='',
            description='ZED model for the wrapper (zed, zedm, zed2, zed2i, zedx, zedxm, '
                        'zedxnano, ...); required when the driver is started'),
        DeclareLaunchArgument(
            'camera_name', default_value='zed',
            description='DepthCLIP node name suffix and default output namespace'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of the DepthCLIP outputs; empty: camera_name'),
        DeclareLaunchArgument(
            'image', default_value='/zed/zed_node/rgb/color/rect/image',
            description='ZED rectified RGB image topic (wrapper < 5.1: '
                        '/zed/zed_node/rgb/image_rect_color)'),
        DeclareLaunchArgument(
            'camera_info', default_value='/zed/zed_node/rgb/color/rect/camera_info',
            description='ZED RGB camera_info topic (wrapper < 5.1: '
                        '/zed/zed_node/rgb/camera_info)'),
        DeclareLaunchArgument(
            'params_file', default_value=default_params_file(),
            description='Full path to the depthclip_node parameter file'),
        DeclareLaunchArgument(
            'image_qos', default_value='reliable',
            description='Image subscription reliability (best_effort or reliable); '
                        'empty: params file. '
                        'the ZED wrapper publishes images reliably by default'),
        DeclareLaunchArgument(
            'device', default_value='',
            description='Inference device (auto, cpu, cuda, cuda:N); empty: params file'),
        DeclareLaunchArgument(
            'use_rviz', default_value='false',
            description='Start RViz with the input image, colorized depth and points'),
        DeclareLaunchArgument(
            'rviz_fixed_frame', default_value='zed_left_camera_frame_optical',
            description='RViz fixed frame: the left optical frame of the ZED (wrapper < 5.1: '
                        'zed_left_camera_optical_frame)'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            description='Log level (debug, info, warn, error, fatal)'),
        OpaqueFunction(function=start_driver),
        GroupAction([IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(here, 'camera.launch.py')),
            launch_arguments={name: LaunchConfiguration(name) for name in FORWARDED}.items(),
        )]),
    ])
