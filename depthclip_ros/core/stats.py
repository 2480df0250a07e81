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

"""Summary statistics used by diagnostics, benchmarks and checks: one convention each."""

from dataclasses import dataclass
import math
import statistics
import time
from typing import Any, Callable, Iterable, Sequence, Tuple

import numpy as np


def percentile(values: Iterable[float], q: float) -> float:
    """
    Return the ``q``-th percentile of ``values`` (linear interpolation, as NumPy's default).

    :param values: numbers (any iterable; NaN when empty)
    :param q: percentile in [0, 100] (50 is the median)
    :return: the percentile, or NaN for no values
    :raises ValueError: ``q`` outside [0, 100]
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f'percentile q must be in [0, 100], got {q}')
    data = np.asarray(list(values), dtype=np.float64)
    if data.size == 0:
        return math.nan
    return float(np.percentile(data, q))


def most_similar_rows(vectors: np.ndarray) -> Tuple[int, int, float]:
    """
    Return the two rows of ``vectors`` with the highest cosine similarity, and that similarity.

    :param vectors: ``(K, C)`` with K >= 2 and no zero rows
    :return: ``(i, j, cosine)`` with ``i < j``
    """
    rows = np.asarray(vectors, dtype=np.float64)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, -np.inf)
    i, j = np.unravel_index(int(np.argmax(cosine)), cosine.shape)
    return int(min(i, j)), int(max(i, j)), float(cosine[i, j])


def median_ms(fn: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    """Run ``fn`` once to warm up, then ``repeats`` times; return the median in ms."""
    fn()
    sync()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


@dataclass(frozen=True)
class DepthDifference:
    """Absolute depth differences between two predictions of the same frames, metres."""

    mean: float
    p99: float
    maximum: float


def depth_difference(reference: Sequence[np.ndarray],
                     other: Sequence[np.ndarray]) -> DepthDifference:
    """
    Compare depth maps pixel by pixel: mean, 99th percentile and maximum of ``|other - ref|``.

    :param reference: depth maps (e.g. fp32 predictions)
    :param other: depth maps of the same shapes, in the same order
    :raises ValueError: no maps, or different counts or shapes
    """
    if len(reference) == 0 or len(reference) != len(other):
        raise ValueError('depth_difference needs the same non-zero number of depth maps, got '
                         f'{len(reference)} and {len(other)}')
    diffs = []
    for a, b in zip(reference, other):
        if a.shape != b.shape:
            raise ValueError(f'depth maps differ in shape: {a.shape} and {b.shape}')
        diffs.append(np.abs(b.astype(np.float64) - a.astype(np.float64)).ravel())
    diff = np.concatenate(diffs)
    return DepthDifference(mean=float(diff.mean()), p99=percentile(diff, 99.0),
                           maximum=float(diff.max()))
