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
Open-vocabulary queries ("how far is the door?") answered from the depth's encoder pass.

The semantic features are MaskCLIP's (the ``projected`` feature mode): the image trunk the
depth already ran, mapped through the attention pool's value and output projections
(:meth:`~depthclip_ros.core.model.DenseFeatures.features_and_semantics`; no second encoder
call). Every query and every background word (things that are not the queries: floor,
wall, ...) gets a text embedding (templates averaged); each patch's cosine with them,
times CLIP's logit scale, goes through a softmax over queries + background. A query's
mask is where its probability, upsampled bilinearly to the depth's size, is the largest
and at least ``grounding.threshold``. Its pixels' depth, back-projected with the camera's
intrinsics, gives the median 3D point in the optical frame and its distance.

A query is *not found* when no pixel passes, or its mask is smaller than half a feature
patch (:data:`MIN_PATCH_FRACTION`), or none of its pixels has a valid depth: then it has no
point, never one at a wrong place.

Everything here is plain functions on tensors and arrays: the engine calls them for its
predictions, and tests can feed designed features and embeddings through the same
functions.
"""

from dataclasses import dataclass
import math
from typing import Callable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from depthclip_ros.core.config import DepthClipConfig, GroundingConfig, MAX_CLASS_COSINE
from depthclip_ros.core.geometry import depth_to_points, Intrinsics
from depthclip_ros.core.model import CancelledError, LOGIT_SCALE, TEXT_CHUNK
from depthclip_ros.core.stats import most_similar_rows

__all__ = ['draw_overlay', 'Grounding', 'grounding_from_labels', 'grounding_key',
           'grounding_probabilities',
           'grounding_values', 'GroundingText', 'label_text', 'LABELS_ENCODING',
           'locate_queries', 'marker_specs', 'MarkerSpec', 'MARKER_NAMESPACE',
           'MIN_PATCH_FRACTION', 'QueryMasks', 'QueryResult', 'query_masks', 'query_text',
           'unsupported_reason', 'vocabulary_embeddings']

#: A mask smaller than this fraction of one feature patch (in output pixels) is noise.
MIN_PATCH_FRACTION = 0.5

#: Encoding of the ``grounding/labels`` image: one uint8 label per pixel (0 none, i the i-th
#: query). ``mono8`` rather than ``8UC1``: the same bytes, but every image consumer reads it
#: (RViz, image_view, rqt, cv_bridge to bgr8/mono8, image_transport's png), where several
#: refuse or cannot convert ``8UC1``; cv_bridge's passthrough gives the label array either
#: way. (Lossy transports such as jpeg change labels: subscribe raw or png.)
LABELS_ENCODING = 'mono8'


def unsupported_reason(backend: str, feature_mode: str) -> str:
    """
    Return why this encoder cannot give the semantic features, or ``''`` when it can.

    torch: every feature mode (paper mode projects the same ``layer4`` output the depth
    used). onnxruntime: the exported graph's output only; in ``projected`` mode that output
    is the semantic features themselves; in ``paper`` mode it is the normalized half of
    ``layer4``, from which the projection cannot be computed.
    """
    if backend == 'onnxruntime' and feature_mode != 'projected':
        return ('grounding.queries with model.backend onnxruntime needs feature_mode projected '
                '(a paper-mode graph outputs only half of the normalized layer4 features, not '
                'what the attention pool projects): use feature_mode projected (export again) '
                'or model.backend torch')
    return ''


def grounding_key(config: DepthClipConfig) -> Tuple:
    """Return what the query embeddings of ``config`` depend on (not the threshold)."""
    g = config.grounding
    return (g.queries, g.templates, g.background)


@dataclass(frozen=True)
class GroundingText:
    """
    The query and background embeddings of one grounding setting.

    ``embeddings``: ``(Q + B, C)`` float32 unit-norm rows, the queries first, then the
    background words.
    """

    queries: Tuple[str, ...]
    background: Tuple[str, ...]
    embeddings: torch.Tensor
    threshold: float


def _fits(tokenizer, prompts: Sequence[str]) -> torch.Tensor:
    """
    Tokenize ``prompts``; refuse one that fills the text encoder's whole context.

    :raises ValueError: naming the prompt
    """
    tokens = tokenizer(list(prompts))
    full = (tokens[:, -1] != 0).nonzero()
    if len(full):
        prompt = prompts[int(full[0])]
        shown = prompt if len(prompt) <= 80 else prompt[:77] + '...'
        raise ValueError(f'grounding: {shown!r} does not fit the context of the text encoder '
                         f'({tokens.shape[1]} tokens; it would be cut off): shorten '
                         'grounding.templates / grounding.queries / grounding.background')
    return tokens


@torch.inference_mode()
def vocabulary_embeddings(clip_model: nn.Module, tokenizer, templates: Sequence[str],
                          words: Sequence[str], device: torch.device,
                          should_stop: Optional[Callable[[], bool]] = None) -> torch.Tensor:
    """
    Return one unit-norm text embedding per word, ``(N, C)`` float32.

    Each word fills every template (one ``{}`` slot); the prompt embeddings are normalized,
    averaged over templates and normalized again (CLIP's zero-shot classifier). Prompts are
    encoded ``TEXT_CHUNK`` at a time; ``should_stop`` is asked between chunks.

    :raises ValueError: a prompt does not fit the text encoder's context
    :raises CancelledError: ``should_stop`` returned true
    """
    prompts = [template.format(word) for word in words for template in templates]
    tokens = _fits(tokenizer, prompts).to(device)
    chunks = []
    for start in range(0, len(prompts), TEXT_CHUNK):
        if should_stop is not None and should_stop():
            raise CancelledError('grounding embeddings: cancelled')
        chunks.append(clip_model.encode_text(tokens[start:start + TEXT_CHUNK]).float())
    embeddings = F.normalize(torch.cat(chunks), dim=-1)
    per_word = embeddings.reshape(len(words), len(templates), -1).mean(dim=1)
    return F.normalize(per_word, dim=-1).contiguous()


def check_distinct(embeddings: torch.Tensor, words: Sequence[str],
                   max_cosine: float = MAX_CLASS_COSINE) -> None:
    """
    Refuse a vocabulary of which two words read (nearly) the same.

    Two rows with the same embedding split every patch's probability between them, so
    neither passes the threshold, silently.

    :raises ValueError: naming the two words and their cosine
    """
    if len(words) < 2:
        return
    i, j, value = most_similar_rows(embeddings.detach().float().cpu().numpy())
    if value > max_cosine:
        raise ValueError(f'grounding: {words[i]!r} and {words[j]!r} give (nearly) identical '
                         f'text embeddings (cosine {value:.5f} > {max_cosine}); every query '
                         'and background word needs a meaning of its own')


def query_text(clip_model: nn.Module, tokenizer, grounding: GroundingConfig,
               device: torch.device,
               should_stop: Optional[Callable[[], bool]] = None) -> GroundingText:
    """
    Encode ``grounding.queries`` and ``grounding.background`` with ``grounding.templates``.

    :raises ValueError: no queries, a prompt that does not fit, or two words that read the
        same (the message names them)
    :raises CancelledError: ``should_stop`` returned true
    """
    if not grounding.queries:
        raise ValueError('grounding.queries is empty: nothing to encode')
    words = tuple(grounding.queries) + tuple(grounding.background)
    embeddings = vocabulary_embeddings(clip_model, tokenizer, grounding.templates, words,
                                       device, should_stop)
    check_distinct(embeddings, words)
    return GroundingText(queries=tuple(grounding.queries),
                         background=tuple(grounding.background), embeddings=embeddings,
                         threshold=float(grounding.threshold))


def grounding_probabilities(semantic: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """
    Softmax over queries + background of ``LOGIT_SCALE * <feature, embedding>`` per patch.

    :param semantic: ``(B, C, h, w)`` unit-norm semantic features
    :param embeddings: ``(N, C)`` unit-norm query and background embeddings
    :return: ``(B, N, h, w)`` float32 probabilities
    """
    logits = torch.einsum('bchw,nc->bnhw', semantic.float(), embeddings.float())
    return torch.softmax(logits * LOGIT_SCALE, dim=1)


@dataclass(frozen=True)
class QueryMasks:
    """
    The query masks of one image at the depth's size.

    ``labels``: ``(H, W)`` uint8, 0 for no query, ``i + 1`` where query ``i`` wins and passes
    the threshold. ``scores``: per query, its highest probability over the patches.
    ``min_pixels``: the fewest pixels a found query's mask has (half a feature patch).
    """

    queries: Tuple[str, ...]
    labels: np.ndarray
    scores: Tuple[float, ...]
    threshold: float
    min_pixels: int


def upsample(channel: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """
    Upsample one ``(h, w)`` float32 map bilinearly to ``size`` with corners aligned.

    Output pixel ``(v, u)`` samples the map at ``(v (h - 1) / (H - 1), u (w - 1) / (W - 1))``,
    as ``torch.nn.functional.interpolate(..., align_corners=True)`` and the depth do.
    """
    height, width = int(size[0]), int(size[1])
    low_h, low_w = channel.shape
    sx = (low_w - 1) / (width - 1) if width > 1 else 0.0
    sy = (low_h - 1) / (height - 1) if height > 1 else 0.0
    matrix = np.float32([[sx, 0.0, 0.0], [0.0, sy, 0.0]])
    return cv2.warpAffine(np.ascontiguousarray(channel, dtype=np.float32), matrix,
                          (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def query_masks(probabilities: torch.Tensor, size: Tuple[int, int], text: GroundingText
                ) -> QueryMasks:
    """
    Turn one image's patch probabilities into query masks at ``size``.

    The probabilities are upsampled bilinearly with corners aligned (as the depth is); a
    pixel belongs to query ``i`` when that query's probability is the largest of all
    (queries and background) and at least the threshold. Queries whose best patch is under
    the threshold cannot pass anywhere and are skipped; above a threshold of 0.5 the
    largest is implied (the upsampled probabilities still sum to 1), so only the
    remaining queries are upsampled.

    :param probabilities: ``(N, h, w)`` from :func:`grounding_probabilities` (one image)
    :param size: ``(height, width)`` of the depth
    """
    queries = text.queries
    n_queries = len(queries)
    if probabilities.ndim != 3 or probabilities.shape[0] != n_queries + len(text.background):
        raise ValueError(f'probabilities must be (queries + background, h, w), got '
                         f'{tuple(probabilities.shape)}')
    height, width = int(size[0]), int(size[1])
    p = probabilities.detach().float().cpu().numpy()
    low_h, low_w = p.shape[1:]
    scores = p[:n_queries].reshape(n_queries, -1).max(axis=1)
    threshold = text.threshold
    candidates = [i for i in range(n_queries) if scores[i] >= threshold]
    labels = np.zeros((height, width), np.uint8)
    if candidates and threshold > 0.5:
        for i in candidates:
            labels[(upsample(p[i], size) >= threshold) & (labels == 0)] = i + 1
    elif candidates:
        up = np.stack([upsample(channel, size) for channel in p])
        index = up.argmax(axis=0)
        best = np.take_along_axis(up, index[np.newaxis], axis=0)[0]
        passed = (index < n_queries) & (best >= threshold)
        labels[passed] = (index[passed] + 1).astype(np.uint8)
    patch = (height * width) / float(low_h * low_w)
    return QueryMasks(queries=queries, labels=labels,
                      scores=tuple(float(s) for s in scores), threshold=threshold,
                      min_pixels=max(1, int(math.ceil(MIN_PATCH_FRACTION * patch))))


@dataclass(frozen=True)
class QueryResult:
    """
    One query's answer: its mask's median 3D point (optical frame, metres) and distance.

    ``point`` and ``distance`` are None when the query was not found (``reason`` says why).
    ``pixels``: the mask's pixels with a valid depth; ``score``: the query's highest
    probability over the patches.
    """

    query: str
    found: bool
    score: float
    pixels: int
    point: Optional[Tuple[float, float, float]] = None
    distance: Optional[float] = None
    reason: str = ''

    def describe(self) -> str:
        """Return one line, e.g. ``door: 2.31 m at (0.12, -0.40, 2.27) m (score 0.91, ...)``."""
        if not self.found:
            return f'{self.query}: not found ({self.reason}; best score {self.score:.2f})'
        x, y, z = self.point
        return (f'{self.query}: {self.distance:.2f} m at ({x:.2f}, {y:.2f}, {z:.2f}) m in the '
                f'optical frame (score {self.score:.2f}, {self.pixels} px)')


@dataclass(frozen=True)
class Grounding:
    """
    Every query's answer for one image and its label image (found queries only).

    ``labels``: ``(H, W)`` uint8, 0 none, ``i + 1`` the pixels of query ``i`` when it was
    found (the pixels of queries not found are 0).
    """

    labels: np.ndarray
    results: Tuple[QueryResult, ...]


def locate_queries(masks: QueryMasks, depth: np.ndarray, intrinsics: Intrinsics) -> Grounding:
    """
    Back-project each query's mask with the depth and take the median 3D point.

    x, y and z are the medians of the mask pixels' coordinates (``x = (u - cx) z / fx``,
    ``y = (v - cy) z / fy``, see :func:`~depthclip_ros.core.geometry.depth_to_points`),
    the distance is that point's norm. Pixels whose depth is not finite or not positive
    are left out.

    :param masks: from :func:`query_masks`, at the depth's size
    :param depth: ``(H, W)`` metres (the depth the masks go with, scaled as published)
    :param intrinsics: the camera's (scaled to the depth's size when they differ)
    """
    depth = np.asarray(depth)
    if depth.shape != masks.labels.shape:
        raise ValueError(f'depth shape {depth.shape} differs from the shape of the masks '
                         f'{masks.labels.shape}')
    height, width = depth.shape
    if (intrinsics.width, intrinsics.height) != (width, height):
        intrinsics = intrinsics.scaled(width, height)
    points = depth_to_points(depth.astype(np.float32, copy=False), intrinsics,
                             min_range=np.finfo(np.float32).tiny, organized=True)
    valid = np.isfinite(points['z'])
    labels = masks.labels.copy()
    results: List[QueryResult] = []
    for i, query in enumerate(masks.queries):
        mask = masks.labels == i + 1
        score = masks.scores[i]
        inside = int(mask.sum())
        usable = mask & valid
        count = int(usable.sum())
        reason = ''
        if inside == 0:
            reason = (f'no pixel where it outscores the other words and reaches the threshold '
                      f'{masks.threshold:g}')
        elif inside < masks.min_pixels:
            reason = f'mask of {inside} px is under {masks.min_pixels} px (half a patch)'
        elif count == 0:
            reason = 'no valid depth in its mask'
        if reason:
            labels[mask] = 0
            results.append(QueryResult(query=query, found=False, score=score, pixels=count,
                                       reason=reason))
            continue
        selected = points[usable]
        point = tuple(float(np.median(selected[axis])) for axis in ('x', 'y', 'z'))
        distance = float(math.sqrt(sum(c * c for c in point)))
        results.append(QueryResult(query=query, found=True, score=score, pixels=count,
                                   point=point, distance=distance))
    return Grounding(labels=labels, results=tuple(results))


def label_text(result: QueryResult) -> str:
    """Return the short text of a found query, e.g. ``door 2.3 m`` (overlay and markers)."""
    return f'{result.query} {result.distance:.1f} m'


def grounding_from_labels(queries: Sequence[str], labels: np.ndarray, depth: np.ndarray,
                          intrinsics: Intrinsics) -> Grounding:
    """
    Answer the queries again from a published label image and its depth (the demo's overlay).

    The labels hold only found queries, each over at least half a patch with valid depth,
    so :func:`locate_queries` gives back the same median points and distances; the scores
    are not in the labels (NaN). A query without a pixel is not found.
    """
    masks = QueryMasks(queries=tuple(queries), labels=np.asarray(labels, np.uint8),
                       scores=(float('nan'),) * len(queries), threshold=float('nan'),
                       min_pixels=1)
    return locate_queries(masks, depth, intrinsics)


#: Outline colours of the queries (BGR), in turn.
OVERLAY_COLORS = ((0, 215, 255), (255, 128, 0), (60, 220, 60), (200, 60, 255), (0, 0, 255),
                  (255, 255, 0), (255, 0, 200), (128, 255, 128))


def draw_overlay(rgb: np.ndarray, grounding: Grounding) -> np.ndarray:
    """
    Draw each found query's mask outline and ``door 2.3 m`` over the image.

    :param rgb: ``(H, W, 3)`` uint8 RGB, any size (the labels are resized to it, nearest)
    :param grounding: from :func:`locate_queries`
    :return: ``(H, W, 3)`` uint8 BGR (for ``cv2.imwrite``)
    """
    bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
    height, width = bgr.shape[:2]
    labels = grounding.labels
    if labels.shape != (height, width):
        labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    thickness = max(1, round(min(height, width) / 240))
    scale = max(0.4, min(height, width) / 800)
    for i, result in enumerate(grounding.results):
        if not result.found:
            continue
        color = OVERLAY_COLORS[i % len(OVERLAY_COLORS)]
        mask = (labels == i + 1).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(bgr, contours, -1, color, thickness, cv2.LINE_AA)
        rows, cols = np.nonzero(mask)
        text = label_text(result)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        x = int(np.clip(np.median(cols) - tw / 2, 0, max(0, width - tw)))
        y = int(np.clip(np.median(rows) + th / 2, th + base, height - base))
        cv2.rectangle(bgr, (x - 2, y - th - 2), (x + tw + 2, y + base), (0, 0, 0), cv2.FILLED)
        cv2.putText(bgr, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness,
                    cv2.LINE_AA)
    return bgr


# -------------------------------------------------------------------------------------------
# What the ROS outputs say (built into messages by the node and the bag tool)
# -------------------------------------------------------------------------------------------
#: The ``ns`` of the grounding markers.
MARKER_NAMESPACE = 'depthclip_grounding'
#: Sphere diameter per metre of distance (a constant size on screen), and its bounds.
SPHERE_PER_METRE = 0.04
SPHERE_MIN_M, SPHERE_MAX_M = 0.05, 0.5


@dataclass(frozen=True)
class MarkerSpec:
    """
    One ``visualization_msgs/Marker`` to add, in the image's optical frame.

    ``kind``: ``sphere`` or ``text`` (``TEXT_VIEW_FACING``); ``marker_id``: ``2 i`` for
    query ``i``'s sphere and ``2 i + 1`` for its text, the same every frame; ``scale``: the
    sphere's diameter on every axis, or the text height in ``scale[2]``; ``rgba`` in [0, 1].
    """

    kind: str
    marker_id: int
    position: Tuple[float, float, float]
    scale: Tuple[float, float, float]
    rgba: Tuple[float, float, float, float]
    text: str = ''


def marker_specs(grounding: Grounding) -> List[MarkerSpec]:
    """
    Return a sphere at each found query's 3D point and its ``door 2.3 m`` text above it.

    Queries that were not found have none: the messages start with a ``DELETEALL`` of
    :data:`MARKER_NAMESPACE`, so a query no longer found disappears.
    """
    specs = []
    for i, result in enumerate(grounding.results):
        if not result.found:
            continue
        b, g, r = OVERLAY_COLORS[i % len(OVERLAY_COLORS)]
        rgba = (r / 255.0, g / 255.0, b / 255.0, 1.0)
        diameter = float(np.clip(SPHERE_PER_METRE * result.distance, SPHERE_MIN_M,
                                 SPHERE_MAX_M))
        x, y, z = result.point
        specs.append(MarkerSpec('sphere', 2 * i, (x, y, z), (diameter,) * 3, rgba))
        height = 1.5 * diameter
        # The optical frame's y points down: the text sits above the sphere.
        specs.append(MarkerSpec('text', 2 * i + 1, (x, y - diameter / 2 - height, z),
                                (0.0, 0.0, height), rgba, label_text(result)))
    return specs


def grounding_values(grounding: Optional[Grounding],
                     queries: Sequence[str]) -> List[Tuple[str, str]]:
    """
    Return the diagnostics key-values of the grounding: the queries, then per query.

    Per query ``door``: ``query door: found`` (``yes`` or ``no: <why>``), ``query door:
    distance (m)``, ``query door: point (m)`` (x, y, z in the optical frame), ``query door:
    pixels``, ``query door: score``; distance and point are ``-`` when not found.

    :param grounding: the latest frame's answers (None: no frame since the queries were set)
    :param queries: the queries in force
    """
    values = [('grounding queries', ', '.join(queries))]
    if grounding is None or tuple(r.query for r in grounding.results) != tuple(queries):
        return values + [('grounding', 'no frame with these queries yet')]
    for result in grounding.results:
        name = f'query {result.query}'
        if result.found:
            x, y, z = result.point
            values += [(f'{name}: found', 'yes'),
                       (f'{name}: distance (m)', f'{result.distance:.3f}'),
                       (f'{name}: point (m)', f'{x:.3f}, {y:.3f}, {z:.3f}')]
        else:
            values += [(f'{name}: found', f'no: {result.reason}'),
                       (f'{name}: distance (m)', '-'), (f'{name}: point (m)', '-')]
        values += [(f'{name}: pixels', str(result.pixels)),
                   (f'{name}: score', f'{result.score:.3f}')]
    return values
