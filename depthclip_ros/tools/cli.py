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
The ``depthclip`` command line (no ROS needed except for ``demo``).

``depthclip predict IMAGE... --params FILE --output DIR [--set name=value ...]``
    depth (.npy, metres), confidence (.npy) and a colorized PNG with a colour bar per image.
``depthclip bench [--params FILE] [--size HxW] [--batch N] [--json]``
    encoder, full predict, per-patch baseline and precision timings.
``depthclip checkpoint --random --output FILE [--name RN50] [--seed 0]``
    seeded random weights in a local checkpoint file (offline smoke tests only).
``depthclip demo ...``
    the ROS 2 demo: camera player and node as real ROS nodes (see ``depthclip demo -h``).
"""

import argparse
import importlib
import json
import logging
import os
import sys
from typing import List, Optional, Sequence

from depthclip_ros import __version__

LOG = logging.getLogger('depthclip_ros')

#: Modules that add sub-commands: each has ``register(subparsers, add_config_args)`` that
#: adds its parser(s) with ``set_defaults(run=function)``; ``function(args) -> int``.
SUBCOMMAND_MODULES = ('depthclip_ros.tools.evaluation', 'depthclip_ros.tools.calibration',
                      'depthclip_ros.tools.bag')


def _add_config_args(parser: argparse.ArgumentParser, params_required: bool = False) -> None:
    parser.add_argument('--params', metavar='FILE', required=params_required,
                        help='ROS 2 parameter file (default: the installed '
                             'config/depthclip.yaml)')
    parser.add_argument('--set', dest='overrides', metavar='NAME=VALUE', action='append',
                        default=[], help='override a parameter by its dotted name, e.g. '
                                         '--set model.pretrained=/path/RN50.pt (repeatable)')


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``depthclip`` command."""
    parser = argparse.ArgumentParser(
        prog='depthclip', description='DepthCLIP: metric depth from an RGB image and language.')
    parser.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('predict', help='predict depth for image files')
    p.add_argument('images', nargs='+', metavar='IMAGE')
    p.add_argument('--output', '-o', required=True, metavar='DIR')
    p.add_argument('--batch', type=int, default=1, help='images per encoder pass')
    _add_config_args(p)

    b = sub.add_parser('bench', help='measure encoder, predict, baseline and precisions')
    _add_config_args(b)
    b.add_argument('--size', default='480x640', metavar='HxW', help='camera image size')
    b.add_argument('--batch', type=int, default=1, help='frames per encoder pass')
    b.add_argument('--repeats', type=int, default=5, help='timed runs per measurement')
    b.add_argument('--json', action='store_true', help='print one JSON object')
    b.add_argument('--skip-baseline', action='store_true', help='skip the per-patch baseline')
    b.add_argument('--skip-precision', action='store_true', help='skip the fp32/bf16/fp16 runs')
    b.add_argument('--force-bf16', action='store_true',
                   help='time bf16 even on a CPU without native bf16 (very slow)')
    b.add_argument('--node', action='store_true',
                   help='benchmark depthclip_node end to end over DDS instead')
    b.add_argument('--duration', type=float, default=120.0,
                   help='--node: seconds of steady input')
    b.add_argument('--rate', type=float, default=0.0,
                   help='--node: input rate in Hz (default: 2 x the engine frame rate)')

    c = sub.add_parser('checkpoint', help='write seeded random weights (smoke tests only)')
    c.add_argument('--random', action='store_true', required=True,
                   help='required: the weights are random, depth from them is meaningless')
    c.add_argument('--name', default='RN50', help='open_clip architecture')
    c.add_argument('--seed', type=int, default=0)
    c.add_argument('--output', '-o', required=True, metavar='FILE',
                   help='.safetensors or .pt file to write')

    d = sub.add_parser('demo', help='run the ROS 2 demo (camera player + node)',
                       add_help=False)
    d.add_argument('rest', nargs=argparse.REMAINDER)

    for module_name in SUBCOMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(sub, _add_config_args)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``depthclip`` command; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ['demo']:
        from depthclip_ros.tools.demo import main as demo_main
        return demo_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='[%(levelname)s] %(message)s')
    LOG.setLevel(logging.INFO)
    from depthclip_ros.core.loading import ModelLoadError
    try:
        if getattr(args, 'run', None) is not None:
            return args.run(args)
        if args.command == 'predict':
            return run_predict(args)
        if args.command == 'bench':
            from depthclip_ros.tools.bench import run_bench
            return run_bench(args)
        if args.command == 'checkpoint':
            from depthclip_ros.core.loading import save_random_checkpoint
            path = save_random_checkpoint(args.name, args.output, seed=args.seed)
            print(f'wrote RANDOM {args.name} weights (seed {args.seed}) to {path}')
            return 0
    except (ValueError, ModelLoadError, FileNotFoundError) as error:
        print(f'depthclip {args.command}: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


def load_engine_config(args: argparse.Namespace):
    """Build the engine configuration from ``--params`` and ``--set``."""
    from depthclip_ros.core.config import default_params_file, load_config
    path = args.params if args.params else default_params_file()
    return load_config(path, args.overrides)


def read_rgb(path: str):
    """
    Read an image file as RGB uint8.

    :raises ValueError: missing or unreadable file
    """
    import cv2
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'cannot read image {path}')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def run_predict(args: argparse.Namespace) -> int:
    """Predict depth for each image and write .npy files and a colorized PNG."""
    import cv2
    import numpy as np

    from depthclip_ros.core.colorize import add_colorbar, colorize_depth
    from depthclip_ros.core.engine import DepthClipEngine

    if args.batch < 1:
        raise ValueError('--batch must be >= 1')
    config = load_engine_config(args)
    engine = DepthClipEngine(config)
    print(f'weights: {engine.weights} on {engine.device} ({engine.precision})')
    print(f'precision: {engine.precision} ({engine.precision_reason})')
    if engine.random_weights:
        print('WARNING: RANDOM weights: the depth below is meaningless', file=sys.stderr)
    os.makedirs(args.output, exist_ok=True)
    low, high = engine.config.depth_range
    paths: List[str] = list(args.images)
    for start in range(0, len(paths), args.batch):
        chunk = paths[start:start + args.batch]
        images = [read_rgb(path) for path in chunk]
        for path, prediction in zip(chunk, engine.predict(images)):
            stem = os.path.join(args.output, os.path.splitext(os.path.basename(path))[0])
            np.save(stem + '_depth.npy', prediction.depth.astype(np.float32))
            np.save(stem + '_confidence.npy', prediction.confidence.astype(np.float32))
            png = add_colorbar(colorize_depth(prediction.depth, low, high), low, high)
            if not cv2.imwrite(stem + '_depth.png', png):
                raise ValueError(f'cannot write {stem}_depth.png')
            print(f'{path}: depth {prediction.depth.min():.2f}..{prediction.depth.max():.2f} m, '
                  f'mean confidence {prediction.confidence.mean():.2f} -> {stem}_depth.png')
    return 0


def dumps(obj) -> str:
    """Serialize a result dict as one JSON line."""
    return json.dumps(obj, sort_keys=True)


if __name__ == '__main__':
    sys.exit(main())
