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
Frames with known depth, for fitting the depth scale (``depthclip calibrate``) and adaptation.

Three sources, each giving :class:`CalibrationFrame` objects (an RGB image, its metric ground
truth depth, a name) for N evenly spaced frames:

* ``nyu``: the NYU Depth v2 layout of ``depthclip eval nyu``, cut as the evaluation cuts it
  (the 416x544 input crop; gt outside the evaluation crop is NaN);
* ``folder``: ``DATA/rgb/NAME.{png,jpg}`` (or ``image/``, ``images/``, ``color/``) with
  ``DATA/depth/NAME.png`` (16-bit millimetres, 0 = invalid) or ``DATA/depth/NAME.npy``
  (float metres, NaN/0 = invalid), registered to the image;
* ``bag``: a rosbag2 with an image topic and a registered depth topic, paired by stamp
  (:func:`depthclip_ros.tools.rosbag_io.image_depth_pairs`).

:func:`image_frames` reads images alone (no depth) from a folder or a bag: the calibration
frames of an int8 export.
"""

import argparse
from dataclasses import dataclass
import math
import os
from typing import Iterator, List, Optional, Tuple

import numpy as np

from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.tools import evaluation as ev
from depthclip_ros.tools.common import evenly, int_at_least, number_in, read_rgb
from depthclip_ros.tools.rosbag_io import bag_images, image_depth_pairs

__all__ = [
    'add_dataset_args', 'bag_frames', 'CalibrationFrame', 'dataset_format', 'default_max_depth',
    'detect_format', 'folder_frames', 'folder_pairs', 'FORMATS', 'image_frames', 'nyu_frames',
    'open_frames', 'read_depth_file',
]

#: Dataset formats (``auto``: :func:`detect_format`).
FORMATS = ('auto', 'nyu', 'folder', 'bag')
IMAGE_DIRS = ('rgb', 'image', 'images', 'color')
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')


@dataclass
class CalibrationFrame:
    """An RGB image, its metric gt depth (NaN or 0 where unknown) and a name for messages."""

    name: str
    rgb: np.ndarray
    gt: np.ndarray
    #: Intrinsics of ``gt`` when the dataset knows them (NYU), else None.
    intrinsics: Optional[Intrinsics] = None


def detect_format(data: str) -> str:
    """
    Guess the input format of DATA: ``bag``, ``folder`` or ``nyu``.

    :raises FileNotFoundError: DATA does not exist
    """
    if not os.path.exists(data):
        raise FileNotFoundError(f'{data} does not exist')
    if os.path.isfile(data):
        if data.endswith(('.mcap', '.db3')):
            return 'bag'
        raise ValueError(f'{data} is a file but not a bag (.mcap or .db3)')
    if os.path.isfile(os.path.join(data, 'metadata.yaml')):
        return 'bag'
    if os.path.isdir(os.path.join(data, 'depth')) and \
            any(os.path.isdir(os.path.join(data, d)) for d in IMAGE_DIRS):
        return 'folder'
    return 'nyu'


def folder_pairs(data: str) -> List[Tuple[str, str, str]]:
    """
    List ``(name, image path, depth path)`` of a ``folder`` dataset, sorted by name.

    :raises ValueError: no image folder, or no image with a depth file
    """
    image_dir = next((os.path.join(data, d) for d in IMAGE_DIRS
                      if os.path.isdir(os.path.join(data, d))), None)
    depth_dir = os.path.join(data, 'depth')
    if image_dir is None or not os.path.isdir(depth_dir):
        raise ValueError(f'{data} must hold depth/ and one of {", ".join(IMAGE_DIRS)}/')
    pairs = []
    for name in sorted(os.listdir(image_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in IMAGE_EXTENSIONS:
            continue
        for depth_ext in ('.png', '.npy'):
            depth = os.path.join(depth_dir, stem + depth_ext)
            if os.path.isfile(depth):
                pairs.append((stem, os.path.join(image_dir, name), depth))
                break
    if not pairs:
        raise ValueError(f'no image in {image_dir} has a depth file ({depth_dir}/NAME.png or '
                         'NAME.npy)')
    return pairs


def read_depth_file(path: str) -> np.ndarray:
    """
    Read a depth file as float32 metres: 16-bit PNG (millimetres) or .npy (metres).

    Zero and non-finite values become NaN.

    :raises ValueError: unreadable or of the wrong type
    """
    if path.endswith('.npy'):
        try:
            depth = np.load(path).astype(np.float32)
        except (OSError, ValueError) as error:
            raise ValueError(f'cannot read {path}: {error}') from None
        if depth.ndim != 2:
            raise ValueError(f'{path} must hold a 2-D depth array, got {depth.shape}')
    else:
        depth = ev.read_depth_png(path, 1000.0)
    depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    return depth


def folder_frames(data: str, frames: int = 0) -> Tuple[int, Iterator[CalibrationFrame]]:
    """
    Frames of a ``folder`` dataset: ``frames`` evenly spaced ones (0: all).

    :return: the number of frames, and an iterator over them
    """
    pairs = folder_pairs(data)
    chosen = [pairs[i] for i in evenly(len(pairs), frames)]

    def generate():
        for name, image, depth in chosen:
            yield CalibrationFrame(name, read_rgb(image), read_depth_file(depth))
    return len(chosen), generate()


def nyu_frames(data: str, split: Optional[str] = None,
               frames: int = 0) -> Tuple[int, Iterator[CalibrationFrame]]:
    """
    Frames of an NYU dataset, cut as ``depthclip eval nyu`` cuts them.

    Each frame is the 416x544 input crop with its gt; gt outside the evaluation crop is NaN.

    :return: the number of frames, and an iterator over them
    """
    samples = ev.list_nyu_samples(data, split)
    chosen = [samples[i] for i in evenly(len(samples), frames)]
    protocol = ev.nyu_protocol()
    top, bottom, left, right = ev.NYU_INPUT_CROP
    e_top, e_bottom, e_left, e_right = ev.NYU_EVAL_CROP
    mask = np.zeros(ev.NYU_SIZE, dtype=bool)
    mask[e_top:e_bottom, e_left:e_right] = True

    def generate():
        for sample in chosen:
            crop, gt = protocol.prepare(read_rgb(sample.rgb_path), sample.gt_path)
            gt = np.where(mask, gt, np.nan)[top:bottom, left:right]
            yield CalibrationFrame(sample.name, crop, np.ascontiguousarray(gt),
                                   ev.nyu_crop_intrinsics())
    return len(chosen), generate()


def bag_frames(path: str, image_topic: Optional[str] = None, depth_topic: Optional[str] = None,
               frames: int = 0, max_dt: float = 0.02) -> Tuple[int, Iterator[CalibrationFrame]]:
    """
    Frames of a rosbag2: image and depth messages paired by stamp (nearest within ``max_dt`` s).

    :param path: the bag (directory, ``.db3`` or ``.mcap``)
    :param image_topic: the image topic (default: the one image topic found by name)
    :param depth_topic: the registered depth topic, 32FC1 metres or 16UC1 millimetres
        (default: the one depth topic found by name)
    :param frames: use this many evenly spaced pairs (0: all)
    :param max_dt: largest stamp difference of a pair, in seconds
    :return: the number of frames, and an iterator over them
    :raises ValueError: topics missing or ambiguous, or no pair
    """
    count, pairs = image_depth_pairs(path, image_topic, depth_topic, frames, max_dt)
    return count, (CalibrationFrame(name, rgb, depth) for name, rgb, depth in pairs)


def add_dataset_args(parser: argparse.ArgumentParser, default_frames: int) -> None:
    """
    Add the arguments that choose frames with known depth: ``DATA``, ``--format`` and the rest.

    :param default_frames: the default of ``--frames`` (0: all)
    """
    parser.add_argument('data', metavar='DATA',
                        help='NYU-layout folder, rgb/ + depth/ folder, or rosbag2 '
                             '(dir/.mcap/.db3)')
    parser.add_argument('--format', choices=FORMATS, default='auto',
                        help='input format (default: detected)')
    parser.add_argument('--split', metavar='FILE',
                        help='nyu: split file (as depthclip eval nyu)')
    parser.add_argument('--image-topic', metavar='TOPIC', help='bag: the image topic')
    parser.add_argument('--depth-topic', metavar='TOPIC',
                        help='bag: the registered depth topic (32FC1 m or 16UC1 mm)')
    parser.add_argument('--max-dt', type=number_in(0.0), default=0.02, metavar='SECONDS',
                        help='bag: largest header stamp difference of an image/depth pair')
    parser.add_argument('--frames', type=int_at_least(0, ' (0: all)'), default=default_frames,
                        help=f'use N evenly spaced frames (0: all; default {default_frames})')


def dataset_format(args: argparse.Namespace) -> str:
    """Return the format of ``args.data``: ``args.format``, or detected for ``auto``."""
    return detect_format(args.data) if args.format == 'auto' else args.format


def default_max_depth(fmt: str, given: Optional[float]) -> float:
    """Return ``--max-depth``: as given, else 10 m for NYU (its sensor) and no limit otherwise."""
    if given is not None:
        return given
    return 10.0 if fmt == 'nyu' else math.inf


def open_frames(args: argparse.Namespace, fmt: str) -> Tuple[int, Iterator[CalibrationFrame]]:
    """
    Open the frames that :func:`add_dataset_args`'s arguments choose.

    :param fmt: the format (:func:`dataset_format`)
    :return: the number of frames and an iterator over them
    """
    if fmt == 'bag':
        return bag_frames(args.data, args.image_topic, args.depth_topic, args.frames,
                          args.max_dt)
    if fmt == 'folder':
        return folder_frames(args.data, args.frames)
    return nyu_frames(args.data, args.split, args.frames)


def image_frames(data: str, frames: int = 0, image_topic: Optional[str] = None
                 ) -> Tuple[int, Iterator[Tuple[str, np.ndarray]]]:
    """
    RGB images without depth: a folder of images, or one image topic of a bag.

    A folder's images are the image files in it, or else in its ``rgb/`` (``image/``,
    ``images/``, ``color/``) subfolder, sorted by name; a bag is a directory with
    ``metadata.yaml`` or a ``.db3`` / ``.mcap`` file.

    :param frames: use this many evenly spaced images (0: all)
    :param image_topic: a bag's image topic (default: the one image topic found by name)
    :return: the number of images, and an iterator of ``(name, rgb uint8)``
    :raises FileNotFoundError: DATA does not exist
    :raises ValueError: no image in the folder, or no usable topic in the bag
    """
    if not os.path.exists(data):
        raise FileNotFoundError(f'{data} does not exist')
    if os.path.isfile(data) or os.path.isfile(os.path.join(data, 'metadata.yaml')):
        if os.path.isfile(data) and not data.endswith(('.mcap', '.db3')):
            raise ValueError(f'{data} is a file but not a bag (.mcap or .db3); give a bag or a '
                             'folder of images')
        return bag_images(data, image_topic, frames)
    folders = [data] + [os.path.join(data, d) for d in IMAGE_DIRS]
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        paths = [os.path.join(folder, name) for name in sorted(os.listdir(folder))
                 if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
                 and os.path.isfile(os.path.join(folder, name))]
        if paths:
            chosen = [paths[i] for i in evenly(len(paths), frames)]
            return len(chosen), ((os.path.basename(p), read_rgb(p)) for p in chosen)
    raise ValueError(f'no image ({", ".join(IMAGE_EXTENSIONS)}) in {data} nor in its '
                     f'{"/, ".join(IMAGE_DIRS)}/ subfolders')
