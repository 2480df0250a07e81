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
The launch tables and pure helpers of depthclip_ros.launch_common, without ROS or launch.

What every launch file declares (names, defaults, descriptions), which driver it starts with
which arguments, how image_qos and the booleans are checked, and where the generated RViz
config goes: all of it is decided here, so it is tested on any machine.
"""

import os
import subprocess
import sys

import pytest
import yaml

from depthclip_ros import launch_common as lc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RVIZ_FILE = os.path.join(ROOT, 'rviz', 'depthclip.rviz')
CAMERA_LAUNCHES = ('demo', 'realsense', 'usb_cam', 'oakd', 'zed', 'sim')

#: What `ros2 launch -s` showed for each launch file before the arguments moved into one
#: table (packaged paths left out): every one must stay as it was.
DEFAULTS_BEFORE = {
    'camera': {'camera_name': 'camera', 'namespace': '', 'image': '/camera/color/image_raw',
               'camera_info': '/camera/color/camera_info', 'device': '', 'image_qos': '',
               'use_sim_time': 'false', 'log_level': 'info', 'use_rviz': 'false',
               'rviz_config': '', 'rviz_fixed_frame': 'camera_color_optical_frame'},
    'cameras': {'namespace': 'depthclip', 'node_name': 'depthclip_node', 'device': '',
                'image_qos': '', 'use_sim_time': 'false', 'use_lifecycle': 'false',
                'log_level': 'info'},
    'demo': {'source': '', 'rate': '2.0', 'loop': 'true', 'device': '', 'use_rviz': 'true',
             'log_level': 'info'},
    'realsense': {'start_driver': 'true', 'camera_name': 'camera', 'namespace': '',
                  'image': '/camera/camera/color/image_raw',
                  'camera_info': '/camera/camera/color/camera_info', 'image_qos': 'reliable',
                  'device': '', 'use_rviz': 'false',
                  'rviz_fixed_frame': 'camera_color_optical_frame', 'log_level': 'info'},
    'usb_cam': {'start_driver': 'true', 'driver': 'usb_cam', 'video_device': '/dev/video0',
                'frame_id': 'camera_color_optical_frame', 'camera_info_url': '',
                'camera_name': 'camera', 'namespace': '', 'image': '/image_raw',
                'camera_info': '/camera_info', 'image_qos': '', 'device': '',
                'use_rviz': 'false', 'log_level': 'info'},
    'oakd': {'start_driver': 'true', 'camera_name': 'oak', 'namespace': 'oak/depthclip',
             'image': '/oak/rgb/image_raw', 'camera_info': '/oak/rgb/camera_info',
             'image_qos': '', 'device': '', 'use_rviz': 'false',
             'rviz_fixed_frame': 'oak_rgb_camera_optical_frame', 'log_level': 'info'},
    'zed': {'start_driver': 'true', 'camera_model': '', 'camera_name': 'zed', 'namespace': '',
            'image': '/zed/zed_node/rgb/color/rect/image',
            'camera_info': '/zed/zed_node/rgb/color/rect/camera_info', 'image_qos': 'reliable',
            'device': '', 'use_rviz': 'false',
            'rviz_fixed_frame': 'zed_left_camera_frame_optical', 'log_level': 'info'},
    'sim': {'simulator': 'gazebo', 'start_bridge': 'true', 'bridge_clock': 'true', 'image': '',
            'camera_info': '', 'rviz_fixed_frame': '', 'use_sim_time': 'true',
            'camera_name': 'camera', 'namespace': '', 'image_qos': '', 'device': '',
            'use_rviz': 'false', 'log_level': 'info'},
}


def listed(launch_name):
    """Return name -> default as `ros2 launch -s` lists them: the file's, then the core's."""
    arguments = {a.name: a.default for a in lc.declared_arguments(launch_name)}
    if launch_name in CAMERA_LAUNCHES:
        for argument in lc.declared_arguments('camera'):
            arguments.setdefault(argument.name, argument.default)
    return arguments


# -------------------------------------------------------------------------------------------
# The module
# -------------------------------------------------------------------------------------------
def test_importing_it_imports_no_ros_and_writes_nothing(tmp_path):
    code = ('import sys; import depthclip_ros.launch_common; '
            "print(sorted(m for m in ('launch', 'launch_ros', 'rclpy', 'ament_index_python') "
            'if m in sys.modules))')
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / 'cache'),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            env=env, cwd=str(tmp_path), check=True)
    assert result.stdout.strip() == '[]'
    assert os.listdir(tmp_path) == []


# -------------------------------------------------------------------------------------------
# The argument table and what each launch file declares
# -------------------------------------------------------------------------------------------
def test_every_argument_is_described_once():
    for argument in lc.ARGUMENTS.values():
        assert argument.description.strip(), argument.name
        assert isinstance(argument.default, str), argument.name
        assert not argument.choices or argument.default in argument.choices, argument.name
    for launch_name in lc.LAUNCH_FILES:
        names = [a.name for a in lc.declared_arguments(launch_name)]
        assert len(names) == len(set(names)), f'{launch_name}: declared twice: {names}'
        for argument in lc.declared_arguments(launch_name):
            assert argument.description.strip(), (launch_name, argument.name)


def test_every_argument_is_declared_by_some_launch_file():
    declared = {a.name for name in lc.LAUNCH_FILES for a in lc.declared_arguments(name)}
    assert set(lc.ARGUMENTS) == declared


@pytest.mark.parametrize('launch_name', CAMERA_LAUNCHES)
def test_camera_launch_files_declare_only_what_differs(launch_name):
    spec = lc.LAUNCH_FILES[launch_name]
    core = {a.name: a for a in lc.declared_arguments('camera')}
    assert not set(spec.arguments) & set(core), 'a driver argument shadows a core argument'
    assert set(spec.defaults) <= set(core)
    for argument in lc.declared_arguments(launch_name):
        assert argument.name in set(core) | set(spec.arguments)
        if argument.name in core and argument.name not in spec.descriptions:
            assert argument.default != core[argument.name].default, (
                f'{argument.name} is declared again with the core default')


def test_the_core_declares_every_node_argument():
    assert [a.name for a in lc.declared_arguments('camera')] == list(lc.CORE_ARGUMENTS)
    assert {'camera_name', 'namespace', 'image', 'camera_info', 'params_file', 'device',
            'use_rviz', 'log_level'} <= set(lc.CORE_ARGUMENTS)


def test_cameras_launch_declares_the_node_arguments():
    declared = {a.name: a for a in lc.declared_arguments('cameras')}
    assert {'cameras_file', 'namespace', 'params_file', 'device', 'log_level',
            'use_sim_time', 'image_qos', 'use_lifecycle', 'node_name'} <= set(declared)
    assert '<camera>' in declared['namespace'].description


@pytest.mark.parametrize('launch_name', sorted(DEFAULTS_BEFORE))
def test_every_default_is_kept(launch_name):
    arguments = listed(launch_name)
    before = DEFAULTS_BEFORE[launch_name]
    assert {name: arguments.get(name) for name in before} == before


@pytest.mark.parametrize('launch_name,expected', [
    ('camera', ''), ('cameras', ''), ('demo', 'reliable'), ('realsense', 'reliable'),
    ('zed', 'reliable'), ('usb_cam', ''), ('oakd', ''), ('sim', '')])
def test_image_qos_defaults_per_launch_file(launch_name, expected):
    assert listed(launch_name)['image_qos'] == expected


def test_packaged_defaults_are_files_of_this_package():
    for name in ('params_file', 'cameras_file'):
        argument = lc.ARGUMENTS[name]
        assert argument.packaged
        assert os.path.isfile(os.path.join(ROOT, argument.default)), name


def test_empty_topic_defaults_say_where_the_value_comes_from():
    sim = {a.name: a for a in lc.declared_arguments('sim')}
    assert '/camera/image (gazebo)' in sim['image'].description
    assert '/rgb (isaac)' in sim['image'].description
    assert 'sim_camera (isaac)' in sim['rviz_fixed_frame'].description
    usb = {a.name: a for a in lc.declared_arguments('usb_cam')}
    assert usb['rviz_fixed_frame'].default == ''
    assert 'frame_id argument' in usb['rviz_fixed_frame'].description


def test_selectors_choose_among_the_drivers_of_their_file():
    for launch_name, spec in lc.LAUNCH_FILES.items():
        assert set(spec.drivers) <= set(lc.DRIVERS), launch_name
        if spec.selector:
            assert spec.selector in spec.arguments
            assert set(lc.ARGUMENTS[spec.selector].choices) == set(spec.drivers)
            assert lc.ARGUMENTS[spec.selector].default == spec.drivers[0]
        if spec.drivers and spec.switch:
            assert spec.switch in spec.arguments, launch_name
    for driver in lc.DRIVERS.values():
        assert not (driver.launch_file and driver.executable)
        assert not driver.package or driver.launch_file or driver.executable
        assert not driver.package or driver.package == lc.PACKAGE or driver.install


# -------------------------------------------------------------------------------------------
# Values
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize('text', ['true', 'True', 'TRUE', '1', 'yes', 'on', ' true '])
def test_is_true_accepts_every_spelling_of_true(text):
    assert lc.is_true(text) is True


@pytest.mark.parametrize('text', ['false', 'False', '0', 'no', 'off'])
def test_is_true_accepts_every_spelling_of_false(text):
    assert lc.is_true(text) is False


@pytest.mark.parametrize('text', ['ture', '', 'maybe', '2'])
def test_is_true_rejects_a_typo_naming_the_argument(text):
    with pytest.raises(ValueError, match='use_rviz must be true or false'):
        lc.is_true(text, 'use_rviz')


@pytest.mark.parametrize('value', ['', 'auto', 'best_effort', 'reliable'])
def test_image_qos_accepts_auto_and_the_policies(value):
    assert lc.check_image_qos(value) == value


@pytest.mark.parametrize('value', ['sometimes', 'RELIABLE', 'best-effort'])
def test_image_qos_rejects_anything_else_with_the_reason(value):
    with pytest.raises(ValueError, match=r'image_qos must be auto, best_effort, reliable or '
                                         r"empty \(the params file's qos.image_reliability\)"):
        lc.check_image_qos(value)


@pytest.mark.parametrize('given,error', [
    ({'camera_name': '9'}, 'camera_name'), ({'image': ''}, 'image and camera_info'),
    ({'camera_info': ''}, 'image and camera_info'), ({'image_qos': 'x'}, 'image_qos'),
    ({'use_sim_time': 'x'}, 'use_sim_time'), ({'use_rviz': 'x'}, 'use_rviz')])
def test_check_camera_values_names_the_bad_argument(given, error):
    lc.check_camera_values(lc.launch_values({}))
    with pytest.raises(ValueError, match=error):
        lc.check_camera_values(lc.launch_values(given))


def test_node_parameters_put_the_overrides_after_the_params_file():
    values = lc.launch_values({'params_file': '/p.yaml', 'device': 'cuda:1',
                               'image_qos': 'auto', 'use_sim_time': 'on'})
    assert lc.node_parameters(values, ({'cameras': ['a']},)) == [
        '/p.yaml', {'cameras': ['a']}, {'model.device': 'cuda:1'},
        {'qos.image_reliability': 'auto'}, {'use_sim_time': True}]
    plain = lc.launch_values({'params_file': '/p.yaml'})
    assert lc.node_parameters(plain) == ['/p.yaml']


def test_launch_values_strip_and_fall_back_to_the_table():
    values = lc.launch_values({'camera_name': ' front '})
    assert values['camera_name'] == 'front'
    assert values['log_level'] == 'info'
    assert 'params_file' not in values  # packaged: resolved by the declaration


@pytest.mark.parametrize('name', ['front camera', '1front', 'front/left', ''])
def test_camera_name_must_be_a_ros_name_part(name):
    with pytest.raises(ValueError, match='camera_name must be a valid ROS name part'):
        lc.check_camera_name(name)


def test_image_remappings_cover_raw_and_compressed():
    assert lc.image_remappings('/cam/image/', '/cam/info') == [
        ('image', '/cam/image/'), ('image/compressed', '/cam/image/compressed'),
        ('camera_info', '/cam/info')]
    with pytest.raises(ValueError, match='image and camera_info'):
        lc.image_remappings('', '/cam/info')


@pytest.mark.parametrize('parent,child,expected', [
    (None, 'front', '/front'), ('/robot', 'front', '/robot/front'),
    ('/robot/', '/front', '/front'), ('', '/', '/'), ('/robot', 'a//b/', '/robot/a/b')])
def test_join_namespace(parent, child, expected):
    assert lc.join_namespace(parent, child) == expected


# -------------------------------------------------------------------------------------------
# Drivers
# -------------------------------------------------------------------------------------------
def installed(*packages):
    """Return a share lookup that knows only ``packages``."""
    return lambda package: f'/opt/ros/share/{package}' if package in packages else None


def start_of(launch_name, share=installed(), **given):
    values = lc.launch_values(given, launch_name)
    values.update(lc.resolve_camera(launch_name, values))
    return lc.driver_start(launch_name, values, share)


@pytest.mark.parametrize('launch_name,given,expected', [
    ('sim', {}, ('/camera/image', '/camera/camera_info', 'camera_optical_frame')),
    ('sim', {'simulator': 'isaac'}, ('/rgb', '/camera_info', 'sim_camera')),
    ('sim', {'image': '/my/image', 'rviz_fixed_frame': 'f'},
     ('/my/image', '/camera/camera_info', 'f')),
    ('usb_cam', {'frame_id': 'webcam_optical'}, ('/image_raw', '/camera_info', 'webcam_optical')),
    ('demo', {}, ('/camera/color/image_raw', '/camera/color/camera_info',
                  'camera_color_optical_frame')),
])
def test_resolve_camera(launch_name, given, expected):
    values = lc.launch_values(given, launch_name)
    camera = lc.resolve_camera(launch_name, values)
    assert (camera['image'], camera['camera_info'], camera['rviz_fixed_frame']) == expected


def test_a_missing_driver_package_gives_the_command_and_how_to_install_it():
    start = start_of('realsense')
    assert start.message == (
        'realsense2_camera is not installed: start it yourself (ros2 launch realsense2_camera '
        'rs_launch.py camera_namespace:=camera camera_name:=camera), or install '
        'ros-$ROS_DISTRO-realsense2-camera')
    start = start_of('usb_cam', driver='v4l2_camera', video_device='/dev/video2')
    assert 'ros2 run v4l2_camera v4l2_camera_node --ros-args -p video_device:=/dev/video2 ' \
           '-p camera_frame_id:=camera_color_optical_frame' in start.message
    assert 'install ros-$ROS_DISTRO-v4l2-camera' in start.message
    start = start_of('sim')
    assert 'ros2 run ros_gz_bridge parameter_bridge /camera/image@sensor_msgs/msg/Image[' \
           'gz.msgs.Image' in start.message
    assert start_of('zed').message == (
        'zed_wrapper is not installed: start it yourself (ros2 launch zed_wrapper '
        'zed_camera.launch.py camera_model:=<camera_model> camera_name:=zed), or '
        'zed-ros2-wrapper is built from source with the ZED SDK')
    assert start_of('oakd').message == (
        'depthai_ros_driver is not installed: start it yourself (ros2 launch '
        'depthai_ros_driver camera.launch.py name:=oak use_rviz:=false), or install '
        'ros-$ROS_DISTRO-depthai-ros')
    assert start_of('sim', bridge_clock='false').message.endswith(
        'CameraInfo[gz.msgs.CameraInfo), or install ros-$ROS_DISTRO-ros-gz-bridge')


def test_installed_launch_file_drivers_get_their_own_arguments():
    start = start_of('oakd', share=installed('depthai_ros_driver'))
    assert (start.package, start.launch_file) == ('depthai_ros_driver', 'camera.launch.py')
    assert start.launch_arguments == {
        'name': 'oak', 'namespace': '', 'use_rviz': 'false',
        'params_file': '/opt/ros/share/depthai_ros_driver/config/camera.yaml'}
    start = start_of('zed', share=installed('zed_wrapper'), camera_model='zed2i')
    assert start.launch_arguments == {'camera_model': 'zed2i', 'camera_name': 'zed',
                                      'namespace': ''}


def test_zed_needs_a_camera_model_to_start_the_wrapper():
    with pytest.raises(ValueError, match=r'zed.launch.py: set camera_model:= to start '
                                         r'zed_wrapper .*start_driver:=false'):
        start_of('zed', share=installed('zed_wrapper'))
    assert start_of('zed', share=installed('zed_wrapper'), start_driver='false') is None


def test_webcam_drivers_run_as_nodes_with_their_parameter_names():
    start = start_of('usb_cam', share=installed('usb_cam'), frame_id='web_optical',
                     camera_info_url='file:///c.yaml')
    assert (start.executable, start.node_name) == ('usb_cam_node_exe', 'usb_cam')
    assert start.parameters == {'video_device': '/dev/video0', 'frame_id': 'web_optical',
                                'camera_info_url': 'file:///c.yaml'}
    start = start_of('usb_cam', share=installed('v4l2_camera'), driver='v4l2_camera')
    assert start.executable == 'v4l2_camera_node'
    assert start.parameters['camera_frame_id'] == 'camera_color_optical_frame'


def test_gazebo_bridge_arguments_follow_the_topics_and_the_clock_flag():
    share = installed('ros_gz_bridge')
    start = start_of('sim', share=share, image='/cam/img')
    assert start.arguments == ['/cam/img@sensor_msgs/msg/Image[gz.msgs.Image',
                               '/camera/camera_info@sensor_msgs/msg/CameraInfo['
                               'gz.msgs.CameraInfo',
                               '/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock']
    assert start.node_name == 'depthclip_camera_bridge'
    start = start_of('sim', share=share, bridge_clock='false')
    assert len(start.arguments) == 2
    assert start_of('sim', share=share, start_bridge='false') is None
    assert start_of('sim', share=share, simulator='isaac') is None  # nothing to start


def test_camera_player_gets_typed_parameters_and_the_demo_topics():
    start = start_of('demo', image='/x/image', camera_info='/x/info', rviz_fixed_frame='x_opt',
                     rate='5', loop='off', source='/videos/a.mp4', log_level='debug')
    assert start.parameters == {'source': '/videos/a.mp4', 'rate': 5.0, 'loop': False,
                                'frame_id': 'x_opt'}
    assert start.remappings == [('image', '/x/image'), ('camera_info', '/x/info')]
    assert start.log_level == 'debug'
    with pytest.raises(ValueError, match="rate must be a number, got 'fast'"):
        start_of('demo', rate='fast')
    with pytest.raises(ValueError, match='loop must be true or false'):
        start_of('demo', loop='sometimes')


# -------------------------------------------------------------------------------------------
# The generated RViz config
# -------------------------------------------------------------------------------------------
def test_rviz_config_path_is_one_file_per_node_in_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    path = lc.rviz_config_path('/robot/front/depthclip_front')
    assert path == str(tmp_path / 'depthclip_ros' / 'rviz' / 'robot.front.depthclip_front.rviz')
    assert lc.rviz_config_path('/robot/front/depthclip_front') == path
    monkeypatch.delenv('XDG_CACHE_HOME')
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    assert lc.rviz_config_path('/camera/depthclip_camera') == str(
        tmp_path / 'home' / '.cache' / 'depthclip_ros' / 'rviz' / 'camera.depthclip_camera.rviz')


def test_write_rviz_config_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = str(tmp_path / 'rviz' / 'front.rviz')
    topics = {lc.RVIZ_INPUT_DISPLAY: '/front/image', lc.RVIZ_POINTS_DISPLAY: '/front/points'}
    for frame in ('first_frame', 'front_optical'):
        assert lc.write_rviz_config(RVIZ_FILE, path, frame, topics) == path
    assert os.listdir(tmp_path / 'rviz') == ['front.rviz']
    with open(path, encoding='utf-8') as f:
        config = yaml.safe_load(f)
    manager = config['Visualization Manager']
    assert manager['Global Options']['Fixed Frame'] == 'front_optical'
    shown = {d['Name']: d.get('Topic', {}).get('Value') for d in manager['Displays']}
    assert shown['Input image'] == '/front/image'
    assert shown['Point cloud'] == '/front/points'
    assert shown['Depth (colorized)'] == '/camera/depth/colorized'  # not named: kept


def test_write_rviz_config_fails_cleanly_where_it_cannot_write(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    with pytest.raises(OSError):
        lc.write_rviz_config(RVIZ_FILE, str(blocker / 'x.rviz'), 'f', {})
    assert os.listdir(tmp_path) == ['file']
