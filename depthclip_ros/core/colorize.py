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
Visualization of depth and confidence images as 8-bit BGR images (OpenCV order).

Depth uses a FIXED metric scale: ``min_depth`` (near) maps to the top end of the colormap
(red for TURBO) and ``max_depth`` (far) to its bottom end (dark blue for TURBO), so a given
distance has the same colour in every frame whatever else is in view. Values outside the
range are clipped to its ends; NaN and infinite values (invalid pixels, REP 118) are black.
"""

import math
from typing import Optional, Sequence, Union

import cv2
import numpy as np

Colormap = Union[int, np.ndarray]

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _check_range(min_depth: float, max_depth: float):
    lo, hi = float(min_depth), float(max_depth)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f'need finite min_depth < max_depth, got {min_depth}, {max_depth}')
    return lo, hi


def _as_2d(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2:
        raise ValueError(f'{name} must be a 2-D (H, W) array, got shape {image.shape}')
    return image


def _apply_colormap(index: np.ndarray, colormap: Optional[Colormap]) -> np.ndarray:
    """Map a uint8 (H, W) index image through an OpenCV colormap (None: grayscale)."""
    index = np.ascontiguousarray(index)
    if colormap is None:
        return cv2.cvtColor(index, cv2.COLOR_GRAY2BGR)
    if isinstance(colormap, np.ndarray):
        return cv2.applyColorMap(index, colormap)
    return cv2.applyColorMap(index, int(colormap))


def depth_to_index(depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """
    Map metric depth to colormap indices on a fixed scale.

    :param depth: (H, W) depth in metres.
    :param min_depth: Depth mapped to index 255 (near).
    :param max_depth: Depth mapped to index 0 (far).
    :return: uint8 (H, W) indices; non-finite depths give 0.
    """
    lo, hi = _check_range(min_depth, max_depth)
    depth = _as_2d(depth, 'depth').astype(np.float32, copy=False)
    with np.errstate(invalid='ignore'):
        t = (np.float32(hi) - depth) * np.float32(1.0 / (hi - lo))
        t = np.clip(t, 0.0, 1.0)
    t = np.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)
    return np.rint(t * 255.0).astype(np.uint8)


def colorize_depth(depth: np.ndarray, min_depth: float, max_depth: float,
                   colormap: Colormap = cv2.COLORMAP_TURBO) -> np.ndarray:
    """
    Colorize a metric depth image on a fixed scale.

    ``min_depth`` and nearer map to the colormap's top end (255: red for TURBO),
    ``max_depth`` and farther to its bottom end (0: dark blue for TURBO), linearly in metres,
    independent of the image content. NaN and infinite depths are black.

    :param depth: (H, W) depth in metres.
    :param min_depth: Near end of the scale in metres.
    :param max_depth: Far end of the scale in metres (> min_depth).
    :param colormap: An OpenCV ``cv2.COLORMAP_*`` constant or a 256x1x3 uint8 lookup table.
    :return: (H, W, 3) uint8 BGR image.
    :raises ValueError: If the range is not finite and increasing or depth is not 2-D.
    """
    depth = _as_2d(depth, 'depth')
    bgr = _apply_colormap(depth_to_index(depth, min_depth, max_depth), colormap)
    bgr[~np.isfinite(depth)] = 0
    return bgr


def colorize_confidence(confidence: np.ndarray,
                        colormap: Optional[Colormap] = None) -> np.ndarray:
    """
    Colorize a confidence image in [0, 1].

    :param confidence: (H, W) confidence; values are clipped to [0, 1].
    :param colormap: None for grayscale (0 black, 1 white) or an OpenCV colormap.
    :return: (H, W, 3) uint8 BGR image; NaN confidences are black.
    """
    confidence = _as_2d(confidence, 'confidence').astype(np.float32, copy=False)
    finite = np.isfinite(confidence)
    t = np.clip(np.nan_to_num(confidence, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    bgr = _apply_colormap(np.rint(t * 255.0).astype(np.uint8), colormap)
    bgr[~finite] = 0
    return bgr


def _to_bgr(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f'images must be uint8, got {image.dtype}')
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(np.ascontiguousarray(image.reshape(image.shape[:2])),
                            cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2BGR)
    raise ValueError(f'expected an (H, W), (H, W, 3) or (H, W, 4) image, got {image.shape}')


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> np.ndarray:
    """
    Return round tick values (steps of 1, 2 or 5 times a power of ten) within [lo, hi].

    :param lo: Lower end of the range.
    :param hi: Upper end of the range (> lo).
    :param max_ticks: Upper bound on the number of ticks (>= 2).
    :return: Increasing float array of tick values.
    """
    lo, hi = _check_range(lo, hi)
    max_ticks = max(2, int(max_ticks))
    raw = (hi - lo) / (max_ticks - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 5.0, 10.0):
        step = mult * power
        first = math.ceil(lo / step - 1e-9) * step
        n = int(math.floor((hi - first) / step + 1e-9)) + 1
        if n <= max_ticks:
            break
    return first + step * np.arange(n)


def _tick_text(value: float, step: float) -> str:
    decimals = max(0, -int(math.floor(math.log10(step) + 1e-9)))
    return f'{value:.{decimals}f}'


def add_colorbar(bgr: np.ndarray, min_depth: float, max_depth: float,
                 colormap: Colormap = cv2.COLORMAP_TURBO, label: str = 'm') -> np.ndarray:
    """
    Append a vertical colour bar with metric tick labels to the right of an image.

    The bar spans the image height with ``max_depth`` (far) at the top and ``min_depth``
    (near) at the bottom; its colours come from :func:`colorize_depth`, so they match a depth
    image colorized with the same range and colormap. The unit ``label`` is written above the
    tick labels.

    :param bgr: (H, W, 3) uint8 image (a grayscale (H, W) image is converted to BGR).
    :param min_depth: Near end of the scale in metres.
    :param max_depth: Far end of the scale in metres.
    :param colormap: The colormap used for the depth image.
    :param label: Unit text drawn at the top of the bar panel ('' for none).
    :return: New (H, W + panel, 3) uint8 BGR image; the left W columns equal the input.
    """
    lo, hi = _check_range(min_depth, max_depth)
    image = _to_bgr(bgr)
    height = image.shape[0]
    scale = float(np.clip(height / 600.0, 0.3, 1.0))
    thickness = 1
    margin = max(4, int(round(height * 0.04)))
    text_h = cv2.getTextSize('0', _FONT, scale, thickness)[0][1]
    label_h = (text_h + margin) if label else 0
    bar_top = min(height - 1, margin + label_h)
    bar_bottom = max(bar_top + 1, height - margin)
    bar_w = max(6, int(round(height * 0.04)))

    ticks = nice_ticks(lo, hi, max_ticks=max(2, min(8, (bar_bottom - bar_top) // (3 * text_h))))
    step = float(ticks[1] - ticks[0]) if len(ticks) > 1 else hi - lo
    texts = [_tick_text(t, step) for t in ticks]
    text_w = max([cv2.getTextSize(t, _FONT, scale, thickness)[0][0] for t in texts]
                 + [cv2.getTextSize(label, _FONT, scale, thickness)[0][0] if label else 0])
    tick_len = max(3, bar_w // 3)
    panel_w = margin + bar_w + tick_len + 3 + text_w + margin
    panel = np.full((height, panel_w, 3), 32, dtype=np.uint8)

    # Bar colours: depth of each row, far (top) to near (bottom).
    rows = bar_bottom - bar_top
    row_depth = np.linspace(hi, lo, rows, dtype=np.float64).astype(np.float32)
    column = colorize_depth(row_depth[:, np.newaxis], lo, hi, colormap)
    x0 = margin
    panel[bar_top:bar_bottom, x0:x0 + bar_w] = column
    white = (255, 255, 255)
    for value, text in zip(ticks, texts):
        y = bar_top + int(round((hi - value) / (hi - lo) * (rows - 1)))
        cv2.line(panel, (x0 + bar_w, y), (x0 + bar_w + tick_len - 1, y), white, 1)
        ty = int(np.clip(y + text_h // 2, text_h, height - 1))
        cv2.putText(panel, text, (x0 + bar_w + tick_len + 3, ty), _FONT, scale, white,
                    thickness, cv2.LINE_AA)
    if label:
        cv2.putText(panel, label, (x0, margin + text_h), _FONT, scale, white, thickness,
                    cv2.LINE_AA)
    return np.concatenate([image, panel], axis=1)


def side_by_side(images: Sequence[np.ndarray], height: Optional[int] = None,
                 labels: Optional[Sequence[str]] = None) -> np.ndarray:
    """
    Concatenate images horizontally after resizing them to a common height.

    Each image keeps its aspect ratio: its width becomes ``round(w * height / h)``.

    :param images: uint8 images, BGR (H, W, 3), BGRA or grayscale (H, W).
    :param height: Common height in pixels; None uses the tallest image's height.
    :param labels: Optional text per image, drawn in its top-left corner on a dark box.
    :return: (height, sum of widths, 3) uint8 BGR strip.
    :raises ValueError: If there are no images or the number of labels differs.
    """
    images = [_to_bgr(im) for im in images]
    if not images:
        raise ValueError('side_by_side needs at least one image')
    if labels is not None and len(labels) != len(images):
        raise ValueError(f'got {len(labels)} labels for {len(images)} images')
    if height is None:
        height = max(im.shape[0] for im in images)
    if isinstance(height, bool) or int(height) != height or height < 1:
        raise ValueError(f'height must be a positive integer, got {height!r}')
    height = int(height)
    tiles = []
    for i, im in enumerate(images):
        h, w = im.shape[:2]
        new_w = max(1, int(round(w * height / h)))
        if (h, w) != (height, new_w):
            interp = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
            tile = cv2.resize(im, (new_w, height), interpolation=interp)
        else:
            tile = im.copy()
        if labels is not None and labels[i]:
            scale = float(np.clip(height / 480.0 * 0.7, 0.35, 1.2))
            (tw, th), base = cv2.getTextSize(str(labels[i]), _FONT, scale, 1)
            pad = max(2, th // 3)
            cv2.rectangle(tile, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
            cv2.putText(tile, str(labels[i]), (pad, pad + th), _FONT, scale, (255, 255, 255), 1,
                        cv2.LINE_AA)
        tiles.append(tile)
    return np.concatenate(tiles, axis=1)
