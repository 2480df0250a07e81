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

"""Shared fixtures: local-only DDS, seeded random CLIP checkpoints, small configurations."""

import atexit
import importlib.metadata
import importlib.util
import os
from pathlib import Path
import shutil
import tempfile

from import_scan import ros_import_chain
import pytest

from depthclip_ros.tools.dds_env import use_local_dds

# DDS traffic stays on this machine and in a domain of its own (the tests' range of domain
# ids, apart from the demo's, the benchmarks' and the soak's), whatever the caller set.
# (Set before any test module imports rclpy.)
use_local_dds('test')
# Never reach for a model hub from a test.
os.environ['HF_HUB_OFFLINE'] = '1'
# model.backend auto's exported graphs and choices go to a folder of this run (removed at
# exit), never to the user's cache.
os.environ['DEPTHCLIP_CACHE_DIR'] = tempfile.mkdtemp(prefix='depthclip-test-cache-')
atexit.register(shutil.rmtree, os.environ['DEPTHCLIP_CACHE_DIR'], ignore_errors=True)

#: rclpy's major version → its ROS 2 distribution (for the report header).
RCLPY_DISTROS = {3: 'Humble', 4: 'Iron', 7: 'Jazzy', 9: 'Kilted'}


def rclpy_version():
    """
    Return (version, where) of the rclpy this interpreter would import, without importing it.

    A pip wheel (ros-rclpy, which ros-jazzy-rclpy requires) has its version in its metadata;
    a ROS distribution has it in share/rclpy/package.xml under the install prefix.
    """
    spec = importlib.util.find_spec('rclpy')
    if spec is None or not spec.origin:
        return None, None
    where = os.path.dirname(spec.origin)
    for dist in importlib.metadata.packages_distributions().get('rclpy', []):
        return importlib.metadata.version(dist), where
    for prefix in Path(where).parents:
        package_xml = prefix / 'share' / 'rclpy' / 'package.xml'
        if package_xml.is_file():
            import xml.etree.ElementTree as ElementTree
            return ElementTree.parse(str(package_xml)).findtext('version'), where
    return 'unknown version', where


def rclpy_line():
    """Return one line naming the rclpy (and so the ROS 2 distribution) this run uses."""
    version, where = rclpy_version()
    if version is None:
        return 'rclpy: not installed (the tests that need it skip)'
    try:
        distro = RCLPY_DISTROS.get(int(version.split('.')[0]), 'unknown distribution')
    except ValueError:
        distro = 'unknown distribution'
    return f'rclpy {version} (ROS 2 {distro}) from {where}'


def pytest_report_header(config):
    """Name the rclpy in the header (shown without -q)."""
    return rclpy_line()


def pytest_terminal_summary(terminalreporter):
    """Name the rclpy again above the result line, which -q (make test) also shows."""
    terminalreporter.write_line(f'ran on {rclpy_line()}')


def pytest_collection_modifyitems(config, items):
    """
    Mark ``ros`` (setup.cfg) every test of a module that reaches rclpy or a message package.

    Found by reading the imports (import_scan.py), so that a new test of the node is in
    ``make test``'s second part without a list to keep.
    """
    chains = {}
    for item in items:
        path = str(item.path)
        if path not in chains:
            chains[path] = bool(ros_import_chain(path))
        if chains[path]:
            item.add_marker(pytest.mark.ros)


@pytest.fixture(scope='session')
def rn50_checkpoint(tmp_path_factory):
    """Seeded random RN50 weights saved to a temporary checkpoint file (safetensors)."""
    from depthclip_ros.core.loading import save_random_checkpoint
    path = tmp_path_factory.mktemp('weights') / 'RN50-random-seed0.safetensors'
    save_random_checkpoint('RN50', str(path), seed=0)
    return str(path)


@pytest.fixture(scope='session')
def small_overrides(rn50_checkpoint):
    """
    Engine settings for fast tests: the random RN50 checkpoint at a small input size.

    torch fp32 explicitly: ``auto`` picks bf16 or onnxruntime by this CPU's speed, and tests
    must do the same arithmetic whichever CPU runs them (test_engine.py and
    test_backend_choice.py test auto).
    """
    return {
        'model.pretrained': rn50_checkpoint,
        'model.device': 'cpu',
        'model.precision': 'fp32',
        'model.backend': 'torch',
        'input.height': 128,
        'input.width': 160,
    }


@pytest.fixture(scope='module')
def context():
    """One rclpy context per test module, closed (entities destroyed) at its end."""
    from ros_helpers import close_context, new_context
    ctx = new_context()
    yield ctx
    close_context(ctx)
