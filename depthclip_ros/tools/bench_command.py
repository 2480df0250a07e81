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
``depthclip bench``'s command line: its arguments, and which benchmark runs.

The measurements live in :mod:`depthclip_ros.tools.bench` (the engine) and
:mod:`depthclip_ros.tools.node_bench` (``--node``: the node end to end over DDS); both are
imported only when the command runs, so that ``depthclip -h`` and argument errors do not
wait for torch.
"""

import argparse

from depthclip_ros.tools.common import (add_config_args, dumps, int_at_least, load_engine_config,
                                        load_settings, number_in, offline_unless_hub_reachable,
                                        size_arg)


def register(subparsers) -> None:
    """Add ``depthclip bench`` (and its ``--node`` mode) to the ``depthclip`` command."""
    b = subparsers.add_parser(
        'bench', help='measure encoder, predict, baseline and precisions',
        description='Time the engine (encoder, full predict, the per-patch baseline and the '
                    'reduced precisions), or with --node the node end to end over DDS.')
    add_config_args(b)
    b.add_argument('--size', type=size_arg, default=(480, 640), metavar='HxW',
                   help='camera image size (default 480x640)')
    b.add_argument('--batch', type=int_at_least(1), default=1, help='frames per encoder pass')
    b.add_argument('--repeats', type=int_at_least(1), default=5,
                   help='timed runs per measurement')
    b.add_argument('--json', action='store_true', help='print one JSON object')
    b.add_argument('--skip-baseline', action='store_true', help='skip the per-patch baseline')
    b.add_argument('--skip-precision', action='store_true', help='skip the fp32/bf16/fp16 runs')
    b.add_argument('--skip-onnx', action='store_true',
                   help='skip the onnxruntime rows (export, fp32 and int8 runs)')
    b.add_argument('--force-bf16', action='store_true',
                   help='time bf16 even on a CPU without native bf16 (very slow)')
    b.add_argument('--node', action='store_true',
                   help='benchmark depthclip_node end to end over DDS instead')
    b.add_argument('--duration', type=number_in(0.0, low_open=True), default=120.0,
                   help='--node: seconds of steady input')
    b.add_argument('--rate', type=number_in(0.0), default=0.0,
                   help='--node: input rate in Hz (default 0: 2 x the engine frame rate)')
    b.add_argument('--param-period', type=number_in(0.0), default=0.4, metavar='SECONDS',
                   help='--node: also time `ros2 param set` (temperature over the parameter '
                        'service) every SECONDS while the node infers (0: off)')
    b.add_argument('--transports', choices=('default', 'shm'), default='default',
                   help="--node: Fast DDS transports of every process: 'default' (Fast DDS's "
                        'own: FASTDDS_BUILTIN_TRANSPORTS unset, discovery on localhost) or '
                        "'shm' (FASTDDS_BUILTIN_TRANSPORTS=SHM: shared memory only, no UDP "
                        'socket at all)')
    b.add_argument('--consumer-profile', choices=('none', 'package'), default='none',
                   help="--node: the Fast DDS profile of this process, the consumer: 'none' "
                        "(a consumer that knows nothing of the package's profile) or "
                        "'package' (config/fastdds_large_images.xml)")
    b.add_argument('--node-profile', choices=('auto', 'none'), default='auto',
                   help="--node: 'auto': the node chooses its Fast DDS profile itself (no "
                        "profile set: the package's); 'none': the node gets an empty profile "
                        "of the user's, so Fast DDS's defaults (the behaviour before)")
    b.add_argument('--temporal', action='store_true',
                   help='measure the temporal filter instead: flicker with and without it on '
                        'a noisy static sequence, and frames to settle after a cut '
                        '(temporal.* from the parameters; enable is forced on)')
    b.add_argument('--grounding', action='store_true',
                   help='also time grounding.queries: the extra ms per frame with 1, 4 and 16 '
                        'queries')
    b.set_defaults(run=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """Entry point of ``depthclip bench``."""
    if args.node:
        from depthclip_ros.tools.node_bench import format_node_report, run_node_bench
        result = run_node_bench(args)
        print(dumps(result) if args.json else format_node_report(result))
        return 0
    if args.temporal:
        from depthclip_ros.tools.bench import new_engine
        from depthclip_ros.tools.bench_temporal import (format_temporal_report,
                                                        run_temporal_benchmark)
        config, settings = load_settings(args)
        offline_unless_hub_reachable(config.model.pretrained)
        result = run_temporal_benchmark(new_engine(config), settings)
        print(dumps(result) if args.json else format_temporal_report(result))
        return 0
    from depthclip_ros.tools.bench import format_report, run_benchmark
    config = load_engine_config(args)
    offline_unless_hub_reachable(config.model.pretrained)
    result = run_benchmark(config, size=args.size, batch=args.batch,
                           repeats=args.repeats, baseline=not args.skip_baseline,
                           precisions=not args.skip_precision, force_bf16=args.force_bf16,
                           onnx=not args.skip_onnx, grounding=args.grounding)
    print(dumps(result) if args.json else format_report(result))
    return 0
