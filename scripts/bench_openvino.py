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
OpenVINO against onnxruntime on the same exported image encoder graph, on the CPU.

Loads one file written by ``depthclip export onnx`` (fp32 or int8 QDQ) and runs it with
onnxruntime (CPUExecutionProvider, all graph optimizations, one intra-op thread per core)
and with OpenVINO (``compile_model(path, 'CPU')``, ``PERFORMANCE_HINT`` ``LATENCY``), once
with OpenVINO's default ``INFERENCE_PRECISION_HINT`` (bf16 on CPUs with native bf16, f32
elsewhere) and once with ``f32`` forced. An int8 QDQ graph runs int8 in both runtimes. All
of them get the same batch: one frame and its mirror image, as the engine runs with flip
TTA. Rounds run every runtime once, in an order that rotates from round to round, so that
load from other processes falls on all of them alike. Prints, per runtime, the median and
minimum ms per run, onnxruntime's median over it (above 1: faster than onnxruntime), the
median over rounds of the ratio within a round (steadier under changing load) and the
largest and mean |features difference| from onnxruntime (the graph's output); with
``--reference`` also from onnxruntime on a reference graph (the fp32 export, to rate an
int8 graph). ``--save-features`` keeps the features, to turn them into depth elsewhere.

Needs ``openvino``, ``onnxruntime`` and ``numpy`` only, not the package: run it in a venv
of its own, for example::

    python3 -m venv /tmp/ov-venv && /tmp/ov-venv/bin/pip install openvino onnxruntime numpy
    /tmp/ov-venv/bin/python scripts/bench_openvino.py --graph rn50_416x544.onnx
    /tmp/ov-venv/bin/python scripts/bench_openvino.py --graph int8.onnx --reference fp32.onnx

Without ``--input`` the frame is synthetic (smooth colour ramps and seeded noise, normalized
the way the graph's metadata says): run time does not depend on the pixels. ``--input``
takes a normalized ``(N, 3, H, W)`` float32 batch saved with ``numpy.save``.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

#: mean and std per RGB channel of the normalizations ``depthclip export onnx`` records.
NORMALIZATIONS = {
    'imagenet': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    'clip': ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
}


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser."""
    parser = argparse.ArgumentParser(
        description='ms per run of an exported depthclip graph: OpenVINO vs onnxruntime, '
                    'CPU, same input, interleaved rounds.')
    parser.add_argument('--graph', required=True, help='.onnx file from depthclip export onnx')
    parser.add_argument('--reference', default=None,
                        help='another .onnx (the fp32 export): also report the |features '
                             'difference| of every runtime from onnxruntime on it')
    parser.add_argument('--repeats', type=int, default=15,
                        help='timed rounds (each runs every runtime once; default 15)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds (default 2)')
    parser.add_argument('--threads', type=int, default=0,
                        help='threads of each runtime (0: one per core, os.cpu_count())')
    parser.add_argument('--input', default=None,
                        help='.npy normalized (N, 3, H, W) float32 batch (default: a '
                             'synthetic frame and its mirror)')
    parser.add_argument('--save-features', default=None, metavar='FILE.npz',
                        help='also save the features of every runtime (and the reference)')
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    return parser


def graph_metadata(path: str) -> Dict[str, str]:
    """Return the custom metadata of an ONNX file (``depthclip.*`` for an export)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    return dict(session.get_modelmeta().custom_metadata_map)


def synthetic_batch(height: int, width: int, normalization: str) -> np.ndarray:
    """
    Return a normalized ``(2, 3, height, width)`` batch: a synthetic frame and its mirror.

    :param normalization: a key of :data:`NORMALIZATIONS`
    """
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    noise = np.random.default_rng(0).random((3, height, width), dtype=np.float32)
    rgb = np.stack([0.6 * x + 0.2 * y, 0.5 * (1.0 - y) + 0.2 * x * y,
                    0.3 + 0.4 * np.sin(6.0 * x) * y])
    rgb = np.clip(0.85 * rgb + 0.15 * noise, 0.0, 1.0)
    mean, std = (np.array(v, dtype=np.float32)[:, None, None]
                 for v in NORMALIZATIONS[normalization])
    frame = (rgb - mean) / std
    return np.ascontiguousarray(np.stack([frame, frame[:, :, ::-1]]), dtype=np.float32)


def onnxruntime_runner(path: str, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """Return a function running ``path`` in onnxruntime on the CPU: batch -> features."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def openvino_runner(path: str, threads: int, precision: Optional[str]
                    ) -> Dict[str, object]:
    """
    Compile ``path`` with OpenVINO on the CPU (latency hint).

    :param precision: ``INFERENCE_PRECISION_HINT`` (``f32``, ``bf16``) or None for the default
    :return: ``run`` (batch -> features) and ``precision``, the hint the compiled model has
    """
    import openvino as ov
    config = {'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_NUM_THREADS': threads}
    if precision:
        config['INFERENCE_PRECISION_HINT'] = precision
    compiled = ov.Core().compile_model(path, 'CPU', config)
    request = compiled.create_infer_request()

    def run(batch: np.ndarray) -> np.ndarray:
        request.infer({0: batch})
        return np.array(request.get_output_tensor(0).data, copy=True)

    hint = compiled.get_property('INFERENCE_PRECISION_HINT')
    return {'run': run, 'precision': str(getattr(hint, 'type_name', hint))}


def abs_diff(a: np.ndarray, b: np.ndarray) -> Dict[str, float]:
    """Return the max and mean of |a - b| (in float64)."""
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return {'max': float(np.max(diff)), 'mean': float(np.mean(diff))}


def measure(runners: Dict[str, Callable[[np.ndarray], np.ndarray]], batch: np.ndarray,
            repeats: int, warmup: int) -> Dict[str, List[float]]:
    """
    Time every runner on ``batch`` in interleaved rounds; return name -> ms of each run.

    Round ``i`` starts with runner ``i mod n`` so that no runner always comes first.
    """
    names = list(runners)
    times: Dict[str, List[float]] = {name: [] for name in names}
    for index in range(warmup + repeats):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            runners[name](batch)
            elapsed = (time.perf_counter() - start) * 1000.0
            if index >= warmup:
                times[name].append(elapsed)
    return times


def run(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Run the benchmark; return the report."""
    args = build_parser().parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.threads < 0:
        raise SystemExit('bench_openvino: --repeats must be >= 1, --warmup and --threads >= 0')
    for path in (args.graph, args.reference):
        if path and not os.path.isfile(path):
            raise SystemExit(f'bench_openvino: no file {path}')
    import onnxruntime as ort
    import openvino as ov
    threads = args.threads or os.cpu_count() or 1
    meta = graph_metadata(args.graph)
    if args.input:
        batch = np.ascontiguousarray(np.load(args.input), dtype=np.float32)
        source = args.input
    else:
        height = int(meta.get('depthclip.input_height', 416))
        width = int(meta.get('depthclip.input_width', 544))
        normalization = meta.get('depthclip.normalization', 'imagenet')
        if normalization not in NORMALIZATIONS:
            raise SystemExit(f'bench_openvino: unknown normalization {normalization!r}')
        batch = synthetic_batch(height, width, normalization)
        source = f'synthetic frame and its mirror ({normalization} normalization)'
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise SystemExit(f'bench_openvino: input of shape {batch.shape}, not (N, 3, H, W)')

    default = openvino_runner(args.graph, threads, None)
    forced = openvino_runner(args.graph, threads, 'f32')
    labels = {'onnxruntime': 'onnxruntime CPU',
              'openvino_default': f'OpenVINO CPU, default hint ({default["precision"]})',
              'openvino_f32': f'OpenVINO CPU, hint f32 ({forced["precision"]})'}
    runners = {'onnxruntime': onnxruntime_runner(args.graph, threads),
               'openvino_default': default['run'], 'openvino_f32': forced['run']}
    features = {name: runner(batch) for name, runner in runners.items()}
    reference = None
    if args.reference:
        reference = onnxruntime_runner(args.reference, threads)(batch)
    if args.save_features:
        extra = {'reference': reference} if reference is not None else {}
        np.savez(args.save_features, **features, **extra)
    times = measure(runners, batch, args.repeats, args.warmup)

    ort_median = statistics.median(times['onnxruntime'])
    rows = []
    for name in runners:
        median = statistics.median(times[name])
        diff = abs_diff(features[name], features['onnxruntime'])
        row = {'runtime': name, 'label': labels[name], 'median_ms': median,
               'min_ms': min(times[name]), 'speedup_vs_onnxruntime': ort_median / median,
               'paired_speedup_vs_onnxruntime': statistics.median(
                   o / t for o, t in zip(times['onnxruntime'], times[name])),
               'max_feature_diff_vs_onnxruntime': diff['max'],
               'mean_feature_diff_vs_onnxruntime': diff['mean'], 'ms_all': times[name]}
        if reference is not None:
            diff = abs_diff(features[name], reference)
            row['max_feature_diff_vs_reference'] = diff['max']
            row['mean_feature_diff_vs_reference'] = diff['mean']
        rows.append(row)
    load = [f'{v:.2f}' for v in os.getloadavg()] if hasattr(os, 'getloadavg') else []
    return {
        'graph': args.graph, 'reference': args.reference,
        'graph_precision': meta.get('depthclip.precision', '?'),
        'model': meta.get('depthclip.model', '?'),
        'feature_mode': meta.get('depthclip.feature_mode', '?'),
        'input': source, 'batch_shape': list(batch.shape),
        'features_shape': list(features['onnxruntime'].shape),
        'max_abs_feature': float(np.max(np.abs(features['onnxruntime']))),
        'repeats': args.repeats, 'warmup': args.warmup, 'threads': threads,
        'onnxruntime': ort.__version__, 'openvino': ov.__version__,
        'cpu': platform.processor() or platform.machine(), 'cpu_count': os.cpu_count(),
        'cpu_flags': cpu_flags(), 'load_average': load, 'results': rows,
    }


def cpu_flags() -> List[str]:
    """Return the vector ISA flags of this CPU that matter here (Linux; else empty)."""
    wanted = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_bf16', 'amx_int8',
              'avx_vnni')
    try:
        with open('/proc/cpuinfo', encoding='ascii', errors='replace') as f:
            for line in f:
                if line.startswith('flags'):
                    present = set(line.split(':', 1)[1].split())
                    return [flag for flag in wanted if flag in present]
    except OSError:
        pass
    return []


def format_table(report: Dict[str, object]) -> str:
    """Return the report as a text table."""
    lines = [f'{report["graph"]} ({report["model"]} {report["feature_mode"]}, '
             f'{report["graph_precision"]} graph), batch {report["batch_shape"]}: '
             f'{report["input"]}',
             f'onnxruntime {report["onnxruntime"]}, OpenVINO {report["openvino"]}, '
             f'{report["threads"]} threads, {report["cpu_count"]} cores '
             f'({" ".join(report["cpu_flags"]) or "flags unknown"}), load average '
             f'{" ".join(report["load_average"])}, {report["repeats"]} interleaved rounds',
             f'{"runtime":<38} {"median ms":>9} {"min ms":>8} {"vs ort":>7} {"paired":>7} '
             f'{"|d feat| ort max / mean":>23}' + (f' {"|d feat| ref max / mean":>23}'
                                                   if report['reference'] else '')]
    for r in report['results']:
        line = (f'{r["label"]:<38} {r["median_ms"]:>9.1f} {r["min_ms"]:>8.1f} '
                f'{r["speedup_vs_onnxruntime"]:>6.2f}x '
                f'{r["paired_speedup_vs_onnxruntime"]:>6.2f}x '
                f'{r["max_feature_diff_vs_onnxruntime"]:>13.2e} / '
                f'{r["mean_feature_diff_vs_onnxruntime"]:.2e}')
        if report['reference']:
            line += (f' {r["max_feature_diff_vs_reference"]:>13.2e} / '
                     f'{r["mean_feature_diff_vs_reference"]:.2e}')
        lines.append(line)
    lines.append('vs ort: the median of onnxruntime / this median; paired: the median over '
                 'rounds of onnxruntime ms / this ms in the same round')
    lines.append(f'(largest |feature| from onnxruntime: {report["max_abs_feature"]:.3g})')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark and print a table (or JSON); return the exit code."""
    report = run(argv)
    if '--json' in (sys.argv[1:] if argv is None else argv):
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
    return 0


if __name__ == '__main__':
    sys.exit(main())
