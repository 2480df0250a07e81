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
Packaging: dependencies that agree, and a wheel that carries the bundled sample frames.

The dependencies are declared twice (package.xml for rosdep, setup.py for pip); both must
cover what the code imports, and say the same.
"""

import ast
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
import zipfile

from import_scan import imported_modules, ros_import_chain, ROS_MODULES
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = 'depthclip_ros/core/data/sample/'
FRAMES = [f'{SAMPLE}{kind}_{i:03d}.png' for kind in ('frame', 'depth') for i in range(4)]
#: Not part of a source tree: left out of the copy that is built.
IGNORED = ('.git', '.venv', '.venv-jazzy', 'build', 'install', 'log', 'out', '.cache',
           '.pytest_cache', '*.egg-info', '__pycache__', '*.whl')


@pytest.fixture(scope='module')
def wheel_build(tmp_path_factory):
    """Build a wheel of a copy of the source tree; return (wheel path, build output)."""
    missing = [name for name in ('pip', 'setuptools') if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f'cannot build a wheel here: {", ".join(missing)} not installed')
    root = tmp_path_factory.mktemp('wheel')
    source = root / 'src'
    # a copy: building in place would leave build/ and *.egg-info in the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--verbose', '--no-deps',
         '--no-build-isolation', '--no-index', '--wheel-dir', str(root / 'dist'),
         str(source)],
        capture_output=True, text=True, timeout=600, cwd=str(root),
        env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1'))
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and "invalid command 'bdist_wheel'" in output:
        pytest.skip('cannot build a wheel here: setuptools < 70.1 without the wheel package')
    assert proc.returncode == 0, output[-3000:]
    wheels = sorted((root / 'dist').glob('depthclip_ros-*.whl'))
    assert len(wheels) == 1, output[-3000:]
    return str(wheels[0]), output


def test_the_wheel_holds_the_sample_frames(wheel_build):
    path, output = wheel_build
    with zipfile.ZipFile(path) as wheel:
        names = set(wheel.namelist())
        for name in FRAMES:
            assert name in names, f'{name} missing from {os.path.basename(path)}'
            assert wheel.read(name)[:8] == b'\x89PNG\r\n\x1a\n', name
    # the module that finds them is there too
    assert 'depthclip_ros/core/sample.py' in names


def test_building_gives_no_data_deprecation_warning(wheel_build):
    """What setuptools says, in its older and newer words, about undeclared data folders."""
    _, output = wheel_build
    text = ' '.join(output.split())
    for warning in ('as data is deprecated', 'Package would be ignored',
                    'is absent from the `packages` configuration'):
        assert warning not in text, [line for line in output.splitlines()
                                     if 'Warning' in line or 'deprecated' in line]


# ---------------------------------------------------------------------------- dependencies
#: Every third-party module the package imports at run time → (its pip requirement and the
#: setup.py list that holds it, its rosdep key and the package.xml tag that holds it).
#: None: no PyPI wheel (a ROS distribution's package only) or no rosdep key. The keys were
#: read in ros/rosdistro's rosdep/base.yaml and rosdep/python.yaml (ubuntu jammy and noble
#: rules) and in humble/, jazzy/ and kilted/distribution.yaml (the ROS packages).
DEPENDENCIES = {
    'numpy': ('numpy', 'install_requires', 'python3-numpy', 'exec_depend'),
    'yaml': ('pyyaml', 'install_requires', 'python3-yaml', 'exec_depend'),
    'cv2': ('opencv-python-headless', 'install_requires', 'python3-opencv', 'exec_depend'),
    'torch': ('torch', 'install_requires', 'python3-torch', 'exec_depend'),
    'open_clip': ('open_clip_torch', 'install_requires', None, None),
    'safetensors': ('safetensors', 'install_requires', None, None),
    'tqdm': ('tqdm', 'install_requires', 'python3-tqdm', 'exec_depend'),
    'rosbags': ('rosbags', 'install_requires', 'python3-rosbags-pip', 'exec_depend'),
    # optional (model.backend onnxruntime, depthclip export onnx): tested, not required
    'onnx': ('onnx', 'onnx', None, None),
    'onnxruntime': ('onnxruntime', 'onnx', 'python3-onnxruntime-pip', 'test_depend'),
    # ROS 2: a distribution's packages, or the PyPI wheels of the `ros` extra
    'rclpy': ('ros-rclpy', 'ros', 'rclpy', 'exec_depend'),
    'rcl_interfaces': ('ros-rcl-interfaces', 'ros', 'rcl_interfaces', 'exec_depend'),
    'sensor_msgs': ('ros-sensor-msgs', 'ros', 'sensor_msgs', 'exec_depend'),
    'std_msgs': ('ros-std-msgs', 'ros', 'std_msgs', 'exec_depend'),
    'diagnostic_msgs': ('ros-diagnostic-msgs', 'ros', 'diagnostic_msgs', 'exec_depend'),
    # grounding/markers (optional at run time: without it the node has no markers output)
    'visualization_msgs': ('ros-visualization-msgs', 'ros', 'visualization_msgs',
                           'exec_depend'),
    'builtin_interfaces': ('ros-builtin-interfaces', 'ros', 'builtin_interfaces',
                           'exec_depend'),
    'ament_index_python': ('ros-ament-index-python', 'ros', 'ament_index_python',
                           'exec_depend'),
    # no PyPI wheel; the package runs without them (launch files, scale.floor_frame,
    # cv_bridge's conversion) where they are missing
    'launch': (None, None, 'launch', 'exec_depend'),
    'launch_ros': (None, None, 'launch_ros', 'exec_depend'),
    'tf2_ros': (None, None, 'tf2_ros', 'exec_depend'),
    'cv_bridge': (None, None, 'cv_bridge', 'exec_depend'),
}

#: Declared but not imported by the package itself, and why.
NOT_IMPORTED = {
    'python3-torchvision': 'open_clip_torch needs it, from the same source as torch',
    'setuptools': 'ament_python and the console scripts',
    'lifecycle_msgs': 'rclpy.lifecycle (depthclip_lifecycle_node) imports it',
    'ros-lifecycle-msgs': 'likewise',
    'ros-rmw-fastrtps-cpp': 'the wheels need an RMW implementation',
    'ros-ament-flake8': "test_flake8.py uses ament's configuration when present",
    'ros-ament-pep257': 'test_pep257.py, likewise',
}

#: The test tools of a ROS distribution (colcon test).
TEST_KEYS = {'ament_copyright', 'ament_flake8', 'ament_pep257', 'python3-pytest'}


def package_xml():
    return ElementTree.parse(os.path.join(REPO, 'package.xml')).getroot()


def declared_keys(root, *tags):
    return [element.text.strip() for tag in tags for element in root.iter(tag)]


def setup_requirements():
    """Return {'install_requires': [...], extra: [...]} read from setup.py's setup() call."""
    with open(os.path.join(REPO, 'setup.py'), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call)
                and getattr(node.func, 'id', None) == 'setup')
    keywords = {k.arg: k.value for k in call.keywords}
    found = {'install_requires': ast.literal_eval(keywords['install_requires'])}
    found.update(ast.literal_eval(keywords['extras_require']))
    return {place: [re.split(r'[<>=!~;\[ ]', r, maxsplit=1)[0] for r in requirements]
            for place, requirements in found.items()}


def third_party_imports():
    """Return {top-level module: files} for the package's imports outside stdlib and itself."""
    found = {}
    for path in glob.glob(os.path.join(REPO, 'depthclip_ros', '**', '*.py'), recursive=True):
        for module in imported_modules(path):
            top = module.split('.')[0]
            if top not in sys.stdlib_module_names and top != 'depthclip_ros':
                found.setdefault(top, set()).add(os.path.relpath(path, REPO))
    return found


def test_package_xml_is_format_3():
    root = package_xml()
    assert root.tag == 'package' and root.get('format') == '3'
    with open(os.path.join(REPO, 'package.xml'), encoding='utf-8') as f:
        assert 'package_format3.xsd' in f.read()
    assert root.findtext('name') == 'depthclip_ros'
    assert root.find('export/build_type').text == 'ament_python'
    # the one version (depthclip_ros/__init__.py, which setup.py reads)
    from depthclip_ros import __version__
    assert root.findtext('version') == __version__


def test_every_imported_module_has_a_row_in_the_table():
    imports = third_party_imports()
    missing = {m: sorted(files) for m, files in imports.items() if m not in DEPENDENCIES}
    assert not missing, f'add these to DEPENDENCIES (pip name, rosdep key): {missing}'
    stale = set(DEPENDENCIES) - set(imports)
    assert not stale, f'no longer imported, remove from DEPENDENCIES: {sorted(stale)}'


def test_package_xml_declares_every_rosdep_key_and_nothing_else():
    root = package_xml()
    for module, (_, _, key, tag) in DEPENDENCIES.items():
        if key is not None:
            assert key in declared_keys(root, tag, 'depend'), f'{module}: <{tag}>{key}</{tag}>'
    run_keys = declared_keys(root, 'depend', 'exec_depend', 'build_depend')
    test_keys = declared_keys(root, 'test_depend')
    known = {row[2] for row in DEPENDENCIES.values()} | set(NOT_IMPORTED)
    assert set(run_keys) <= known, set(run_keys) - known
    assert set(test_keys) <= known | TEST_KEYS, set(test_keys) - known - TEST_KEYS
    assert len(run_keys + test_keys) == len(set(run_keys + test_keys)), 'a key twice'


def test_setup_py_requires_every_pip_package_and_nothing_else():
    requirements = setup_requirements()
    for module, (pip_name, place, _, _) in DEPENDENCIES.items():
        if pip_name is not None:
            assert pip_name in requirements[place], f'{module}: {pip_name} in {place}'
    known = {row[0] for row in DEPENDENCIES.values()} | set(NOT_IMPORTED)
    for place in ('install_requires', 'ros', 'onnx'):
        assert set(requirements[place]) <= known, (place, set(requirements[place]) - known)


def test_package_xml_and_setup_py_agree():
    """What pip installs by default is what rosdep installs by default, module by module."""
    root = package_xml()
    run_keys = set(declared_keys(root, 'depend', 'exec_depend'))
    requirements = setup_requirements()
    for module, (pip_name, place, key, tag) in DEPENDENCIES.items():
        required = place in ('install_requires', 'ros')  # the ros extra: rosdep's ROS packages
        if key is not None:
            assert (key in run_keys) == (required or pip_name is None), module
        if pip_name is not None:
            assert (pip_name in requirements['install_requires'] + requirements['ros']) == (
                tag == 'exec_depend' or key is None and place == 'install_requires'), module


def test_the_ros_modules_are_the_ones_the_test_selection_knows():
    """conftest.py marks the tests that reach one of these; every ROS import is one."""
    for module, (pip_name, place, _, _) in DEPENDENCIES.items():
        ros = place == 'ros' and module != 'ament_index_python' or pip_name is None
        assert (module in ROS_MODULES) == ros, module


def test_the_jazzy_extra_holds_the_same_wheels_as_the_ros_extra():
    requirements = setup_requirements()
    linters = {'ros-ament-flake8', 'ros-ament-pep257'}
    kilted = {r[len('ros-'):] for r in requirements['ros'] if r not in linters}
    jazzy = {r[len('ros-jazzy-'):] for r in requirements['ros-jazzy']}
    assert kilted == jazzy
    # and the Jazzy venv gets no Kilted wheel through the test extra
    assert not [r for r in requirements['test'] if r.startswith('ros-')]


def test_packages_without_a_rosdep_key_are_named_with_their_install_line():
    """The one place: docs/distros.md gives the pip line; package.xml's comment names them."""
    with open(os.path.join(REPO, 'docs', 'distros.md'), encoding='utf-8') as f:
        doc = f.read()
    pip_lines = [line for line in doc.splitlines() if line.lstrip().startswith('pip install')]
    with open(os.path.join(REPO, 'package.xml'), encoding='utf-8') as f:
        comments = ' '.join(re.findall(r'<!--(.*?)-->', f.read(), re.S))
    for module, (pip_name, _, key, _) in DEPENDENCIES.items():
        if key is None:
            assert any(pip_name in line.split() for line in pip_lines), pip_name
            assert pip_name in comments, pip_name


@pytest.mark.parametrize('source, ros', [
    # a lazy import in a test function
    ('def test_x():\n    from sensor_msgs.msg import Image\n', True),
    # only a subprocess runs the node: python -m <module>
    ('import subprocess, sys\n\n\ndef test_x():\n    subprocess.run([sys.executable, '
     "'-m', 'depthclip_ros.ros.runner'])\n", True),
    # through the package: only depthclip_ros/ros/node.py imports rclpy.node
    ('from depthclip_ros.ros.node import DepthClipNode\n', True),
    ('from depthclip_ros.core.geometry import Intrinsics\n', False),
    # the depthclip command: its table names every command module, none imported here
    ('from depthclip_ros.tools.cli import main\n', False),
    ("NAME = 'depthclip_ros.core.geometry'\n", False),
])
def test_the_ros_test_selection_reads_imports_as_they_run(tmp_path, source, ros):
    path = tmp_path / 'test_case.py'
    path.write_text(source, encoding='utf-8')
    assert bool(ros_import_chain(str(path))) == ros, ros_import_chain(str(path))


def test_the_ros_test_selection_finds_the_node_tests_and_leaves_the_core_out():
    test_dir = os.path.join(REPO, 'test')
    # reached through the package: test_demo.py imports depthclip_ros.tools.demo only
    chain = ros_import_chain(os.path.join(test_dir, 'test_demo.py'))
    assert chain[-1].split('.')[0] in ROS_MODULES and len(chain) > 2
    for name in ('test_geometry.py', 'test_colorize.py', 'test_packaging.py'):
        assert ros_import_chain(os.path.join(test_dir, name)) == [], name
    # every test module that imports rclpy itself is selected
    for path in glob.glob(os.path.join(test_dir, 'test_*.py')):
        if any(m.split('.')[0] == 'rclpy' for m in imported_modules(path)):
            assert ros_import_chain(path), path


# ----------------------------------------------------------------------- the colcon build
def _colcon_ros_missing():
    """Return why colcon cannot build an ament_python package with this Python, or ''."""
    for module in ('colcon_core', 'colcon_ros', 'colcon_package_selection'):
        if importlib.util.find_spec(module) is None:
            return f'{module} not installed here (a ROS distribution has it)'
    return ''


@pytest.mark.skipif(bool(_colcon_ros_missing()), reason=_colcon_ros_missing() or 'colcon')
def test_colcon_builds_the_package_with_scripts_that_run_this_python(tmp_path):
    """
    The README's recipe: `python -m colcon build` from a venv; the node runs in that venv.

    colcon is no requirement of the test extra (colcon-core caps setuptools and brings
    pytest plugins), so this runs where colcon is installed: under `colcon test` in a ROS
    distribution, and in a venv that has it.
    """
    workspace = tmp_path / 'ws'
    shutil.copytree(REPO, workspace / 'src' / 'depthclip_ros',
                    ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
    proc = subprocess.run(
        [sys.executable, '-m', 'colcon', '--log-base', str(workspace / 'log'), 'build',
         '--base-paths', str(workspace / 'src'), '--build-base', str(workspace / 'build'),
         '--install-base', str(workspace / 'install'), '--packages-select', 'depthclip_ros'],
        capture_output=True, text=True, timeout=600, cwd=str(workspace),
        env=dict(os.environ, COLCON_HOME=str(tmp_path / 'colcon-home')))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    prefix = workspace / 'install' / 'depthclip_ros'
    share = prefix / 'share' / 'depthclip_ros'
    assert (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' /
            'depthclip_ros').is_file()
    assert (share / 'package.xml').is_file()
    for launch_file in glob.glob(os.path.join(REPO, 'launch', '*.launch.py')):
        assert (share / 'launch' / os.path.basename(launch_file)).is_file(), launch_file
    assert (share / 'config' / 'depthclip.yaml').is_file()
    # ros2 run / ros2 launch look in lib/<package>; the scripts start the venv's Python
    for script in ('depthclip_node', 'depthclip_lifecycle_node', 'camera_player'):
        path = prefix / 'lib' / 'depthclip_ros' / script
        assert path.is_file(), script
        first_line = path.read_text(encoding='utf-8').splitlines()[0]
        assert first_line.startswith('#!') and os.path.samefile(
            first_line[2:].split()[0], sys.executable), first_line
    # the bundled sample frames are installed with the code
    found = glob.glob(str(prefix / 'lib' / 'python*' / 'site-packages' / 'depthclip_ros' /
                          'core' / 'data' / 'sample' / 'frame_000.png'))
    assert found, 'sample frames missing from the colcon install'
