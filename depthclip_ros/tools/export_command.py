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
``depthclip export onnx``'s command line: the image encoder for ``model.backend: onnxruntime``.

The export itself lives in :mod:`depthclip_ros.core.onnx_export`, imported only when the
command runs (``depthclip -h`` does not wait for torch).
"""

import argparse
import os

from depthclip_ros.tools.common import (add_config_args, CommandError, dumps, int_at_least,
                                        load_engine_config, offline_unless_hub_reachable)


def batch_arg(text: str):
    """Parse ``--batch``: ``dynamic`` or an integer >= 1."""
    if text == 'dynamic':
        return text
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'must be dynamic or an integer >= 1, got {text!r}')
    return int(text)


def register(subparsers) -> None:
    """Add ``depthclip export onnx`` to the ``depthclip`` command."""
    e = subparsers.add_parser(
        'export', help='export the image encoder (ONNX, fp32 or int8)',
        description='Export the image encoder for another runtime.')
    kinds = e.add_subparsers(dest='format', required=True, metavar='FORMAT')
    o = kinds.add_parser(
        'onnx', help='ONNX graph for model.backend: onnxruntime',
        description='Export the image encoder of the configured model, feature mode and input '
                    'size (normalized images in, dense features out; prompts, bins and '
                    'temperature stay outside) to ONNX, check it against torch on the bundled '
                    'sample frames, and write it with its provenance in the metadata. Run it '
                    'with --set model.backend=onnxruntime --set model.onnx_file=FILE.')
    add_config_args(o)
    o.add_argument('--output', metavar='FILE.onnx',
                   help='where to write (default: depthclip_<model>_<feature mode>_<H>x<W>'
                        '[_int8].onnx here)')
    o.add_argument('--batch', type=batch_arg, default='dynamic', metavar='N|dynamic',
                   help='graph batch size: dynamic (default) or a fixed N (TensorRT likes '
                        'fixed; with flip TTA one frame is 2 images); larger batches run in '
                        'chunks')
    o.add_argument('--opset', type=int_at_least(13), default=None,
                   help='ONNX opset (default 17)')
    o.add_argument('--int8', action='store_true',
                   help='quantize to int8 (static, per-channel weights; for CPUs with VNNI): '
                        'opt-in, its depth error against fp32 is printed and stored')
    o.add_argument('--calibration', metavar='DATA',
                   help='--int8: calibration frames from a folder of images or a rosbag2 '
                        '(default: the bundled sample frames)')
    o.add_argument('--calibration-frames', type=int_at_least(0), default=None, metavar='N',
                   help='--int8: evenly spaced calibration frames from DATA (default 32; 0: '
                        'all)')
    o.add_argument('--image-topic', help='--calibration bag: the image topic (default: the '
                                         'one image topic)')
    o.add_argument('--repeats', type=int_at_least(0), default=3,
                   help='timed runs of each speed measurement (0: skip)')
    o.add_argument('--json', action='store_true', help='print one JSON object')
    o.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Entry point of ``depthclip export onnx``."""
    if not args.int8 and (args.calibration or args.calibration_frames is not None
                          or args.image_topic):
        raise ValueError('--calibration, --calibration-frames and --image-topic need --int8')
    if args.image_topic and not args.calibration:
        raise ValueError('--image-topic needs --calibration BAG')
    if args.calibration and not os.path.exists(args.calibration):
        raise ValueError(f'--calibration {args.calibration} does not exist')
    from depthclip_ros.core import onnx_export as ox
    ox.onnx_api()
    config = load_engine_config(args)
    offline_unless_hub_reachable(config.model.pretrained)
    output = args.output or ox.default_output(config, args.int8)
    if os.path.isdir(output):
        raise ValueError(f'--output {output} is a directory; give a file name')
    frames, name = None, 'the bundled sample frames'
    if args.calibration:
        from depthclip_ros.tools.datasets import image_frames
        wanted = (ox.DEFAULT_CALIBRATION_FRAMES if args.calibration_frames is None
                  else args.calibration_frames)
        _, frames = image_frames(args.calibration, wanted, args.image_topic)
        frames = [rgb for _, rgb in frames]
        name = os.path.normpath(args.calibration)
    from depthclip_ros.tools.bench import new_engine
    engine = new_engine(config.with_updates({'model.backend': 'torch', 'model.device': 'cpu',
                                             'model.precision': 'fp32'}))
    try:
        result = ox.export_onnx(engine, output, batch=args.batch,
                                opset=args.opset or ox.DEFAULT_OPSET, int8=args.int8,
                                calibration=frames, calibration_name=name,
                                repeats=args.repeats)
    except ox.ExportCheckError as error:
        raise CommandError(str(error)) from None
    print(dumps(result.to_dict()) if args.json else ox.format_export(result))
    return 0
