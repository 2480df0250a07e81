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
DepthCLIP for one camera: one depthclip_node, optionally RViz. The core of every camera launch.

The node subscribes to the camera's colour image (``image``, or ``image/compressed`` when the
params file says ``input_transport: compressed``) and ``camera_info``, and publishes
``depth/image``, ``depth/camera_info``, ``depth/confidence``, ``depth/colorized`` and
``points`` in its namespace: ``namespace`` when set, else ``camera_name``. With the defaults
the outputs are ``/camera/depth/image``, ``/camera/points``, ... Example::

    ros2 launch depthclip_ros camera.launch.py camera_name:=front \
        image:=/front/color/image_raw camera_info:=/front/color/camera_info use_rviz:=true

This file declares every argument of the node (their names, defaults and descriptions are
the table ``depthclip_ros.launch_common.ARGUMENTS``). The camera driver is not started here:
realsense.launch.py, usb_cam.launch.py, oakd.launch.py, zed.launch.py, sim.launch.py and
demo.launch.py start theirs and include this file, declaring only what differs for them.

The node and RViz get the package's Fast DDS profile (config/fastdds_large_images.xml: a
16 MB shared-memory segment, so that large images reach subscribers on this host) unless
the environment names a profile of the user's; the launch log says which.
"""

from launch import LaunchDescription
from launch.actions import GroupAction
from launch.actions import OpaqueFunction

from depthclip_ros import launch_common


def launch_setup(context):
    """Resolve the arguments and return the node (and RViz) actions."""
    values = launch_common.launch_values(context.launch_configurations)
    launch_common.check_camera_values(values)  # all of them before any action
    camera_name = values['camera_name']
    namespace = values['namespace'] or camera_name
    node = launch_common.depthclip_node(
        values, executable='depthclip_node', name=f'depthclip_{camera_name}',
        namespace=namespace,
        remappings=launch_common.image_remappings(values['image'], values['camera_info']))
    # Scoped: the package's Fast DDS profile (unless the user has one) is for these only.
    return [GroupAction([*launch_common.dds_profile_actions(context), node,
                         *launch_common.rviz_actions(context, values, namespace)])]


def generate_launch_description():
    """Declare every argument of one DepthCLIP node, then the node."""
    return LaunchDescription([
        *launch_common.declare_arguments('camera'),
        OpaqueFunction(function=launch_setup),
    ])
