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
camera matrix; calibrate with camera_calibration for metric point clouds.
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

#: driver package -> (executable, name of its frame parameter)
DRIVERS = {
    'usb_cam': ('usb_cam_node_exe', 'frame_id'),
    'v4l2_camera': ('v4l2_camera_node', 'camera_frame_id'),
}

#: Arguments handed on to camera.launch.py.
FORWARDED = ('camera_name', 'namespace', 'image', 'camera_info', 'params_file', 'device',
             'use_rviz', 'log_level', 'image_qos')


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
    """Start the chosen driver node when asked for and installed; otherwise say what to run."""
    if not is_true(context, 'start_driver'):
        return []
    driver = LaunchConfiguration('driver').perform(context)
    executable, frame_parameter = DRIVERS[driver]
    video_device = LaunchConfiguration('video_device').perform(context)
    frame_id = LaunchConfiguration('frame_id').perform(context)
    if package_share(driver) is None:
        return [LogInfo(msg=f'{driver} is not installed: start the camera yourself (ros2 run '
                            f'{driver} {executable} --ros-args -p video_device:={video_device} '
                            f'-p {frame_parameter}:={frame_id}) or install '
                            f'ros-$ROS_DISTRO-{driver.replace("_", "-")}')]
    return [Node(
        package=driver,
        executable=executable,
        name=driver,
        output='screen',
        parameters=[{
            'video_device': video_device,
            frame_parameter: frame_id,
            'camera_info_url': LaunchConfiguration('camera_info_url').perform(context),
        }],
    )]


def generate_launch_description():
    """Declare the arguments, the webcam driver and DepthCLIP on its images."""
    here = os.path.dirname(os.path.abspath(__file__))
    return LaunchDescription([
        DeclareLaunchArgument(
            'start_driver', default_value='true',
            description='Start the webcam driver (see driver) when it is installed'),
        DeclareLaunchArgument(
            'driver', default_value='usb_cam', choices=sorted(DRIVERS),
            description='Webcam driver package: usb_cam (usb_cam_node_exe) or v4l2_camera '
                        '(v4l2_camera_node)'),
        DeclareLaunchArgument(
            'video_device', default_value='/dev/video0',
            description='V4L2 device of the webcam'),
        DeclareLaunchArgument(
            'frame_id', default_value='camera_color_optical_frame',
            description='frame_id the driver stamps on its images (an optical frame); also '
                        'the RViz fixed frame'),
        DeclareLaunchArgument(
            'camera_info_url', default_value='',
            description='Calibration file of the webcam (file:///path/to/camera.yaml); '
                        'empty: uncalibrated'),
        DeclareLaunchArgument(
            'camera_name', default_value='camera',
            description='DepthCLIP node name suffix and default output namespace'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of the DepthCLIP outputs; empty: camera_name'),
        DeclareLaunchArgument(
            'image', default_value='/image_raw',
            description='Image topic of the webcam driver'),
        DeclareLaunchArgument(
            'camera_info', default_value='/camera_info',
            description='camera_info topic of the webcam driver'),
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
        OpaqueFunction(function=start_driver),
        GroupAction([IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(here, 'camera.launch.py')),
            launch_arguments=[(name, LaunchConfiguration(name)) for name in FORWARDED] + [
                ('rviz_fixed_frame', LaunchConfiguration('frame_id'))],
        )]),
    ])
