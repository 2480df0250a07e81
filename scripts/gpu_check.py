#!/usr/bin/env python3
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
The GPU check: the CUDA tests and ``depthclip bench --json`` on one machine, one JSON file.

Run by ``scripts/gpu_check.sh`` (see there). Standard library only, so it runs before
anything is installed: the missing Python packages come from a folder of wheels made with
``scripts/gpu_wheels.sh`` and go into a folder of their own (``--site``), never into the
machine's Python. Every step has its own time limit; a step that fails or runs out of time
is recorded in the JSON with its output's tail, and the other steps still run.

The JSON: ``device``, ``environment`` (Python, torch, CUDA, GPU, onnxruntime providers),
``installed`` (what came from the wheels), ``tests`` (the pytest summary of the CUDA
tests), ``bench`` (one ``depthclip bench --json`` result per batch size), ``rows`` (one flat
row per backend, precision and batch: ms per frame, frames/s, difference from fp32),
``errors`` and ``seconds``.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Import name -> wheel (distribution) name of every package the check needs beyond the
#: machine's own (torch, torchvision and onnxruntime are never installed from wheels: they
#: must match the machine's CUDA).
NEEDED = {
    'numpy': 'numpy',
    'yaml': 'pyyaml',
    'cv2': 'opencv-python-headless',
    'safetensors': 'safetensors',
    'tqdm': 'tqdm',
    'regex': 'regex',
    'wcwidth': 'wcwidth',
    'ftfy': 'ftfy',
    'timm': 'timm',
    'open_clip': 'open_clip_torch',
    'onnx': 'onnx',
    'ml_dtypes': 'ml_dtypes',
    'google.protobuf': 'protobuf',
    'typing_extensions': 'typing_extensions',
    'iniconfig': 'iniconfig',
    'pluggy': 'pluggy',
    'packaging': 'packaging',
    'pygments': 'pygments',
    'pytest': 'pytest',
}

#: The tests that exercise CUDA (ROS-free modules: the machine has no ROS wheels). On a CPU
#: they run their CPU parts and skip the rest.
TEST_FILES = ('test/test_engine.py', 'test/test_onnx.py', 'test/test_loading.py')
TEST_KEYWORDS = 'cuda or gpu or precision or tensorrt'


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the GPU check."""
    parser = argparse.ArgumentParser(
        prog='gpu_check.sh',
        description='CUDA tests and depthclip bench on this machine, into one JSON file.')
    parser.add_argument('--device', default='cuda',
                        help='torch device to benchmark (cuda; cpu for the dry run)')
    parser.add_argument('--wheels', default=os.path.join(REPO, '.cache', 'gpu_wheels'),
                        help='folder of wheels for what is missing (scripts/gpu_wheels.sh)')
    parser.add_argument('--site', default=os.path.join(REPO, '.cache', 'gpu_site'),
                        help='folder the missing packages are installed into')
    parser.add_argument('--out', default=os.path.join(os.environ.get('OUT', REPO),
                                                      'gpu_check.json'),
                        help='the JSON file to write ($OUT/gpu_check.json when $OUT is set)')
    parser.add_argument('--batches', default='1,2,8',
                        help='comma-separated batch sizes to benchmark')
    parser.add_argument('--repeats', type=int, default=5, help='timed runs per bench row')
    parser.add_argument('--quick', action='store_true',
                        help='dry run: 64x64 frames and input, fp32, 1 repeat, batch 1')
    parser.add_argument('--skip-tests', action='store_true', help='benchmark only')
    parser.add_argument('--tests', default=TEST_KEYWORDS, metavar='EXPRESSION',
                        help='pytest -k expression choosing the tests (default: %(default)s)')
    parser.add_argument('--test-timeout', type=float, default=240.0, metavar='SECONDS')
    parser.add_argument('--bench-timeout', type=float, default=150.0, metavar='SECONDS',
                        help='time limit of each depthclip bench run')
    return parser


def missing_modules(env: Dict[str, str]) -> List[str]:
    """Return the import names of :data:`NEEDED` that ``sys.executable`` cannot import."""
    code = ('import importlib.util, json, sys\n'
            'names = json.loads(sys.argv[1])\n'
            'def found(n):\n'
            '    try:\n'
            '        return importlib.util.find_spec(n) is not None\n'
            '    except (ImportError, ValueError):\n'
            '        return False\n'
            'print(json.dumps([n for n in names if not found(n)]))\n')
    out = subprocess.run([sys.executable, '-c', code, json.dumps(sorted(NEEDED))], env=env,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return json.loads(out)


def install_missing(args: argparse.Namespace, env: Dict[str, str], report: Dict) -> None:
    """Install what is missing from ``--wheels`` into ``--site`` (no index, no network)."""
    missing = missing_modules(env)
    report['missing'] = missing
    if not missing:
        return
    wheels = sorted({NEEDED[name] for name in missing})
    if not os.path.isdir(args.wheels):
        report['errors'].append(f'missing {", ".join(wheels)} and no wheels folder '
                                f'{args.wheels} (make one with scripts/gpu_wheels.sh)')
        return
    os.makedirs(args.site, exist_ok=True)
    cmd = [sys.executable, '-m', 'pip', 'install', '--no-index', '--no-deps',
           '--find-links', args.wheels, '--target', args.site, '--upgrade',
           '--disable-pip-version-check', *wheels]
    step = run_step('install', cmd, env, timeout=300.0)
    report['installed'] = wheels if step['returncode'] == 0 else []
    if step['returncode'] != 0:
        report['errors'].append(f'pip install from {args.wheels} failed: {step["tail"]}')
    still = missing_modules(env)
    if still:
        report['errors'].append(f'still missing after the install: {", ".join(still)}')


def run_step(name: str, cmd: Sequence[str], env: Dict[str, str], timeout: float) -> Dict:
    """Run one step; return its exit code, seconds, stdout and the tail of its output."""
    start = time.monotonic()
    try:
        proc = subprocess.run(list(cmd), env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=timeout)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as expired:
        code = 124
        out = expired.stdout.decode(errors='replace') if isinstance(expired.stdout, bytes) \
            else (expired.stdout or '')
        err = f'{name}: timed out after {timeout:.0f} s'
    tail = (out + '\n' + err).strip()[-2000:]
    return {'name': name, 'returncode': code, 'seconds': round(time.monotonic() - start, 1),
            'stdout': out, 'tail': tail}


def environment(env: Dict[str, str]) -> Dict:
    """Describe the machine: Python, torch, CUDA, the GPU and onnxruntime's providers."""
    code = ('import json, platform, sys\n'
            'info = {"python": sys.version.split()[0], "machine": platform.machine()}\n'
            'try:\n'
            '    import torch\n'
            '    info["torch"] = torch.__version__\n'
            '    info["cuda_available"] = torch.cuda.is_available()\n'
            '    info["cuda"] = torch.version.cuda\n'
            '    if torch.cuda.is_available():\n'
            '        p = torch.cuda.get_device_properties(0)\n'
            '        info["gpu"] = p.name\n'
            '        info["gpu_memory_gib"] = round(p.total_memory / 2**30, 1)\n'
            '        info["gpu_count"] = torch.cuda.device_count()\n'
            'except Exception as error:\n'
            '    info["torch_error"] = repr(error)\n'
            'try:\n'
            '    import onnxruntime\n'
            '    info["onnxruntime"] = onnxruntime.__version__\n'
            '    info["onnxruntime_providers"] = onnxruntime.get_available_providers()\n'
            'except Exception as error:\n'
            '    info["onnxruntime_error"] = repr(error)\n'
            'print(json.dumps(info))\n')
    step = run_step('environment', [sys.executable, '-c', code], env, timeout=120.0)
    try:
        return json.loads(step['stdout'].strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {'error': step['tail']}


def pytest_summary(text: str) -> Dict:
    """Return the counts of pytest's closing line in ``text`` (passed, failed, ...)."""
    counts: Dict = {}
    words = r'(\d+) (passed|failed|skipped|deselected|errors?)'
    lines = [line for line in text.splitlines() if re.search(words, line)]
    if lines:
        for number, word in re.findall(words, lines[-1]):
            counts[word.rstrip('s') if word.startswith('error') else word] = int(number)
        counts['summary'] = lines[-1].strip('= ')
    return counts


def bench_rows(batch: int, result: Dict) -> List[Dict]:
    """Flatten one ``depthclip bench --json`` result into rows (backend, precision, batch)."""
    rows = []
    for row in result.get('backends', []):
        flat = {'batch': batch}
        flat.update({k: v for k, v in row.items() if not isinstance(v, (dict, list))})
        ms = row.get('ms')  # per frame
        if isinstance(ms, (int, float)) and ms > 0:
            flat['frames_per_s'] = round(1000.0 / ms, 2)
        rows.append(flat)
    return rows


def run(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the check; return the report (also written to ``--out``)."""
    args = build_parser().parse_args(argv)
    start = time.monotonic()
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO, args.site, env.get('PYTHONPATH', '')) if p)
    env.setdefault('HF_HUB_OFFLINE', '1')
    report: Dict = {'device': args.device, 'errors': [], 'installed': []}
    install_missing(args, env, report)
    report['environment'] = environment(env)
    if args.device.startswith('cuda') and not report['environment'].get('cuda_available'):
        report['errors'].append('CUDA is not available to torch on this machine')

    if not args.skip_tests:
        cmd = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rs',
               *TEST_FILES, '-k', args.tests]
        step = run_step('tests', cmd, env, timeout=args.test_timeout)
        report['tests'] = dict(pytest_summary(step['stdout']), returncode=step['returncode'],
                               seconds=step['seconds'])
        if step['returncode'] != 0:
            report['tests']['tail'] = step['tail']
            report['errors'].append(f'CUDA tests exited {step["returncode"]}')

    batches = [1] if args.quick else [int(b) for b in args.batches.split(',') if b]
    repeats = 1 if args.quick else args.repeats
    report['bench'], report['rows'] = {}, []
    for batch in batches:
        cmd = [sys.executable, '-m', 'depthclip_ros.tools.cli', 'bench', '--json',
               '--skip-baseline', '--batch', str(batch), '--repeats', str(repeats),
               '--set', 'model.pretrained=', '--set', f'model.device={args.device}',
               '--set', 'model.backend=torch']
        if args.quick:
            cmd += ['--size', '64x64', '--set', 'input.height=64', '--set', 'input.width=64',
                    '--set', 'model.precision=fp32']
        step = run_step(f'bench batch {batch}', cmd, env, timeout=args.bench_timeout)
        try:
            result = json.loads(step['stdout'].strip().splitlines()[-1])
        except (ValueError, IndexError):
            report['bench'][str(batch)] = {'returncode': step['returncode'],
                                           'tail': step['tail']}
            report['errors'].append(f'bench batch {batch} exited {step["returncode"]}')
            continue
        result['seconds'] = step['seconds']
        report['bench'][str(batch)] = result
        report['rows'].extend(bench_rows(batch, result))
    report['seconds'] = round(time.monotonic() - start, 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1, sort_keys=True)
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the check, print where the JSON is and a line per row; 1 if anything failed."""
    report = run(argv)
    for row in report['rows']:
        print(json.dumps(row, sort_keys=True))
    for error in report['errors']:
        print(f'gpu_check: {error}', file=sys.stderr)
    print(f'gpu_check: {len(report["rows"])} bench rows, tests '
          f'{report.get("tests", {}).get("summary", "skipped")}, {report["seconds"]} s '
          f'-> {build_parser().parse_args(argv).out}')
    return 1 if report['errors'] else 0


if __name__ == '__main__':
    sys.exit(main())
