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
DepthCLIP demo without a camera: camera_player, depthclip_node and RViz.

camera_player publishes the bundled sample frames (or ``source``: an image folder, a video
file or /dev/videoN) on ``/camera/color/image_raw`` and ``/camera/color/camera_info`` in frame
``camera_color_optical_frame``, the topics camera.launch.py listens to by default; the depth
comes out on ``/camera/depth/image``, ``/camera/depth/colorized``, ``/camera/points``, ...::

    ros2 launch depthclip_ros demo.launch.py
    ros2 launch depthclip_ros demo.launch.py source:=/path/to/video.mp4 rate:=5.0 device:=cuda
"""

import os

from ament_index_python.packages import get_package_share_directory
from ament_index_python.packages import PackageNotFoundError
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import GroupAction
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

IMAGE_TOPIC = '/camera/color/image_raw'
CAMERA_INFO_TOPIC = '/camera/color/camera_info'
FRAME_ID = 'camera_color_optical_frame'

#: Arguments handed on to camera.launch.py.
FORWARDED = ('params_file', 'device', 'use_rviz', 'log_level')


def default_params_file():
    """Return config/depthclip.yaml: installed, or of this source tree."""
    try:
        share = get_package_share_directory('depthclip_ros')
    except (PackageNotFoundError, OSError):  # not installed, or no ament index
        share = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(share, 'config', 'depthclip.yaml')


def generate_launch_description():
    """Declare the arguments, the demo camera, DepthCLIP and RViz."""
    here = os.path.dirname(os.path.abspath(__file__))
    player = Node(
        package='depthclip_ros',
        executable='camera_player',
        name='camera_player',
        output='screen',
        parameters=[{
            'source': ParameterValue(LaunchConfiguration('source'), value_type=str),
            'rate': ParameterValue(LaunchConfiguration('rate'), value_type=float),
            'loop': ParameterValue(LaunchConfiguration('loop'), value_type=bool),
            'frame_id': FRAME_ID,
        }],
        remappings=[('image', IMAGE_TOPIC), ('camera_info', CAMERA_INFO_TOPIC)],
        ros_arguments=['--log-level', LaunchConfiguration('log_level')],
    )
    depthclip = GroupAction([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(here, 'camera.launch.py')),
        launch_arguments=[(name, LaunchConfiguration(name)) for name in FORWARDED] + [
            ('camera_name', 'camera'),
            ('namespace', ''),
            ('image', IMAGE_TOPIC),
            ('camera_info', CAMERA_INFO_TOPIC),
            ('rviz_fixed_frame', FRAME_ID),
            ('image_qos', 'reliable'),  # camera_player publishes reliably
        ],
    )])
    return LaunchDescription([
        DeclareLaunchArgument(
            'source', default_value='',
            description='What camera_player plays: empty for the bundled sample frames, an '
                        'image folder, a video file or /dev/videoN'),
        DeclareLaunchArgument(
            'rate', default_value='2.0',
            description='camera_player publishing rate in Hz; lower it when depthclip_node '
                        'cannot keep up (it drops frames, keeping the newest)'),
        DeclareLaunchArgument(
            'loop', default_value='true',
            description='Start the sample frames (or video) again at the end'),
        DeclareLaunchArgument(
            'params_file', default_value=default_params_file(),
            description='Full path to the depthclip_node parameter file'),
        DeclareLaunchArgument(
            'device', default_value='',
            description='Inference device (auto, cpu, cuda, cuda:N); empty: params file'),
        DeclareLaunchArgument(
            'use_rviz', default_value='true',
            description='Start RViz with the input image, colorized depth and points'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            description='Log level (debug, info, warn, error, fatal)'),
        player,
        depthclip,
    ])
