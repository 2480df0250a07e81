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
Write RGB-D frames of the bundled synthetic room for ``depthclip adapt`` and ``calibrate``.

A ``folder`` dataset: ``OUT/rgb/fNNN.png`` and ``OUT/depth/fNNN.npy`` (float32 metres, exact:
rendered by :func:`depthclip_ros.core.sample.render_scene`). Frame ``i`` is seen from its own
camera position along the room (evenly from -2 to 1.5 m) and is, in turn, the plain view, a
crop (80 %, resized back: another field of view), a brighter view (x1.3) or a mirrored view.
No ROS needed. Example (the adaptation benchmark of docs/adaptation.md)::

    python scripts/rgbd_room.py /tmp/room --frames 50 --size 416x544
    depthclip adapt /tmp/room -o /tmp/room.npz
"""

import argparse
import os
import sys
from typing import List, Optional, Tuple

import cv2
import numpy as np

from depthclip_ros.core.sample import render_scene

#: The four variants, in turn.
VARIANTS = ('plain', 'crop', 'bright', 'mirror')


def room_frame(index: int, count: int, width: int, height: int
               ) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return frame ``index`` of ``count``: RGB uint8 and its exact depth (float32 metres).

    :raises ValueError: ``count`` < 2 or ``index`` outside ``[0, count)``
    """
    if count < 2 or not 0 <= index < count:
        raise ValueError(f'need 0 <= index < count and count >= 2, got {index}, {count}')
    z = -2.0 + 3.5 * index / (count - 1)
    rgb, depth = render_scene(z, width, height)
    variant = VARIANTS[index % len(VARIANTS)]
    if variant == 'crop':
        ch, cw = int(height * 0.8), int(width * 0.8)
        top, left = (height - ch) // 2, (width - cw) // 3
        rgb = cv2.resize(rgb[top:top + ch, left:left + cw], (width, height),
                         interpolation=cv2.INTER_AREA)
        depth = cv2.resize(depth[top:top + ch, left:left + cw], (width, height),
                           interpolation=cv2.INTER_NEAREST)
    elif variant == 'bright':
        rgb = np.clip(rgb.astype(np.float32) * 1.3, 0, 255).astype(np.uint8)
    elif variant == 'mirror':
        rgb, depth = rgb[:, ::-1], depth[:, ::-1]
    return np.ascontiguousarray(rgb), np.ascontiguousarray(depth, dtype=np.float32)


def write_room(out: str, count: int, width: int, height: int) -> List[str]:
    """Write ``count`` frames to ``out/rgb`` and ``out/depth``; return the frame names."""
    os.makedirs(os.path.join(out, 'rgb'), exist_ok=True)
    os.makedirs(os.path.join(out, 'depth'), exist_ok=True)
    names = []
    for i in range(count):
        rgb, depth = room_frame(i, count, width, height)
        name = f'f{i:03d}'
        if not cv2.imwrite(os.path.join(out, 'rgb', name + '.png'), rgb[:, :, ::-1]):
            raise OSError(f'cannot write {out}/rgb/{name}.png')
        np.save(os.path.join(out, 'depth', name + '.npy'), depth)
        names.append(name)
    return names


def main(argv: Optional[List[str]] = None) -> int:
    """Write the dataset (see the module documentation)."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('out', metavar='OUT', help='folder to write rgb/ and depth/ into')
    parser.add_argument('--frames', type=int, default=50, help='number of frames (>= 2)')
    parser.add_argument('--size', default='416x544', help='height x width (default 416x544)')
    args = parser.parse_args(argv)
    try:
        height, width = (int(v) for v in args.size.lower().split('x'))
    except ValueError:
        parser.error(f'--size must look like 416x544, got {args.size!r}')
    if args.frames < 2 or height < 8 or width < 8:
        parser.error('need --frames >= 2 and a size of at least 8x8')
    names = write_room(args.out, args.frames, width, height)
    print(f'wrote {len(names)} frames ({width}x{height}) to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
