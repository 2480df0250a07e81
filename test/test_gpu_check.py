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

"""scripts/gpu_check.sh: its CPU dry run, and installing what is missing from wheels."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, 'scripts', 'gpu_check.sh')


def load_check():
    spec = importlib.util.spec_from_file_location(
        'gpu_check', os.path.join(REPO, 'scripts', 'gpu_check.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_on_the_cpu_writes_one_json_with_every_row(tmp_path):
    """The script a GPU machine will run, run here on the CPU: tests and bench rows."""
    pytest.importorskip('onnxruntime')
    out = tmp_path / 'gpu_check.json'
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(['bash', SCRIPT, '--device', 'cpu', '--quick', '--tests',
                           'test_precision_resolution', '--wheels', str(tmp_path / 'none'),
                           '--site', str(tmp_path / 'site'), '--out', str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report['errors'] == [] and report['missing'] == []
    assert report['device'] == 'cpu'
    assert report['environment']['torch'] and report['environment']['cuda_available'] in (
        True, False)
    assert report['tests']['passed'] == 1 and report['tests']['returncode'] == 0
    assert set(report['bench']) == {'1'}
    assert report['bench']['1']['device'] == 'cpu' and report['bench']['1']['input'] == '64x64'
    rows = {(r['backend'], r['precision']): r for r in report['rows']}
    assert ('torch', 'fp32') in rows and ('onnxruntime', 'fp32') in rows
    for row in rows.values():
        assert row['batch'] == 1 and row['ms'] > 0
        assert row['frames_per_s'] == pytest.approx(1000.0 / row['ms'], rel=0.01)
    assert rows[('onnxruntime', 'fp32')]['max_abs_diff_m'] <= 1e-4
    assert f'-> {out}' in proc.stdout.splitlines()[-1]


def test_missing_packages_come_from_the_wheels_folder(tmp_path, monkeypatch):
    """What the machine lacks is installed from wheels, offline, into a folder of its own."""
    source = tmp_path / 'src'
    (source / 'gpu_check_probe_pkg').mkdir(parents=True)
    (source / 'gpu_check_probe_pkg' / '__init__.py').write_text('VALUE = 42\n')
    (source / 'setup.py').write_text(textwrap.dedent("""\
        from setuptools import setup
        setup(name='gpu-check-probe-pkg', version='1.0', packages=['gpu_check_probe_pkg'])
        """))
    wheels = tmp_path / 'wheels'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-index',
                    '--no-build-isolation', '-w', str(wheels), str(source)], check=True,
                   capture_output=True, timeout=300)
    check = load_check()
    monkeypatch.setattr(check, 'NEEDED', {'json': 'json', 'gpu_check_probe_pkg':
                                          'gpu-check-probe-pkg'})
    site = tmp_path / 'site'
    args = check.build_parser().parse_args(['--wheels', str(wheels), '--site', str(site)])
    env = dict(os.environ, PYTHONPATH=str(site))
    report = {'errors': [], 'installed': []}
    check.install_missing(args, env, report)
    assert report['missing'] == ['gpu_check_probe_pkg']
    assert report['installed'] == ['gpu-check-probe-pkg'] and report['errors'] == []
    assert (site / 'gpu_check_probe_pkg' / '__init__.py').is_file()
    # without a wheels folder: one reason naming what is missing and the helper script
    report = {'errors': [], 'installed': []}
    args = check.build_parser().parse_args(['--wheels', str(tmp_path / 'none'),
                                            '--site', str(tmp_path / 'site2')])
    check.install_missing(args, dict(os.environ, PYTHONPATH=''), report)
    assert len(report['errors']) == 1
    assert 'gpu-check-probe-pkg' in report['errors'][0]
    assert 'gpu_wheels.sh' in report['errors'][0]


def test_pytest_summary_reads_the_closing_line():
    check = load_check()
    text = 'x\n= 3 passed, 2 skipped, 51 deselected, 1 error in 4.2s ='
    assert check.pytest_summary(text) == {
        'passed': 3, 'skipped': 2, 'deselected': 51, 'error': 1,
        'summary': '3 passed, 2 skipped, 51 deselected, 1 error in 4.2s'}
    assert check.pytest_summary('no tests ran') == {}
