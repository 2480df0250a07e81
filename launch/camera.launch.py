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
DepthCLIP for one camera: one depthclip_node, optionally RViz.

The node subscribes to the camera's colour image (``image``, or ``image/compressed`` when the
params file says ``input_transport: compressed``) and ``camera_info``, and publishes
``depth/image``, ``depth/camera_info``, ``depth/confidence``, ``depth/colorized`` and
``points`` in its namespace: ``namespace`` when set, else ``camera_name``. With the defaults
the outputs are ``/camera/depth/image``, ``/camera/points``, ... Example::

    ros2 launch depthclip_ros camera.launch.py camera_name:=front \
        image:=/front/color/image_raw camera_info:=/front/color/camera_info use_rviz:=true

The camera driver is not started here: see realsense.launch.py, usb_cam.launch.py,
oakd.launch.py, zed.launch.py and sim.launch.py, which include this file.
"""

import os
import re
import tempfile

from ament_index_python.packages import get_package_share_directory
from ament_index_python.packages import PackageNotFoundError
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import GroupAction
from launch.actions import OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
import yaml

try:  # Iron and newer
    from launch_ros.actions import PushROSNamespace
except ImportError:  # Humble
    from launch_ros.actions import PushRosNamespace as PushROSNamespace

PACKAGE = 'depthclip_ros'

#: RViz displays of rviz/depthclip.rviz whose topics follow this launch's arguments.
RVIZ_INPUT_DISPLAY = 'Input image'
RVIZ_COLORIZED_DISPLAY = 'Depth (colorized)'
RVIZ_POINTS_DISPLAY = 'Point cloud'

_NAME_PATTERN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


def share_directory():
    """Return share/depthclip_ros: installed, or this source tree when not installed."""
    try:
        return get_package_share_directory(PACKAGE)
    except (PackageNotFoundError, OSError):  # not installed, or no ament index
        return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def join_namespace(parent, child):
    """
    Resolve ``child`` (a namespace or topic name) below ``parent`` as ROS 2 does.

    :param parent: absolute namespace, e.g. ``/robot`` (empty or ``None`` = ``/``)
    :param child: relative (``front``) or absolute (``/front``) name
    :return: absolute name without a trailing slash (``/`` for the root)
    """
    if child.startswith('/'):
        joined = child
    else:
        joined = '/'.join(((parent or '').rstrip('/'), child))
    joined = '/' + '/'.join(part for part in joined.split('/') if part)
    return joined


def is_true(text):
    """Return True for the launch-argument spellings of true (true, True, 1, yes, on)."""
    return text.strip().lower() in ('true', '1', 'yes', 'on')


def write_rviz_config(template, fixed_frame, topics):
    """
    Write a copy of an RViz config with its fixed frame and display topics replaced.

    :param template: path of an RViz2 config (YAML)
    :param fixed_frame: new ``Global Options/Fixed Frame``
    :param topics: display name -> topic; displays not named here keep their topic
    :return: path of the new file (in the temporary directory)
    """
    with open(template, encoding='utf-8') as f:
        config = yaml.safe_load(f)
    manager = config['Visualization Manager']
    manager['Global Options']['Fixed Frame'] = fixed_frame
    for display in manager.get('Displays', []):
        topic = topics.get(display.get('Name'))
        if topic is not None and isinstance(display.get('Topic'), dict):
            display['Topic']['Value'] = topic
    handle, path = tempfile.mkstemp(prefix='depthclip_', suffix='.rviz')
    with os.fdopen(handle, 'w', encoding='utf-8') as f:
        yaml.safe_dump(config, f, default_flow_style=False, sort_keys=False)
    return path


def launch_setup(context):
    """Resolve the arguments and return the node (and RViz) actions."""
    def arg(name):
        return LaunchConfiguration(name).perform(context).strip()

    camera_name = arg('camera_name')
    if not _NAME_PATTERN.fullmatch(camera_name):
        raise ValueError(
            f'camera_name must be a valid ROS name part (letters, digits, underscores, not '
            f'starting with a digit), got {camera_name!r}')
    namespace = arg('namespace') or camera_name
    image = arg('image')
    camera_info = arg('camera_info')
    if not image or not camera_info:
        raise ValueError('image and camera_info must name the input topics')
    device = arg('device')
    image_qos = arg('image_qos')
    if image_qos not in ('', 'best_effort', 'reliable'):
        raise ValueError(f'image_qos must be best_effort, reliable or empty, got {image_qos!r}')
    use_sim_time = is_true(arg('use_sim_time'))

    parameters = [arg('params_file')]
    if device:
        parameters.append({'model.device': device})
    if image_qos:
        parameters.append({'qos.image_reliability': image_qos})
    if use_sim_time:
        parameters.append({'use_sim_time': True})

    depthclip = Node(
        package=PACKAGE,
        executable='depthclip_node',
        name=f'depthclip_{camera_name}',
        output='screen',
        parameters=parameters,
        remappings=[
            ('image', image),
            ('image/compressed', image.rstrip('/') + '/compressed'),
            ('camera_info', camera_info),
        ],
        ros_arguments=['--log-level', arg('log_level')],
    )
    actions = [GroupAction([PushROSNamespace(namespace), depthclip])]

    use_rviz = LaunchConfiguration('use_rviz')
    if is_true(use_rviz.perform(context)):
        # Absolute names, as RViz shows them: a parent launch may have pushed a namespace.
        node_namespace = join_namespace(
            context.launch_configurations.get('ros_namespace'), namespace)
        rviz_config = arg('rviz_config')
        if not rviz_config:
            # The packaged config, showing this camera's topics in this camera's frame.
            rviz_config = write_rviz_config(default_rviz_config(), arg('rviz_fixed_frame'), {
                RVIZ_INPUT_DISPLAY: join_namespace(node_namespace, image),
                RVIZ_COLORIZED_DISPLAY: join_namespace(node_namespace, 'depth/colorized'),
                RVIZ_POINTS_DISPLAY: join_namespace(node_namespace, 'points'),
            })
        actions.append(Node(
            package='rviz2',
            executable='rviz2',
            name=f'rviz_depthclip_{camera_name}',
            output='screen',
            arguments=['-d', rviz_config],
            parameters=[{'use_sim_time': use_sim_time}],
            condition=IfCondition(use_rviz),
        ))
    return actions


def default_params_file():
    """Return the packaged parameter file (config/depthclip.yaml)."""
    return os.path.join(share_directory(), 'config', 'depthclip.yaml')


def default_rviz_config():
    """Return the packaged RViz config (rviz/depthclip.rviz)."""
    return os.path.join(share_directory(), 'rviz', 'depthclip.rviz')


def generate_launch_description():
    """Declare the arguments and the DepthCLIP node for one camera."""
    return LaunchDescription([
        DeclareLaunchArgument(
            'camera_name', default_value='camera',
            description='Camera name: node name depthclip_<camera_name>, and the namespace '
                        'of the outputs when namespace is empty'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of the node and its outputs (<namespace>/depth/image, ...); '
                        'empty: camera_name; "/": no namespace'),
        DeclareLaunchArgument(
            'image', default_value='/camera/color/image_raw',
            description='Input colour image topic (sensor_msgs/Image); its /compressed '
                        'subtopic is used when the params file sets input_transport: '
                        'compressed'),
        DeclareLaunchArgument(
            'camera_info', default_value='/camera/color/camera_info',
            description='Input camera_info topic of that image (sensor_msgs/CameraInfo)'),
        DeclareLaunchArgument(
            'params_file', default_value=default_params_file(),
            description='Full path to the depthclip_node parameter file (config/*.yaml)'),
        DeclareLaunchArgument(
            'device', default_value='',
            description='Inference device: auto, cpu, cuda or cuda:N; empty keeps the '
                        'params file value (model.device)'),
        DeclareLaunchArgument(
            'image_qos', default_value='',
            description='Reliability of the image subscription: best_effort (sensor data '
                        'QoS) or reliable; empty keeps the params file value '
                        '(qos.image_reliability). Use reliable with a reliable driver on the '
                        'same host: Fast DDS loses best-effort images over ~0.5 MB in shared '
                        'memory (ros2/rmw_fastrtps#739)'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false',
            description='Use the /clock topic (simulation) instead of the system clock'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            description='Log level of depthclip_node: debug, info, warn, error or fatal'),
        DeclareLaunchArgument(
            'use_rviz', default_value='false',
            description='Start RViz showing the input image, colorized depth and points'),
        DeclareLaunchArgument(
            'rviz_config', default_value='',
            description='RViz config file, used as it is; empty: the packaged '
                        'rviz/depthclip.rviz showing the topics of this camera in '
                        'rviz_fixed_frame'),
        DeclareLaunchArgument(
            'rviz_fixed_frame', default_value='camera_color_optical_frame',
            description='Fixed frame of the packaged RViz config: the optical frame of the '
                        'camera (the frame_id of its images) shows the cloud without any TF'),
        OpaqueFunction(function=launch_setup),
    ])
