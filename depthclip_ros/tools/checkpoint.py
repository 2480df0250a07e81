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

"""``depthclip checkpoint --random``: seeded random weights in a local file, for smoke tests."""

import argparse
import os

from depthclip_ros.tools.common import int_at_least


def register(subparsers) -> None:
    """Add ``depthclip checkpoint`` to the ``depthclip`` command."""
    c = subparsers.add_parser(
        'checkpoint', help='write seeded random weights (smoke tests only)',
        description='Write seeded random weights of an open_clip architecture to a local '
                    'checkpoint file: offline smoke tests and benchmarks only, depth from them '
                    'is meaningless.')
    c.add_argument('--random', action='store_true', required=True,
                   help='required: the weights are random, depth from them is meaningless')
    c.add_argument('--name', default='RN50', help='open_clip architecture')
    c.add_argument('--seed', type=int_at_least(0), default=0)
    c.add_argument('--output', '-o', required=True, metavar='FILE',
                   help='.safetensors or .pt file to write')
    c.set_defaults(run=run_checkpoint)


def run_checkpoint(args: argparse.Namespace) -> int:
    """
    Write the checkpoint.

    :raises ValueError: an unknown architecture, or an output path that cannot be a file
    """
    import open_clip

    from depthclip_ros.core.loading import save_random_checkpoint
    if args.name not in open_clip.list_models():
        raise ValueError(f'--name {args.name!r} is not an open_clip architecture; e.g. RN50, '
                         'RN101, ViT-B-32, ViT-B-16')
    if os.path.isdir(args.output):
        raise ValueError(f'--output {args.output} is a directory; give the file to write, e.g. '
                         f'{os.path.join(args.output, args.name + "-random.safetensors")}')
    path = save_random_checkpoint(args.name, args.output, seed=args.seed)
    print(f'wrote RANDOM {args.name} weights (seed {args.seed}) to {path}')
    return 0
