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
flake8 over the whole package, as ``colcon test`` runs it through ament_flake8.

The configuration is ament_flake8's (google import order, 99 columns, its ignore list)
updated with the ``[flake8]`` section of setup.cfg (application-import-names, excludes).
Without ament_flake8 (no ROS 2) plain flake8 runs with the same configuration, so the
check is the same everywhere: single quotes (flake8-quotes), google import order
(flake8-import-order), 99 columns.
"""

import configparser
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Never checked: virtual environments and colcon / build outputs.
EXCLUDED = ('.venv', '.venv-jazzy', 'build', 'install', 'log')

#: ament_flake8's configuration/ament_flake8.ini, for machines without ament_flake8.
AMENT_DEFAULTS = {
    'extend-ignore': 'B902,C816,D100,D101,D102,D103,D104,D105,D106,D107,D203,D212,D404,I202',
    'import-order-style': 'google',
    'max-line-length': '99',
    'show-source': 'true',
    'statistics': 'true',
}


def _comma_list(text):
    return [item.strip() for item in text.replace('\n', ',').split(',') if item.strip()]


def _ament_defaults():
    """Return the [flake8] options of ament_flake8's own configuration file."""
    try:
        spec = importlib.util.find_spec('ament_flake8')
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        return dict(AMENT_DEFAULTS)
    ini = os.path.join(os.path.dirname(spec.origin), 'configuration', 'ament_flake8.ini')
    parser = configparser.ConfigParser()
    if not parser.read(ini) or not parser.has_section('flake8'):
        return dict(AMENT_DEFAULTS)
    return dict(parser.items('flake8'))


def write_config(path):
    """
    Write the flake8 configuration for this package: ament's, updated with setup.cfg's.

    :param path: file to write
    :return: ``path``
    """
    options = _ament_defaults()
    setup_cfg = configparser.ConfigParser()
    setup_cfg.read(os.path.join(ROOT, 'setup.cfg'))
    package = dict(setup_cfg.items('flake8')) if setup_cfg.has_section('flake8') else {}
    ignored = _comma_list(options.get('extend-ignore', ''))
    ignored += [c for c in _comma_list(package.pop('extend-ignore', '')) if c not in ignored]
    excluded = list(EXCLUDED)
    excluded += [e for e in _comma_list(package.pop('exclude', '')) if e not in excluded]
    options.update(package)
    options['extend-ignore'] = ','.join(ignored)
    options['exclude'] = ','.join(excluded)
    # One process: flake8's worker pool forks this pytest process, which may hold ROS/DDS
    # state from earlier test modules; a forked worker that dies hangs the pool.
    options['jobs'] = '1'
    config = configparser.ConfigParser()
    config['flake8'] = options
    with open(path, 'w', encoding='utf-8') as f:
        config.write(f)
    return path


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8(tmp_path, monkeypatch):
    # ament_flake8 collects the paths to exclude from the working directory.
    monkeypatch.chdir(ROOT)
    config = write_config(str(tmp_path / 'flake8.ini'))
    try:
        from ament_flake8.main import main_with_errors
    except ImportError:
        main_with_errors = None

    if main_with_errors is not None:
        rc, errors = main_with_errors(argv=['--config', config, ROOT])
        assert rc == 0, (f'Found {len(errors)} code style errors / warnings:\n'
                         + '\n'.join(errors))
        return

    for plugin in ('flake8', 'flake8_quotes', 'flake8_import_order'):
        if importlib.util.find_spec(plugin) is None:
            pytest.fail(f'{plugin} is not installed (pip install depthclip_ros[test])')
    run = subprocess.run([sys.executable, '-m', 'flake8', '--config', config, ROOT],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, f'flake8 found problems:\n{run.stdout}{run.stderr}'
