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
N cameras on one model: one batched encoder pass per round vs N single-image passes.

What the multi-camera node does each round (``engine.predict`` of the newest frame of every
camera, with per-camera output sizes) against what N separate single-camera nodes sharing
the device would do (N ``predict`` calls of one image). Images are the bundled 640x480
sample frames (and their mirror images); rounds alternate between the two ways so that
both see the same machine load. No ROS needed. Example::

    python scripts/bench_cameras.py --cameras 1 2 4 --rounds 5
    python scripts/bench_cameras.py --device cuda --json

Without ``--weights`` a seeded random RN50 checkpoint is written to the cache folder: the
timing of a network does not depend on its weights.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser."""
    parser = argparse.ArgumentParser(
        description='Median ms per round of N camera frames: batched (one encoder pass) vs '
                    'N sequential predict calls.')
    parser.add_argument('--cameras', type=int, nargs='+', default=[1, 2, 4],
                        help='numbers of cameras to measure (default: 1 2 4)')
    parser.add_argument('--rounds', type=int, default=5, help='timed rounds per way and N')
    parser.add_argument('--warmup', type=int, default=1, help='untimed rounds per way and N')
    parser.add_argument('--weights', default=None,
                        help='model.pretrained (default: seeded random RN50 checkpoint)')
    parser.add_argument('--model', default='RN50', help='model.name')
    parser.add_argument('--device', default='cpu', help='model.device (cpu, cuda, cuda:N)')
    parser.add_argument('--precision', default='auto', help='model.precision')
    parser.add_argument('--height', type=int, default=416, help='input.height (paper: 416)')
    parser.add_argument('--width', type=int, default=544, help='input.width (paper: 544)')
    parser.add_argument('--no-flip-tta', action='store_true',
                        help='flip_tta false (half the encoder work per frame)')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads (0: torch default)')
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    return parser


def camera_images(count: int) -> List[np.ndarray]:
    """Return ``count`` different 640x480 RGB frames: the sample frames, then mirrored."""
    from depthclip_ros.core.sample import load_sample_rgb, SAMPLE_FRAME_COUNT
    images = []
    for i in range(count):
        rgb = load_sample_rgb(i % SAMPLE_FRAME_COUNT)
        if (i // SAMPLE_FRAME_COUNT) % 2:
            rgb = np.ascontiguousarray(rgb[:, ::-1])
        images.append(rgb)
    return images


def _synchronize(device: str) -> None:
    if device.startswith('cuda'):
        import torch
        torch.cuda.synchronize()


def measure(engine, count: int, rounds: int, warmup: int) -> Dict[str, float]:
    """
    Time ``rounds`` rounds of ``count`` frames both ways; return medians and ratios.

    :return: batched_ms, sequential_ms (median per round), per-frame values and the speed-up
    """
    images = camera_images(count)
    sizes = [image.shape[:2] for image in images]
    device = engine.device
    batched: List[float] = []
    sequential: List[float] = []
    for index in range(warmup + rounds):
        _synchronize(device)
        start = time.perf_counter()
        engine.predict(images, sizes)
        _synchronize(device)
        middle = time.perf_counter()
        for image, size in zip(images, sizes):
            engine.predict([image], [size])
        _synchronize(device)
        end = time.perf_counter()
        if index >= warmup:
            batched.append((middle - start) * 1000.0)
            sequential.append((end - middle) * 1000.0)
    b, s = statistics.median(batched), statistics.median(sequential)
    return {'cameras': count, 'batched_ms': b, 'sequential_ms': s,
            'batched_ms_per_frame': b / count, 'sequential_ms_per_frame': s / count,
            'speedup': s / b, 'batched_fps': 1000.0 * count / b,
            'sequential_fps': 1000.0 * count / s,
            'batched_ms_all': batched, 'sequential_ms_all': sequential}


def run(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Run the benchmark; return the report."""
    args = build_parser().parse_args(argv)
    if args.rounds < 1 or args.warmup < 0 or any(n < 1 for n in args.cameras):
        raise SystemExit('bench_cameras: --rounds and --cameras must be >= 1')
    import torch

    from depthclip_ros.core.config import DepthClipConfig
    from depthclip_ros.core.engine import DepthClipEngine
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    from depthclip_ros.tools.common import cached_random_checkpoint
    weights = args.weights or cached_random_checkpoint(args.model)
    config = DepthClipConfig.from_flat({
        'model.name': args.model, 'model.pretrained': weights, 'model.device': args.device,
        'model.precision': args.precision, 'input.height': args.height,
        'input.width': args.width, 'flip_tta': not args.no_flip_tta})
    engine = DepthClipEngine(config)
    results = [measure(engine, n, args.rounds, args.warmup) for n in args.cameras]
    return {
        'model': engine.weights, 'device': engine.device, 'precision': engine.precision,
        'input': f'{args.width}x{args.height}', 'flip_tta': not args.no_flip_tta,
        'camera_image': '640x480', 'rounds': args.rounds, 'torch': torch.__version__,
        'torch_threads': torch.get_num_threads(), 'cpu': platform.processor() or
        platform.machine(), 'cpu_count': os.cpu_count(), 'results': results,
    }


def format_table(report: Dict[str, object]) -> str:
    """Return the report as a text table."""
    lines = [f'{report["model"]} on {report["device"]} ({report["precision"]}), input '
             f'{report["input"]}, flip_tta {report["flip_tta"]}, '
             f'{report["torch_threads"]} torch threads, median of {report["rounds"]} rounds',
             f'{"cameras":>7} {"batched ms":>11} {"sequential ms":>14} {"ms/frame b":>11} '
             f'{"ms/frame s":>11} {"speed-up":>9}']
    for r in report['results']:
        lines.append(f'{r["cameras"]:>7} {r["batched_ms"]:>11.1f} {r["sequential_ms"]:>14.1f} '
                     f'{r["batched_ms_per_frame"]:>11.1f} {r["sequential_ms_per_frame"]:>11.1f} '
                     f'{r["speedup"]:>8.2f}x')
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
