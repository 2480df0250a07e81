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
Tables and helpers of the launch files in launch/: every argument and every driver, once.

``launch/camera.launch.py`` is the core: it declares every argument of one DepthCLIP node
(:data:`CORE_ARGUMENTS`). Each camera launch file (demo, realsense, usb_cam, oakd, zed, sim)
declares only what differs for its camera (:data:`LAUNCH_FILES`: its own arguments, and the
core arguments whose default differs), starts its driver (:data:`DRIVERS`) and includes the
core. ``launch/cameras.launch.py`` serves a list of cameras with one node.

- :data:`ARGUMENTS`: every launch argument: name, default, description.
- :data:`DRIVERS`: every camera source: package, launch file or executable, topics, frame,
  image QoS, how to install it.
- :data:`LAUNCH_FILES`: what each launch file declares and which drivers it can start.
- Pure functions of the launch configurations (a plain mapping of strings): :func:`is_true`,
  :func:`node_parameters`, :func:`resolve_camera`, :func:`driver_start`, ...

Nothing here imports ``launch`` or ``launch_ros`` at import time, and importing it has no
side effect: the functions that build launch actions import them inside, so the tables and
the pure functions are tested without a ROS 2 distribution.
"""

from dataclasses import dataclass
from dataclasses import field
import os
import re
import tempfile
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import yaml

from depthclip_ros.core.config import CAMERA_NAME_PATTERN

PACKAGE = 'depthclip_ros'

TRUE_WORDS = ('true', '1', 'yes', 'on')
FALSE_WORDS = ('false', '0', 'no', 'off')

#: Values of the image_qos argument that set qos.image_reliability ('' keeps the params file).
IMAGE_QOS_VALUES = ('auto', 'best_effort', 'reliable')

#: The arguments of the driver topics and frame, resolved from the driver when empty.
TOPIC_ARGUMENTS = ('image', 'camera_info', 'rviz_fixed_frame')

#: RViz displays of rviz/depthclip.rviz whose topics follow the launch arguments.
RVIZ_INPUT_DISPLAY = 'Input image'
RVIZ_COLORIZED_DISPLAY = 'Depth (colorized)'
RVIZ_POINTS_DISPLAY = 'Point cloud'

_TEMPLATE_FIELD = re.compile(r'\{([a-z_]+)\}')


@dataclass(frozen=True)
class Argument:
    """
    One launch argument.

    :param name: argument name (``name:=value`` on the command line)
    :param default: default value; with ``packaged``, a path below share/depthclip_ros
    :param description: what ``ros2 launch -s`` shows
    :param choices: the only values accepted (empty: any)
    :param packaged: ``default`` is a file of this package (resolved when declared)
    """

    name: str
    default: str
    description: str
    choices: Tuple[str, ...] = ()
    packaged: bool = False


_ARGUMENT_LIST = (
    # ---- camera.launch.py: one depthclip_node ----
    Argument('camera_name', 'camera',
             'Camera name: node name depthclip_<camera_name>, and the namespace of the '
             'outputs when namespace is empty'),
    Argument('namespace', '',
             'Namespace of the node and its outputs (<namespace>/depth/image, ...); empty: '
             'camera_name; "/": no namespace'),
    Argument('image', '/camera/color/image_raw',
             'Input colour image topic (sensor_msgs/Image); its /compressed subtopic is used '
             'when the params file sets input_transport: compressed'),
    Argument('camera_info', '/camera/color/camera_info',
             'Input camera_info topic of that image (sensor_msgs/CameraInfo)'),
    Argument('params_file', os.path.join('config', 'depthclip.yaml'),
             'Full path to the depthclip_node parameter file (config/*.yaml)', packaged=True),
    Argument('device', '',
             'Inference device: auto, cpu, cuda or cuda:N; empty keeps the params file value '
             '(model.device)'),
    Argument('image_qos', '',
             'Reliability of the image subscription: auto (reliable when every publisher of '
             'the image offers reliable, else best effort), best_effort (sensor data QoS) or '
             'reliable; empty keeps the params file value (qos.image_reliability). Fast DDS '
             'loses best-effort images over ~0.5 MB in shared memory (ros2/rmw_fastrtps#739)'),
    Argument('use_sim_time', 'false',
             'Use the /clock topic (simulation) instead of the system clock'),
    Argument('log_level', 'info',
             'Log level of depthclip_node: debug, info, warn, error or fatal'),
    Argument('use_rviz', 'false',
             'Start RViz showing the input image, colorized depth and points (when rviz2 is '
             'installed; otherwise the launch says how to install it and goes on without)'),
    Argument('rviz_config', '',
             'RViz config file, used as it is; empty: the packaged rviz/depthclip.rviz '
             'showing the topics of this camera in rviz_fixed_frame'),
    Argument('rviz_fixed_frame', 'camera_color_optical_frame',
             'Fixed frame of the packaged RViz config: the optical frame of the camera (the '
             'frame_id of its images) shows the cloud without any TF'),
    # ---- cameras.launch.py: one node for a list of cameras ----
    Argument('cameras_file', os.path.join('config', 'cameras.yaml'),
             'YAML list of cameras (name, image, camera_info, optional frame_id); read when '
             'the launch runs', packaged=True),
    Argument('node_name', 'depthclip_node', 'Name of the node'),
    Argument('use_lifecycle', 'false',
             'Start the managed node depthclip_lifecycle_node (configure and activate it, e.g. '
             'with nav2_lifecycle_manager) instead of depthclip_node'),
    # ---- camera drivers ----
    Argument('start_driver', 'true',
             'Start the camera driver when its package is installed; otherwise the launch '
             'says how to start it, and DepthCLIP waits for its topics'),
    Argument('driver', 'usb_cam',
             'Webcam driver package: usb_cam (usb_cam_node_exe) or v4l2_camera '
             '(v4l2_camera_node)', choices=('usb_cam', 'v4l2_camera')),
    Argument('video_device', '/dev/video0', 'V4L2 device of the webcam'),
    Argument('frame_id', 'camera_color_optical_frame',
             'frame_id the driver stamps on its images (an optical frame); also the RViz '
             'fixed frame when rviz_fixed_frame is empty'),
    Argument('camera_info_url', '',
             'Calibration file of the webcam (file:///path/to/camera.yaml); empty: '
             'uncalibrated'),
    Argument('camera_model', '',
             'ZED model for the wrapper (zed, zedm, zed2, zed2i, zedx, zedxm, zedxnano, ...); '
             'required when the driver is started'),
    Argument('simulator', 'gazebo',
             'Simulator publishing the camera: gazebo (through ros_gz_bridge) or isaac (Isaac '
             'Sim ROS 2 bridge)', choices=('gazebo', 'isaac')),
    Argument('start_bridge', 'true',
             'Gazebo: start ros_gz_bridge for the camera topics when installed'),
    Argument('bridge_clock', 'true', 'Gazebo: also bridge /clock (needed by use_sim_time)'),
    # ---- demo.launch.py: camera_player ----
    Argument('source', '',
             'What camera_player plays: empty for the bundled sample frames, an image folder, '
             'a video file or /dev/videoN'),
    Argument('rate', '2.0',
             'camera_player publishing rate in Hz; lower it when depthclip_node cannot keep up '
             '(it drops frames, keeping the newest)'),
    Argument('loop', 'true', 'Start the sample frames (or video) again at the end'),
)

#: Every launch argument of the package, by name.
ARGUMENTS: Dict[str, Argument] = {argument.name: argument for argument in _ARGUMENT_LIST}

#: The arguments camera.launch.py declares: everything about one depthclip_node.
CORE_ARGUMENTS = ('camera_name', 'namespace', 'image', 'camera_info', 'params_file', 'device',
                  'image_qos', 'use_sim_time', 'log_level', 'use_rviz', 'rviz_config',
                  'rviz_fixed_frame')


@dataclass(frozen=True)
class Driver:
    """
    A camera source: what starts it and what it publishes.

    Values in ``launch_arguments``, ``parameters``, ``arguments`` and ``remappings`` are
    templates: ``{name}`` is the value of launch argument ``name``, ``{share}`` the driver
    package's share directory.

    :param package: ROS package to start ('' when nothing is started, e.g. Isaac Sim)
    :param image: image topic it publishes (a template)
    :param camera_info: camera_info topic it publishes (a template)
    :param frame: frame_id of its images (a template)
    :param image_qos: image_qos default for it ('' keeps the params file)
    :param launch_file: launch file in share/<package>/launch to include, or
    :param executable: executable to run as a node named ``node_name``
    :param install: how to get the package, for the message when it is missing
    :param required: launch arguments that must be set to start it
    :param optional_arguments: flag argument -> node arguments added when it is true
    :param parameter_types: parameter -> 'float' or 'bool' (others are strings)
    :param follows_log_level: the node gets the log_level argument too
    """

    package: str
    image: str
    camera_info: str
    frame: str
    image_qos: str = ''
    launch_file: str = ''
    executable: str = ''
    node_name: str = ''
    launch_arguments: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)
    arguments: Tuple[str, ...] = ()
    remappings: Tuple[Tuple[str, str], ...] = ()
    install: str = ''
    required: Tuple[str, ...] = ()
    optional_arguments: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    parameter_types: Mapping[str, str] = field(default_factory=dict)
    follows_log_level: bool = False


def _webcam_driver(package: str, executable: str, frame_parameter: str) -> Driver:
    """Return a UVC / V4L2 webcam driver run as a node (usb_cam, v4l2_camera)."""
    return Driver(
        package=package, executable=executable, node_name=package,
        parameters={'video_device': '{video_device}', frame_parameter: '{frame_id}',
                    'camera_info_url': '{camera_info_url}'},
        image='/image_raw', camera_info='/camera_info', frame='{frame_id}',
        install=f'install ros-$ROS_DISTRO-{package.replace("_", "-")}')


#: Every camera source a launch file can start, by name (a selector argument's value).
DRIVERS: Dict[str, Driver] = {
    'camera_player': Driver(
        package=PACKAGE, executable='camera_player', node_name='camera_player',
        image='/camera/color/image_raw', camera_info='/camera/color/camera_info',
        frame='camera_color_optical_frame', image_qos='reliable',
        parameters={'source': '{source}', 'rate': '{rate}', 'loop': '{loop}',
                    'frame_id': '{rviz_fixed_frame}'},
        parameter_types={'rate': 'float', 'loop': 'bool'}, follows_log_level=True,
        remappings=(('image', '{image}'), ('camera_info', '{camera_info}'))),
    'realsense2_camera': Driver(
        package='realsense2_camera', launch_file='rs_launch.py',
        launch_arguments={'camera_namespace': 'camera', 'camera_name': 'camera'},
        image='/camera/camera/color/image_raw', camera_info='/camera/camera/color/camera_info',
        frame='camera_color_optical_frame', image_qos='reliable',
        install='install ros-$ROS_DISTRO-realsense2-camera'),
    # The two webcam drivers: the same topics, parameters named differently.
    'usb_cam': _webcam_driver('usb_cam', 'usb_cam_node_exe', 'frame_id'),
    'v4l2_camera': _webcam_driver('v4l2_camera', 'v4l2_camera_node', 'camera_frame_id'),
    'depthai_ros_driver': Driver(
        # The driver declares namespace, params_file and use_rviz too: give it its own values.
        package='depthai_ros_driver', launch_file='camera.launch.py',
        launch_arguments={'name': 'oak', 'namespace': '',
                          'params_file': '{share}/config/camera.yaml', 'use_rviz': 'false'},
        image='/oak/rgb/image_raw', camera_info='/oak/rgb/camera_info',
        frame='oak_rgb_camera_optical_frame', install='install ros-$ROS_DISTRO-depthai-ros'),
    'zed_wrapper': Driver(
        # The wrapper declares camera_name and namespace too: give it its own values.
        package='zed_wrapper', launch_file='zed_camera.launch.py',
        launch_arguments={'camera_model': '{camera_model}', 'camera_name': 'zed',
                          'namespace': ''},
        required=('camera_model',),
        image='/zed/zed_node/rgb/color/rect/image',
        camera_info='/zed/zed_node/rgb/color/rect/camera_info',
        frame='zed_left_camera_frame_optical', image_qos='reliable',
        install='zed-ros2-wrapper is built from source with the ZED SDK'),
    'gazebo': Driver(
        package='ros_gz_bridge', executable='parameter_bridge',
        node_name='depthclip_camera_bridge',
        arguments=('{image}@sensor_msgs/msg/Image[gz.msgs.Image',
                   '{camera_info}@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo'),
        optional_arguments={'bridge_clock': ('/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock',)},
        image='/camera/image', camera_info='/camera/camera_info', frame='camera_optical_frame',
        install='install ros-$ROS_DISTRO-ros-gz-bridge'),
    'isaac': Driver(package='', image='/rgb', camera_info='/camera_info', frame='sim_camera'),
}


@dataclass(frozen=True)
class LaunchFile:
    """
    What one launch file declares, and the drivers it starts.

    :param arguments: its own arguments (names in :data:`ARGUMENTS`), declared first
    :param drivers: the :data:`DRIVERS` it can start, the default first
    :param selector: the argument choosing among ``drivers`` ('' for one driver)
    :param switch: the argument that starts the driver ('' : always started; unused
        without drivers)
    :param defaults: core arguments whose default differs here (beside the driver's topics,
        frame and image QoS, which come from :data:`DRIVERS`)
    :param descriptions: arguments described differently here
    """

    arguments: Tuple[str, ...] = ()
    drivers: Tuple[str, ...] = ()
    selector: str = ''
    switch: str = 'start_driver'
    defaults: Mapping[str, str] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)


#: Every launch file of launch/ by name (without .launch.py).
LAUNCH_FILES: Dict[str, LaunchFile] = {
    'camera': LaunchFile(arguments=CORE_ARGUMENTS),
    'cameras': LaunchFile(
        arguments=('cameras_file', 'namespace', 'node_name', 'params_file', 'device',
                   'image_qos', 'use_sim_time', 'use_lifecycle', 'log_level'),
        defaults={'namespace': 'depthclip'},
        descriptions={
            'namespace': 'Namespace of the node and its outputs '
                         '(<namespace>/<camera>/depth/image, ...); "/": no namespace',
            'log_level': 'Log level of the node: debug, info, warn, error or fatal'}),
    'demo': LaunchFile(
        arguments=('source', 'rate', 'loop'), drivers=('camera_player',), switch='',
        defaults={'use_rviz': 'true'},
        descriptions={'rviz_fixed_frame': 'frame_id camera_player stamps on its images, and '
                                          'the fixed frame of the packaged RViz config'}),
    'realsense': LaunchFile(arguments=('start_driver',), drivers=('realsense2_camera',)),
    'usb_cam': LaunchFile(
        arguments=('start_driver', 'driver', 'video_device', 'frame_id', 'camera_info_url'),
        drivers=('usb_cam', 'v4l2_camera'), selector='driver'),
    'oakd': LaunchFile(
        arguments=('start_driver',), drivers=('depthai_ros_driver',),
        defaults={'camera_name': 'oak', 'namespace': 'oak/depthclip'},
        descriptions={'namespace': 'Namespace of the DepthCLIP outputs (default: beside the '
                                   'driver topics, not on its /oak/points); empty: '
                                   'camera_name; "/": no namespace'}),
    'zed': LaunchFile(arguments=('start_driver', 'camera_model'), drivers=('zed_wrapper',),
                      defaults={'camera_name': 'zed'}),
    'sim': LaunchFile(
        arguments=('simulator', 'start_bridge', 'bridge_clock'), drivers=('gazebo', 'isaac'),
        selector='simulator', switch='start_bridge', defaults={'use_sim_time': 'true'}),
}


# -------------------------------------------------------------------------------------------
# Pure functions: no launch, no ROS
# -------------------------------------------------------------------------------------------
def is_true(text: str, name: str = 'value') -> bool:
    """
    Return a launch-argument boolean: true, 1, yes, on or false, 0, no, off (any case).

    :param text: the argument's value
    :param name: the argument's name, for the error
    :raises ValueError: for any other spelling (a typo is not silently false)
    """
    word = str(text).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f'{name} must be true or false, got {text!r}')


def share_directory() -> str:
    """Return share/depthclip_ros: installed, or this source tree when not installed."""
    share = package_share(PACKAGE)
    if share is None:
        share = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return share


def package_share(package: str) -> Optional[str]:
    """Return the share directory of an installed ROS package, or None."""
    try:
        from ament_index_python.packages import get_package_share_directory
        from ament_index_python.packages import PackageNotFoundError
    except ImportError:  # no ament index at all
        return None
    try:
        return get_package_share_directory(package)
    except (PackageNotFoundError, OSError, ValueError):  # not installed, or no ament index
        return None


def launch_values(configurations: Mapping[str, str],
                  launch_name: str = 'camera') -> Dict[str, str]:
    """
    Return the values of a launch: its launch configurations over its declared defaults.

    :param configurations: the launch configurations (``context.launch_configurations``)
    :param launch_name: the launch file (:data:`LAUNCH_FILES`) whose defaults apply
    :return: name -> value, stripped of surrounding whitespace; packaged defaults are left
        to the declarations (they need the share directory)
    """
    values = {a.name: a.default for a in ARGUMENTS.values() if not a.packaged}
    values.update(launch_file_defaults(launch_name))
    values.update(configurations)
    return {name: str(value).strip() for name, value in values.items()}


def check_camera_name(name: str) -> str:
    """Return ``name`` if it is a valid ROS name part; raise ValueError naming camera_name."""
    if not CAMERA_NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f'camera_name must be a valid ROS name part (letters, digits, underscores, not '
            f'starting with a digit), got {name!r}')
    return name


def check_image_qos(value: str) -> str:
    """Return image_qos if valid ('' or one of :data:`IMAGE_QOS_VALUES`), else raise."""
    if value not in ('',) + IMAGE_QOS_VALUES:
        raise ValueError(f'image_qos must be auto, best_effort, reliable or empty (the params '
                         f"file's qos.image_reliability), got {value!r}")
    return value


def check_camera_values(values: Mapping[str, str]) -> None:
    """
    Check every value camera.launch.py uses, before anything is started.

    A camera launch file checks them before it starts its driver: a bad value then stops the
    launch with one line and leaves no driver running.

    :param values: launch values (see :func:`launch_values`)
    :raises ValueError: one line naming the argument
    """
    check_camera_name(values['camera_name'])
    image_remappings(values['image'], values['camera_info'])
    check_image_qos(values['image_qos'])
    for name in ('use_sim_time', 'use_rviz'):
        is_true(values[name], name)


def node_parameters(values: Mapping[str, str], extra: Tuple = ()) -> List:
    """
    Return the parameters of a depthclip node: the params file, then the overrides.

    :param values: launch values (params_file, device, image_qos, use_sim_time)
    :param extra: parameter dicts between the params file and the overrides
    :return: [params_file, *extra, {'model.device'}, {'qos.image_reliability'},
        {'use_sim_time'}], overrides only where set
    :raises ValueError: a bad image_qos or use_sim_time
    """
    parameters = [values['params_file'], *extra]
    if values.get('device'):
        parameters.append({'model.device': values['device']})
    image_qos = check_image_qos(values.get('image_qos', ''))
    if image_qos:
        parameters.append({'qos.image_reliability': image_qos})
    if is_true(values.get('use_sim_time', 'false'), 'use_sim_time'):
        parameters.append({'use_sim_time': True})
    return parameters


def image_remappings(image: str, camera_info: str) -> List[Tuple[str, str]]:
    """Return the input remappings of a one-camera node (raw and compressed image)."""
    if not image or not camera_info:
        raise ValueError('image and camera_info must name the input topics')
    return [('image', image), ('image/compressed', image.rstrip('/') + '/compressed'),
            ('camera_info', camera_info)]


def join_namespace(parent: Optional[str], child: str) -> str:
    """
    Resolve ``child`` (a namespace or topic name) below ``parent`` as ROS 2 does.

    :param parent: absolute namespace, e.g. ``/robot`` (empty or ``None`` = ``/``)
    :param child: relative (``front``) or absolute (``/front``) name
    :return: absolute name without a trailing slash (``/`` for the root)
    """
    joined = child if child.startswith('/') else '/'.join(((parent or '').rstrip('/'), child))
    return '/' + '/'.join(part for part in joined.split('/') if part)


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace each ``{name}`` of a table template with ``values[name]``."""
    return _TEMPLATE_FIELD.sub(lambda match: values[match.group(1)], template)


def selected_driver(launch_name: str, values: Mapping[str, str]) -> str:
    """Return the name of the driver a launch file starts with these values."""
    spec = LAUNCH_FILES[launch_name]
    if not spec.selector:
        return spec.drivers[0]
    choice = values[spec.selector]
    if choice not in spec.drivers:
        raise ValueError(f'{spec.selector} must be one of {", ".join(spec.drivers)}, '
                         f'got {choice!r}')
    return choice


def _driver_values(driver: Driver) -> Dict[str, str]:
    """Return the core arguments a driver sets: its topics, frame and image QoS."""
    return {'image': driver.image, 'camera_info': driver.camera_info,
            'rviz_fixed_frame': driver.frame, 'image_qos': driver.image_qos}


def launch_file_defaults(launch_name: str) -> Dict[str, str]:
    """
    Return the core arguments whose default differs in a camera launch file, and the values.

    A topic or frame that every driver of the file publishes the same, without a template,
    is the default; otherwise the default is '' (resolved from the chosen driver when the
    launch runs, see :func:`resolve_camera`).
    """
    spec = LAUNCH_FILES[launch_name]
    defaults = {}
    for name in ('image', 'camera_info', 'rviz_fixed_frame', 'image_qos'):
        if not spec.drivers:
            continue
        options = {_driver_values(DRIVERS[d])[name] for d in spec.drivers}
        value = options.pop() if len(options) == 1 else ''
        if _TEMPLATE_FIELD.search(value):
            value = ''
        if value != ARGUMENTS[name].default:
            defaults[name] = value
    defaults.update(spec.defaults)
    return defaults


def _driver_note(launch_name: str, name: str) -> str:
    """Describe where an empty topic or frame argument of a camera launch file comes from."""
    spec = LAUNCH_FILES[launch_name]
    options = []
    for driver in spec.drivers:
        value = _driver_values(DRIVERS[driver])[name]
        shown = _TEMPLATE_FIELD.sub(r'the \1 argument', value)
        options.append(f'{shown} ({driver})' if len(spec.drivers) > 1 else shown)
    return f'; empty: {" or ".join(options)}'


def declared_arguments(launch_name: str) -> List[Argument]:
    """
    Return the arguments a launch file declares, with its own defaults and descriptions.

    The core (camera) and cameras.launch.py declare their whole lists; a camera launch file
    declares its own arguments and the core arguments whose default differs there.
    """
    spec = LAUNCH_FILES[launch_name]
    defaults = launch_file_defaults(launch_name)
    names = list(dict.fromkeys([*spec.arguments, *defaults, *spec.descriptions]))
    declared = []
    for name in names:
        argument = ARGUMENTS[name]
        description = spec.descriptions.get(name, argument.description)
        default = defaults.get(name, argument.default)
        if name in TOPIC_ARGUMENTS and name in defaults and not default:
            description += _driver_note(launch_name, name)
        declared.append(Argument(name, default, description, argument.choices,
                                 argument.packaged and name not in defaults))
    return declared


def resolve_camera(launch_name: str, values: Mapping[str, str]) -> Dict[str, str]:
    """
    Return the image, camera_info and rviz_fixed_frame of a camera launch (else the driver's).

    :param launch_name: a launch file with drivers (:data:`LAUNCH_FILES`)
    :param values: launch values (see :func:`launch_values`)
    """
    driver = _driver_values(DRIVERS[selected_driver(launch_name, values)])
    return {name: values.get(name) or fill(driver[name], values) for name in TOPIC_ARGUMENTS}


@dataclass
class DriverStart:
    """What to start for a camera driver: a launch file to include, or a node; or a message."""

    package: str = ''
    launch_file: str = ''
    launch_arguments: Dict[str, str] = field(default_factory=dict)
    executable: str = ''
    node_name: str = ''
    parameters: Dict[str, object] = field(default_factory=dict)
    arguments: List[str] = field(default_factory=list)
    remappings: List[Tuple[str, str]] = field(default_factory=list)
    log_level: str = ''
    message: str = ''


def _typed(name: str, text: str, kind: str) -> object:
    """Convert a parameter value of a driver to its type, naming the launch argument."""
    if kind == 'bool':
        return is_true(text, name)
    if kind == 'float':
        try:
            return float(text)
        except ValueError:
            raise ValueError(f'{name} must be a number, got {text!r}') from None
    return text


def manual_command(driver: Driver, values: Mapping[str, str]) -> str:
    """
    Return the command that starts a driver by hand (for the message when it is missing).

    Launch arguments set from the driver's own share directory are left to its defaults;
    an empty required one is shown as ``<name>``.
    """
    if driver.launch_file:
        given = []
        for key, template in driver.launch_arguments.items():
            value = fill(template, values) if '{share}' not in template else ''
            if not value and _TEMPLATE_FIELD.fullmatch(template) and \
                    template.strip('{}') in driver.required:
                value = f'<{template.strip("{}")}>'
            if value:
                given.append(f'{key}:={value}')
        return ' '.join(['ros2 launch', driver.package, driver.launch_file] + given)
    parameters = [f'-p {k}:={fill(v, values)}' for k, v in driver.parameters.items()
                  if fill(v, values)]
    arguments = [fill(a, values) for a in driver.arguments]
    for flag, extra in driver.optional_arguments.items():
        if is_true(values[flag], flag):
            arguments += list(extra)
    command = ['ros2 run', driver.package, driver.executable] + arguments
    return ' '.join(command + (['--ros-args'] + parameters if parameters else []))


def driver_start(launch_name: str, values: Mapping[str, str],
                 share: Callable[[str], Optional[str]] = package_share
                 ) -> Optional[DriverStart]:
    """
    Return what a camera launch file starts with these values, or None for nothing.

    :param launch_name: a launch file with drivers (:data:`LAUNCH_FILES`)
    :param values: launch values with the camera resolved (see :func:`resolve_camera`)
    :param share: package -> share directory or None (the ament index)
    :return: the driver to start; its ``message`` says how to start it when its package is
        not installed (then nothing else is set)
    :raises ValueError: a required argument of the driver is empty, or a bad value
    """
    spec = LAUNCH_FILES[launch_name]
    if spec.switch and not is_true(values[spec.switch], spec.switch):
        return None
    name = selected_driver(launch_name, values)
    driver = DRIVERS[name]
    if not driver.package:
        return None
    directory = share(driver.package) if driver.package != PACKAGE else share_directory()
    if directory is None:
        return DriverStart(message=f'{driver.package} is not installed: start it yourself '
                                   f'({manual_command(driver, values)}), or {driver.install}')
    filled = dict(values, share=directory)
    start = DriverStart(
        package=driver.package, launch_file=driver.launch_file, executable=driver.executable,
        node_name=driver.node_name,
        launch_arguments={k: fill(v, filled) for k, v in driver.launch_arguments.items()},
        parameters={k: _typed(v.strip('{}'), fill(v, filled), driver.parameter_types.get(k, ''))
                    for k, v in driver.parameters.items()},
        arguments=[fill(a, filled) for a in driver.arguments],
        remappings=[(k, fill(v, filled)) for k, v in driver.remappings],
        log_level=values['log_level'] if driver.follows_log_level else '')
    for flag, arguments in driver.optional_arguments.items():
        if is_true(values[flag], flag):
            start.arguments += list(arguments)
    for required in driver.required:
        if not values.get(required):
            raise ValueError(
                f'{launch_name}.launch.py: set {required}:= to start {driver.package} '
                f'({ARGUMENTS[required].description}), or {spec.switch}:=false to use a '
                'running one')
    return start


def rviz_config_path(node_name: str, cache_home: Optional[str] = None) -> str:
    """
    Return where the RViz config generated for one node goes: one file per node, overwritten.

    :param node_name: fully qualified node name, e.g. ``/camera/depthclip_camera``
    :param cache_home: the user's cache folder; default ``$XDG_CACHE_HOME`` or ``~/.cache``
    :return: ``<cache_home>/depthclip_ros/rviz/camera.depthclip_camera.rviz``
    """
    if cache_home is None:
        cache_home = os.environ.get('XDG_CACHE_HOME') or os.path.join(
            os.path.expanduser('~'), '.cache')
    stem = '.'.join(part for part in node_name.split('/') if part)
    return os.path.join(cache_home, PACKAGE, 'rviz', f'{stem}.rviz')


def write_rviz_config(template: str, path: str, fixed_frame: str,
                      topics: Mapping[str, str]) -> str:
    """
    Write a copy of an RViz config with its fixed frame and display topics replaced.

    The file is replaced atomically, so an RViz reading it never sees half of it.

    :param template: path of an RViz2 config (YAML)
    :param path: the copy (see :func:`rviz_config_path`)
    :param fixed_frame: new ``Global Options/Fixed Frame``
    :param topics: display name -> topic; displays not named here keep their topic
    :return: ``path``
    :raises OSError: the folder of ``path`` cannot be written
    """
    with open(template, encoding='utf-8') as f:
        config = yaml.safe_load(f)
    manager = config['Visualization Manager']
    manager['Global Options']['Fixed Frame'] = fixed_frame
    for display in manager.get('Displays', []):
        topic = topics.get(display.get('Name'))
        if topic is not None and isinstance(display.get('Topic'), dict):
            display['Topic']['Value'] = topic
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix='.', suffix='.rviz.partial', dir=folder)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as f:
            yaml.safe_dump(config, f, default_flow_style=False, sort_keys=False)
        os.replace(partial, path)
    except BaseException:
        os.remove(partial)
        raise
    return path


# -------------------------------------------------------------------------------------------
# Launch actions: launch and launch_ros are imported here, inside the functions
# -------------------------------------------------------------------------------------------
def declare_arguments(launch_name: str) -> List:
    """Return the DeclareLaunchArgument actions of a launch file (:func:`declared_arguments`)."""
    from launch.actions import DeclareLaunchArgument
    actions = []
    for argument in declared_arguments(launch_name):
        default = argument.default
        if argument.packaged:  # a file of this package: installed, or of this source tree
            default = os.path.join(share_directory(), default)
        actions.append(DeclareLaunchArgument(
            argument.name, default_value=default, description=argument.description,
            **({'choices': list(argument.choices)} if argument.choices else {})))
    return actions


#: Launch configuration set once the Fast DDS profile of a launch is decided (not an argument).
DDS_PROFILE_CONFIGURATION = 'depthclip_fastdds_profile'


def dds_profile_actions(context, cwd: Optional[str] = None) -> List:
    """
    Return the actions giving the processes of this launch the package's Fast DDS profile.

    When the launch environment has no profile of the user's (and the transports allow it,
    :func:`depthclip_ros.core.dds_profile.choose_profile`): the profile variable of the
    installed Fast DDS set to the package profile. Either way one line says which profile
    the processes get; an enclosing launch of this package that has decided already
    (:data:`DDS_PROFILE_CONFIGURATION`) makes this return nothing. Put the actions in a
    scoped GroupAction with the processes they are for, so that a launch file including this
    one keeps its own environment.

    :param context: the launch context (its environment and launch configurations)
    :param cwd: the working directory of the processes (default: this one's)
    """
    from launch.actions import LogInfo
    from launch.actions import SetEnvironmentVariable
    from launch.actions import SetLaunchConfiguration

    from depthclip_ros.core.dds_profile import choose_profile
    from depthclip_ros.core.dds_profile import fastdds_major
    from depthclip_ros.core.dds_profile import package_profile
    from depthclip_ros.core.dds_profile import shm_free_bytes
    if context.launch_configurations.get(DDS_PROFILE_CONFIGURATION):
        return []
    choice = choose_profile(context.environment, os.getcwd() if cwd is None else cwd,
                            package_profile(), shm_free_bytes(),
                            fastdds_major(context.environment))
    actions = [SetEnvironmentVariable(name, value) for name, value in choice.variables.items()]
    return actions + [SetLaunchConfiguration(DDS_PROFILE_CONFIGURATION, choice.source),
                      LogInfo(msg=f'{choice.message} for the processes of this launch')]


def depthclip_node(values: Mapping[str, str], *, executable: str, name: str, namespace: str,
                   remappings: List[Tuple[str, str]], extra_parameters: Tuple = ()):
    """
    Return a depthclip node in its namespace (a GroupAction pushing it).

    :param values: launch values (params_file, device, image_qos, use_sim_time, log_level)
    :param executable: depthclip_node or depthclip_lifecycle_node
    :param name: node name
    :param namespace: namespace pushed for the node ("/": none)
    :param remappings: input remappings
    :param extra_parameters: parameter dicts after the params file
    """
    from launch.actions import GroupAction
    from launch_ros.actions import Node
    try:  # Iron and newer
        from launch_ros.actions import PushROSNamespace
    except ImportError:  # Humble
        from launch_ros.actions import PushRosNamespace as PushROSNamespace
    node = Node(
        package=PACKAGE,
        executable=executable,
        name=name,
        output='screen',
        parameters=node_parameters(values, extra_parameters),
        remappings=remappings,
        ros_arguments=['--log-level', values['log_level']],
    )
    return GroupAction([PushROSNamespace(namespace), node])


def rviz_actions(context, values: Mapping[str, str], namespace: str) -> List:
    """
    Return RViz for one camera's node when use_rviz is true and rviz2 is installed.

    Without rviz2 the launch logs how to install it and goes on. Without ``rviz_config`` the
    packaged config is written, with this camera's topics and fixed frame, to one file per
    node in the user's cache folder (:func:`rviz_config_path`), replaced at each launch.

    :param context: the launch context (for a namespace pushed by a parent launch)
    :param values: launch values of camera.launch.py
    :param namespace: the node's namespace, relative to a pushed one
    """
    from launch.actions import LogInfo
    from launch_ros.actions import Node
    if not is_true(values['use_rviz'], 'use_rviz'):
        return []
    if package_share('rviz2') is None:
        return [LogInfo(msg='rviz2 is not installed: going on without RViz (install it with '
                            'sudo apt install ros-$ROS_DISTRO-rviz2)')]
    actions = []
    rviz_config = values['rviz_config']
    camera_name = values['camera_name']
    if not rviz_config:
        # Absolute names, as RViz shows them: a parent launch may have pushed a namespace.
        node_namespace = join_namespace(
            context.launch_configurations.get('ros_namespace'), namespace)
        template = os.path.join(share_directory(), 'rviz', 'depthclip.rviz')
        path = rviz_config_path(join_namespace(node_namespace, f'depthclip_{camera_name}'))
        try:
            rviz_config = write_rviz_config(template, path, values['rviz_fixed_frame'], {
                RVIZ_INPUT_DISPLAY: join_namespace(node_namespace, values['image']),
                RVIZ_COLORIZED_DISPLAY: join_namespace(node_namespace, 'depth/colorized'),
                RVIZ_POINTS_DISPLAY: join_namespace(node_namespace, 'points'),
            })
        except OSError as error:
            rviz_config = template
            actions.append(LogInfo(msg=f'cannot write the RViz config {path} ({error}): RViz '
                                       'shows the packaged config (the topics of /camera)'))
    actions.append(Node(
        package='rviz2',
        executable='rviz2',
        name=f'rviz_depthclip_{camera_name}',
        output='screen',
        arguments=['-d', rviz_config],
        parameters=[{'use_sim_time': is_true(values['use_sim_time'], 'use_sim_time')}],
    ))
    return actions


def _start_camera(context, launch_name: str) -> List:
    """Resolve the camera's topics into the launch configurations; start its driver."""
    from launch.actions import GroupAction
    from launch.actions import IncludeLaunchDescription
    from launch.actions import LogInfo
    from launch.actions import SetLaunchConfiguration
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch_ros.actions import Node
    values = launch_values(context.launch_configurations, launch_name)
    camera = resolve_camera(launch_name, values)
    values.update(camera)
    check_camera_values(values)  # before the driver starts: an error leaves nothing running
    actions = [SetLaunchConfiguration(name, value) for name, value in camera.items()]
    start = driver_start(launch_name, values)
    if start is None:
        return actions
    if start.message:
        return actions + [LogInfo(msg=start.message)]
    if start.launch_file:
        path = os.path.join(package_share(start.package), 'launch', start.launch_file)
        return actions + [GroupAction([IncludeLaunchDescription(
            PythonLaunchDescriptionSource(path),
            launch_arguments=list(start.launch_arguments.items()))])]
    return actions + [Node(
        package=start.package,
        executable=start.executable,
        name=start.node_name,
        output='screen',
        parameters=[start.parameters] if start.parameters else None,
        arguments=start.arguments or None,
        remappings=start.remappings or None,
        ros_arguments=['--log-level', start.log_level] if start.log_level else None,
    )]


def camera_launch_description(launch_name: str, launch_file: str):
    """
    Return a camera launch file's description: its arguments, its driver, camera.launch.py.

    The include of camera.launch.py (beside ``launch_file``) is a plain entity of the
    description, so ``ros2 launch -s`` lists the core's arguments too; arguments given on the
    command line reach the core, the driver's launch file and the driver. The driver, the node
    and RViz get the package's Fast DDS profile unless the user has one
    (:func:`dds_profile_actions`), in a scoped group: a launch file including this one keeps
    its environment.

    :param launch_name: the launch file's name in :data:`LAUNCH_FILES` (``realsense``, ...)
    :param launch_file: the ``__file__`` of the launch file
    """
    from launch import LaunchDescription
    from launch.actions import GroupAction
    from launch.actions import IncludeLaunchDescription
    from launch.actions import OpaqueFunction
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    core = os.path.join(os.path.dirname(os.path.abspath(launch_file)), 'camera.launch.py')
    return LaunchDescription([
        *declare_arguments(launch_name),
        GroupAction([  # scoped: the Fast DDS profile is for the driver, the node and RViz only
            OpaqueFunction(function=dds_profile_actions),
            OpaqueFunction(function=_start_camera, args=[launch_name]),
            GroupAction([IncludeLaunchDescription(PythonLaunchDescriptionSource(core))]),
        ]),
    ])
