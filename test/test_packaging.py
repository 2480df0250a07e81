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

"""A built wheel carries the bundled sample frames, declared as current setuptools wants."""

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = 'depthclip_ros/core/data/sample/'
FRAMES = [f'{SAMPLE}{kind}_{i:03d}.png' for kind in ('frame', 'depth') for i in range(4)]
#: Not part of a source tree: left out of the copy that is built.
IGNORED = ('.git', '.venv', 'build', 'install', 'log', 'out', '.cache', '.pytest_cache',
           '*.egg-info', '__pycache__', '*.whl')


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
