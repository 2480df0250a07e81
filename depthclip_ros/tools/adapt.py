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
``depthclip adapt``: learn the depth-class embeddings (and optionally the bins) from RGB-D frames.

CLIP stays frozen (after Auty & Mikolajczyk, "Learning to Prompt CLIP for Monocular Depth
Estimation", ICCV-W 2023): only the K class embeddings that the prompts would give are learned
(kept unit-norm: ``normalize(W)``, ``W`` starting at the prompts' embeddings), with
``--learn-bins`` the depth bins (positive and strictly increasing by construction:
``log b_k = log b_0 + sum_{j<=k} (1e-3 + softplus(r_j))``) and with ``--learn-temperature``
the softmax temperature (``exp`` of a learned log).

1. Frames with known depth are read as ``depthclip calibrate`` reads them
   (:mod:`depthclip_ros.tools.datasets`: an eval-format NYU folder, ``rgb/`` + ``depth/``, or a
   bag with an image and a depth topic); ``--frames`` evenly spaced ones.
2. A held-out part (``--holdout``, 20 %) is kept for validation: whole sequences when the
   frames come from several (NYU scene folders), else evenly spaced frames.
3. The image encoder runs once per frame, on the frame and its mirror in one batch (as
   ``flip_tta`` does); the dense features are cached. Each frame and its mirror (with the
   mirrored depth) are training samples: the flip is the augmentation.
4. Adam on the cached features. Loss per sample, averaged: the scale-invariant log loss
   ``sqrt(mean(g^2) - 0.85 mean(g)^2)``, ``g = log pred - log gt``, plus ``0.1 x`` the mean
   absolute error in metres, over the valid gt pixels (finite, ``1e-3 < gt < --max-depth``) of
   a grid 4 times finer than the feature grid (the prediction is upsampled to it as the engine
   upsamples). The held-out loss is computed every 5 steps; the parameters with the lowest
   one are kept (the start included, so the held-out loss never gets worse) and the run
   stops after ``--patience`` steps without improvement or ``--steps`` steps.
5. The held-out frames are predicted as the engine predicts them (flip averaging when
   ``flip_tta``, upsampling to the gt size, smoothing, clipping to the bins) with the start
   (the prompts) and with the result, scored with :func:`~depthclip_ros.tools.evaluation.
   compute_metrics`, and the table is printed. The file
   (:mod:`depthclip_ros.core.embeddings`) is written.

The embeddings' step size follows the head's logit scale: Adam's learning rate is
``3 x temperature / (100 x sqrt(C))``, about 3 logits per step at most. The optimisation runs
on one CPU thread: its products are small, and several threads mostly wait for each other
(on this 2-core machine shared with other jobs: 28 ms per step on one thread, 400 ms on two).
"""

import argparse
from dataclasses import dataclass, field
import math
import os
import sys
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from depthclip_ros.tools.common import (add_config_args, int_at_least, load_engine_config,
                                        number_in, offline_unless_hub_reachable)
from depthclip_ros.tools.datasets import (add_dataset_args, CalibrationFrame, dataset_format,
                                          default_max_depth, open_frames)
from depthclip_ros.tools.evaluation import compute_metrics, LABELS, mean_metrics, METRIC_NAMES

__all__ = ['AdaptOptions', 'AdaptResult', 'adapt_features', 'encode_frames', 'FeatureCache',
           'heldout_metrics', 'register', 'run_adapt', 'split_holdout', 'TABLE_COLUMNS']

#: Metrics of the printed table.
TABLE_COLUMNS = ('a1', 'abs_rel', 'rmse')
#: Smallest valid gt depth (metres), as in the evaluation protocols.
MIN_DEPTH = 1e-3
#: Smallest log ratio of two neighbouring learned bins (they differ by at least 0.1 %).
MIN_LOG_BIN_RATIO = 1e-3


@dataclass
class AdaptOptions:
    """Settings of the optimisation (see the module documentation)."""

    steps: int = 500
    learn_bins: bool = False
    learn_temperature: bool = False
    seed: int = 0
    patience: int = 100
    eval_every: int = 5
    si_lambda: float = 0.85
    l1_weight: float = 0.1
    #: Adam step of the embeddings, in logits (see the module documentation).
    embedding_step: float = 3.0
    bins_lr: float = 0.02
    temperature_lr: float = 0.01
    #: The loss grid is this many times finer than the feature grid.
    loss_grid: int = 4
    #: Training samples per step; more are split into mini-batches in an order from ``seed``.
    max_batch: int = 128
    max_depth: float = math.inf


@dataclass
class FeatureCache:
    """
    Dense features of frames and their mirrors, with gt on the loss grid and at full size.

    ``features`` / ``mirrored``: ``(N, C, h, w)`` float32 (the mirror's features are of the
    mirrored image, not flipped back); ``gt_grid``: ``(N, h*g, w*g)`` float32 gt sampled at
    the loss grid (NaN: invalid); ``gt``: the full gt per frame (NaN: invalid).
    """

    names: List[str]
    features: Any  # torch.Tensor (torch is imported only by the functions that use it)
    mirrored: Any
    gt_grid: Any
    gt: List[np.ndarray] = field(default_factory=list)
    #: Frames read but left out: their gt had no valid pixel.
    skipped: int = 0

    def subset(self, indices: Sequence[int]) -> 'FeatureCache':
        """Return the frames at ``indices``."""
        index = list(indices)
        return FeatureCache([self.names[i] for i in index], self.features[index],
                            self.mirrored[index], self.gt_grid[index],
                            [self.gt[i] for i in index] if self.gt else [])


@dataclass
class AdaptResult:
    """The learned head: unit-norm embeddings, metric bins, temperature, and how it went."""

    embeddings: Any  # (K, C) float32 torch.Tensor
    bins: Any  # (K,) float32 torch.Tensor, metres (depth_scale applied)
    temperature: float
    steps: int
    best_step: int
    loss_before: float
    loss_after: float
    history: List[Tuple[int, float, float]] = field(default_factory=list)


# -------------------------------------------------------------------------------------------
# Frames and features
# -------------------------------------------------------------------------------------------
def valid_gt(gt: np.ndarray, max_depth: float = math.inf) -> np.ndarray:
    """Return gt as float32 with NaN wherever it is not finite or not in (1e-3, max_depth)."""
    gt = np.asarray(gt, dtype=np.float32)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(gt) & (gt > MIN_DEPTH) & (gt < max_depth)
    return np.where(valid, gt, np.float32(np.nan)).astype(np.float32)


def grid_sample_gt(gt: np.ndarray, height: int, width: int) -> np.ndarray:
    """
    Sample gt at the pixels nearest to a ``height`` x ``width`` grid spanning it corner to corner.

    The grid's points are where bilinear upsampling with ``align_corners=True`` (the engine's)
    puts the points of a ``height`` x ``width`` map onto the gt.
    """
    rows = np.rint(np.linspace(0, gt.shape[0] - 1, height)).astype(np.int64)
    cols = np.rint(np.linspace(0, gt.shape[1] - 1, width)).astype(np.int64)
    return np.ascontiguousarray(gt[rows][:, cols])


def encode_frames(engine, frames: Iterable[CalibrationFrame], total: Optional[int] = None,
                  batch: int = 4, max_depth: float = math.inf, loss_grid: int = 4,
                  progress: bool = True) -> FeatureCache:
    """
    Run the image encoder once per frame and its mirror; cache features and gt.

    :param engine: a :class:`~depthclip_ros.core.engine.DepthClipEngine`
    :param frames: RGB frames with metric gt (any sizes)
    :param total: the number of frames (progress bar)
    :param batch: frames per encoder pass (each with its mirror)
    :param max_depth: gt at or beyond this is invalid
    :param loss_grid: the loss grid is this many times finer than the feature grid
    :return: the frames whose gt has valid pixels (``skipped`` counts the others)
    :raises ValueError: no frame with a valid gt pixel
    """
    import torch
    from tqdm import tqdm

    names: List[str] = []
    features, mirrored, grids, gts = [], [], [], []
    pending: List[Tuple[CalibrationFrame, np.ndarray]] = []
    skipped = 0

    def flush():
        x = engine.preprocess([frame.rgb for frame, _ in pending])
        out = engine.encode(torch.cat([x, torch.flip(x, dims=[3])], dim=0)).float().cpu()
        n = len(pending)
        features.append(out[:n].clone())
        mirrored.append(out[n:].clone())
        h, w = out.shape[-2:]
        for frame, gt in pending:
            names.append(frame.name)
            gts.append(gt)
            grids.append(torch.from_numpy(grid_sample_gt(gt, h * loss_grid, w * loss_grid)))
        pending.clear()

    with tqdm(total=total, unit='frame', desc='adapt: encode',
              disable=None if progress else True) as bar:
        for frame in frames:
            gt = valid_gt(frame.gt, max_depth)
            if np.isfinite(gt).any():
                pending.append((frame, gt))
            else:  # no depth at all (a camera starting up): nothing to learn from
                skipped += 1
            if len(pending) >= batch:
                flush()
            bar.update(1)
        if pending:
            flush()
    if not names:
        raise ValueError(f'no frame has a valid depth pixel (gt must be finite and in '
                         f'({MIN_DEPTH:g}, {max_depth:g}) m)')
    return FeatureCache(names, torch.cat(features), torch.cat(mirrored), torch.stack(grids),
                        gts, skipped)


def split_holdout(names: Sequence[str], fraction: float) -> Tuple[List[int], List[int], str]:
    """
    Choose held-out frames: whole sequences when there are several, else evenly spaced frames.

    A frame's sequence is the folder part of its name (NYU: the scene folder). Sequences are
    held out whole, in an evenly spread order, until at least ``fraction`` of the frames are
    held out, as long as one sequence is left for training.

    :return: training indices, held-out indices, and how they were chosen (one line)
    :raises ValueError: fewer than 2 frames, or ``fraction`` outside (0, 1)
    """
    n = len(names)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f'--holdout must be in (0, 1), got {fraction}')
    if n < 2:
        raise ValueError(f'adapting needs at least 2 frames (training and held-out), got {n}')
    target = min(n - 1, max(1, int(round(fraction * n))))
    sequences: Dict[str, List[int]] = {}
    for i, name in enumerate(names):
        sequences.setdefault(os.path.dirname(name), []).append(i)
    if len(sequences) >= 2:
        keys = sorted(sequences)
        order = _spread(len(keys))
        held: List[int] = []
        chosen = []
        for k in order[:-1]:  # at least one sequence stays for training
            held += sequences[keys[k]]
            chosen.append(keys[k])
            if len(held) >= target:
                break
        if len(held) >= target:
            held.sort()
            train = [i for i in range(n) if i not in set(held)]
            return train, held, (f'{len(held)} held-out frames: the whole sequence(s) '
                                 f'{", ".join(chosen)}')
    held = sorted({min(n - 1, int((i + 0.5) * n / target)) for i in range(target)})
    train = [i for i in range(n) if i not in set(held)]
    return train, held, f'{len(held)} held-out frames: evenly spaced'


def _spread(count: int) -> List[int]:
    """Return ``range(count)`` in an order that spreads the first ones: middle, ends, ..."""
    order: List[int] = []
    step = count
    while len(order) < count:
        for i in range(step // 2, count, max(step, 1)):
            if i not in order:
                order.append(i)
        step = max(1, step // 2)
    return order


# -------------------------------------------------------------------------------------------
# The head and the loss
# -------------------------------------------------------------------------------------------
def low_res_depth(features, text, bins, temperature):
    """
    Return the head's depth ``(N, 1, h, w)`` for features ``(N, h, w, C)`` (no flip averaging).

    The head of :mod:`depthclip_ros.core.model` (``class_probabilities``, ``expected_depth``)
    with the features channels-last: one ``(N h w, C) @ (C, K)`` product, which is several
    times faster than the channels-first einsum on a CPU, forwards and backwards.
    """
    import torch
    from depthclip_ros.core.model import LOGIT_SCALE
    n, h, w, c = features.shape
    logits = (features.reshape(-1, c) @ text.t()) * (LOGIT_SCALE / temperature)
    probabilities = torch.softmax(logits, dim=1)
    depth = probabilities @ bins.to(probabilities.dtype)
    return depth.reshape(n, 1, h, w)


def engine_depth(cache: FeatureCache, index: int, text, bins, temperature: float,
                 config) -> np.ndarray:
    """
    Predict frame ``index`` of ``cache`` as the engine does, at its gt size.

    The probabilities of the frame and of its mirror (flipped back) are averaged with
    ``flip_tta``; the depth is upsampled bilinearly (corners aligned), smoothed with
    ``smoothing_sigma`` and clipped to the bins' range, as
    :meth:`~depthclip_ros.core.engine.DepthClipEngine.predict` does.
    """
    import torch
    from depthclip_ros.core.engine import finish_depth
    from depthclip_ros.core.model import average_mirrored, class_probabilities, expected_depth

    with torch.no_grad():
        p = class_probabilities(cache.features[index:index + 1], text, temperature)
        if config.flip_tta:
            p = average_mirrored(p, class_probabilities(cache.mirrored[index:index + 1], text,
                                                        temperature))
        depth = expected_depth(p, bins)
    return finish_depth(depth, tuple(cache.gt[index].shape), (float(bins[0]), float(bins[-1])),
                        config.smoothing_sigma)


def heldout_metrics(cache: FeatureCache, text, bins, temperature: float, config,
                    max_depth: float = math.inf) -> Dict[str, float]:
    """Return the mean metrics over the frames of ``cache`` predicted as the engine does."""
    rows = [compute_metrics(cache.gt[i], engine_depth(cache, i, text, bins, temperature,
                                                      config), MIN_DEPTH, max_depth)
            for i in range(len(cache.names))]
    return mean_metrics(rows)


def depth_loss(pred, gt, si_lambda: float = 0.85, l1_weight: float = 0.1):
    """
    Scale-invariant log loss plus ``l1_weight`` x mean absolute error, per sample, averaged.

    :param pred: ``(N, 1, h, w)`` predicted depth at feature resolution
    :param gt: ``(N, H, W)`` gt on the loss grid, NaN where invalid
    """
    import torch
    import torch.nn.functional as F

    d = F.interpolate(pred, size=tuple(gt.shape[-2:]), mode='bilinear',
                      align_corners=True)[:, 0]
    valid = torch.isfinite(gt)
    count = valid.sum(dim=(1, 2))
    used = count > 0
    mask = valid.to(d.dtype)
    target = torch.where(valid, gt, torch.ones_like(gt))
    g = (torch.log(d.clamp_min(MIN_DEPTH)) - torch.log(target)) * mask
    n = count.clamp_min(1).to(d.dtype)
    mean_g = g.sum(dim=(1, 2)) / n
    mean_g2 = (g * g).sum(dim=(1, 2)) / n
    si = torch.sqrt((mean_g2 - si_lambda * mean_g * mean_g).clamp_min(0.0) + 1e-12)
    l1 = ((d - target).abs() * mask).sum(dim=(1, 2)) / n
    return (si + l1_weight * l1)[used].mean()


class _Head:
    """The learnable parameters and the head values they give."""

    def __init__(self, text, bins, temperature: float, options: AdaptOptions):
        import torch
        import torch.nn.functional as F

        self.options = options
        self.weight = text.detach().clone().float().requires_grad_(True)
        metric = bins.detach().double()
        ratios = torch.log(metric[1:] / metric[:-1]) - MIN_LOG_BIN_RATIO
        ratios = ratios.clamp_min(1e-6)
        self.log_first = torch.log(metric[:1]).float().requires_grad_(options.learn_bins)
        # softplus^-1(y) = y + log(1 - exp(-y))
        raw = ratios + torch.log(-torch.expm1(-ratios))
        self.raw_ratios = raw.float().requires_grad_(options.learn_bins)
        self.fixed_bins = bins.detach().clone().float()
        self.log_temperature = torch.tensor(math.log(temperature),
                                            requires_grad=options.learn_temperature)
        self.fixed_temperature = float(temperature)
        width = text.shape[1]
        lr = options.embedding_step * temperature / (100.0 * math.sqrt(width))
        groups = [{'params': [self.weight], 'lr': lr}]
        if options.learn_bins:
            groups.append({'params': [self.log_first, self.raw_ratios], 'lr': options.bins_lr})
        if options.learn_temperature:
            groups.append({'params': [self.log_temperature], 'lr': options.temperature_lr})
        self.optimizer = torch.optim.Adam(groups)
        self._normalize = F.normalize
        self._softplus = F.softplus

    def values(self):
        """Return (unit-norm embeddings, metric bins, temperature) as used by the head."""
        import torch
        text = self._normalize(self.weight, dim=-1)
        if self.options.learn_bins:
            steps = MIN_LOG_BIN_RATIO + self._softplus(self.raw_ratios)
            bins = torch.exp(torch.cat([self.log_first, self.log_first + torch.cumsum(steps, 0)]))
        else:
            bins = self.fixed_bins
        if self.options.learn_temperature:
            temperature = self.log_temperature.exp().clamp(0.001, 100.0)
        else:
            temperature = self.fixed_temperature
        return text, bins, temperature

    def snapshot(self):
        """Return detached copies of :meth:`values` (temperature as a float)."""
        import torch
        with torch.no_grad():
            text, bins, temperature = self.values()
            return text.detach().clone(), bins.detach().clone(), float(temperature)


def adapt_features(train: FeatureCache, heldout: FeatureCache, text, bins, temperature: float,
                   options: AdaptOptions, progress: bool = True) -> AdaptResult:
    """
    Learn the class embeddings (and optionally bins and temperature) on cached features.

    :param train: training frames (each used with its mirror)
    :param heldout: held-out frames (early stopping)
    :param text: ``(K, C)`` the start's unit-norm class embeddings
    :param bins: ``(K,)`` the start's metric bins
    :param temperature: the start's temperature
    :return: the parameters with the lowest held-out loss (the start when nothing beat it)
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _optimise(train, heldout, text, bins, temperature, options, progress)
    finally:
        torch.set_num_threads(threads)


def _optimise(train: FeatureCache, heldout: FeatureCache, text, bins, temperature: float,
              options: AdaptOptions, progress: bool) -> AdaptResult:
    import torch
    from tqdm import tqdm

    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    head = _Head(text, bins, temperature, options)
    x_train = torch.cat([train.features, train.mirrored]).permute(0, 2, 3, 1).contiguous()
    y_train = torch.cat([train.gt_grid, torch.flip(train.gt_grid, dims=[2])])
    x_held = torch.cat([heldout.features, heldout.mirrored]).permute(0, 2, 3, 1).contiguous()
    y_held = torch.cat([heldout.gt_grid, torch.flip(heldout.gt_grid, dims=[2])])

    def loss_of(x, y, values):
        t, b, temp = values
        return depth_loss(low_res_depth(x, t, b, temp), y, options.si_lambda, options.l1_weight)

    def held_loss() -> float:
        with torch.no_grad():
            return float(loss_of(x_held, y_held, head.values()))

    best_loss = held_loss()
    loss_before = best_loss
    best = head.snapshot()
    best_step = 0
    history = [(0, math.nan, best_loss)]
    n = x_train.shape[0]
    step = 0
    with tqdm(total=options.steps, unit='step', desc='adapt: optimise',
              disable=None if progress else True) as bar:
        while step < options.steps:
            order = rng.permutation(n) if n > options.max_batch else np.arange(n)
            for start in range(0, n, options.max_batch):
                if n > options.max_batch:
                    index = torch.from_numpy(order[start:start + options.max_batch])
                    x, y = x_train[index], y_train[index]
                else:
                    x, y = x_train, y_train
                head.optimizer.zero_grad()
                loss = loss_of(x, y, head.values())
                loss.backward()
                head.optimizer.step()
                step += 1
                bar.update(1)
                if step % options.eval_every == 0 or step == options.steps:
                    current = held_loss()
                    history.append((step, float(loss.detach()), current))
                    if current < best_loss:
                        best_loss, best, best_step = current, head.snapshot(), step
                    bar.set_postfix(held_out=f'{current:.4f}', best=f'{best_loss:.4f}')
                if step >= options.steps or step - best_step >= options.patience:
                    break
            if step - best_step >= options.patience:
                break
    text_out, bins_out, temperature_out = best
    return AdaptResult(text_out, bins_out, temperature_out, step, best_step, loss_before,
                       best_loss, history)


# -------------------------------------------------------------------------------------------
# Command
# -------------------------------------------------------------------------------------------
def format_comparison(before: Dict[str, float], after: Dict[str, float],
                      frames: int) -> str:
    """Return the table: zero-shot vs adapted on the held-out frames."""
    first = f'held-out ({frames} frames)'
    width = max(len(first), len('zero-shot (prompts)'))
    lines = [f'{first:<{width}}' + ''.join(f'{LABELS[c]:>9}' for c in TABLE_COLUMNS)]
    for label, values in (('zero-shot (prompts)', before), ('adapted', after)):
        lines.append(f'{label:<{width}}' + ''.join(f'{values[c]:>9.3f}' for c in TABLE_COLUMNS))
    return '\n'.join(lines)


def run_adapt(args: argparse.Namespace) -> int:
    """Run ``depthclip adapt``."""
    import torch

    from depthclip_ros.core.embeddings import (AdaptedEmbeddings, EMBEDDINGS_PARAMETER,
                                               save_embeddings)
    from depthclip_ros.core.engine import DepthClipEngine

    started = time.perf_counter()
    output = args.output
    if not output.endswith('.npz'):
        raise ValueError(f'--output {output} must end in .npz')
    if os.path.isdir(output):
        raise ValueError(f'--output {output} is a directory; give the .npz file to write')
    fmt = dataset_format(args)
    max_depth = default_max_depth(fmt, args.max_depth)
    config = load_engine_config(args)  # settings errors before any frame is read
    if config.prompts.embeddings_file:
        raise ValueError(f'{EMBEDDINGS_PARAMETER} is set ({config.prompts.embeddings_file}): '
                         'depthclip adapt starts from the prompts; leave it empty')
    total, frames = open_frames(args, fmt)
    if total < 2:
        raise ValueError(f'adapting needs at least 2 frames (training and held-out), '
                         f'{args.data} gives {total}')
    offline_unless_hub_reachable(config.model.pretrained)
    torch.manual_seed(args.seed)
    engine = DepthClipEngine(config)
    print(f'weights: {engine.weights} on {engine.device} ({engine.precision}); '
          f'{total} {fmt} frames')
    if engine.random_weights:
        print('WARNING: RANDOM weights: the embeddings below are meaningless', file=sys.stderr)
    options = AdaptOptions(steps=args.steps, learn_bins=args.learn_bins,
                           learn_temperature=args.learn_temperature, seed=args.seed,
                           patience=args.patience, max_depth=max_depth)

    t0 = time.perf_counter()
    cache = encode_frames(engine, frames, total, args.batch, max_depth, options.loss_grid,
                          progress=not args.no_progress)
    encode_s = time.perf_counter() - t0
    train_index, held_index, how = split_holdout(cache.names, args.holdout)
    train, heldout = cache.subset(train_index), cache.subset(held_index)
    train.gt = []  # only the held-out frames are scored at full size
    if cache.skipped:
        print(f'warning: {cache.skipped} frame(s) without a valid depth pixel left out',
              file=sys.stderr)
    del cache
    print(f'encoded {len(train_index) + len(held_index)} frames (+ mirrors) in '
          f'{encode_s:.1f} s; {len(train_index)} training, {how}')

    state = engine.state
    t0 = time.perf_counter()
    result = adapt_features(train, heldout, state.text.float().cpu(), state.bins.float().cpu(),
                            config.temperature, options, progress=not args.no_progress)
    optimise_s = time.perf_counter() - t0
    before = heldout_metrics(heldout, state.text.float().cpu(), state.bins.float().cpu(),
                             config.temperature, config, max_depth)
    after = heldout_metrics(heldout, result.embeddings, result.bins, result.temperature,
                            config, max_depth)
    print(f'optimised {result.steps} steps in {optimise_s:.1f} s; best held-out loss '
          f'{result.loss_before:.4f} -> {result.loss_after:.4f} (step {result.best_step})')
    print(format_comparison(before, after, len(held_index)))

    learned = ['embeddings'] + (['depth_bins'] if args.learn_bins else []) + \
        (['temperature'] if args.learn_temperature else [])
    if args.learn_bins:
        depth_bins = tuple(float(b) / config.depth_scale for b in result.bins.double())
    else:
        depth_bins = config.depth_bins
    temperature = result.temperature if args.learn_temperature else config.temperature
    p = config.prompts
    adapted = AdaptedEmbeddings(
        embeddings=result.embeddings.numpy().astype(np.float32),
        depth_bins=depth_bins, temperature=temperature, model_name=config.model.name,
        feature_mode=config.feature_mode, input_size=(config.input.height, config.input.width),
        normalization=config.input.normalization, weights=engine.weights,
        depth_scale=config.depth_scale, templates=p.templates, objects=p.objects,
        depth_classes=p.depth_classes, frames=len(train_index) + len(held_index),
        train_frames=len(train_index), heldout_frames=len(held_index),
        heldout_names=tuple(heldout.names), metric_names=METRIC_NAMES,
        heldout_before=tuple(before[m] for m in METRIC_NAMES),
        heldout_after=tuple(after[m] for m in METRIC_NAMES), learned=tuple(learned),
        seed=args.seed, steps=result.steps)
    save_embeddings(output, adapted)
    print(f'learned: {", ".join(learned)}; depth_bins '
          f'[{", ".join(f"{b:.3g}" for b in depth_bins)}], temperature {temperature:.4g}')
    print(f'wrote {output} in {time.perf_counter() - started:.1f} s (use: --set '
          f'{EMBEDDINGS_PARAMETER}={output}, or ros2 param set <node> {EMBEDDINGS_PARAMETER} '
          f'{os.path.abspath(output)})')
    return 0


def register(subparsers) -> None:
    """Add ``depthclip adapt`` to the ``depthclip`` command."""
    p = subparsers.add_parser(
        'adapt', help='learn the depth-class embeddings from frames with known depth',
        description='Learn the depth-class embeddings (and optionally the depth bins) from a '
                    'few RGB-D frames with CLIP frozen, and write a .npz file for the '
                    'prompts.embeddings_file parameter.')
    add_dataset_args(p, default_frames=50)
    p.add_argument('--holdout', default=0.2, metavar='F',
                   type=number_in(0.0, 1.0, low_open=True, high_open=True),
                   help='fraction held out for validation and early stopping '
                        '(whole sequences when there are several; default 0.2)')
    p.add_argument('--output', '-o', metavar='FILE.npz', default='adapted_embeddings.npz',
                   help='the file to write (default adapted_embeddings.npz)')
    p.add_argument('--learn-bins', action='store_true',
                   help='also learn the depth bins (kept positive and strictly increasing)')
    p.add_argument('--learn-temperature', action='store_true',
                   help='also learn the softmax temperature')
    p.add_argument('--seed', type=int_at_least(0), default=0,
                   help='seed of the optimisation (same seed and frames: same file)')
    p.add_argument('--steps', type=int_at_least(1), default=500,
                   help='most optimisation steps (default 500)')
    p.add_argument('--patience', type=int_at_least(1), default=100,
                   help='stop after this many steps without a better held-out loss '
                        '(default 100)')
    p.add_argument('--max-depth', type=number_in(0.0, low_open=True),
                   help='ignore gt at or beyond this depth in metres (default: 10 for nyu, '
                        'none otherwise)')
    p.add_argument('--batch', type=int_at_least(1), default=4,
                   help='frames per encoder pass (each with its mirror)')
    p.add_argument('--no-progress', action='store_true', help='no progress bars')
    add_config_args(p)
    p.set_defaults(run=run_adapt)
