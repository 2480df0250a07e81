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

The arguments (``params_file``, ``device``, ``image_qos``, ... as in camera.launch.py) are
the table ``depthclip_ros.launch_common.ARGUMENTS``. The camera drivers are not started here.
The node gets the package's Fast DDS profile unless the environment names one of the user's.
"""

from launch import LaunchDescription
from launch.actions import GroupAction
from launch.actions import LogInfo
from launch.actions import OpaqueFunction

from depthclip_ros import launch_common
from depthclip_ros.core.cameras import load_cameras_file
from depthclip_ros.core.cameras import node_parameters
from depthclip_ros.core.cameras import node_remappings


def launch_setup(context):
    """Read the cameras file and return the node action."""
    values = launch_common.launch_values(context.launch_configurations)
    cameras = load_cameras_file(values['cameras_file'])  # ValueError: one clear line
    lifecycle = launch_common.is_true(values['use_lifecycle'], 'use_lifecycle')
    node = launch_common.depthclip_node(
        values, executable='depthclip_lifecycle_node' if lifecycle else 'depthclip_node',
        name=values['node_name'], namespace=values['namespace'],
        remappings=node_remappings(cameras), extra_parameters=(node_parameters(cameras),))
    names = ', '.join(f'{c.name} ({c.image})' for c in cameras)
    # Scoped: the package's Fast DDS profile (unless the user has one) is for the node only.
    return [LogInfo(msg=f'depthclip: {len(cameras)} camera(s) on one model: {names}'),
            GroupAction([*launch_common.dds_profile_actions(context), node])]


def generate_launch_description():
    """Declare the arguments and one DepthCLIP node serving every camera of the list."""
    return LaunchDescription([
        *launch_common.declare_arguments('cameras'),
        OpaqueFunction(function=launch_setup),
    ])
