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
Launch files, the RViz config and config/outdoor.yaml.

Static checks (always): every launch file parses, defines generate_launch_description and
documents every argument; the RViz config and the outdoor parameters load. With a ROS 2
distribution (``launch`` and ``launch_ros`` importable) every launch file is also loaded and
evaluated as ``ros2 launch`` would, without starting any process, and the node actions it
produces are checked: names, namespaces, remappings, parameters and log level.
"""

import ast
import glob
import importlib.util
import math
import os

import pytest
import yaml

from depthclip_ros.core.config import load_config
from depthclip_ros.core.config import load_params_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH_DIR = os.path.join(ROOT, 'launch')
LAUNCH_FILES = sorted(glob.glob(os.path.join(LAUNCH_DIR, '*.launch.py')))
RVIZ_FILE = os.path.join(ROOT, 'rviz', 'depthclip.rviz')
DEFAULT_PARAMS = os.path.join(ROOT, 'config', 'depthclip.yaml')
OUTDOOR_PARAMS = os.path.join(ROOT, 'config', 'outdoor.yaml')

EXPECTED_LAUNCH_FILES = ('camera', 'demo', 'oakd', 'realsense', 'sim', 'usb_cam', 'zed')
CAMERA_ARGUMENTS = ('camera_name', 'namespace', 'image', 'camera_info', 'params_file',
                    'device', 'use_rviz', 'log_level')
SKIP_REASON = 'launch/launch_ros not installed (no ROS 2 distribution)'


def _launch_installed():
    """Return True when the ROS 2 launch and launch_ros packages can be imported."""
    for name in ('launch', 'launch_ros'):
        spec = importlib.util.find_spec(name)
        # This package's launch/ folder would import as an empty namespace package.
        if spec is None or spec.origin in (None, 'namespace'):
            return False
    return True


requires_launch = pytest.mark.skipif(not _launch_installed(), reason=SKIP_REASON)


def _launch_id(path):
    return os.path.basename(path)


# -------------------------------------------------------------------------------------------
# Static checks: no ROS needed
# -------------------------------------------------------------------------------------------
def _declared_arguments(tree):
    """Return the DeclareLaunchArgument calls of a module: [(name or None, call node)]."""
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, 'attr', None)
        if name != 'DeclareLaunchArgument':
            continue
        first = node.args[0] if node.args else None
        argument = first.value if isinstance(first, ast.Constant) else None
        calls.append((argument, node))
    return calls


def _parse(path):
    with open(path, encoding='utf-8') as f:
        return ast.parse(f.read(), filename=path)


def test_expected_launch_files_exist():
    found = {os.path.basename(p)[:-len('.launch.py')] for p in LAUNCH_FILES}
    missing = set(EXPECTED_LAUNCH_FILES) - found
    assert not missing, f'missing launch files: {sorted(missing)}'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=_launch_id)
def test_launch_file_defines_generate_launch_description(path):
    tree = _parse(path)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in functions


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=_launch_id)
def test_every_launch_argument_has_a_description(path):
    calls = _declared_arguments(_parse(path))
    assert calls, 'no DeclareLaunchArgument in the launch file'
    names = []
    for name, call in calls:
        assert name is not None, f'line {call.lineno}: the argument name must be a literal'
        names.append(name)
        keywords = {k.arg: k.value for k in call.keywords}
        assert 'description' in keywords, f'argument {name!r} has no description'
        description = keywords['description']
        if isinstance(description, ast.Constant):
            assert isinstance(description.value, str) and description.value.strip(), (
                f'argument {name!r} has an empty description')
    assert len(names) == len(set(names)), f'argument declared twice: {names}'


def test_camera_launch_declares_its_arguments():
    names = {name for name, _ in _declared_arguments(
        _parse(os.path.join(LAUNCH_DIR, 'camera.launch.py')))}
    missing = set(CAMERA_ARGUMENTS) - names
    assert not missing, f'camera.launch.py does not declare {sorted(missing)}'


@pytest.mark.parametrize('name', [n for n in EXPECTED_LAUNCH_FILES if n != 'camera'])
def test_camera_launch_files_include_camera_launch(name):
    """Every other launch file runs DepthCLIP through camera.launch.py."""
    tree = _parse(os.path.join(LAUNCH_DIR, f'{name}.launch.py'))
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert 'camera.launch.py' in strings


def _rviz_config():
    with open(RVIZ_FILE, encoding='utf-8') as f:
        return yaml.safe_load(f)


def test_rviz_config_displays():
    config = _rviz_config()
    manager = config['Visualization Manager']
    assert manager['Global Options']['Fixed Frame'] == 'camera_color_optical_frame'
    displays = {d['Name']: d for d in manager['Displays']}
    expected = {
        'Input image': ('rviz_default_plugins/Image', '/camera/color/image_raw'),
        'Depth (colorized)': ('rviz_default_plugins/Image', '/camera/depth/colorized'),
        'Point cloud': ('rviz_default_plugins/PointCloud2', '/camera/points'),
    }
    for name, (plugin, topic) in expected.items():
        assert name in displays, f'no display named {name!r}'
        display = displays[name]
        assert display['Class'] == plugin
        assert display['Enabled'] is True
        assert display['Topic']['Value'] == topic
        for key in ('Depth', 'Reliability Policy', 'Durability Policy', 'History Policy'):
            assert key in display['Topic'], f'{name}: Topic has no {key}'
    cloud = displays['Point cloud']
    assert cloud['Style'] == 'Points'
    assert cloud['Size (Pixels)'] == 3
    assert cloud['Color Transformer'] in ('AxisColor', 'RGB8')
    for display in manager['Displays']:
        if display['Class'] == 'rviz_default_plugins/TF':
            assert display['Enabled'] is False and display['Value'] is False
    assert {'Panels', 'Visualization Manager', 'Window Geometry'} <= set(config)


# -------------------------------------------------------------------------------------------
# config/outdoor.yaml
# -------------------------------------------------------------------------------------------
def test_outdoor_params_load_and_cover_outdoor_depths():
    config = load_config(OUTDOOR_PARAMS)
    assert (config.input.height, config.input.width) == (352, 704)
    bins = config.depth_bins
    assert len(bins) == len(config.prompts.depth_classes)
    assert bins[0] == pytest.approx(2.0, rel=0.05)
    assert bins[-1] == pytest.approx(80.0, rel=0.05)
    # Geometric spacing: every bin the same factor further than the one before.
    ratios = [b / a for a, b in zip(bins, bins[1:])]
    expected = math.exp(math.log(bins[-1] / bins[0]) / (len(bins) - 1))
    assert ratios == pytest.approx([expected] * len(ratios), rel=0.02)
    assert config.depth_range == pytest.approx((bins[0], bins[-1]))


def test_outdoor_params_have_the_structure_of_the_default_file():
    outdoor = load_params_file(OUTDOOR_PARAMS)
    default = load_params_file(DEFAULT_PARAMS)
    assert set(outdoor) == set(default)
    assert outdoor['cloud.max_range'] == pytest.approx(80.0)
    assert outdoor['cloud.min_range'] < outdoor['depth_bins'][0]


# -------------------------------------------------------------------------------------------
# Evaluated with launch / launch_ros (a ROS 2 distribution)
# -------------------------------------------------------------------------------------------
class Evaluated:
    """What a launch file produced: node actions with their namespace, and log messages."""

    def __init__(self, context):
        self.context = context
        self.nodes = []
        self.messages = []

    def node(self, executable):
        """Return the one node action running ``executable`` and its namespace."""
        found = [(n, ns) for n, ns in self.nodes if n.node_executable == executable]
        assert len(found) == 1, f'{len(found)} {executable} nodes: {self.nodes}'
        return found[0]


def _evaluate(name, **arguments):
    """Load and run a launch file's description as ros2 launch does, starting no process."""
    from launch import LaunchContext
    from launch.actions import LogInfo
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch_ros.actions import Node

    context = LaunchContext()
    for key, value in arguments.items():
        context.launch_configurations[key] = value
    path = os.path.join(LAUNCH_DIR, f'{name}.launch.py')
    result = Evaluated(context)

    def visit(entity):
        if isinstance(entity, Node):
            if entity.condition is None or entity.condition.evaluate(context):
                result.nodes.append(
                    (entity, context.launch_configurations.get('ros_namespace') or '/'))
            return
        if isinstance(entity, LogInfo):
            result.messages.append(''.join(s.perform(context) for s in entity.msg))
        for child in entity.visit(context) or []:
            visit(child)

    visit(PythonLaunchDescriptionSource(path).get_launch_description(context))
    return result


def _private(node, attribute):
    """Read a launch_ros Node constructor value (no public getter exists for these)."""
    value = getattr(node, f'_Node__{attribute}', None)
    if value is None:
        pytest.skip(f'launch_ros.actions.Node has no {attribute} attribute in this version')
    return value


def _remappings(result, node):
    from launch.utilities import perform_substitutions
    return {perform_substitutions(result.context, source): perform_substitutions(
        result.context, target) for source, target in _private(node, 'remappings')}


def _parameters(result, node):
    from launch_ros.utilities import evaluate_parameters
    return evaluate_parameters(result.context, _private(node, 'parameters'))


def _ros_arguments(result, node):
    from launch.utilities import normalize_to_list_of_substitutions
    from launch.utilities import perform_substitutions
    return [perform_substitutions(result.context, normalize_to_list_of_substitutions(a))
            for a in _private(node, 'ros_arguments')]


def _arguments(result, node):
    from launch.utilities import normalize_to_list_of_substitutions
    from launch.utilities import perform_substitutions
    return [perform_substitutions(result.context, normalize_to_list_of_substitutions(a))
            for a in _private(node, 'arguments')]


def _remaps_for(image, camera_info):
    return {'image': image, 'image/compressed': image + '/compressed',
            'camera_info': camera_info}


@requires_launch
@pytest.mark.parametrize('name', EXPECTED_LAUNCH_FILES)
def test_loaded_launch_arguments_are_documented(name):
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    path = os.path.join(LAUNCH_DIR, f'{name}.launch.py')
    description = PythonLaunchDescriptionSource(path).try_get_launch_description_without_context()
    arguments = description.get_launch_arguments()
    assert arguments
    for argument in arguments:
        assert argument.description and argument.description != 'no description given', (
            argument.name)
    if name == 'camera':
        assert set(CAMERA_ARGUMENTS) <= {a.name for a in arguments}


@requires_launch
def test_camera_launch_defaults():
    result = _evaluate('camera')
    node, namespace = result.node('depthclip_node')
    assert node.node_package == 'depthclip_ros'
    assert _private(node, 'node_name') == 'depthclip_camera'
    assert namespace == '/camera'
    assert _remappings(result, node) == _remaps_for(
        '/camera/color/image_raw', '/camera/color/camera_info')
    assert _ros_arguments(result, node) == ['--log-level', 'info']
    parameters = _parameters(result, node)
    assert str(parameters[0]).endswith(os.path.join('config', 'depthclip.yaml'))
    assert not any(isinstance(p, dict) and 'model.device' in p for p in parameters)
    assert [n for n, _ in result.nodes if n.node_executable == 'rviz2'] == []


@requires_launch
def test_camera_launch_arguments_reach_the_node():
    result = _evaluate('camera', camera_name='front', namespace='robot/front',
                       image='/front/color/image_raw', camera_info='/front/color/camera_info',
                       device='cuda:1', log_level='debug', params_file=DEFAULT_PARAMS)
    node, namespace = result.node('depthclip_node')
    assert _private(node, 'node_name') == 'depthclip_front'
    assert namespace == '/robot/front'
    assert _remappings(result, node) == _remaps_for(
        '/front/color/image_raw', '/front/color/camera_info')
    assert _ros_arguments(result, node) == ['--log-level', 'debug']
    parameters = _parameters(result, node)
    assert str(parameters[0]) == DEFAULT_PARAMS
    assert {'model.device': 'cuda:1'} in [p for p in parameters if isinstance(p, dict)]


@requires_launch
def test_camera_launch_rviz_shows_this_camera():
    result = _evaluate('camera', namespace='front', image='/front/color/image_raw',
                       camera_info='/front/color/camera_info', use_rviz='true',
                       rviz_fixed_frame='front_optical_frame')
    rviz, _ = result.node('rviz2')
    arguments = _arguments(result, rviz)
    assert arguments[0] == '-d'
    try:
        with open(arguments[1], encoding='utf-8') as f:
            config = yaml.safe_load(f)
    finally:
        os.remove(arguments[1])
    manager = config['Visualization Manager']
    topics = {d['Name']: d.get('Topic', {}).get('Value') for d in manager['Displays']}
    assert topics['Input image'] == '/front/color/image_raw'
    assert topics['Depth (colorized)'] == '/front/depth/colorized'
    assert topics['Point cloud'] == '/front/points'
    assert manager['Global Options']['Fixed Frame'] == 'front_optical_frame'
    # Everything else is the packaged config.
    packaged = _rviz_config()
    assert config['Panels'] == packaged['Panels']
    assert len(manager['Displays']) == len(packaged['Visualization Manager']['Displays'])


@requires_launch
def test_camera_launch_rviz_custom_config_is_used_as_it_is(tmp_path):
    custom = tmp_path / 'mine.rviz'
    custom.write_text('Panels: []\n')
    result = _evaluate('camera', use_rviz='true', rviz_config=str(custom))
    rviz, _ = result.node('rviz2')
    assert _arguments(result, rviz) == ['-d', str(custom)]


@requires_launch
def test_camera_launch_rejects_a_bad_camera_name():
    with pytest.raises(ValueError, match='camera_name'):
        _evaluate('camera', camera_name='front camera')


def _image_qos(result):
    node, _ = result.node('depthclip_node')
    return [p['qos.image_reliability'] for p in _parameters(result, node)
            if isinstance(p, dict) and 'qos.image_reliability' in p]


@requires_launch
@pytest.mark.parametrize('name,arguments,expected', [
    ('camera', {}, []),  # the params file decides (best_effort)
    ('camera', {'image_qos': 'reliable'}, ['reliable']),
    ('camera', {'image_qos': 'best_effort'}, ['best_effort']),
    ('demo', {}, ['reliable']),  # camera_player publishes reliably
    ('realsense', {'start_driver': 'false'}, ['reliable']),
    ('zed', {'start_driver': 'false'}, ['reliable']),
    ('usb_cam', {'start_driver': 'false'}, []),
    ('oakd', {'start_driver': 'false', 'image_qos': 'reliable'}, ['reliable']),
])
def test_image_qos_reaches_the_node(name, arguments, expected):
    assert _image_qos(_evaluate(name, **arguments)) == expected


@requires_launch
def test_camera_launch_rejects_a_bad_image_qos():
    with pytest.raises(ValueError, match='image_qos'):
        _evaluate('camera', image_qos='sometimes')


#: launch file -> (extra arguments, expected namespace, image, camera_info)
CAMERA_LAUNCHES = {
    'realsense': ({}, '/camera', '/camera/camera/color/image_raw',
                  '/camera/camera/color/camera_info'),
    'usb_cam': ({}, '/camera', '/image_raw', '/camera_info'),
    'oakd': ({}, '/oak/depthclip', '/oak/rgb/image_raw', '/oak/rgb/camera_info'),
    'zed': ({}, '/zed', '/zed/zed_node/rgb/color/rect/image',
            '/zed/zed_node/rgb/color/rect/camera_info'),
    'sim': ({}, '/camera', '/camera/image', '/camera/camera_info'),
    'sim_isaac': ({'simulator': 'isaac'}, '/camera', '/rgb', '/camera_info'),
}


@requires_launch
@pytest.mark.parametrize('case', sorted(CAMERA_LAUNCHES))
def test_camera_launch_files_remap_the_driver_topics(case):
    arguments, namespace, image, camera_info = CAMERA_LAUNCHES[case]
    result = _evaluate(case.split('_isaac')[0], start_driver='false', start_bridge='false',
                       **arguments)
    node, node_namespace = result.node('depthclip_node')
    assert node_namespace == namespace
    assert _remappings(result, node) == _remaps_for(image, camera_info)
    assert [n for n, _ in result.nodes if n.node_executable != 'depthclip_node'] == []


@requires_launch
@pytest.mark.parametrize('name,package', [
    ('realsense', 'realsense2_camera'), ('usb_cam', 'usb_cam'),
    ('oakd', 'depthai_ros_driver'), ('zed', 'zed_wrapper'), ('sim', 'ros_gz_bridge')])
def test_missing_driver_is_reported(name, package):
    from ament_index_python.packages import get_package_share_directory
    from ament_index_python.packages import PackageNotFoundError
    try:
        get_package_share_directory(package)
    except (PackageNotFoundError, OSError):
        pass
    else:
        pytest.skip(f'{package} is installed')
    result = _evaluate(name)
    assert any(package in message for message in result.messages), result.messages
    result.node('depthclip_node')


@requires_launch
def test_demo_launch_wires_the_player_to_the_node():
    result = _evaluate('demo')
    player, _ = result.node('camera_player')
    node, namespace = result.node('depthclip_node')
    assert namespace == '/camera'
    player_remaps = _remappings(result, player)
    assert _remappings(result, node) == _remaps_for(
        player_remaps['image'], player_remaps['camera_info'])
    (values,) = [p for p in _parameters(result, player) if isinstance(p, dict)]
    assert values['source'] == ''
    assert values['rate'] == pytest.approx(2.0)
    assert values['frame_id'] == 'camera_color_optical_frame'
    rviz, _ = result.node('rviz2')
    config_path = _arguments(result, rviz)[1]
    assert os.path.isfile(config_path)
    os.remove(config_path)
