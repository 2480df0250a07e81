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
``depthclip bench --temporal``: flicker with and without the temporal filter, and its settling.

The sequence (:func:`run_temporal_benchmark`'s ``static``, ``after`` and ``warmup``; the
command uses their defaults, 20, 10 and 10): ``static`` frames of one bundled sample frame,
each with fresh sensor noise (Gaussian, sigma 3 grey levels, then JPEG at quality 80), then
a cut to another sample frame for ``after`` frames (with noise too). Every frame is
predicted with the filter off and on (``temporal.*`` from the parameters,
``temporal.enable`` forced on), stamps 0.1 s apart.

- ``flicker_off_m`` / ``flicker_on_m``: the mean over pixels of the temporal standard
  deviation of the depth over the static part (from its ``warmup``-th frame: the filter
  starts from one noisy frame); ``flicker_ratio`` = off / on.
- ``settle_frames``: frames after the cut until the filtered depth is within 0.05 m (mean
  absolute difference) of the unfiltered depth of the same frame; 0 when the cut resets
  the filter at once.
- ``scene_change_static_max`` / ``scene_change_at_cut``: the filter's scene-change measure
  between noisy copies of one frame and at the cut: ``temporal.reset_threshold`` belongs
  between the two (measure them with your weights and scenes).
"""

from typing import Any, Dict, List

import cv2
import numpy as np

#: Sensor noise of the sequence: Gaussian sigma (grey levels) and JPEG quality.
NOISE_SIGMA = 3.0
JPEG_QUALITY = 80
#: Mean absolute difference (m) under which the filtered depth has settled.
SETTLED_M = 0.05
FRAME_PERIOD_NS = 100_000_000


def noisy(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return ``rgb`` with Gaussian noise (sigma 3) and a JPEG round trip at quality 80."""
    noise = rng.normal(0.0, NOISE_SIGMA, rgb.shape)
    image = np.clip(np.rint(rgb.astype(np.float64) + noise), 0, 255).astype(np.uint8)
    ok, data = cv2.imencode('.jpg', cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError('JPEG encoding failed')
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def run_temporal_benchmark(engine, settings, static: int = 20, after: int = 10,
                           warmup: int = 10, first: int = 0, second: int = 3,
                           seed: int = 0) -> Dict[str, Any]:
    """
    Measure flicker and settling of the temporal filter; see the module documentation.

    :param engine: a :class:`~depthclip_ros.core.engine.DepthClipEngine`
    :param settings: the node settings (``temporal.*``; ``enable`` is forced on)
    :param static: frames before the cut
    :param after: frames after the cut
    :param warmup: static frames left out of the flicker measurement
    :param first: the sample frame of the static part
    :param second: the sample frame after the cut
    :param seed: seed of the noise
    :raises ValueError: bad counts or frame indices
    """
    from dataclasses import replace

    from depthclip_ros.core.sample import load_sample_rgb
    from depthclip_ros.core.temporal import TemporalFilter

    if static < 2 or after < 1 or not 0 <= warmup < static - 1:
        raise ValueError('need static >= 2, after >= 1 and 0 <= warmup < static - 1')
    temporal = replace(settings.temporal, enable=True)
    rng = np.random.default_rng(seed)
    scenes = [load_sample_rgb(first)] * static + [load_sample_rgb(second)] * after
    filt = TemporalFilter()
    off: List[np.ndarray] = []
    on: List[np.ndarray] = []
    resets = []
    changes = []
    for index, scene in enumerate(scenes):
        image = noisy(scene, rng)
        stamp = index * FRAME_PERIOD_NS
        off.append(engine.predict([image])[0].depth)
        count = filt.resets

        def step(p, stamp=stamp):
            return filt.update(p, stamp, temporal)
        filt.last_change = float('nan')
        on.append(engine.predict([image], steps=[step])[0].depth)
        resets.append(filt.resets > count)
        changes.append(filt.last_change)
    static_off = np.stack(off[warmup:static])
    static_on = np.stack(on[warmup:static])
    flicker_off = float(static_off.std(axis=0).mean())
    flicker_on = float(static_on.std(axis=0).mean())
    settle = after
    for k in range(after):
        if float(np.abs(on[static + k] - off[static + k]).mean()) < SETTLED_M:
            settle = k
            break
    return {
        'alpha': temporal.alpha, 'reset_threshold': temporal.reset_threshold,
        'flicker_off_m': flicker_off, 'flicker_on_m': flicker_on,
        'flicker_ratio': flicker_off / flicker_on if flicker_on > 0 else float('inf'),
        'settle_frames': settle, 'reset_at_cut': bool(resets[static]),
        'resets_in_static_part': int(sum(resets[1:static])),
        'scene_change_static_max': float(np.nanmax(changes[1:static])),
        'scene_change_at_cut': changes[static],
        'frames': len(scenes), 'static_frames': static, 'warmup_frames': warmup,
        'weights': engine.weights, 'device': engine.device, 'precision': engine.precision,
        'input': f'{engine.config.input.height}x{engine.config.input.width}',
    }


def format_temporal_report(result: Dict[str, Any]) -> str:
    """Return a human-readable summary of :func:`run_temporal_benchmark`."""
    return '\n'.join([
        f"temporal filter, alpha {result['alpha']:g}, reset_threshold "
        f"{result['reset_threshold']:g} ({result['weights']}, {result['device']}, "
        f"{result['precision']}, input {result['input']})",
        '  flicker (mean temporal std of depth, static part): off '
        f"{result['flicker_off_m']:.4f} m, on {result['flicker_on_m']:.4f} m = "
        f"{result['flicker_ratio']:.2f}x steadier",
        f"  after the cut: settled in {result['settle_frames']} frame(s) "
        f"(reset at the cut: {result['reset_at_cut']}); resets in the static part: "
        f"{result['resets_in_static_part']}",
        f"  scene change measure: at most {result['scene_change_static_max']:.3f} between "
        f"noisy copies of one frame, {result['scene_change_at_cut']:.3f} at the cut "
        '(temporal.reset_threshold should lie between them)',
    ])
