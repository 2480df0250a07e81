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

Static checks (always): every launch file parses, defines generate_launch_description, takes
its arguments from the one table (depthclip_ros.launch_common, tested in
test_launch_common.py) and, for a camera, includes camera.launch.py; the RViz config and the
outdoor parameters load. With a ROS 2 distribution (``launch`` and ``launch_ros``
importable) every launch file is also loaded and evaluated as ``ros2 launch`` would, without
starting any process, and the actions it produces are checked: names, namespaces,
remappings, parameters, log level, the drivers started and the messages logged. Those tests
see a fake ament index of their own (which packages are "installed" is up to each test) and
a cache folder of their own, so they do not depend on the machine and leave no file behind.
"""

import ast
import glob
import importlib.util
import inspect
import math
import os
import tempfile

import pytest
import yaml

from depthclip_ros import launch_common
from depthclip_ros.core.config import load_config
from depthclip_ros.core.config import load_params_file
from depthclip_ros.core.dds_profile import fastdds_major
from depthclip_ros.core.dds_profile import HOW_TO_CHOOSE
from depthclip_ros.core.dds_profile import package_profile
from depthclip_ros.core.dds_profile import PROFILE_VARIABLES
from depthclip_ros.core.dds_profile import profile_variables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH_DIR = os.path.join(ROOT, 'launch')
LAUNCH_FILES = sorted(glob.glob(os.path.join(LAUNCH_DIR, '*.launch.py')))
RVIZ_FILE = os.path.join(ROOT, 'rviz', 'depthclip.rviz')
DEFAULT_PARAMS = os.path.join(ROOT, 'config', 'depthclip.yaml')
OUTDOOR_PARAMS = os.path.join(ROOT, 'config', 'outdoor.yaml')

EXPECTED_LAUNCH_FILES = ('camera', 'cameras', 'demo', 'oakd', 'realsense', 'sim', 'usb_cam',
                         'zed')
CORES = ('camera', 'cameras')
CAMERA_LAUNCH_FILES = tuple(n for n in EXPECTED_LAUNCH_FILES if n not in CORES)
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
def _parse(path):
    with open(path, encoding='utf-8') as f:
        return ast.parse(f.read(), filename=path)


def _launch_tree(name):
    return _parse(os.path.join(LAUNCH_DIR, f'{name}.launch.py'))


def _calls(tree, function):
    """Return the calls of ``function`` (a name or an attribute) in a module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, 'attr', None)
            if name == function:
                found.append(node)
    return found


def _literal_arguments(call):
    return [a.value if isinstance(a, ast.Constant) else getattr(a, 'id', None)
            for a in call.args]


def test_expected_launch_files_exist():
    found = {os.path.basename(p)[:-len('.launch.py')] for p in LAUNCH_FILES}
    assert found == set(EXPECTED_LAUNCH_FILES)
    assert set(launch_common.LAUNCH_FILES) == set(EXPECTED_LAUNCH_FILES)


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=_launch_id)
def test_launch_file_defines_generate_launch_description(path):
    tree = _parse(path)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in functions


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=_launch_id)
def test_launch_files_take_their_arguments_from_the_table(path):
    """No argument is declared, named or described a second time in a launch file."""
    tree = _parse(path)
    assert not _calls(tree, 'DeclareLaunchArgument')
    assert not _calls(tree, 'LaunchConfiguration')
    name = os.path.basename(path)[:-len('.launch.py')]
    declared = _calls(tree, 'declare_arguments') + _calls(tree, 'camera_launch_description')
    assert [_literal_arguments(c)[0] for c in declared] == [name]


@pytest.mark.parametrize('name', CORES)
def test_cores_declare_their_table_and_set_up_the_node(name):
    tree = _launch_tree(name)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {'generate_launch_description', 'launch_setup'} <= functions
    assert [_literal_arguments(c) for c in _calls(tree, 'declare_arguments')] == [[name]]
    assert [c.keywords[0].value.id for c in _calls(tree, 'OpaqueFunction')] == ['launch_setup']
    assert _calls(tree, 'depthclip_node')


def test_camera_launch_declares_its_arguments():
    names = {a.name for a in launch_common.declared_arguments('camera')}
    missing = set(CAMERA_ARGUMENTS) - names
    assert not missing, f'camera.launch.py does not declare {sorted(missing)}'


@pytest.mark.parametrize('name', CAMERA_LAUNCH_FILES)
def test_camera_launch_files_include_camera_launch(name):
    """Every other launch file runs DepthCLIP through camera.launch.py."""
    calls = _calls(_launch_tree(name), 'camera_launch_description')
    assert [_literal_arguments(c) for c in calls] == [[name, '__file__']]
    source = inspect.getsource(launch_common.camera_launch_description)
    assert "'camera.launch.py'" in source and 'IncludeLaunchDescription(' in source


def test_cameras_launch_file_is_documented_nav2_style():
    """cameras.launch.py: OpaqueFunction setup, a pushed namespace, documented arguments."""
    tree = _launch_tree('cameras')
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {'generate_launch_description', 'launch_setup'} <= functions
    arguments = {}
    for argument in launch_common.declared_arguments('cameras'):
        assert argument.description.strip(), argument.name
        assert argument.name not in arguments, f'{argument.name} declared twice'
        arguments[argument.name] = argument
    assert {'cameras_file', 'namespace', 'params_file', 'device', 'log_level',
            'use_sim_time'} <= set(arguments)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert 'OpaqueFunction' in names
    # The node and its namespace: launch_common.depthclip_node, as Nav2's bringup does it.
    node_tree = ast.parse(inspect.getsource(launch_common.depthclip_node).lstrip())
    names = {n.id for n in ast.walk(node_tree) if isinstance(n, ast.Name)}
    assert {'PushROSNamespace', 'GroupAction', 'Node'} <= names
    imported = {alias.name for n in ast.walk(node_tree) if isinstance(n, ast.ImportFrom)
                for alias in n.names}
    assert {'PushROSNamespace', 'PushRosNamespace'} <= imported  # Humble fallback


def _markdown_rows(text, heading):
    """Return the table rows (lists of cells, backticks removed) of a markdown section."""
    section = text[text.index(heading):]
    section = section[:section.find('\n#', len(heading))]
    rows = []
    for line in section.splitlines():
        if line.startswith('| ') and not line.startswith('| ---'):
            rows.append([c.strip().strip('`') for c in line.strip('|').split(' | ')])
    return rows[1:]


def test_docs_list_every_argument_of_the_core_with_its_default():
    with open(os.path.join(ROOT, 'docs', 'cameras.md'), encoding='utf-8') as f:
        text = f.read()
    rows = _markdown_rows(text, '### Arguments of camera.launch.py')
    documented = {row[0]: ("''" if row[1] == "''" else row[1]) for row in rows}
    assert list(documented) == list(launch_common.CORE_ARGUMENTS)
    for argument in launch_common.declared_arguments('camera'):
        if not argument.packaged:
            assert documented[argument.name] == (argument.default or "''"), argument.name
    rows = _markdown_rows(text, '### The camera launch files')
    qos = {row[0][:-len('.launch.py')]: row[3] for row in rows}
    assert set(qos) == set(CAMERA_LAUNCH_FILES)
    for name, shown in qos.items():
        default = {a.name: a.default for a in launch_common.declared_arguments(name)}.get(
            'image_qos', '')
        assert shown == (default or 'params file'), name


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
#: A stand-in for a driver's launch file: it logs the values of the arguments it declares.
FAKE_DRIVER_LAUNCH = """
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import LogInfo
from launch.substitutions import LaunchConfiguration


def generate_launch_description():
    names = {names!r}
    message = ['driver {package}:']
    for name in names:
        message += [' ', name, '=', LaunchConfiguration(name)]
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value='unset') for name in names]
        + [LogInfo(msg=message)])
"""


class AmentIndex:
    """A fake install prefix: the packages a test says are installed, and no others."""

    def __init__(self, prefix):
        self.prefix = prefix
        os.makedirs(os.path.join(prefix, 'share', 'ament_index', 'resource_index', 'packages'))

    def install(self, package, launch_file='', declares=()):
        """Mark ``package`` installed; give it a fake launch file declaring ``declares``."""
        marker = os.path.join(self.prefix, 'share', 'ament_index', 'resource_index',
                              'packages', package)
        open(marker, 'w').close()
        share = os.path.join(self.prefix, 'share', package)
        os.makedirs(os.path.join(share, 'launch'), exist_ok=True)
        if launch_file:
            with open(os.path.join(share, 'launch', launch_file), 'w') as f:
                f.write(FAKE_DRIVER_LAUNCH.format(names=tuple(declares), package=package))
        return share


@pytest.fixture(autouse=True)
def ament_index(tmp_path, monkeypatch):
    """Install nothing but what the test installs: the launch files come from this tree."""
    index = AmentIndex(str(tmp_path / 'prefix'))
    monkeypatch.setenv('AMENT_PREFIX_PATH', index.prefix)
    return index


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    """Give this test a cache folder of its own (generated RViz configs)."""
    path = tmp_path / 'cache'
    monkeypatch.setenv('XDG_CACHE_HOME', str(path))
    return path


class Evaluated:
    """What a launch file produced: node actions with their namespace, and log messages."""

    def __init__(self, context):
        self.context = context
        self.nodes = []
        self.messages = []
        self.profiles = {}  # executable -> its Fast DDS profile variables when it starts

    def node(self, executable):
        """Return the one node action running ``executable`` and its namespace."""
        found = [(n, ns) for n, ns in self.nodes if n.node_executable == executable]
        assert len(found) == 1, f'{len(found)} {executable} nodes: {self.nodes}'
        return found[0]

    def executables(self):
        return sorted(n.node_executable for n, _ in self.nodes)


def _evaluate(name, _result=None, **arguments):
    """
    Load and run a launch file's description as ros2 launch does, starting no process.

    :param _result: an :class:`Evaluated` to fill (to see what came before an error)
    """
    from launch import LaunchContext
    from launch.actions import LogInfo
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch_ros.actions import Node

    result = _result or Evaluated(LaunchContext())
    context = result.context
    for key, value in arguments.items():
        context.launch_configurations[key] = value
    path = os.path.join(LAUNCH_DIR, f'{name}.launch.py')

    def visit(entity):
        if isinstance(entity, Node):
            if entity.condition is None or entity.condition.evaluate(context):
                result.nodes.append(
                    (entity, context.launch_configurations.get('ros_namespace') or '/'))
                result.profiles[entity.node_executable] = {
                    name: context.environment.get(name) for name in PROFILE_VARIABLES}
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


def _parameter_dicts(result, node):
    return [p for p in _parameters(result, node) if isinstance(p, dict)]


def _performed(result, node, attribute):
    from launch.utilities import normalize_to_list_of_substitutions
    from launch.utilities import perform_substitutions
    return [perform_substitutions(result.context, normalize_to_list_of_substitutions(a))
            for a in _private(node, attribute)]


def _ros_arguments(result, node):
    return _performed(result, node, 'ros_arguments')


def _arguments(result, node):
    return _performed(result, node, 'arguments')


def _remaps_for(image, camera_info):
    return {'image': image, 'image/compressed': image + '/compressed',
            'camera_info': camera_info}


def _listed_arguments(name):
    """Return what ``ros2 launch -s`` lists: [(name, default, description)]."""
    from launch import LaunchContext
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.utilities import perform_substitutions
    path = os.path.join(LAUNCH_DIR, f'{name}.launch.py')
    description = PythonLaunchDescriptionSource(path).try_get_launch_description_without_context()
    return [(a.name, perform_substitutions(LaunchContext(), a.default_value), a.description)
            for a in description.get_launch_arguments()]


@requires_launch
@pytest.mark.parametrize('name', EXPECTED_LAUNCH_FILES)
def test_loaded_launch_arguments_are_documented(name):
    arguments = _listed_arguments(name)
    assert arguments
    for argument, _, description in arguments:
        assert description and description != 'no description given', argument
    names = [a for a, _, _ in arguments]
    if name == 'camera':
        assert set(CAMERA_ARGUMENTS) <= set(names)
    # What is listed is the table: the file's own declarations first, then the core's.
    expected = {a.name: a.default for a in launch_common.declared_arguments(name)
                if not a.packaged}
    if name in CAMERA_LAUNCH_FILES:
        assert set(launch_common.CORE_ARGUMENTS) <= set(names), 'a core argument is hidden'
        for argument in launch_common.declared_arguments('camera'):
            if not argument.packaged:
                expected.setdefault(argument.name, argument.default)
    assert {a: d for a, d, _ in arguments if a in expected} == expected


@requires_launch
def test_sim_lists_every_argument_of_the_core():
    """`ros2 launch -s sim.launch.py` lists rviz_config (the core's include is not opaque)."""
    names = [a for a, _, _ in _listed_arguments('sim')]
    assert 'rviz_config' in names
    assert len(names) == len(set(names))


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


@pytest.fixture
def no_profile(monkeypatch, tmp_path):
    """Give the launch an environment without a Fast DDS profile of the user's."""
    for name in PROFILE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no DEFAULT_FASTDDS_PROFILES.xml in the working directory


def _profile_messages(result):
    return [m for m in result.messages if m.startswith('Fast DDS profile:')]


@requires_launch
@pytest.mark.parametrize('name,executables', [
    ('camera', ('depthclip_node',)), ('cameras', ('depthclip_node',)),
    ('demo', ('camera_player', 'depthclip_node'))])
def test_launched_processes_get_the_package_profile_when_the_user_has_none(
        no_profile, name, executables):
    result = _evaluate(name)
    profile = package_profile()
    wanted = profile_variables(fastdds_major(os.environ))  # the installed Fast DDS's only
    for executable in executables:  # the driver too: its large images are sent from it
        assert result.profiles[executable] == {
            v: profile if v in wanted else None for v in PROFILE_VARIABLES}
    assert _profile_messages(result) == [  # once, though demo includes camera.launch.py
        f'Fast DDS profile: {profile} (package default; {HOW_TO_CHOOSE}) for the processes '
        'of this launch']
    # Scoped: a launch file including this one keeps its own environment.
    assert not [v for v in PROFILE_VARIABLES if v in os.environ]


@requires_launch
@pytest.mark.parametrize('name', ['camera', 'demo'])
def test_launch_leaves_a_users_profile_alone(no_profile, monkeypatch, tmp_path, name):
    mine = tmp_path / 'mine.xml'
    mine.write_text('<dds/>')
    monkeypatch.setenv('FASTRTPS_DEFAULT_PROFILES_FILE', str(mine))
    result = _evaluate(name)
    assert result.profiles['depthclip_node'] == {'FASTDDS_DEFAULT_PROFILES_FILE': None,
                                                 'FASTRTPS_DEFAULT_PROFILES_FILE': str(mine)}
    assert _profile_messages(result) == [
        f"Fast DDS profile: user's profile {mine} (FASTRTPS_DEFAULT_PROFILES_FILE) for the "
        'processes of this launch']


@requires_launch
def test_launch_leaves_transports_without_shared_memory_alone(no_profile, monkeypatch):
    monkeypatch.setenv('FASTDDS_BUILTIN_TRANSPORTS', 'UDPv4')
    result = _evaluate('camera')
    assert result.profiles['depthclip_node'] == {v: None for v in PROFILE_VARIABLES}
    assert 'FASTDDS_BUILTIN_TRANSPORTS=UDPv4' in _profile_messages(result)[0]


@pytest.fixture
def rviz2_installed(ament_index):
    """Install rviz2 in the fake ament index."""
    return ament_index.install('rviz2')


@requires_launch
def test_camera_launch_rviz_shows_this_camera(rviz2_installed, cache_home):
    arguments = dict(namespace='front', image='/front/color/image_raw',
                     camera_info='/front/color/camera_info', use_rviz='true',
                     rviz_fixed_frame='front_optical_frame')
    result = _evaluate('camera', **arguments)
    rviz, _ = result.node('rviz2')
    rviz_arguments = _arguments(result, rviz)
    assert rviz_arguments[0] == '-d'
    path = rviz_arguments[1]
    assert path == str(cache_home / 'depthclip_ros' / 'rviz' / 'front.depthclip_camera.rviz')
    with open(path, encoding='utf-8') as f:
        config = yaml.safe_load(f)
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
    # Launching again replaces that file: one file per node, never one per launch.
    again = _evaluate('camera', **dict(arguments, rviz_fixed_frame='other_frame'))
    assert _arguments(again, again.node('rviz2')[0])[1] == path
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]
    with open(path, encoding='utf-8') as f:
        assert yaml.safe_load(f)['Visualization Manager']['Global Options'][
            'Fixed Frame'] == 'other_frame'


@requires_launch
def test_rviz_configs_never_accumulate_in_the_temporary_folder(
        rviz2_installed, tmp_path, monkeypatch):
    temporary = tmp_path / 'tmp'
    temporary.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(temporary))
    for name in ('camera', 'demo'):
        _evaluate(name, use_rviz='true').node('rviz2')
    assert os.listdir(temporary) == []


@requires_launch
def test_camera_launch_rviz_custom_config_is_used_as_it_is(rviz2_installed, tmp_path,
                                                           cache_home):
    custom = tmp_path / 'mine.rviz'
    custom.write_text('Panels: []\n')
    result = _evaluate('camera', use_rviz='true', rviz_config=str(custom))
    rviz, _ = result.node('rviz2')
    assert _arguments(result, rviz) == ['-d', str(custom)]
    assert not cache_home.exists()


@requires_launch
def test_rviz_falls_back_to_the_packaged_config_where_the_cache_cannot_be_written(
        rviz2_installed, tmp_path, monkeypatch):
    blocker = tmp_path / 'not_a_folder'
    blocker.write_text('')
    monkeypatch.setenv('XDG_CACHE_HOME', str(blocker))
    result = _evaluate('camera', use_rviz='true')
    assert _arguments(result, result.node('rviz2')[0]) == ['-d', RVIZ_FILE]
    assert any('cannot write the RViz config' in m for m in result.messages), result.messages


@requires_launch
@pytest.mark.parametrize('name,arguments', [('camera', {'use_rviz': 'true'}), ('demo', {})])
def test_without_rviz2_the_launch_goes_on_and_says_how_to_install_it(name, arguments,
                                                                     cache_home):
    result = _evaluate(name, **arguments)
    assert 'rviz2' not in result.executables()
    result.node('depthclip_node')
    assert any('rviz2 is not installed' in m and 'ros-$ROS_DISTRO-rviz2' in m
               for m in result.messages), result.messages
    assert not cache_home.exists()


@requires_launch
def test_camera_launch_rejects_a_bad_camera_name():
    with pytest.raises(ValueError, match='camera_name'):
        _evaluate('camera', camera_name='front camera')


def _image_qos(result):
    node, _ = result.node('depthclip_node')
    return [p['qos.image_reliability'] for p in _parameter_dicts(result, node)
            if 'qos.image_reliability' in p]


@requires_launch
@pytest.mark.parametrize('name,arguments,expected', [
    ('camera', {}, []),  # the params file decides
    ('camera', {'image_qos': 'reliable'}, ['reliable']),
    ('camera', {'image_qos': 'best_effort'}, ['best_effort']),
    ('camera', {'image_qos': 'auto'}, ['auto']),
    ('demo', {}, ['reliable']),  # camera_player publishes reliably
    ('demo', {'image_qos': 'best_effort'}, ['best_effort']),
    ('demo', {'image_qos': ''}, []),
    ('realsense', {'start_driver': 'false'}, ['reliable']),
    ('zed', {'start_driver': 'false'}, ['reliable']),
    ('usb_cam', {'start_driver': 'false'}, []),
    ('sim', {'start_bridge': 'false'}, []),
    ('oakd', {'start_driver': 'false', 'image_qos': 'reliable'}, ['reliable']),
    ('cameras', {'image_qos': 'auto'}, ['auto']),
])
def test_image_qos_reaches_the_node(name, arguments, expected):
    assert _image_qos(_evaluate(name, **arguments)) == expected


@requires_launch
@pytest.mark.parametrize('name', ['camera', 'cameras', 'realsense'])
def test_a_bad_image_qos_is_rejected_with_the_reason(name):
    with pytest.raises(ValueError, match='image_qos must be auto, best_effort, reliable or '
                                         'empty'):
        _evaluate(name, image_qos='sometimes')


@requires_launch
@pytest.mark.parametrize('name,arguments,error', [
    ('demo', {'image_qos': 'sometimes'}, 'image_qos must be'),
    ('demo', {'use_rviz': 'ture'}, 'use_rviz must be true or false'),
    ('usb_cam', {'camera_name': 'my camera'}, 'camera_name must be'),
    ('sim', {'use_sim_time': 'yes please'}, 'use_sim_time must be true or false'),
    ('realsense', {'image_qos': 'RELIABLE'}, 'image_qos must be'),
])
def test_a_bad_value_stops_the_launch_before_the_driver_starts(name, arguments, error,
                                                               ament_index):
    """A driver started before the error would be left running without its launch."""
    from launch import LaunchContext
    for package in ('usb_cam', 'ros_gz_bridge', 'realsense2_camera'):
        ament_index.install(package, 'rs_launch.py', ('camera_name',))
    result = Evaluated(LaunchContext())
    with pytest.raises(ValueError, match=error):
        _evaluate(name, result, **arguments)
    assert result.nodes == []
    assert not [m for m in result.messages if m.startswith('driver ')]


@requires_launch
def test_a_typo_in_a_boolean_argument_is_an_error():
    with pytest.raises(ValueError, match="use_rviz must be true or false, got 'ture'"):
        _evaluate('camera', use_rviz='ture')


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
    result = _evaluate(name)
    assert any(package in message for message in result.messages), result.messages
    result.node('depthclip_node')
    assert result.executables() == ['depthclip_node']


@requires_launch
def test_installed_driver_launch_files_are_included_with_their_own_arguments(ament_index):
    share = ament_index.install('realsense2_camera', 'rs_launch.py',
                                ('camera_namespace', 'camera_name', 'enable_depth'))
    result = _evaluate('realsense', enable_depth='false')
    assert ('driver realsense2_camera: camera_namespace=camera camera_name=camera '
            'enable_depth=false') in result.messages
    share = ament_index.install('depthai_ros_driver', 'camera.launch.py',
                                ('name', 'namespace', 'params_file', 'use_rviz'))
    result = _evaluate('oakd', use_rviz='false')
    assert (f'driver depthai_ros_driver: name=oak namespace= '
            f'params_file={share}/config/camera.yaml use_rviz=false') in result.messages
    # The driver's values stay in its group: DepthCLIP keeps its own.
    node, namespace = result.node('depthclip_node')
    assert namespace == '/oak/depthclip'
    assert str(_parameters(result, node)[0]).endswith(os.path.join('config', 'depthclip.yaml'))
    ament_index.install('zed_wrapper', 'zed_camera.launch.py',
                        ('camera_model', 'camera_name', 'namespace'))
    result = _evaluate('zed', camera_model='zed2i')
    assert 'driver zed_wrapper: camera_model=zed2i camera_name=zed namespace=' in \
        result.messages
    assert result.node('depthclip_node')[1] == '/zed'
    with pytest.raises(ValueError, match='set camera_model:='):
        _evaluate('zed')


@requires_launch
def test_installed_driver_nodes_are_started(ament_index):
    ament_index.install('usb_cam')
    result = _evaluate('usb_cam', video_device='/dev/video4', frame_id='web_optical')
    driver, namespace = result.node('usb_cam_node_exe')
    assert (driver.node_package, namespace) == ('usb_cam', '/')
    (values,) = _parameter_dicts(result, driver)
    assert values == {'video_device': '/dev/video4', 'frame_id': 'web_optical',
                      'camera_info_url': ''}
    ament_index.install('ros_gz_bridge')
    result = _evaluate('sim', image='/cam/img', bridge_clock='false')
    bridge, _ = result.node('parameter_bridge')
    assert _arguments(result, bridge) == [
        '/cam/img@sensor_msgs/msg/Image[gz.msgs.Image',
        '/camera/camera_info@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo']
    node, _ = result.node('depthclip_node')
    assert _remappings(result, node) == _remaps_for('/cam/img', '/camera/camera_info')
    assert {'use_sim_time': True} in _parameter_dicts(result, node)


@requires_launch
def test_demo_launch_wires_the_player_to_the_node(rviz2_installed, cache_home):
    result = _evaluate('demo')
    player, _ = result.node('camera_player')
    node, namespace = result.node('depthclip_node')
    assert namespace == '/camera'
    player_remaps = _remappings(result, player)
    assert _remappings(result, node) == _remaps_for(
        player_remaps['image'], player_remaps['camera_info'])
    (values,) = _parameter_dicts(result, player)
    assert values['source'] == ''
    assert values['rate'] == pytest.approx(2.0)
    assert values['frame_id'] == 'camera_color_optical_frame'
    rviz, _ = result.node('rviz2')
    config_path = _arguments(result, rviz)[1]
    assert os.path.isfile(config_path)
    assert config_path.startswith(str(cache_home))


@requires_launch
@pytest.mark.parametrize('name', ('camera',) + CAMERA_LAUNCH_FILES)
def test_every_listed_argument_works(name, ament_index):
    """What ``ros2 launch -s`` lists reaches the node (and camera_player for the demo)."""
    given = {'camera_name': 'foo', 'namespace': 'robot/foo', 'image': '/in/image',
             'camera_info': '/in/info', 'image_qos': 'best_effort', 'device': 'cpu',
             'log_level': 'debug', 'params_file': OUTDOOR_PARAMS, 'use_sim_time': 'true',
             'rviz_fixed_frame': 'foo_optical'}
    listed = {a for a, _, _ in _listed_arguments(name)}
    assert set(given) <= listed
    result = _evaluate(name, **given)
    node, namespace = result.node('depthclip_node')
    assert _private(node, 'node_name') == 'depthclip_foo'
    assert namespace == '/robot/foo'
    assert _remappings(result, node) == _remaps_for('/in/image', '/in/info')
    assert _ros_arguments(result, node) == ['--log-level', 'debug']
    parameters = _parameters(result, node)
    assert str(parameters[0]) == OUTDOOR_PARAMS
    assert list(parameters[1:]) == [
        {'model.device': 'cpu'}, {'qos.image_reliability': 'best_effort'}, {'use_sim_time': True}]
    if name == 'demo':
        player, _ = result.node('camera_player')
        assert _remappings(result, player) == {'image': '/in/image', 'camera_info': '/in/info'}
        assert _parameter_dicts(result, player)[0]['frame_id'] == 'foo_optical'
        assert _ros_arguments(result, player) == ['--log-level', 'debug']


@requires_launch
def test_demo_camera_name_and_image_qos_are_not_overridden():
    """The case of the issue: camera_name:=foo image_qos:=best_effort."""
    result = _evaluate('demo', camera_name='foo', image_qos='best_effort', use_rviz='false')
    node, namespace = result.node('depthclip_node')
    assert (namespace, _private(node, 'node_name')) == ('/foo', 'depthclip_foo')
    assert _image_qos(result) == ['best_effort']


def _cameras_file(tmp_path):
    path = tmp_path / 'cams.yaml'
    path.write_text(yaml.safe_dump({'cameras': [
        {'name': 'front', 'image': '/ns/front/image', 'camera_info': '/ns/front/camera_info'},
        {'name': 'rear', 'image': '/drivers/rear/color/image_raw',
         'camera_info': '/drivers/rear/color/camera_info'},
    ]}))
    return str(path)


@requires_launch
def test_cameras_launch_file_loads_and_wires_the_node(tmp_path):
    result = _evaluate('cameras', cameras_file=_cameras_file(tmp_path))
    node, namespace = result.node('depthclip_node')
    assert namespace == '/depthclip'
    assert _private(node, 'node_name') == 'depthclip_node'
    remaps = _remappings(result, node)
    assert remaps['rear/image'] == '/drivers/rear/color/image_raw'
    assert remaps['front/camera_info'] == '/ns/front/camera_info'
    parameters = _parameters(result, node)
    assert str(parameters[0]).endswith(os.path.join('config', 'depthclip.yaml'))
    assert list(parameters[1]['cameras']) == ['front', 'rear']
    assert any('2 camera(s) on one model' in m for m in result.messages)


@requires_launch
def test_cameras_launch_arguments_reach_the_node(tmp_path):
    result = _evaluate('cameras', cameras_file=_cameras_file(tmp_path), use_lifecycle='true',
                       node_name='dc', namespace='robot', device='cuda', log_level='warn',
                       use_sim_time='true')
    node, namespace = result.node('depthclip_lifecycle_node')
    assert (namespace, _private(node, 'node_name')) == ('/robot', 'dc')
    assert _ros_arguments(result, node) == ['--log-level', 'warn']
    overrides = list(_parameter_dicts(result, node)[1:])
    assert overrides == [{'model.device': 'cuda'}, {'use_sim_time': True}]
