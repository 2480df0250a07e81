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

r"""
DepthCLIP for several cameras: ONE depthclip_node, one model, batched inference.

The cameras come from a YAML file (``cameras_file``, default config/cameras.yaml), read when
the launch runs: for each camera its name, its image and camera_info topics and an optional
output frame_id. The node gets ``cameras: [<names>]`` (and ``<name>.frame_id``), and the
remappings ``<name>/image:=<image>``, ``<name>/image/compressed:=<image>/compressed`` and
``<name>/camera_info:=<camera_info>``. Its outputs are ``<namespace>/<name>/depth/image``,
``.../depth/camera_info``, ``.../depth/confidence``, ``.../depth/colorized`` and
``<namespace>/<name>/points``, with one /diagnostics status per camera. Example::

    ros2 launch depthclip_ros cameras.launch.py cameras_file:=/path/to/cameras.yaml \
        device:=cuda

The camera drivers are not started here.
"""

import os

from ament_index_python.packages import get_package_share_directory
from ament_index_python.packages import PackageNotFoundError
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import GroupAction
from launch.actions import LogInfo
from launch.actions import OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

try:  # Iron and newer
    from launch_ros.actions import PushROSNamespace
except ImportError:  # Humble
    from launch_ros.actions import PushRosNamespace as PushROSNamespace

from depthclip_ros.core.cameras import load_cameras_file
from depthclip_ros.core.cameras import node_parameters
from depthclip_ros.core.cameras import node_remappings

PACKAGE = 'depthclip_ros'


def share_directory():
    """Return share/depthclip_ros: installed, or this source tree when not installed."""
    try:
        return get_package_share_directory(PACKAGE)
    except (PackageNotFoundError, OSError):  # not installed, or no ament index
        return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_true(text):
    """Return True for the launch-argument spellings of true (true, True, 1, yes, on)."""
    return text.strip().lower() in ('true', '1', 'yes', 'on')


def launch_setup(context):
    """Read the cameras file and return the node action."""
    def arg(name):
        return LaunchConfiguration(name).perform(context).strip()

    cameras = load_cameras_file(arg('cameras_file'))  # ValueError: one clear line
    parameters = [arg('params_file'), node_parameters(cameras)]
    device = arg('device')
    if device:
        parameters.append({'model.device': device})
    image_qos = arg('image_qos')
    if image_qos not in ('', 'best_effort', 'reliable'):
        raise ValueError(f'image_qos must be best_effort, reliable or empty, got {image_qos!r}')
    if image_qos:
        parameters.append({'qos.image_reliability': image_qos})
    if is_true(arg('use_sim_time')):
        parameters.append({'use_sim_time': True})
    executable = 'depthclip_lifecycle_node' if is_true(arg('use_lifecycle')) \
        else 'depthclip_node'
    node = Node(
        package=PACKAGE,
        executable=executable,
        name=arg('node_name'),
        output='screen',
        parameters=parameters,
        remappings=node_remappings(cameras),
        ros_arguments=['--log-level', arg('log_level')],
    )
    names = ', '.join(f'{c.name} ({c.image})' for c in cameras)
    return [
        LogInfo(msg=f'depthclip: {len(cameras)} camera(s) on one model: {names}'),
        GroupAction([PushROSNamespace(arg('namespace')), node]),
    ]


def default_params_file():
    """Return the packaged parameter file (config/depthclip.yaml)."""
    return os.path.join(share_directory(), 'config', 'depthclip.yaml')


def default_cameras_file():
    """Return the packaged example camera list (config/cameras.yaml)."""
    return os.path.join(share_directory(), 'config', 'cameras.yaml')


def generate_launch_description():
    """Declare the arguments and one DepthCLIP node serving every camera of the list."""
    return LaunchDescription([
        DeclareLaunchArgument(
            'cameras_file', default_value=default_cameras_file(),
            description='YAML list of cameras (name, image, camera_info, optional frame_id); '
                        'read when the launch runs'),
        DeclareLaunchArgument(
            'namespace', default_value='depthclip',
            description='Namespace of the node and its outputs '
                        '(<namespace>/<camera>/depth/image, ...); "/": no namespace'),
        DeclareLaunchArgument(
            'node_name', default_value='depthclip_node',
            description='Name of the node'),
        DeclareLaunchArgument(
            'params_file', default_value=default_params_file(),
            description='Full path to the depthclip_node parameter file (config/*.yaml)'),
        DeclareLaunchArgument(
            'device', default_value='',
            description='Inference device: auto, cpu, cuda or cuda:N; empty keeps the '
                        'params file value (model.device)'),
        DeclareLaunchArgument(
            'image_qos', default_value='',
            description='Reliability of the image subscriptions: best_effort or reliable; '
                        'empty keeps the params file value (qos.image_reliability)'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false',
            description='Use the /clock topic (simulation) instead of the system clock'),
        DeclareLaunchArgument(
            'use_lifecycle', default_value='false',
            description='Start the managed node depthclip_lifecycle_node (configure and '
                        'activate it, e.g. with nav2_lifecycle_manager) instead of '
                        'depthclip_node'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            description='Log level of the node: debug, info, warn, error or fatal'),
        OpaqueFunction(function=launch_setup),
    ])
