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
``depthclip calibrate``: fit one scale factor for the depth bins from frames with known depth.

DepthCLIP's depth is ``sum_k p_k * bin_k * depth_scale``, clipped to the scaled bin range, so
multiplying ``depth_scale`` by ``s`` multiplies every prediction by exactly ``s``. The fit
therefore needs only the current predictions and the ground truth:

* ``median`` (default, robust): ``s = median(gt / pred)`` over the valid pixels of all frames
  pooled together (at most ``MAX_PIXELS_PER_FRAME`` evenly spaced valid pixels per frame, so
  that every frame weighs about the same);
* ``log-lsq``: least squares in log space, ``s = exp(mean(log gt - log pred))`` (the
  geometric mean of the ratios; sensitive to outliers);
* ``ground``: no ground truth needed: the node's live ground-plane fit
  (:mod:`depthclip_ros.core.scale`) for a camera ``--camera-height`` metres above the floor,
  pitched ``--pitch-deg`` down (``--roll-deg``), run over the frames in order; the scale is
  the median of the frames that see enough floor. The ``median`` scale against the ground
  truth (the oracle) is printed beside it. Intrinsics: NYU's camera for ``nyu``, else
  ``camera.fov_deg`` of the parameters.

Valid pixels: finite ``min_depth < gt < max_depth`` and a positive prediction.

Inputs (``--format``, detected when ``auto``):

* ``nyu``: the NYU layout of ``depthclip eval nyu`` (same input crop and evaluation crop, gt
  below 10 m), so the fitted scale is the one that evaluation sees;
* ``folder``: ``DATA/rgb/NAME.{png,jpg}`` (or ``image/``, ``images/``, ``color/``) with
  ``DATA/depth/NAME.png`` (16-bit millimetres, 0 = invalid) or ``DATA/depth/NAME.npy``
  (float metres, NaN/0 = invalid), depth registered to the image (any size: the prediction
  is made at the depth image's size);
* ``bag``: a rosbag2 (sqlite3 or MCAP) with an image topic (``sensor_msgs/Image`` or
  ``CompressedImage``) and a registered depth topic (``Image`` 32FC1 metres or 16UC1 / mono16
  millimetres), paired by header stamp (nearest within ``--max-dt``).

The result is written as a ROS 2 parameter file: the input parameter file (``--params``, or
the installed default) with the ``--set`` overrides and the new ``depth_scale`` applied, in the
``/**: ros__parameters:`` format that ``depthclip predict --params`` and the node read.
"""

import argparse
from dataclasses import dataclass, field
import math
import os
import sys
import tempfile
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from depthclip_ros.tools.common import (add_config_args, int_at_least, load_settings, number_in,
                                        offline_unless_hub_reachable, params_path)
from depthclip_ros.tools.datasets import (add_dataset_args, CalibrationFrame, dataset_format,
                                          default_max_depth, open_frames)
from depthclip_ros.tools.params_file import (dump_params, get_nested, has_nested, ros_typed,
                                             set_nested)

__all__ = [
    'fit_scale', 'METHODS', 'predict_frames', 'register', 'ScaleFit', 'write_calibrated_params',
]

METHODS = ('median', 'log-lsq', 'ground')
MAX_PIXELS_PER_FRAME = 100_000


@dataclass
class ScaleFit:
    """
    The fitted scale and how well it fits.

    ``scale`` multiplies the current predictions (and the current ``depth_scale``);
    ``delta1_before`` / ``delta1_after``: fraction of the sampled pixels with
    ``max(gt/pred, pred/gt) < 1.25`` before and after scaling.
    """

    scale: float
    method: str
    frames: int
    pixels: int
    frame_scales: List[float] = field(default_factory=list)
    delta1_before: float = math.nan
    delta1_after: float = math.nan


def _valid_log_ratios(gt: np.ndarray, pred: np.ndarray, min_depth: float, max_depth: float,
                      max_pixels: int) -> np.ndarray:
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if gt.shape != pred.shape:
        raise ValueError(f'gt {gt.shape} and prediction {pred.shape} differ in shape')
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth) & \
            np.isfinite(pred) & (pred > 0.0)
    ratios = np.log(gt[valid]) - np.log(pred[valid])
    if ratios.size > max_pixels:
        ratios = ratios[np.linspace(0, ratios.size - 1, max_pixels).astype(np.int64)]
    return ratios


def fit_scale(pairs: Iterable[Tuple[np.ndarray, np.ndarray]], method: str = 'median',
              min_depth: float = 1e-3, max_depth: float = math.inf,
              max_pixels_per_frame: int = MAX_PIXELS_PER_FRAME) -> ScaleFit:
    """
    Fit one scale ``s`` so that ``s * pred`` matches ``gt``.

    :param pairs: ``(gt, pred)`` depth arrays in metres, one pair per frame, same shapes
    :param method: ``median`` (median of gt/pred) or ``log-lsq`` (exp of the mean log ratio)
    :param min_depth: gt at or below this is invalid
    :param max_depth: gt at or above this is invalid
    :param max_pixels_per_frame: at most this many evenly spaced valid pixels per frame
    :return: the fit
    :raises ValueError: unknown method or no valid pixel at all
    """
    if method not in METHODS:
        raise ValueError(f'method must be one of {"|".join(METHODS)}, got {method!r}')
    chunks = []
    frame_scales = []
    for gt, pred in pairs:
        ratios = _valid_log_ratios(gt, pred, min_depth, max_depth, max_pixels_per_frame)
        if ratios.size:
            chunks.append(ratios)
            frame_scales.append(_scale_of(ratios, method))
    if not chunks:
        raise ValueError('no valid depth pixels to calibrate on (gt must be finite and in '
                         f'({min_depth:g}, {max_depth:g}) m)')
    ratios = np.concatenate(chunks)
    scale = _scale_of(ratios, method)
    bound = math.log(1.25)
    return ScaleFit(scale=scale, method=method, frames=len(chunks), pixels=int(ratios.size),
                    frame_scales=frame_scales,
                    delta1_before=float(np.mean(np.abs(ratios) < bound)),
                    delta1_after=float(np.mean(np.abs(ratios - math.log(scale)) < bound)))


def _scale_of(log_ratios: np.ndarray, method: str) -> float:
    if method == 'median':
        return float(np.median(np.exp(log_ratios)))
    return float(np.exp(np.mean(log_ratios)))


# -------------------------------------------------------------------------------------------
# Parameter file
# -------------------------------------------------------------------------------------------
def write_calibrated_params(path: str, depth_scale: float, base: Optional[str] = None,
                            overrides: Sequence[str] = (), comment: str = '') -> str:
    """
    Write a ROS 2 parameter file: ``base`` with ``overrides`` and ``depth_scale`` applied.

    ``depth_scale`` and the overrides go to the ``/**`` section (created when missing),
    where integers given for floating-point engine parameters become floats (ROS 2 rejects
    an integer for a double parameter);
    ``depth_scale`` also replaces the value in any node section that sets it, so that no
    section overrides the calibration. The result is read back with
    :func:`depthclip_ros.core.config.load_config` before it replaces ``path``.

    :param path: the file to write
    :param depth_scale: the calibrated scale (written with 6 significant digits)
    :param base: parameter file to start from (``None``: an empty one)
    :param overrides: ``name=value`` strings (as ``--set`` takes them)
    :param comment: text for a comment at the top of the file
    :return: ``path``
    :raises ValueError: unreadable base file, a bad override or an invalid result
    """
    from depthclip_ros.core.config import DepthClipConfig, load_config, parse_override
    from depthclip_ros.core.files import load_yaml
    document: Dict[str, Any] = {}
    if base is not None:
        try:
            document = load_yaml(base, f'parameter file {base}') or {}
        except UnicodeDecodeError:
            raise ValueError(f'parameter file {base} is not a text (YAML) file') from None
        if not isinstance(document, dict):
            raise ValueError(f'parameter file {base} must map node names to ros__parameters')
    key = '/**' if '/**' in document or '**' not in document else '**'
    section = document.setdefault(key, {})
    if not isinstance(section, dict):
        raise ValueError(f'parameter file {base}: section {key!r} is not a mapping')
    params = section.get('ros__parameters')
    if not isinstance(params, dict):
        params = section['ros__parameters'] = {}
    for item in overrides:
        name, value = parse_override(item)
        set_nested(params, name, value)
    for name, default in DepthClipConfig().to_flat().items():
        if has_nested(params, name):
            set_nested(params, name, ros_typed(get_nested(params, name), default))
    depth_scale = float(f'{float(depth_scale):.6g}')
    params['depth_scale'] = depth_scale
    for other, body in document.items():
        if other != key and isinstance(body, dict) and \
                has_nested(body.get('ros__parameters'), 'depth_scale'):
            body['ros__parameters']['depth_scale'] = depth_scale

    text = dump_params(document, comment)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.calibrate-', suffix='.yaml', dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        load_config(tmp)  # what predict and the node will read
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


# -------------------------------------------------------------------------------------------
# Command
# -------------------------------------------------------------------------------------------
def predict_frames(engine, frames: Iterable[CalibrationFrame], batch: int,
                   total: Optional[int] = None,
                   progress: bool = True) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Yield ``(gt, prediction)`` per frame, predicting in batches at the gt's size."""
    from tqdm import tqdm
    pending: List[CalibrationFrame] = []
    with tqdm(total=total, unit='frame', desc='calibrate',
              disable=None if progress else True) as bar:
        for frame in frames:
            pending.append(frame)
            if len(pending) >= batch:
                yield from _predict(engine, pending)
                bar.update(len(pending))
                pending = []
        if pending:
            yield from _predict(engine, pending)
            bar.update(len(pending))


def _predict(engine, frames: Sequence[CalibrationFrame]):
    predictions = engine.predict([f.rgb for f in frames], [f.gt.shape[:2] for f in frames])
    for frame, prediction in zip(frames, predictions):
        yield frame.gt, prediction.depth


def ground_fit(engine, frames: Iterable[CalibrationFrame], args: argparse.Namespace,
               node, total: Optional[int], max_depth: float) -> ScaleFit:
    """
    Fit the scale from the floor (``--method ground``), frame by frame as the node does.

    The node's own estimator and ``scale.*`` settings (from the parameters; mode, height,
    pitch and roll from the arguments), fed the engine's bins, so saturated pixels are
    told as in the node; after the frames it prints the key values the node's diagnostics
    would show. The scale written is the median of the frames' fits. Prints the ``median``
    fit against the ground truth beside it when there is ground truth. ``node``: the node
    settings (``camera.fov_deg`` for datasets without intrinsics).
    """
    from dataclasses import replace

    from depthclip_ros.core.geometry import Intrinsics
    from depthclip_ros.core.scale import GroundScale
    settings = replace(node.scale, mode='ground', camera_height=args.camera_height,
                       camera_pitch_deg=args.pitch_deg, camera_roll_deg=args.roll_deg,
                       floor_frame='')
    bins = engine.state.config.metric_bins
    live = GroundScale()
    scales: List[float] = []
    fractions: List[float] = []
    pairs = []
    frames = list(frames)
    for gt, depth in predict_frames(engine, frames, args.batch, total, not args.no_progress):
        frame = frames[len(pairs)]
        height, width = depth.shape
        intr = frame.intrinsics or Intrinsics.from_fov(width, height, node.camera_fov_deg)
        if (intr.width, intr.height) != (width, height):
            intr = intr.scaled(width, height)
        live.update(depth, intr, settings, 1.0, bins=bins)
        if live.state == 'fitting':
            scales.append(live.fitted)
            fractions.append(live.inlier_fraction)
        pairs.append((gt, depth))
    if not scales:
        raise ValueError(f'no frame shows enough floor for --method ground ({live.reason}; '
                         'check --camera-height, --pitch-deg and that the floor is in view)')
    scale = float(np.median(scales))
    print(f'ground: scale {scale:.4f} (median of the fits) from {len(scales)} of {len(pairs)} '
          f'frames (floor on {np.median(fractions):.1%} of the image; pitch used '
          f'{live.floor_pitch_deg:.2f} deg)')
    print('ground, as the diagnostics show it after the last frame:')
    for key, value in live.report():
        print(f'  {key}: {value}')
    try:
        oracle = fit_scale(pairs, 'median', max_depth=max_depth)
    except ValueError:
        print('oracle: no ground truth to compare with')
    else:
        print(f'oracle (median of gt / prediction): scale {oracle.scale:.4f}; ground is '
              f'{100.0 * (scale / oracle.scale - 1.0):+.1f} % from it')
    bound = math.log(1.25)
    ratios = np.concatenate([_valid_log_ratios(gt, depth, 1e-3, max_depth,
                                               MAX_PIXELS_PER_FRAME) for gt, depth in pairs])
    return ScaleFit(scale=scale, method='ground', frames=len(scales), pixels=int(ratios.size),
                    frame_scales=scales,
                    delta1_before=float(np.mean(np.abs(ratios) < bound)) if ratios.size
                    else math.nan,
                    delta1_after=float(np.mean(np.abs(ratios - math.log(scale)) < bound))
                    if ratios.size else math.nan)


def run_calibrate(args: argparse.Namespace) -> int:
    """Run ``depthclip calibrate``."""
    from depthclip_ros.core.engine import DepthClipEngine

    if args.batch < 1:
        raise ValueError('--batch must be >= 1')
    if args.frames < 0:
        raise ValueError('--frames must be >= 0 (0: all)')
    if args.output and os.path.isdir(args.output):
        raise ValueError(f'--output {args.output} is a directory; give the parameter file to '
                         'write')
    if args.method == 'ground' and args.camera_height is None:
        raise ValueError('--method ground needs --camera-height (and --pitch-deg)')
    fmt = dataset_format(args)
    max_depth = default_max_depth(fmt, args.max_depth)
    config, node = load_settings(args)  # settings errors before any frame is read
    total, frames = open_frames(args, fmt)
    offline_unless_hub_reachable(config.model.pretrained)

    engine = DepthClipEngine(config)
    print(f'weights: {engine.weights} on {engine.device} ({engine.precision}); '
          f'{total} {fmt} frames')
    if engine.random_weights:
        print('WARNING: RANDOM weights: the scale below is meaningless', file=sys.stderr)
    if args.method == 'ground':
        fit = ground_fit(engine, frames, args, node, total, max_depth)
    else:
        fit = fit_scale(predict_frames(engine, frames, args.batch, total, not args.no_progress),
                        args.method, max_depth=max_depth)
    old = config.depth_scale
    new = old * fit.scale
    per_frame = np.asarray(fit.frame_scales)
    print(f'fitted on {fit.frames} frames, {fit.pixels} pixels ({fit.method}): '
          f'scale {fit.scale:.4f} (per frame {per_frame.min():.3f} .. {per_frame.max():.3f})')
    print(f'δ<1.25 on those pixels: {fit.delta1_before:.3f} before, '
          f'{fit.delta1_after:.3f} after')
    print(f'depth_scale: {old:g} -> {new:.6g}')
    if not 0.01 <= new <= 100.0:
        raise ValueError(f'the fitted depth_scale {new:.6g} is outside [0.01, 100]: check that '
                         'the gt depth is in metres (16-bit PNG: millimetres)')
    if args.output:
        base = params_path(args)
        comment = (f'written by depthclip calibrate from {os.path.abspath(args.data)} '
                   f'({fmt}, {fit.frames} frames, {fit.method}):\n'
                   f'depth_scale {old:g} x {fit.scale:.6g} = {new:.6g}; '
                   f'base parameters: {base}')
        write_calibrated_params(args.output, new, base, args.overrides, comment)
        print(f'wrote {args.output} (use: depthclip predict --params {args.output} ..., or '
              "the node's params_file)")
    else:
        print(f'(no --output: pass --set depth_scale={new:.6g})')
    return 0


def register(subparsers) -> None:
    """Add ``depthclip calibrate`` to the ``depthclip`` command."""
    p = subparsers.add_parser(
        'calibrate', help='fit depth_scale from frames with known depth',
        description='Fit one scale factor for the depth bins (depth_scale) from frames with '
                    'known depth and write a parameter file with it.')
    add_dataset_args(p, default_frames=100)
    p.add_argument('--method', choices=METHODS, default='median',
                   help='median of gt/pred (default), least squares in log space, or ground: '
                        'the floor seen by a camera at a known height and pitch (no gt '
                        'needed; the median against gt is printed beside it)')
    p.add_argument('--camera-height', type=number_in(0.0, low_open=True), metavar='M',
                   help='ground: optical centre above the floor (m); required with ground')
    p.add_argument('--pitch-deg', type=number_in(-89.0, 89.0), default=0.0, metavar='DEG',
                   help='ground: downward tilt of the optical axis (default 0)')
    p.add_argument('--roll-deg', type=number_in(-89.0, 89.0), default=0.0, metavar='DEG',
                   help='ground: rotation about the optical axis (default 0)')
    p.add_argument('--max-depth', type=number_in(0.0, low_open=True),
                   help='ignore gt at or beyond this depth in metres (default: 10 for nyu, '
                        'none otherwise)')
    p.add_argument('--output', '-o', metavar='FILE',
                   help='parameter file to write (the --params file with depth_scale set)')
    p.add_argument('--batch', type=int_at_least(1), default=8, help='frames per encoder pass')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_config_args(p)
    p.set_defaults(run=run_calibrate)
