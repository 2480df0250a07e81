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
``depthclip predict``: depth, confidence and a colorized PNG for image files.

The images are taken as one sequence, in the order given: with ``temporal.enable`` they are
filtered over time, with ``scale.mode: ground`` the scale is fitted to the floor (intrinsics
from ``camera.fov_deg``), as the node would for one camera.

``--query door --query chair`` (or ``grounding.queries`` in the parameters) also answers
where each query is: its distance and median 3D point (optical frame) are printed, or
``not found``, and DIR/<stem>_grounding.png shows the masks' outlines and distances over the
image.
"""

import argparse
import os
import sys
from typing import List

from depthclip_ros.tools.common import (add_config_args, check_output_dir, int_at_least,
                                        load_settings, offline_unless_hub_reachable, read_rgb)


def register(subparsers) -> None:
    """Add ``depthclip predict`` to the ``depthclip`` command."""
    p = subparsers.add_parser(
        'predict', help='predict depth for image files',
        description='Predict metric depth for image files: DIR/<stem>_depth.npy (float32 '
                    'metres), DIR/<stem>_confidence.npy and DIR/<stem>_depth.png.')
    p.add_argument('images', nargs='+', metavar='IMAGE')
    p.add_argument('--output', '-o', required=True, metavar='DIR')
    p.add_argument('--batch', type=int_at_least(1), default=1, help='images per encoder pass')
    p.add_argument('--query', action='append', default=[], metavar='WORDS',
                   help='something to find, e.g. door (repeat for more; sets grounding.queries): '
                        'prints its distance and 3D point, writes DIR/<stem>_grounding.png')
    add_config_args(p)
    p.set_defaults(run=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    """
    Predict depth for each image and write .npy files and a colorized PNG.

    :raises ValueError: a bad argument, an unreadable image or an unwritable output
    """
    import cv2
    import numpy as np

    from depthclip_ros.core.colorize import add_colorbar, colorize_depth
    from depthclip_ros.core.engine import DepthClipEngine
    from depthclip_ros.core.filters import CameraFilters
    from depthclip_ros.core.geometry import Intrinsics
    from depthclip_ros.core.grounding import draw_overlay, locate_queries

    if args.batch < 1:
        raise ValueError('--batch must be >= 1')
    check_output_dir(args.output)
    paths: List[str] = list(args.images)
    for path in paths:  # before the model loads: a typo costs no waiting
        if not os.path.isfile(path):
            what = 'is a directory' if os.path.isdir(path) else 'no such file'
            raise ValueError(f'cannot read image {path}: {what}')
    config, settings = load_settings(args)
    if args.query:  # before the model loads: a bad query costs no waiting
        config = config.with_updates({'grounding.queries': list(args.query)})
    offline_unless_hub_reachable(config.model.pretrained)
    engine = DepthClipEngine(config)
    print(f'weights: {engine.weights} on {engine.device} ({engine.precision})')
    print(f'precision: {engine.precision} ({engine.precision_reason})')
    if engine.random_weights:
        print('WARNING: RANDOM weights: the depth below is meaningless', file=sys.stderr)
    os.makedirs(args.output, exist_ok=True)
    filters = CameraFilters()  # the images are one sequence (temporal.*, scale.*)
    for start in range(0, len(paths), args.batch):
        chunk = paths[start:start + args.batch]
        images = [read_rgb(path) for path in chunk]
        state = engine.state
        steps = [filters.step(None, settings, rgb.shape[:2]) for rgb in images]
        for path, image, prediction in zip(chunk, images,
                                           engine.predict(images, state=state, steps=steps)):
            height, width = prediction.depth.shape
            intr = Intrinsics.from_fov(width, height, settings.camera_fov_deg)
            depth, (low, high) = filters.scaled(prediction.depth, intr, settings, state)
            if settings.scale_mode == 'ground':
                print(f'{path}: ground scale {filters.scale.state}: {filters.scale.reason}')
            stem = os.path.join(args.output, os.path.splitext(os.path.basename(path))[0])
            np.save(stem + '_depth.npy', depth.astype(np.float32))
            np.save(stem + '_confidence.npy', prediction.confidence.astype(np.float32))
            png = add_colorbar(colorize_depth(depth, low, high), low, high)
            if not cv2.imwrite(stem + '_depth.png', png):
                raise ValueError(f'cannot write {stem}_depth.png')
            print(f'{path}: depth {depth.min():.2f}..{depth.max():.2f} m, mean confidence '
                  f'{prediction.confidence.mean():.2f} -> {stem}_depth.png')
            if prediction.grounding is not None:
                grounding = locate_queries(prediction.grounding, depth, intr)
                for result in grounding.results:
                    print(f'{path}: {result.describe()}')
                if not cv2.imwrite(stem + '_grounding.png', draw_overlay(image, grounding)):
                    raise ValueError(f'cannot write {stem}_grounding.png')
                print(f'{path}: query masks -> {stem}_grounding.png')
    return 0
