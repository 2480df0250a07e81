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
``depthclip eval nyu|kitti``: depth metrics with the DepthCLIP paper's protocol.

The protocol follows the reference implementation (Adonis-galaxy/DepthCLIP,
``DepthCLIP_code/eval.py``, ``datasets/datasets_list.py``, ``calculate_error.py``).

NYU Depth v2 (``official_splits/test`` layout: ``<scene>/rgb_XXXXX.jpg`` and
``<scene>/sync_depth_XXXXX.png``, 16-bit millimetres, 480x640):

* model input: the 416x544 crop ``rgb[56:472, 60:604]`` (the engine resizes it only when
  ``input.height x input.width`` is not 416x544);
* the prediction (416x544) is put back at the same place in a 480x640 frame of zeros;
* valid pixels: ``1e-3 < gt < 10`` and ``pred > 1e-3`` (so nothing outside the pasted
  crop), inside the evaluation crop rows 45:471, columns 46:601;
* gt and pred are clamped to ``[1e-3, 10]``; metrics per image, averaged over images (the
  reference runs with batch size 1).

KITTI (Eigen split, the reference's loader and ``compute_errors``):

* split file lines ``rgb_path gt_path [focal|dense_gt_path]`` relative to DATA_DIR (gt
  relative to ``--gt-dir``); a gt path of ``None`` (no ground truth) is skipped, as in the
  reference;
* model input: the bottom-centre 352x704 crop (``rows h-352:h``, ``cols (w-704)//2 ...``):
  the reference crops the bottom 352 rows and the centre 1216 columns, then the centre 704
  columns of those, which is the same window;
* the gt (16-bit PNG, 1/256 m) is cropped the same way; the Garg crop
  (rows ``int(0.40810811 h):int(0.99189189 h)``, cols ``int(0.03594771 w):int(0.96405229 w)``)
  is taken of that 352x704 crop, as the reference does (it computes h, w from the cropped
  gt);
* valid: ``1e-3 < gt < cap`` (cap 80 m, ``--cap``); gt and pred clamped to ``[1e-3, cap]``;
* the crop goes to the engine as it is; the engine resizes it to ``input.height`` x
  ``input.width`` of the parameters (416x544 by default): pass
  ``--set input.height=352 --set input.width=704`` to run the network at the crop's own
  size, and outdoor ``depth_bins`` (the defaults are the paper's indoor 1-3 m).

Metrics (:func:`compute_metrics`, pure NumPy, float64): ``a1``/``a2``/``a3``
(δ < 1.25, 1.25², 1.25³), ``abs_rel``, ``sq_rel``, ``rmse``, ``rmse_log`` (natural log),
``log10`` (mean absolute log10 error) and ``abs_diff`` (mean absolute error, metres).
"""

import argparse
import csv
from dataclasses import dataclass
import json
import math
import os
import sys
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from depthclip_ros.tools.common import (add_config_args, check_output_dir, int_at_least,
                                        load_engine_config, number_in,
                                        offline_unless_hub_reachable, read_rgb)

__all__ = [
    'compute_metrics', 'EvalSample', 'garg_crop', 'KITTI_COLUMNS', 'kitti_crop_box',
    'kitti_protocol', 'list_kitti_samples', 'list_nyu_samples', 'mean_metrics',
    'METRIC_NAMES', 'NYU_COLUMNS', 'nyu_protocol', 'paste_nyu_prediction', 'Protocol',
    'read_depth_png', 'register', 'run_evaluation',
]

#: Smallest valid depth (metres) in both protocols.
MIN_DEPTH = 1e-3

#: NYU Depth v2 image size.
NYU_SIZE = (480, 640)
#: Rows top:bottom and columns left:right of the NYU model input (416x544).
NYU_INPUT_CROP = (56, 472, 60, 604)
#: Rows and columns of the NYU evaluation crop.
NYU_EVAL_CROP = (45, 471, 46, 601)
#: Intrinsics of NYU Depth v2's RGB camera at 640x480 (fx, fy, cx, cy; the NYU toolbox).
NYU_INTRINSICS = (518.8579, 519.4696, 325.5824, 253.7362)
#: NYU depth cap (metres) and PNG units per metre.
NYU_MAX_DEPTH = 10.0
NYU_DEPTH_UNITS = 1000.0

#: KITTI model input crop (height, width), bottom-centre of the image.
KITTI_CROP_SIZE = (352, 704)
#: KITTI depth cap (metres) and PNG units per metre.
KITTI_MAX_DEPTH = 80.0
KITTI_DEPTH_UNITS = 256.0
#: Garg ECCV16 crop fractions: top, bottom, left, right.
GARG_FRACTIONS = (0.40810811, 0.99189189, 0.03594771, 0.96405229)

#: Every metric :func:`compute_metrics` returns.
METRIC_NAMES = ('a1', 'a2', 'a3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10',
                'abs_diff')
#: Table order for NYU: the paper's columns first, then the others.
NYU_COLUMNS = ('a1', 'a2', 'a3', 'abs_rel', 'log10', 'rmse', 'sq_rel', 'rmse_log',
               'abs_diff')
#: Table order for KITTI: the usual Eigen-split columns, then the others.
KITTI_COLUMNS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'a1', 'a2', 'a3', 'log10',
                 'abs_diff')
LABELS = {
    'a1': 'δ<1.25', 'a2': 'δ<1.25²', 'a3': 'δ<1.25³', 'abs_rel': 'AbsRel',
    'sq_rel': 'SqRel', 'rmse': 'RMSE', 'rmse_log': 'RMSElog', 'log10': 'log10',
    'abs_diff': 'AbsDiff',
}

Box = Tuple[int, int, int, int]


# -------------------------------------------------------------------------------------------
# Metrics
# -------------------------------------------------------------------------------------------
def compute_metrics(gt: np.ndarray, pred: np.ndarray, min_depth: float = MIN_DEPTH,
                    max_depth: float = NYU_MAX_DEPTH, crop: Optional[Box] = None,
                    require_valid_pred: bool = False) -> Dict[str, float]:
    """
    Compute the depth metrics of one image over its valid pixels.

    Valid pixels: ``min_depth < gt < max_depth`` (NaN gt is invalid), inside ``crop`` when
    given, and ``pred > min_depth`` when ``require_valid_pred`` (the NYU protocol). gt and
    pred are then clamped to ``[min_depth, max_depth]``.

    :param gt: (H, W) ground-truth depth in metres (0 or NaN where unknown)
    :param pred: (H, W) predicted depth in metres
    :param min_depth: lower validity bound and clamp
    :param max_depth: upper validity bound (exclusive) and clamp
    :param crop: ``(top, bottom, left, right)``: only ``[top:bottom, left:right]`` counts
    :param require_valid_pred: also require ``pred > min_depth``
    :return: ``a1, a2, a3, abs_rel, sq_rel, rmse, rmse_log, log10, abs_diff`` (floats; NaN
        when no pixel is valid) and ``valid_pixels`` (int)
    :raises ValueError: shapes differ, not 2-D, a bad crop or depth range, or a non-finite
        prediction at a valid pixel
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.ndim != 2 or gt.shape != pred.shape:
        raise ValueError(f'gt and pred must be 2-D arrays of one shape, got {gt.shape} and '
                         f'{pred.shape}')
    if not 0.0 <= min_depth < max_depth:
        raise ValueError(f'need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
    with np.errstate(invalid='ignore'):
        valid = (gt > min_depth) & (gt < max_depth)
        if require_valid_pred:
            valid &= pred > min_depth
    if crop is not None:
        top, bottom, left, right = (int(v) for v in crop)
        if not (0 <= top < bottom <= gt.shape[0] and 0 <= left < right <= gt.shape[1]):
            raise ValueError(f'crop {tuple(crop)} does not fit a {gt.shape} image')
        inside = np.zeros(gt.shape, dtype=bool)
        inside[top:bottom, left:right] = True
        valid &= inside
    count = int(np.count_nonzero(valid))
    if count == 0:
        out = {name: math.nan for name in METRIC_NAMES}
        out['valid_pixels'] = 0
        return out
    g = np.clip(gt[valid].astype(np.float64), min_depth, max_depth)
    p = pred[valid].astype(np.float64)
    if not np.isfinite(p).all():
        raise ValueError('pred has non-finite values at valid pixels')
    p = np.clip(p, min_depth, max_depth)
    thresh = np.maximum(g / p, p / g)
    diff = g - p
    log_diff = np.log(g) - np.log(p)
    out = {
        'a1': float(np.mean(thresh < 1.25)),
        'a2': float(np.mean(thresh < 1.25 ** 2)),
        'a3': float(np.mean(thresh < 1.25 ** 3)),
        'abs_rel': float(np.mean(np.abs(diff) / g)),
        'sq_rel': float(np.mean(diff ** 2 / g)),
        'rmse': float(np.sqrt(np.mean(diff ** 2))),
        'rmse_log': float(np.sqrt(np.mean(log_diff ** 2))),
        'log10': float(np.mean(np.abs(np.log10(g) - np.log10(p)))),
        'abs_diff': float(np.mean(np.abs(diff))),
        'valid_pixels': count,
    }
    return out


def mean_metrics(rows: Iterable[Dict[str, Any]]) -> Dict[str, float]:
    """
    Average per-image metrics over the images that have valid pixels.

    :param rows: dicts from :func:`compute_metrics` (extra keys are ignored)
    :return: the mean of each metric (NaN when no image counts) and ``images`` (int)
    """
    kept = [row for row in rows if row.get('valid_pixels', 0) > 0]
    out: Dict[str, float] = {}
    for name in METRIC_NAMES:
        out[name] = float(np.mean([row[name] for row in kept])) if kept else math.nan
    out['images'] = len(kept)
    return out


# -------------------------------------------------------------------------------------------
# Protocol geometry
# -------------------------------------------------------------------------------------------
def garg_crop(height: int, width: int) -> Box:
    """Return the Garg ECCV16 crop ``(top, bottom, left, right)`` of an image of this size."""
    t, b, left, right = GARG_FRACTIONS
    return int(t * height), int(b * height), int(left * width), int(right * width)


def kitti_crop_box(height: int, width: int, size: Tuple[int, int] = KITTI_CROP_SIZE) -> Box:
    """
    Return the bottom-centre KITTI input crop ``(top, bottom, left, right)``.

    :raises ValueError: the image is smaller than the crop
    """
    ch, cw = size
    if height < ch or width < cw:
        raise ValueError(f'KITTI image {width}x{height} is smaller than the {cw}x{ch} crop')
    top = height - ch
    left = (width - cw) // 2
    return top, top + ch, left, left + cw


def nyu_crop_intrinsics():
    """Return the intrinsics of the 416x544 NYU input crop (:data:`NYU_INPUT_CROP`)."""
    from depthclip_ros.core.geometry import Intrinsics
    top, bottom, left, right = NYU_INPUT_CROP
    fx, fy, cx, cy = NYU_INTRINSICS
    return Intrinsics(fx=fx, fy=fy, cx=cx - left, cy=cy - top, width=right - left,
                      height=bottom - top)


def paste_nyu_prediction(pred: np.ndarray) -> np.ndarray:
    """
    Put a 416x544 NYU prediction back into a 480x640 frame of zeros (the reference's paste).

    :raises ValueError: the prediction is not 416x544
    """
    top, bottom, left, right = NYU_INPUT_CROP
    pred = np.asarray(pred)
    if pred.shape != (bottom - top, right - left):
        raise ValueError(f'NYU prediction must be {bottom - top}x{right - left}, got '
                         f'{pred.shape}')
    full = np.zeros(NYU_SIZE, dtype=np.float32)
    full[top:bottom, left:right] = pred
    return full


def nyu_frame_metrics(gt: np.ndarray, pred_crop: np.ndarray) -> Dict[str, float]:
    """Metrics of one NYU image: gt (480x640 metres) and the 416x544 prediction."""
    return compute_metrics(gt, paste_nyu_prediction(pred_crop), MIN_DEPTH, NYU_MAX_DEPTH,
                           crop=NYU_EVAL_CROP, require_valid_pred=True)


def kitti_frame_metrics(gt_crop: np.ndarray, pred: np.ndarray,
                        cap: float = KITTI_MAX_DEPTH) -> Dict[str, float]:
    """Metrics of one KITTI image: the cropped gt and the prediction, both of the crop size."""
    h, w = np.asarray(gt_crop).shape[:2]
    return compute_metrics(gt_crop, pred, MIN_DEPTH, cap, crop=garg_crop(h, w))


# -------------------------------------------------------------------------------------------
# Datasets
# -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalSample:
    """One evaluation image: a display name and the paths of the image and its gt depth."""

    name: str
    rgb_path: str
    gt_path: str


def read_depth_png(path: str, units_per_metre: float) -> np.ndarray:
    """
    Read a 16-bit depth PNG as float32 metres (0 stays 0: invalid).

    :raises ValueError: missing, unreadable or not a single-channel 16-bit image
    """
    import cv2
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f'cannot read depth image {path}')
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise ValueError(f'{path} must be a single-channel 16-bit PNG, got {raw.dtype} '
                         f'{raw.shape}')
    return raw.astype(np.float32) / np.float32(units_per_metre)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_split(path: str) -> List[List[str]]:
    """
    Read a split file: one sample per line, whitespace-separated fields; ``#`` comments.

    :raises FileNotFoundError: the file does not exist
    """
    if not os.path.isfile(path):
        what = 'is a directory' if os.path.isdir(path) else 'does not exist'
        raise FileNotFoundError(f'split file {path} {what}')
    rows = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                rows.append(line.split())
    return rows


def _nyu_gt_for(rgb_rel: str) -> str:
    folder, name = os.path.split(rgb_rel)
    stem = os.path.splitext(name)[0]
    if not stem.startswith('rgb_'):
        raise ValueError(f'cannot derive the NYU depth file of {rgb_rel}: the name must look '
                         'like rgb_XXXXX.jpg (or give "rgb gt" pairs in the split file)')
    return os.path.join(folder, 'sync_depth_' + stem[4:] + '.png')


def list_nyu_samples(data_dir: str, split: Optional[str] = None) -> List[EvalSample]:
    """
    List the NYU samples of DATA_DIR: from a split file, or every ``rgb_*`` image found.

    Split lines: ``scene/rgb_00045.jpg [scene/sync_depth_00045.png [focal]]`` relative to
    DATA_DIR; the depth path defaults to ``sync_depth_<same number>.png`` next to the image.

    :raises FileNotFoundError: DATA_DIR, the split file or a listed file is missing
    :raises ValueError: no sample found
    """
    _check_dir(data_dir, 'dataset directory')
    pairs = []
    if split:
        for fields in read_split(split):
            rgb = fields[0].lstrip('/')
            gt = fields[1].lstrip('/') if len(fields) > 1 and not _is_number(fields[1]) \
                else _nyu_gt_for(rgb)
            pairs.append((rgb, gt))
    else:
        for root, dirs, files in os.walk(data_dir):
            dirs.sort()
            for name in sorted(files):
                stem, ext = os.path.splitext(name)
                if stem.startswith('rgb_') and ext.lower() in ('.jpg', '.jpeg', '.png'):
                    rgb = os.path.relpath(os.path.join(root, name), data_dir)
                    pairs.append((rgb, _nyu_gt_for(rgb)))
    samples = [EvalSample(rgb, os.path.join(data_dir, rgb), os.path.join(data_dir, gt))
               for rgb, gt in pairs]
    _check_exist(samples)
    if not samples:
        raise ValueError(f'no NYU samples (<scene>/rgb_XXXXX.jpg) in {data_dir}')
    return samples


def list_kitti_samples(data_dir: str, split: str,
                       gt_dir: Optional[str] = None) -> Tuple[List[EvalSample], int]:
    """
    List the KITTI samples of a split file (``rgb_path gt_path [focal]`` per line).

    :param data_dir: root of the rgb paths
    :param split: the split file
    :param gt_dir: root of the gt paths (default: ``data_dir``)
    :return: the samples, and how many lines had no ground truth (``None``) and are skipped
    :raises FileNotFoundError: a directory, the split file or a listed file is missing
    :raises ValueError: a line without a gt path, or no sample
    """
    _check_dir(data_dir, 'dataset directory')
    gt_dir = gt_dir or data_dir
    _check_dir(gt_dir, 'gt directory')
    samples = []
    missing_gt = 0
    for fields in read_split(split):
        if len(fields) < 2:
            raise ValueError(f'{split}: line "{" ".join(fields)}" needs "rgb_path gt_path"')
        if fields[1] == 'None':
            missing_gt += 1
            continue
        rgb, gt = fields[0].lstrip('/'), fields[1].lstrip('/')
        samples.append(EvalSample(rgb, os.path.join(data_dir, rgb), os.path.join(gt_dir, gt)))
    _check_exist(samples)
    if not samples:
        raise ValueError(f'{split} lists no sample with ground truth')
    return samples, missing_gt


def _check_dir(path: str, what: str) -> None:
    if not os.path.isdir(path):
        if os.path.exists(path):
            raise FileNotFoundError(f'{what} {path} is a file, not a directory')
        raise FileNotFoundError(f'{what} {path} does not exist')


def _check_exist(samples: Sequence[EvalSample]) -> None:
    missing = [p for s in samples for p in (s.rgb_path, s.gt_path) if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f'{len(missing)} listed file(s) missing, e.g. {missing[0]}')


# -------------------------------------------------------------------------------------------
# Running
# -------------------------------------------------------------------------------------------
@dataclass
class Protocol:
    """
    One dataset protocol: how to crop the input and gt, and how to score a prediction.

    ``prepare(rgb, gt_path)`` returns the model input crop and the gt as ``metrics`` wants
    it; ``metrics(gt, prediction)`` scores a prediction of ``crop_size``.
    """

    name: str
    columns: Tuple[str, ...]
    crop_size: Tuple[int, int]
    # (rgb, gt path) -> (model input crop, gt as the metric function wants it)
    prepare: Callable[[np.ndarray, str], Tuple[np.ndarray, np.ndarray]]
    # (gt, prediction at crop size) -> metrics
    metrics: Callable[[np.ndarray, np.ndarray], Dict[str, float]]
    description: Dict[str, Any]


def nyu_protocol() -> Protocol:
    """Return the NYU Depth v2 protocol (input crop, paste, eval crop, cap 10 m)."""
    top, bottom, left, right = NYU_INPUT_CROP

    def prepare(rgb: np.ndarray, gt_path: str):
        if rgb.shape[:2] != NYU_SIZE:
            raise ValueError(f'NYU images must be 640x480, got {rgb.shape[1]}x{rgb.shape[0]}')
        gt = read_depth_png(gt_path, NYU_DEPTH_UNITS)
        if gt.shape != NYU_SIZE:
            raise ValueError(f'{gt_path}: NYU depth must be 640x480, got {gt.shape}')
        return np.ascontiguousarray(rgb[top:bottom, left:right]), gt

    return Protocol(
        'nyu', NYU_COLUMNS, (bottom - top, right - left), prepare, nyu_frame_metrics,
        {'input_crop_rows_cols': list(NYU_INPUT_CROP), 'eval_crop_rows_cols': list(NYU_EVAL_CROP),
         'min_depth': MIN_DEPTH, 'max_depth': NYU_MAX_DEPTH, 'gt_units_per_metre': 1000,
         'valid': '1e-3 < gt < 10 and pred > 1e-3 inside the eval crop; clamp [1e-3, 10]'})


def kitti_protocol(cap: float = KITTI_MAX_DEPTH) -> Protocol:
    """Return the KITTI protocol (bottom-centre 352x704 input crop, Garg crop, ``cap``)."""
    def prepare(rgb: np.ndarray, gt_path: str):
        h, w = rgb.shape[:2]
        top, bottom, left, right = kitti_crop_box(h, w)
        gt = read_depth_png(gt_path, KITTI_DEPTH_UNITS)
        if gt.shape != (h, w):
            raise ValueError(f'{gt_path}: depth is {gt.shape[1]}x{gt.shape[0]} but the image '
                             f'is {w}x{h}')
        return (np.ascontiguousarray(rgb[top:bottom, left:right]),
                gt[top:bottom, left:right])

    def metrics(gt: np.ndarray, pred: np.ndarray):
        return kitti_frame_metrics(gt, pred, cap)

    return Protocol(
        'kitti', KITTI_COLUMNS, KITTI_CROP_SIZE, prepare, metrics,
        {'input_crop': 'bottom-centre 352x704 (rows h-352:h, cols (w-704)//2 + 704)',
         'eval_crop': 'Garg ECCV16 of the 352x704 crop', 'min_depth': MIN_DEPTH,
         'max_depth': cap, 'gt_units_per_metre': 256,
         'valid': f'1e-3 < gt < {cap:g} inside the Garg crop; clamp [1e-3, {cap:g}]'})


def run_evaluation(protocol: Protocol, samples: Sequence[EvalSample], engine,
                   batch: int = 8, progress: bool = True) -> Tuple[List[Dict[str, Any]], float]:
    """
    Predict every sample in batches and compute its metrics.

    :param protocol: the dataset protocol (from ``nyu_protocol`` / ``kitti_protocol``)
    :param samples: the images and their gt
    :param engine: a :class:`depthclip_ros.core.engine.DepthClipEngine`
    :param batch: images per ``engine.predict`` call
    :param progress: show a tqdm progress bar (on a terminal)
    :return: one row per image (``image``, ``gt``, metrics, ``valid_pixels``) and the seconds
        spent
    """
    from tqdm import tqdm

    rows: List[Dict[str, Any]] = []
    start = time.perf_counter()
    with tqdm(total=len(samples), unit='img', desc=f'eval {protocol.name}',
              disable=None if progress else True) as bar:
        for first in range(0, len(samples), batch):
            chunk = samples[first:first + batch]
            inputs, gts = [], []
            for sample in chunk:
                model_input, gt = protocol.prepare(read_rgb(sample.rgb_path), sample.gt_path)
                inputs.append(model_input)
                gts.append(gt)
            predictions = engine.predict(inputs, [protocol.crop_size] * len(inputs))
            for sample, gt, prediction in zip(chunk, gts, predictions):
                row: Dict[str, Any] = {'image': sample.name,
                                       'gt': sample.gt_path}
                row.update(protocol.metrics(gt, prediction.depth))
                rows.append(row)
            bar.update(len(chunk))
    return rows, time.perf_counter() - start


def format_table(summary: Dict[str, float], columns: Sequence[str]) -> str:
    """Return a two-line table of the mean metrics in ``columns`` order."""
    width = 9
    head = ''.join(f'{LABELS[c]:>{width}}' for c in columns)
    values = ''.join(f'{summary[c]:>{width}.3f}' for c in columns)
    return head + '\n' + values


def write_outputs(output: str, protocol: Protocol, rows: List[Dict[str, Any]],
                  summary: Dict[str, Any]) -> Tuple[str, str]:
    """Write ``<dataset>_per_image.csv`` and ``<dataset>_summary.json`` into ``output``."""
    os.makedirs(output, exist_ok=True)
    csv_path = os.path.join(output, f'{protocol.name}_per_image.csv')
    json_path = os.path.join(output, f'{protocol.name}_summary.json')
    fields = ['image', 'gt', 'valid_pixels'] + list(protocol.columns)
    with open(csv_path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction='ignore')
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f'{v:.6f}' if isinstance(v, float) else v)
                             for k, v in row.items()})
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2, sort_keys=False, allow_nan=True)
        f.write('\n')
    return csv_path, json_path


def run_eval(args: argparse.Namespace) -> int:
    """Run ``depthclip eval nyu|kitti``."""
    from depthclip_ros.core.engine import DepthClipEngine

    if args.batch < 1:
        raise ValueError('--batch must be >= 1')
    if args.limit is not None and args.limit < 1:
        raise ValueError('--limit must be >= 1')
    skipped_no_gt = 0
    if args.dataset == 'nyu':
        protocol = nyu_protocol()
        samples = list_nyu_samples(args.data_dir, args.split)
    else:
        if not args.split:
            raise ValueError('depthclip eval kitti needs --split FILE (lines "rgb_path '
                             'gt_path [focal]", e.g. eigen_test_files_with_gt.txt)')
        if not 0.0 < args.cap <= 1000.0:
            raise ValueError(f'--cap must be in (0, 1000] metres, got {args.cap}')
        protocol = kitti_protocol(args.cap)
        samples, skipped_no_gt = list_kitti_samples(args.data_dir, args.split, args.gt_dir)
    if args.limit:
        samples = samples[:args.limit]
    if args.output:
        check_output_dir(args.output)

    config = load_engine_config(args)
    offline_unless_hub_reachable(config.model.pretrained)
    engine = DepthClipEngine(config)
    print(f'weights: {engine.weights} on {engine.device} ({engine.precision}); '
          f'{len(samples)} {protocol.name} images')
    if engine.random_weights:
        print('WARNING: RANDOM weights: the metrics below are meaningless', file=sys.stderr)
    ch, cw = protocol.crop_size
    if (config.input.height, config.input.width) != (ch, cw):
        print(f'note: the {cw}x{ch} protocol crops are resized to the engine input '
              f'{config.input.width}x{config.input.height}')

    rows, seconds = run_evaluation(protocol, samples, engine, args.batch,
                                   progress=not args.no_progress)
    means = mean_metrics(rows)
    empty = [row['image'] for row in rows if row['valid_pixels'] == 0]
    if empty:
        print(f'warning: {len(empty)} image(s) without valid gt pixels are left out of the '
              f'means, e.g. {empty[0]}', file=sys.stderr)
    print(format_table(means, protocol.columns))
    print(f'{means["images"]} images, {len(rows) / max(seconds, 1e-9):.2f} images/s')
    if args.output:
        summary = {
            'dataset': protocol.name,
            'data_dir': os.path.abspath(args.data_dir),
            'split': os.path.abspath(args.split) if args.split else None,
            'images': means['images'],
            'images_without_valid_pixels': len(empty),
            'lines_without_gt': skipped_no_gt,
            'columns': list(protocol.columns),
            'metrics': {name: means[name] for name in protocol.columns},
            'protocol': protocol.description,
            'weights': engine.weights,
            'random_weights': engine.random_weights,
            'device': engine.device,
            'precision': engine.precision,
            'seconds': seconds,
            'images_per_second': len(rows) / max(seconds, 1e-9),
            'config': engine.config.to_flat(),
        }
        csv_path, json_path = write_outputs(args.output, protocol, rows, summary)
        print(f'wrote {csv_path} and {json_path}')
    return 0


def register(subparsers) -> None:
    """Add ``depthclip eval nyu|kitti`` to the ``depthclip`` command."""
    parser = subparsers.add_parser(
        'eval', help='evaluate on NYU Depth v2 or KITTI with the DepthCLIP paper protocol',
        description='Evaluate depth with the DepthCLIP paper protocol (see the module '
                    'documentation of depthclip_ros.tools.evaluation for the exact crops).')
    datasets = parser.add_subparsers(dest='dataset', required=True)
    nyu = datasets.add_parser('nyu', help='NYU Depth v2 official test split (654 images)')
    nyu.add_argument('data_dir', metavar='DATA_DIR',
                     help='folder with <scene>/rgb_XXXXX.jpg and <scene>/sync_depth_XXXXX.png')
    nyu.add_argument('--split', metavar='FILE',
                     help='list of rgb paths relative to DATA_DIR (optionally followed by '
                          'the depth path and focal), e.g. '
                          'nyudepthv2_test_files_with_gt_dense.txt; default: all rgb_* files')
    kitti = datasets.add_parser('kitti', help='KITTI Eigen split, Garg crop')
    kitti.add_argument('data_dir', metavar='DATA_DIR', help='root of the rgb paths')
    kitti.add_argument('--split', metavar='FILE', required=True,
                       help='lines "rgb_path gt_path [focal]" relative to DATA_DIR '
                            '(gt: 16-bit PNG, 1/256 m; "None": no gt, skipped)')
    kitti.add_argument('--gt-dir', metavar='DIR',
                       help='root of the gt paths (default: DATA_DIR)')
    kitti.add_argument('--cap', type=number_in(0.0, 1000.0, low_open=True),
                       default=KITTI_MAX_DEPTH,
                       help='maximum depth in metres (default 80)')
    for p in (nyu, kitti):
        p.add_argument('--output', '-o', metavar='DIR',
                       help='write <dataset>_per_image.csv and <dataset>_summary.json here')
        p.add_argument('--batch', type=int_at_least(1), default=8,
                       help='images per encoder pass')
        p.add_argument('--limit', type=int_at_least(1), help='evaluate only the first N images')
        p.add_argument('--no-progress', action='store_true', help='no progress bar')
        add_config_args(p)
        p.set_defaults(run=run_eval)
