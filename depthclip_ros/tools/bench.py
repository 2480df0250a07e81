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
``depthclip bench``: where the time of one frame goes, and what the alternatives cost.

All numbers are medians over ``--repeats`` timed runs after one warm-up run, per frame.

- ``encoder_ms``: the image-encoder forward passes one predict call needs (one pass over
  the batch, twice as many images with flip TTA), divided by the batch size.
- ``predict_ms``: the full :meth:`DepthClipEngine.predict` (pre-processing, encoder, head,
  flip, upsampling to the camera size, copies to NumPy).
- ``per_patch_ms``: the seed pseudo-code's method: the image resized to 224 x 224, cut into
  49 crops of 32 x 32, each crop encoded as an image of its own (at CLIP's 224 x 224 input),
  all crops in one ``encode_image`` call as the seed does, with the same flip setting as
  predict (98 crops with flip TTA); ``per_patch_sequential_ms``: the same with one call per
  crop.
- ``fp32_ms`` / ``bf16_ms`` / ``fp16_ms``: predict with the image encoder in each precision
  (fp16 only on CUDA; the text encoder always runs in fp32), and ``<p>_speedup`` over fp32.
  ``<p>_mean_abs_diff_m`` / ``<p>_p99_abs_diff_m`` / ``<p>_max_abs_diff_m``: mean, 99th
  percentile and maximum over pixels of ``|depth - fp32 depth|`` on the bundled sample
  frames (640x480, one at a time, at the configured input size, prompts, bins and
  temperature: the paper's 0.1 by default), the same measurement ``model.precision: auto``
  makes before it keeps bf16. Random weights are seeded, so every precision's engine has
  the same ones.
- ``precision`` / ``precision_reason``: what the engine chose for ``model.precision`` and why.
- ``backends``: one row per backend and precision that runs here, each with ``ms``
  (predict per frame, as ``fp32_ms``), ``speedup_vs_torch_fp32`` and the mean / p99 / max
  ``|depth - torch fp32 depth|`` on the sample frames as above: torch fp32 (and bf16 /
  fp16 as timed above), then onnxruntime (when installed; ``--skip-onnx`` skips it) on
  graphs exported for this run into a temporary folder (:mod:`~depthclip_ros.core.onnx_export`:
  fp32, and int8 calibrated on the sample frames): CPU fp32 and int8; with a CUDA
  ``model.device``, CUDA fp32 and TensorRT fp16 and int8 where this onnxruntime has them.
  ``int8_speedup_vs_fastest_torch``: the fastest torch row's ms over the CPU int8 row's.
  ``auto_choice``: what ``model.backend: auto`` picks from these CPU rows (the fastest
  within 0.05 m p99 of torch fp32; :mod:`~depthclip_ros.core.backend_choice`); None on CUDA.
- ``backend``: the backend the headline figures (``encoder_ms``, ``predict_ms``) ran on,
  with ``model.backend: auto`` the one it chose (its figures are in ``precision_reason``).
- ``trunk_gflop_per_image`` / ``trunk_gflop_per_frame``: the image encoder's convolutions
  and matrix products at the input size, counted from their shapes
  (:mod:`~depthclip_ros.tools.bench_flops`), per image and per frame (``images_per_frame``:
  2 with flip TTA); ``achieved_gflop_s`` / ``encoder_gflop_s``: the frame's GFLOP over
  ``predict_ms`` / ``encoder_ms``; ``matmul_peak_gflop_s``: this machine's best rate of a
  ``peak_matrix_size``-square matrix product with ``peak_threads`` threads per arithmetic
  the rows use (fp32 always, bf16 / fp16 in torch where native, int8: onnxruntime's
  ``MatMulInteger``, GOP/s; None where not measurable, with a note), ``fp32_peak_gflop_s``,
  and ``fraction_of_peak`` (predict against the peak of the engine's own precision). Each
  ``backends`` row has ``gflop_s``, ``peak`` (the arithmetic it is compared with, ``''``:
  none), ``peak_gflop_s`` and ``fraction_of_peak``.
- ``grounding`` (``--grounding``): what ``grounding.queries`` adds per frame with 1, 4 and
  16 queries (:func:`grounding_rows`); empty without the flag.
"""

import os
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from depthclip_ros.core.backend_choice import Candidate, pick, Trial
from depthclip_ros.core.backends import CPU, CUDA, import_onnxruntime, TENSORRT
from depthclip_ros.core.config import DepthClipConfig
from depthclip_ros.core.engine import depth_difference, DepthClipEngine, precision_check_frames
from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.grounding import grounding_probabilities, locate_queries, query_masks
from depthclip_ros.core.loading import cpu_has_native_bf16, ModelLoadError
from depthclip_ros.core.model import DenseFeatures
from depthclip_ros.core.text import one_line
from depthclip_ros.tools.bench_flops import (add_efficiency, measure_peaks, PEAK_SIZE, row_peak,
                                             trunk_gflop_per_image)
from depthclip_ros.tools.common import CommandError, median_ms


def _sync_for(device: str) -> Callable[[], None]:
    if device.startswith('cuda'):
        return torch.cuda.synchronize
    return lambda: None


#: Seed of the random weights (``model.pretrained`` empty): every engine the benchmark builds
#: gets the same ones, so precisions are compared on the same model.
RANDOM_WEIGHTS_SEED = 0


def new_engine(config: DepthClipConfig) -> DepthClipEngine:
    """Build an engine; random weights (empty ``model.pretrained``) are seeded."""
    if config.model.pretrained.strip():
        return DepthClipEngine(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_WEIGHTS_SEED)
        return DepthClipEngine(config)


def make_engine(config: DepthClipConfig, notes: List[str]) -> DepthClipEngine:
    """Load the engine; fall back to random weights when the configured ones are missing."""
    try:
        return new_engine(config)
    except ModelLoadError as error:
        if not config.model.pretrained:
            raise
        notes.append(f'weights unavailable ({error}); timing RANDOM weights instead')
        return new_engine(config.with_updates({'model.pretrained': ''}))


@torch.inference_mode()
def per_patch_frame(engine: DepthClipEngine, image: np.ndarray, flip: bool,
                    batched: bool = True) -> torch.Tensor:
    """
    Run the seed pseudo-code's per-patch method on one frame (the baseline; never used).

    The frame is resized to 224 x 224 and cut into a 7 x 7 grid of 32 x 32 crops; each crop
    is upsampled to CLIP's 224 x 224 input and encoded as an image of its own: all crops in
    one ``encode_image`` call as the seed's pseudo-code does (``batched``), or one call per
    crop.

    :return: the 49 (or 98 with ``flip``) image embeddings
    """
    loaded = engine.loaded
    x = engine.preprocess([image])
    x = F.interpolate(x, size=(224, 224), mode='bilinear', align_corners=False)
    views = [x, torch.flip(x, dims=[3])] if flip else [x]
    crops = []
    for view in views:
        for row in range(7):
            for col in range(7):
                crop = view[:, :, row * 32:(row + 1) * 32, col * 32:(col + 1) * 32]
                crops.append(F.interpolate(crop, size=(224, 224), mode='bilinear',
                                           align_corners=False).to(loaded.dtype))
    if batched:
        return torch.cat([loaded.model.encode_image(torch.cat(crops[i:i + 49]))
                          for i in range(0, len(crops), 49)])
    return torch.cat([loaded.model.encode_image(crop) for crop in crops])


def run_benchmark(config: DepthClipConfig, size=(480, 640), batch: int = 1,
                  repeats: int = 5, baseline: bool = True, precisions: bool = True,
                  force_bf16: bool = False, onnx: bool = True,
                  grounding: bool = False, peak_size: int = PEAK_SIZE) -> Dict[str, Any]:
    """
    Measure the engine; see the module docstring for what each key means.

    :param peak_size: side of the matrices of the peak probes (:mod:`bench_flops`)
    """
    if batch < 1:
        raise ValueError('--batch must be >= 1')
    notes: List[str] = []
    engine = make_engine(config, notes)
    sync = _sync_for(engine.device)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, size=(size[0], size[1], 3), dtype=np.uint8)
              for _ in range(batch)]
    cfg = engine.config
    batch_tensor = engine.preprocess(frames)
    if cfg.flip_tta:
        batch_tensor = torch.cat([batch_tensor, torch.flip(batch_tensor, dims=[3])])
    result: Dict[str, Any] = {
        'device': engine.device,
        'backend': engine.backend_description,
        'precision': engine.precision,
        'precision_reason': engine.precision_reason,
        'weights': engine.weights,
        'model': cfg.model.name,
        'feature_mode': cfg.feature_mode,
        'input': f'{cfg.input.height}x{cfg.input.width}',
        'size': f'{size[0]}x{size[1]}',
        'batch': batch,
        'flip_tta': cfg.flip_tta,
        'repeats': repeats,
        'torch_threads': torch.get_num_threads(),
        'encoder_passes': 1,
        'encoder_images_per_pass': int(batch_tensor.shape[0]),
    }
    result['encoder_ms'] = median_ms(lambda: engine.encode(batch_tensor), repeats, sync) / batch
    result['predict_ms'] = median_ms(lambda: engine.predict(frames), repeats, sync) / batch
    result['predict_over_encoder'] = result['predict_ms'] / result['encoder_ms']
    if baseline:
        result['per_patch_passes'] = 49 * (2 if cfg.flip_tta else 1)
        result['per_patch_ms'] = median_ms(
            lambda: per_patch_frame(engine, frames[0], cfg.flip_tta), max(1, repeats // 2),
            sync)
        result['per_patch_speedup'] = result['per_patch_ms'] / result['predict_ms']
        result['per_patch_sequential_ms'] = median_ms(
            lambda: per_patch_frame(engine, frames[0], cfg.flip_tta, batched=False),
            max(1, repeats // 2), sync)
        result['per_patch_sequential_speedup'] = (result['per_patch_sequential_ms']
                                                  / result['predict_ms'])
    else:
        result['per_patch_ms'] = None
    result.update(_precisions(engine, frames, repeats, sync, force_bf16, onnx) if precisions
                  else dict(_no_precisions(), fp32_ms=None, precision_notes=[], backends=[],
                            int8_speedup_vs_fastest_torch=None, onnxruntime_version=None,
                            auto_choice=None))
    result['bf16_native_cpu'] = cpu_has_native_bf16()
    result.update(_efficiency(engine, result, peak_size))
    result['notes'] = notes + result.pop('precision_notes') + result.pop('efficiency_notes')
    result['grounding'] = (grounding_rows(engine, frames[0], result['predict_ms'], repeats, sync)
                           if grounding else [])
    return result


def _efficiency(engine: DepthClipEngine, result: Dict[str, Any],
                peak_size: int) -> Dict[str, Any]:
    """Return the trunk's GFLOP, the achieved rates and the peaks they are compared with."""
    cfg = engine.config
    loaded = engine.loaded
    per_image = trunk_gflop_per_image(loaded.model, cfg.feature_mode,
                                      (cfg.input.height, cfg.input.width), loaded.dtype,
                                      loaded.device)
    images = 2 if cfg.flip_tta else 1
    per_frame = per_image * images
    notes: List[str] = []
    cuda = engine.device.startswith('cuda')
    wanted = {'fp32', engine.precision} if engine.precision in ('fp32', 'bf16', 'fp16') \
        else {'fp32'}
    wanted |= {row_peak(r, cuda) for r in result['backends']} - {''}
    if 'bf16' in wanted and not cuda and not cpu_has_native_bf16():
        wanted.discard('bf16')
        notes.append('bf16 matrix-product peak not measured: this CPU emulates bf16 (no '
                     'native bf16), so the bf16 row has no peak to compare with')
    if cuda:
        wanted.discard('int8')  # onnxruntime's CPU kernel is not the GPU's
    peaks, peak_notes = measure_peaks(wanted, engine.device if cuda else 'cpu', peak_size)
    notes += peak_notes
    add_efficiency(result, per_frame, peaks)
    if any(r['peak_gflop_s'] is None for r in result['backends']):
        notes.append('rows without a peak: no matrix-product probe for their arithmetic here '
                     '(e.g. TensorRT int8, emulated bf16)')
    own = peaks.get(engine.precision)
    achieved = per_frame / (result['predict_ms'] / 1000.0)
    return {
        'trunk_gflop_per_image': per_image,
        'images_per_frame': images,
        'trunk_gflop_per_frame': per_frame,
        'flop_count': 'convolutions and matrix products of the image encoder at the input '
                      'size, from their shapes (2 per multiply-accumulate)',
        'achieved_gflop_s': achieved,
        'encoder_gflop_s': per_frame / (result['encoder_ms'] / 1000.0),
        'peak_matrix_size': peak_size,
        'peak_threads': torch.get_num_threads(),
        'matmul_peak_gflop_s': peaks,
        'fp32_peak_gflop_s': peaks.get('fp32'),
        'fraction_of_peak': achieved / own if own else None,
        'efficiency_notes': notes,
    }


#: The queries ``--grounding`` times (the first 1, 4 and 16).
BENCH_QUERIES = ('door', 'chair', 'table', 'person', 'window', 'bed', 'sofa', 'lamp', 'shelf',
                 'plant', 'bottle', 'cup', 'laptop', 'box', 'bicycle', 'stairs')
GROUNDING_COUNTS = (1, 4, 16)


def grounding_rows(engine: DepthClipEngine, frame: np.ndarray, predict_ms: float,
                   repeats: int, sync: Callable[[], None]) -> List[Dict[str, Any]]:
    """
    Time what ``grounding.queries`` adds to a frame, for 1, 4 and 16 queries.

    ``extra_ms``: the added work alone, timed on its own (steadier than a difference of two
    full predictions on a busy machine): in paper mode the attention pool's value and output
    projections of the ``layer4`` output (in projected mode they are the depth's features:
    nothing added), the softmax over queries + background, the masks at the frame's size
    and the median 3D points. ``percent``: ``extra_ms`` over ``predict_ms`` without queries.
    ``predict_ms``: the full prediction with the queries (``predict_without_ms``: without,
    as timed before; their difference is within the noise of a busy CPU).
    ``encode_text_ms``: encoding the queries and background once (a change).
    """
    rows = []
    cfg = engine.config
    features = DenseFeatures(engine.loaded.model, cfg.feature_mode)
    with torch.inference_mode():
        trunk = features.resnet_trunk(engine.preprocess([frame]).to(features.dtype)) \
            if features.kind == 'resnet' and cfg.feature_mode == 'paper' else None
        semantic = None if trunk is not None else engine.encode(engine.preprocess([frame]))
    size = frame.shape[:2]
    intr = Intrinsics.from_fov(size[1], size[0], 60.0)
    depth = np.full(size, 2.0, np.float32)
    for count in GROUNDING_COUNTS:
        start = time.perf_counter()
        state = engine.prepare({'grounding.queries': list(BENCH_QUERIES[:count])})
        encode_ms = (time.perf_counter() - start) * 1000.0

        @torch.inference_mode()
        def added(state=state):
            s = semantic
            if trunk is not None:
                s = F.normalize(features.resnet_projection(trunk).float(), dim=1)
            probabilities = grounding_probabilities(s, state.grounding.embeddings)
            locate_queries(query_masks(probabilities[0], size, state.grounding), depth, intr)

        extra = median_ms(added, repeats, sync)
        with_queries = median_ms(lambda state=state: engine.predict([frame], state=state),
                                 repeats, sync)
        rows.append({'queries': count, 'extra_ms': extra, 'percent': 100.0 * extra / predict_ms,
                     'predict_ms': with_queries, 'predict_without_ms': predict_ms,
                     'encode_text_ms': encode_ms})
    return rows


def _no_precisions() -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for precision in ('bf16', 'fp16'):
        for key in ('ms', 'speedup', 'mean_abs_diff_m', 'p99_abs_diff_m', 'max_abs_diff_m'):
            out[f'{precision}_{key}'] = None
    return out


def _precisions(engine: DepthClipEngine, frames, repeats: int, sync,
                force_bf16: bool = False, onnx: bool = True) -> Dict[str, Any]:
    out: Dict[str, Any] = dict(_no_precisions(), precision_notes=[])
    base = engine.config.with_updates({'model.backend': 'torch'})  # the torch rows
    engines = {engine.precision: engine} if engine.backend == 'torch' else {}
    cuda = engine.device.startswith('cuda')
    wanted = ['fp32']
    if cuda and torch.cuda.is_bf16_supported() or not cuda and (
            cpu_has_native_bf16() or force_bf16):
        wanted.append('bf16')
    else:
        out['precision_notes'].append(
            'bf16 not timed: this CPU has no native bf16 (avx512_bf16/amx_bf16), so torch '
            'emulates it about 70x slower than fp32; --force-bf16 times it anyway')
    if cuda:
        wanted.append('fp16')
    for precision in wanted:
        if precision not in engines:
            cfg = base.with_updates({'model.precision': precision})
            engines[precision] = new_engine(cfg)
    check_frames = precision_check_frames()
    if not check_frames:
        out['precision_notes'].append('depth differences not measured: the bundled sample '
                                      'frames are missing')
    reference = [engines['fp32'].predict_one(frame).depth for frame in check_frames]
    for precision in wanted:
        eng = engines[precision]
        out[f'{precision}_ms'] = median_ms(lambda: eng.predict(frames), repeats, sync) / len(
            frames)
        if precision != 'fp32':
            out[f'{precision}_speedup'] = out['fp32_ms'] / out[f'{precision}_ms']
            if check_frames:
                diff = depth_difference(
                    reference, [eng.predict_one(frame).depth for frame in check_frames])
                out[f'{precision}_mean_abs_diff_m'] = diff.mean
                out[f'{precision}_p99_abs_diff_m'] = diff.p99
                out[f'{precision}_max_abs_diff_m'] = diff.maximum
    rows = [_row('torch', precision, '', out[f'{precision}_ms'], out['fp32_ms'],
                 (out[f'{precision}_mean_abs_diff_m'], out[f'{precision}_p99_abs_diff_m'],
                  out[f'{precision}_max_abs_diff_m']) if precision != 'fp32' else
                 ((0.0, 0.0, 0.0) if check_frames else (None, None, None)))
            for precision in wanted]
    out['onnxruntime_version'] = None
    if onnx:
        rows += _onnx_rows(engines['fp32'], frames, repeats, sync, check_frames, reference,
                           out['fp32_ms'], out)
    out['backends'] = rows
    int8 = [r for r in rows if r['backend'] == 'onnxruntime' and r['precision'] == 'int8'
            and r['providers'] == CPU]
    fastest_torch = min(r['ms'] for r in rows if r['backend'] == 'torch')
    out['int8_speedup_vs_fastest_torch'] = fastest_torch / int8[0]['ms'] if int8 else None
    out['auto_choice'] = auto_choice(rows) if engine.device == 'cpu' else None
    return out


def auto_choice(rows: Sequence[Dict[str, Any]]) -> Optional[str]:
    """Return what ``model.backend: auto`` would pick from CPU ``backends`` rows (or None)."""
    trials = [Trial(Candidate(r['backend'], r['precision']), r['ms'], r['p99_abs_diff_m'])
              for r in rows if r['providers'] in ('', CPU) and r['p99_abs_diff_m'] is not None]
    try:
        return pick(trials).candidate.name
    except ValueError:
        return None


def _row(backend: str, precision: str, providers: str, ms: float, fp32_ms: float,
         diffs: Tuple[Optional[float], Optional[float], Optional[float]]) -> Dict[str, Any]:
    return {'backend': backend, 'precision': precision, 'providers': providers, 'ms': ms,
            'speedup_vs_torch_fp32': fp32_ms / ms, 'mean_abs_diff_m': diffs[0],
            'p99_abs_diff_m': diffs[1], 'max_abs_diff_m': diffs[2]}


def onnx_variants(available: Sequence[str], device: str, fp32_file: str,
                  int8_file: str) -> List[Tuple[str, str, str, List[str]]]:
    """
    Return the onnxruntime runs of the bench: (precision, file, model.precision, providers).

    CPU fp32 and int8 always; on a CUDA device, CUDA fp32 and TensorRT fp16 / int8 when
    this onnxruntime has those providers.
    """
    runs = [('fp32', fp32_file, 'fp32', [CPU]), ('int8', int8_file, 'fp32', [CPU])]
    if device.startswith('cuda'):
        if CUDA in available:
            runs.append(('fp32', fp32_file, 'fp32', [CUDA, CPU]))
        if TENSORRT in available:
            runs += [('fp16', fp32_file, 'fp16', [TENSORRT, CUDA, CPU]),
                     ('int8', int8_file, 'fp16', [TENSORRT, CUDA, CPU])]
    return runs


def _onnx_rows(fp32_engine: DepthClipEngine, frames, repeats: int, sync, check_frames,
               reference, fp32_ms: float, out: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Export fp32 and int8 graphs of the benchmarked model, then time each onnxruntime run."""
    notes = out['precision_notes']
    try:
        ort = import_onnxruntime()
        from depthclip_ros.core.onnx_export import export_onnx, ExportCheckError, onnx_api
        onnx_api()
    except (ModelLoadError, ValueError):
        notes.append('onnxruntime not timed: onnx / onnxruntime are not installed (pip '
                     "install 'depthclip_ros[onnx]')")
        return []
    if not check_frames:
        notes.append('onnxruntime not timed: the bundled sample frames are missing')
        return []
    out['onnxruntime_version'] = ort.__version__
    base = fp32_engine.config
    cpu_engine = fp32_engine
    if fp32_engine.device != 'cpu':  # export from the same weights on the CPU
        cpu_engine = new_engine(base.with_updates({'model.device': 'cpu'}))
    rows = []
    with tempfile.TemporaryDirectory(prefix='depthclip-bench-') as tmp:
        fp32_file, int8_file = os.path.join(tmp, 'fp32.onnx'), os.path.join(tmp, 'int8.onnx')
        try:
            export_onnx(cpu_engine, int8_file, int8=True, repeats=0, fp32_output=fp32_file)
        except ExportCheckError as error:
            raise CommandError(str(error)) from None
        for label, path, precision, providers in onnx_variants(
                ort.get_available_providers(), fp32_engine.device, fp32_file, int8_file):
            config = base.with_updates({'model.backend': 'onnxruntime', 'model.onnx_file': path,
                                        'model.onnx_providers': providers,
                                        'model.precision': precision})
            try:
                eng = DepthClipEngine(config, loaded=fp32_engine.loaded)
            except ModelLoadError as error:
                notes.append(f'onnxruntime {label} on {providers[0]} not timed: '
                             f'{one_line(error)}')
                continue
            ms = median_ms(lambda: eng.predict(frames), repeats, sync) / len(frames)
            diff = depth_difference(reference, [eng.predict_one(f).depth for f in check_frames])
            rows.append(_row('onnxruntime', label, ', '.join(providers), ms, fp32_ms,
                             (diff.mean, diff.p99, diff.maximum)))
    return rows


def format_report(result: Dict[str, Any]) -> str:
    """Return a human-readable table of a benchmark result."""
    def ms(key: str) -> str:
        value = result.get(key)
        return 'n/a' if value is None else f'{value:9.1f} ms'

    lines = [
        f"device {result['device']} ({result['precision']}, {result['torch_threads']} threads), "
        f"{result['weights']}, {result['feature_mode']} mode",
        f"precision {result['precision']}: {result['precision_reason']}",
        f"camera {result['size']} -> input {result['input']}, batch {result['batch']}, "
        f"flip_tta {result['flip_tta']}; medians of {result['repeats']} runs, per frame",
        f"  encoder (1 pass, {result['encoder_images_per_pass']} images)  {ms('encoder_ms')}",
        f"  full predict                          {ms('predict_ms')}"
        f"   = {result['predict_over_encoder']:.3f} x encoder",
    ]
    if result.get('per_patch_ms') is not None:
        lines.append(f"  per-patch baseline ({result['per_patch_passes']} crops, seed: "
                     f"one call)  {ms('per_patch_ms')}   one pass is "
                     f"{result['per_patch_speedup']:.1f}x faster")
        lines.append(f"  per-patch, one call per crop          {ms('per_patch_sequential_ms')}"
                     f"   one pass is {result['per_patch_sequential_speedup']:.1f}x faster")
    if result.get('fp32_ms') is not None:
        lines.append(f"  fp32 predict                          {ms('fp32_ms')}")
        for precision in ('bf16', 'fp16'):
            if result.get(f'{precision}_ms') is not None:
                lines.append(f'  {precision} predict                          '
                             f"{ms(f'{precision}_ms')}   speedup "
                             f"{result[f'{precision}_speedup']:.2f}x")
            if result.get(f'{precision}_p99_abs_diff_m') is not None:
                lines.append(f'    |depth - fp32| on the sample frames: mean '
                             f"{result[f'{precision}_mean_abs_diff_m']:.4f} m, p99 "
                             f"{result[f'{precision}_p99_abs_diff_m']:.4f} m, max "
                             f"{result[f'{precision}_max_abs_diff_m']:.4f} m")
    if result.get('trunk_gflop_per_frame') is not None:
        peaks = ', '.join(f'{name} {value:.1f}' for name, value in
                          sorted(result['matmul_peak_gflop_s'].items()) if value is not None)
        fraction = result.get('fraction_of_peak')
        lines.append(f"  trunk {result['trunk_gflop_per_image']:.2f} GFLOP per image x "
                     f"{result['images_per_frame']} = {result['trunk_gflop_per_frame']:.2f} "
                     f"GFLOP per frame; predict {result['achieved_gflop_s']:.1f} GFLOP/s"
                     + (f' = {fraction:.2f} x its peak' if fraction else ''))
        lines.append(f"  matrix-product peaks ({result['peak_matrix_size']}^2, "
                     f"{result['peak_threads']} threads, GFLOP/s; int8: GOP/s): {peaks or 'n/a'}")
    if result.get('backends'):
        lines.append('  backend      precision  ms/frame   vs torch fp32  |d depth| mean / p99 / '
                     'max (m)   GFLOP/s  of peak  providers')
        for row in result['backends']:
            diffs = ('n/a' if row['p99_abs_diff_m'] is None else
                     f"{row['mean_abs_diff_m']:.3g} / {row['p99_abs_diff_m']:.3g} / "
                     f"{row['max_abs_diff_m']:.3g}")
            rate = '' if row.get('gflop_s') is None else f"{row['gflop_s']:7.1f}"
            share = ('n/a' if row.get('fraction_of_peak') is None else
                     f"{row['fraction_of_peak']:.2f} {row['peak']}")
            lines.append(f"  {row['backend']:<12} {row['precision']:<9} {row['ms']:9.1f}   "
                         f"{row['speedup_vs_torch_fp32']:6.2f}x       {diffs:<27} "
                         f"{rate:>7}  {share:<9} {row['providers']}".rstrip())
        if result.get('int8_speedup_vs_fastest_torch') is not None:
            lines.append('  onnxruntime int8 (CPU) vs the fastest torch row: '
                         f"{result['int8_speedup_vs_fastest_torch']:.2f}x")
        if result.get('auto_choice'):
            lines.append(f"  model.backend auto would pick: {result['auto_choice']}")
    for row in result.get('grounding') or []:
        lines.append(f"  grounding, {row['queries']:2d} queries: +{row['extra_ms']:7.1f} ms "
                     f"({row['percent']:.1f} % of predict); predict with them "
                     f"{row['predict_ms']:.1f} ms (without {row['predict_without_ms']:.1f} ms); "
                     f"encoding them {row['encode_text_ms']:.0f} ms")
    lines += [f'  note: {note}' for note in result['notes']]
    return '\n'.join(lines)
