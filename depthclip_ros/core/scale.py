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
Live metric scale from the floor, for a camera mounted at a known height and tilt (ROS-free).

DepthCLIP's scale comes from its bins, fitted to one kind of scene. A ground robot knows
where its camera is: ``height`` metres above a flat floor, looking down by ``pitch`` and
rolled by ``roll``. Every pixel whose ray points below the horizon would meet the floor at
a known depth; the floor pixels of a depth image that is right up to one scale factor
``s`` therefore all agree on ``s``, and everything standing on the floor disagrees on one
side only (it is nearer than the floor behind it).

Method, per frame (:func:`fit_ground_scale`):

1. On a grid of about 80 x 60 pixels, each pixel below the horizon (its ray at least
   :data:`MIN_DOWN_RAY` below the horizontal) proposes the scale that would put its point on
   the floor: ``s_i = height / (depth_i * g_i)`` with ``g_i = down . (x_n, y_n, 1)`` the
   ray's downward component (``down``: the floor's downward normal in the optical frame).
2. The densest window of ``log s_i`` (width twice :data:`INLIER_TOLERANCE`) is the robust
   search over the scale that maximises the floor inliers: pixels whose point, scaled, lies
   within 5 % of the camera height of the floor plane.
3. The scale is refined as the median of ``s_i`` over those inliers (the median of geometric
   floor depth / predicted depth).

What DepthCLIP outputs is saturated: an expectation over the bins never leaves
``[b_1, b_K]`` (times the scale it was made with), so the far floor reads ``b_K`` and the
near floor ``b_1`` whatever their depth, and a compressed output (pulled towards the bins'
middle) saturates inside them, at its own extremes (:func:`saturation_limits`). Those
pixels are no floor evidence: a pixel counts only where the floor, at the scale and pitch
tried, would read at least :data:`NOISE_MARGIN` inside the limits (chosen by the floor
hypothesis, never by the pixel's noisy value, which would keep only the pixels pulled
inward and fake a pitch). Too little such floor: held, and the reason says how much of
the image was saturated.

A pitch that is a few degrees off (a mounting measured badly, a robot rocking) biases that
scale: 5 degrees give 15 to 30 % for a camera 1 m up seeing the floor from 2 to 5 m. Along
a wrong pitch the floor's scale drifts with distance; along the right one it does not.
With ``refit``, each frame measures, along every pitch within :data:`MAX_TILT_DEG` of the
mounting (the configured or TF pitch, never the corrected one, on a 1-degree grid, on the
same pixels), the floor inliers and that drift (the trend, :func:`_trend`). The live
estimator averages both profiles over the frames (:data:`PROFILE_RATE`); while the trend
along the mounting stays within :data:`PITCH_DEADBAND` the mounting stands (noise never
moves it), else the correction is the pitch where the trend crosses zero, if the floor
there holds no fewer inliers (:func:`_level_pitch`). The correction cannot walk away: it
is a pitch of that grid, recomputed from the averaged profiles every frame
(``scale.refine_pitch: false`` trusts the configured pitch always).

One factor cannot fit every floor: a depth compressed towards the bins' middle makes the
floor's scale grow with distance. Each fit measures that trend (the slope of log scale
against log floor distance, :func:`_trend`); a live trend over :data:`TREND_NOTE`, or a
pitch correction (compression looks like a floor pitched further down, and the depth
alone cannot tell the two apart), is said in :attr:`GroundScale.note`
(:func:`scale_note`), the diagnostics' ``scale note``.

Over frames (:class:`GroundScale`): a fit with too few inliers (``scale.min_inliers``, a
fraction of the grid) or outside ``[scale.min, scale.max]`` is not used, and the last good
scale is held (state ``holding`` or ``out of bounds``); a good fit moves the scale in log
space, ``log S = smoothing * log S_prev + (1 - smoothing) * log S_fit`` (state
``fitting``; a pitch correction that moves restarts it). Before the first good fit the
scale is ``depth_scale``.
"""

from dataclasses import dataclass
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from depthclip_ros.core.config import ScaleSettings
from depthclip_ros.core.geometry import Intrinsics

#: Rays less than this far below the horizon (sine of the angle: 2 degrees) are not used:
#: near the horizon a tiny tilt error is a large depth error.
MIN_DOWN_RAY = math.sin(math.radians(2.0))
#: Inlier tolerance in log scale (5 %: the scaled point is within 5 % of the height of the
#: floor plane).
INLIER_TOLERANCE = 0.05
#: Grid of pixels the fit looks at (columns, rows), whatever the image size.
GRID = (80, 60)
#: The pitches tried, and so the pitch correction, stay within this many degrees of the
#: mounting (the configured or TF pitch).
MAX_TILT_DEG = 15.0
#: Pitches tried, in degrees from the mounting (every degree within :data:`MAX_TILT_DEG`).
PITCH_GRID_DEG = np.arange(-MAX_TILT_DEG, MAX_TILT_DEG + 0.5, 1.0)
MIN_FLOOR_POINTS = 30
#: Weight of each frame in the live pitch profiles (the floor each pitch holds, its trend).
PROFILE_RATE = 0.1
#: A pitch's live trend counts when most recent frames measured it (this weight of 1).
MIN_TREND_WEIGHT = 0.5
#: The mounting's pitch stands while the live trend along it is within this.
PITCH_DEADBAND = 0.1
#: The pitch error the floor is checked for (:func:`_pitch_check`): the issue's 5 degrees.
PITCH_CHECK_DEG = 5.0
#: A mounting whose pitch error of :data:`PITCH_CHECK_DEG` would make the scale off by
#: this much is said in the note when the floor cannot check it: the issue's 10 %, less
#: room for the estimate's own error (it is made along the pitch assumed, not the true one).
PITCH_CHECK_ERROR = 0.08
#: A live trend along the mounting beyond this (but within :data:`PITCH_DEADBAND`) is more
#: than a right mounting shows on these floors (at most 0.045 on the ray-cast rooms): said.
PITCH_DOUBT = 0.05
#: A fit this far (log scale) from the live scale is followed only when the next fit agrees
#: with it (a single frame whose densest window found a box top, not the floor, is held).
JUMP = 0.15
#: The live trend must exceed the deadband by this many of its standard errors (from the
#: spread of the frames' trends and how many frames it averages) to move the pitch: a
#: small floor's trend, measured now and then, is noise.
PITCH_SIGNIFICANCE = 1.0
#: A correction that moves by more than this restarts the scale's smoothing.
PITCH_RESTART_DEG = 0.5
#: A correction at least this large is said in the note (it may be compression: see
#: :func:`scale_note`).
PITCH_NOTE_DEG = 1.0
#: The softmax's reach at most, as a share of the saturation limit.
SATURATION_REACH = 0.05
#: A compressed output saturates at its own extremes (it never reaches the bins' limits):
#: the percentile taken as the extreme, and the share of the valid pixels that must sit
#: within the width of it to make it a saturation limit (a pile).
PILE_PERCENTILE = 0.2
PILE_WIDTH = 0.005
PILE_SHARE = 0.05
#: A floor pixel counts only where the floor, at the scale and pitch tried, would read this
#: share inside the saturation limits (room for the prediction's error: a pixel near a
#: limit is saturated or not by its error alone).
NOISE_MARGIN = 0.1
#: Passes of the scale fit choosing the floor pixels by the scale found.
SATURATION_PASSES = 3
#: Passes of the trend fit following the floor along its line.
TREND_PASSES = 4
#: Floor pixels (of the grid) the trend needs: fewer cannot move the pitch nor say anything.
MIN_TREND_POINTS = 300
#: Spread of log distance (root mean square) the floor must span to measure a trend.
MIN_TREND_SPREAD = 0.05
#: The live trend (log scale per log distance) beyond which the state says that one factor
#: cannot fit the whole floor.
TREND_NOTE = 0.1
#: Weight of each frame's trend in the live one.
TREND_RATE = 0.2

STATES = ('fixed', 'waiting', 'fitting', 'holding', 'out of bounds')


def floor_down_vector(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """
    Return the floor's downward unit normal in the camera's optical frame (x right, y down).

    :param pitch_deg: downward tilt of the optical axis below the horizontal
    :param roll_deg: rotation about the optical axis; positive: the image's right side down
    """
    pitch, roll = math.radians(pitch_deg), math.radians(roll_deg)
    return np.array([math.cos(pitch) * math.sin(roll), math.cos(pitch) * math.cos(roll),
                     math.sin(pitch)])


@dataclass(frozen=True)
class GroundFit:
    """One frame's fit: the scale (relative to the depth given), inliers and why not if not."""

    scale: Optional[float]
    inlier_fraction: float
    inliers: int
    samples: int
    #: The pitch (degrees) that holds the most floor (with ``refit``), and its inliers.
    refit_pitch_deg: Optional[float] = None
    refit_inliers: int = 0
    #: Grid pixels below the horizon left out as saturated: where the floor, at the fitted
    #: scale, would read within :data:`NOISE_MARGIN` of the saturation limits or beyond.
    saturated: int = 0
    #: Slope of the floor's log scale against its log distance (0: one factor fits the
    #: whole floor; > 0: the far floor needs more, as when the depth is compressed towards
    #: the bins' middle); NaN when too little floor to tell.
    trend: float = math.nan
    #: Floor inliers of the line along that slope (the same pixels as ``inliers``).
    trend_inliers: int = 0
    #: With ``refit``: the share of the pixels counted (the same for every pitch) that are
    #: floor inliers along each pitch of :data:`PITCH_GRID_DEG` from the mounting.
    profile: Tuple[float, ...] = ()
    #: With ``refit``: the floor's trend along each of those pitches (NaN: unknown).
    trends: Tuple[float, ...] = ()
    #: What a mounting :data:`PITCH_CHECK_DEG` off would do on this floor (its inliers,
    #: along the pitch fitted): the smaller trend it would show either way (how well the
    #: floor can check the pitch) and the larger scale error it would cause (NaN: no floor).
    check_trend: float = math.nan
    check_error: float = math.nan


def _grid(depth: np.ndarray, intr: Intrinsics) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (depth, x_n, y_n) on a grid of about :data:`GRID` pixels."""
    height, width = depth.shape
    step_u = max(1, width // GRID[0])
    step_v = max(1, height // GRID[1])
    v, u = np.mgrid[step_v // 2:height:step_v, step_u // 2:width:step_u]
    return (depth[v, u].astype(np.float64), (u - intr.cx) / intr.fx,
            (v - intr.cy) / intr.fy)


def _densest(log_s: np.ndarray, tolerance: float) -> Tuple[int, float]:
    """Return (count, centre) of the window of width 2 * tolerance holding the most values."""
    if log_s.size == 0:
        return 0, math.nan
    ordered = np.sort(log_s)
    window_end = np.searchsorted(ordered, ordered + 2.0 * tolerance, side='right')
    counts = window_end - np.arange(ordered.size)
    best = int(np.argmax(counts))
    return int(counts[best]), float(ordered[best] + tolerance)


def _expected_inside(rows: np.ndarray, camera_height: float, pitch: float, scale: float,
                     limits: Tuple[float, float]) -> np.ndarray:
    """
    Return which pixels would read the floor, at ``scale`` and ``pitch``, inside ``limits``.

    The choice depends on the floor hypothesis only, never on the pixel's own (noisy)
    value: cutting on the value would keep, near a limit, only the pixels whose error
    pulled them inward, and the far floor would look nearer than it is (a false pitch).
    """
    g = math.cos(pitch) * rows + math.sin(pitch)
    below = g > MIN_DOWN_RAY
    expected = camera_height / (np.where(below, g, 1.0) * scale)
    return below & (expected > limits[0]) & (expected < limits[1])


def _scale_along(depth: np.ndarray, rows: np.ndarray, camera_height: float, pitch: float,
                 bounds: Tuple[float, float], tolerance: float,
                 limits: Tuple[float, float] = (0.0, math.inf),
                 chosen: Optional[np.ndarray] = None
                 ) -> Tuple[Optional[float], int, np.ndarray]:
    """
    Return the floor scale for a floor seen at ``pitch`` (radians), its inliers and pixels.

    ``rows``: each pixel's ``y_n`` rotated by the roll (its coordinate down the image).
    Only pixels whose floor would read inside ``limits`` count (:func:`_expected_inside`);
    the first guess uses the pixels whose value is inside them, then the choice follows
    the scale. A given ``chosen`` mask is used as it is (to compare two pitches on the
    same pixels: a pitch that merely lets more pixels count must not win).
    """
    g = math.cos(pitch) * rows + math.sin(pitch)
    below = g > MIN_DOWN_RAY
    passes = SATURATION_PASSES
    if chosen is None:
        chosen = below & (depth > limits[0]) & (depth < limits[1])
    else:
        chosen, passes = chosen & below, 1
    scale = None
    for _ in range(passes):
        log_s = np.log(camera_height / (depth[chosen] * g[chosen]))
        log_s = log_s[(log_s > math.log(bounds[0])) & (log_s < math.log(bounds[1]))]
        count, centre = _densest(log_s, tolerance)
        if count == 0:
            return None, 0, chosen
        scale = float(np.exp(np.median(log_s[np.abs(log_s - centre) <= tolerance + 1e-12])))
        if passes == 1 or (not math.isfinite(limits[1]) and limits[0] <= 0.0):
            break
        chosen = _expected_inside(rows, camera_height, pitch, scale, limits)
    log_s = np.log(camera_height / (depth[chosen] * g[chosen]))
    return scale, int(np.count_nonzero(np.abs(log_s - math.log(scale)) <= tolerance)), chosen


def _pile(depth: np.ndarray, top: bool) -> Optional[float]:
    """Return the depth's extreme (top or bottom) if a pile of pixels sits at it, else None."""
    extreme = float(np.percentile(depth, 100.0 - PILE_PERCENTILE if top else PILE_PERCENTILE))
    if top:
        share = np.count_nonzero(depth >= extreme * (1.0 - PILE_WIDTH)) / depth.size
    else:
        share = np.count_nonzero(depth <= extreme * (1.0 + PILE_WIDTH)) / depth.size
    return extreme if share >= PILE_SHARE else None


def saturation_limits(depth: np.ndarray, bins: Optional[Sequence[float]] = None
                      ) -> Tuple[float, float]:
    """
    Return the depths at or beyond which a prediction is saturated: (low, high), metres.

    DepthCLIP's depth is an expectation over the bins: it never leaves ``[b_1, b_K]``, and
    a pixel whose softmax has most of its mass on the first (last) bin reads within half
    the first (last) gap of ``b_1`` (``b_K``) whatever its true depth: the reach, here at
    most :data:`SATURATION_REACH` of the limit. A compressed output (never one-hot: pulled
    towards the bins' middle) saturates inside the limits: where a pile of pixels
    (:data:`PILE_SHARE` of them within :data:`PILE_WIDTH`) sits at the depth's own extreme,
    that extreme is the limit. Without ``bins``, only such piles count.

    :param depth: valid depth values (any shape)
    :param bins: the metric bins the prediction was made with (``depth_scale`` applied)
    """
    if depth.size == 0:
        return 0.0, math.inf
    top, bottom = _pile(depth, True), _pile(depth, False)
    low, high = 0.0, math.inf
    if bins is not None and len(bins) >= 2:
        first, last = float(bins[0]), float(bins[-1])
        low = first + min(0.5 * (float(bins[1]) - first), SATURATION_REACH * first)
        high = last - min(0.5 * (last - float(bins[-2])), SATURATION_REACH * last)
    if top is not None:
        high = min(high, top * (1.0 - SATURATION_REACH))
    if bottom is not None:
        low = max(low, bottom * (1.0 + SATURATION_REACH))
    return low, high


def _trend(depth: np.ndarray, rows: np.ndarray, camera_height: float, pitch: float,
           scale: float, chosen: np.ndarray, tolerance: float) -> Tuple[float, int]:
    """
    Return the slope of the floor's log scale against its log distance and its inliers.

    Regressed on the distance the floor geometry gives (``h / g``, free of the
    prediction's noise), over the ``chosen`` pixels: from the inliers of ``scale``, the
    pixels within ``tolerance`` of the line are refitted a few times, so a floor whose
    scale drifts with distance is followed along it (what stands on the floor, nearer than
    the floor, stays off the line). The slope is NaN (and the inliers 0) when the floor
    is too small (:data:`MIN_TREND_POINTS`) or spans too few distances.
    """
    g = math.cos(pitch) * rows[chosen] + math.sin(pitch)
    below = g > MIN_DOWN_RAY
    g = g[below]
    log_s = np.log(camera_height / (depth[chosen][below] * g)) - math.log(scale)
    x = np.log(camera_height / g)
    keep = np.abs(log_s) <= tolerance
    slope = math.nan
    for _ in range(TREND_PASSES):
        if np.count_nonzero(keep) < MIN_FLOOR_POINTS:
            return math.nan, 0
        xs, ys = x[keep], log_s[keep]
        spread = xs - xs.mean()
        variance = float(spread @ spread)
        if variance < np.count_nonzero(keep) * MIN_TREND_SPREAD ** 2:  # too few distances
            return math.nan, 0
        slope = float(spread @ (ys - ys.mean())) / variance
        residual = log_s - (ys.mean() + slope * (x - xs.mean()))
        keep = np.abs(residual) <= tolerance
    if np.count_nonzero(keep) < MIN_TREND_POINTS:  # too little floor to tell a trend
        return math.nan, 0
    return slope, int(np.count_nonzero(keep))


def _profiles(depth: np.ndarray, rows: np.ndarray, camera_height: float, pitches: np.ndarray,
              bounds: Tuple[float, float], tolerance: float, chosen: np.ndarray
              ) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return the floor inliers and the trend along each of ``pitches`` (radians), at once.

    The same as :func:`_scale_along` (with ``chosen``) and :func:`_trend` pitch by pitch,
    on one (pitches x pixels) array: the densest window of each row is found on the rows
    sorted and laid end to end (:func:`_densest`), the median of its values is the middle
    of that window, and the trend's passes are masked least squares. Inliers: 0 and trend
    NaN where no pixel counts.
    """
    count = len(pitches)
    d, r = depth[chosen], rows[chosen]
    if d.size == 0:
        return np.zeros(count, int), np.full(count, math.nan)
    g = np.cos(pitches)[:, None] * r[None, :] + np.sin(pitches)[:, None]
    below = g > MIN_DOWN_RAY
    x = math.log(camera_height) - np.log(np.where(below, g, 1.0))  # log floor distance
    log_s = x - np.log(d)[None, :]
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    inside = below & (log_s > lo) & (log_s < hi)
    ordered = np.sort(np.where(inside, log_s, np.inf), axis=1)
    # rows laid end to end, each offset past the range of the one before (invalid at the end)
    span = 2.0 * (hi - lo) + 4.0 * tolerance + 1.0
    offsets = span * np.arange(count)
    valid = np.isfinite(ordered)
    flat = (np.where(valid, ordered - lo, 0.5 * span + hi - lo) + offsets[:, None]).ravel()
    windows = np.searchsorted(flat, flat + 2.0 * tolerance, side='right') - np.arange(flat.size)
    windows = np.where(valid.ravel(), windows, 0).reshape(ordered.shape)
    best = np.argmax(windows, axis=1)
    found = windows[np.arange(count), best] > 0
    centre = flat[np.arange(count) * ordered.shape[1] + best] + tolerance
    first = np.searchsorted(flat, centre - tolerance - 1e-12, side='left')
    size = np.maximum(np.searchsorted(flat, centre + tolerance + 1e-12, side='right') - first,
                      1)
    middle = 0.5 * (flat[first + (size - 1) // 2] + flat[first + size // 2])
    residual = log_s - (middle - offsets + lo)[:, None]
    keep = below & (np.abs(residual) <= tolerance)
    inliers = np.where(found, keep.sum(axis=1), 0)
    # the trend, as _trend: least squares of log scale against log distance, masked
    alive = found.copy()
    slope = np.full(count, math.nan)
    xx, xy = x * x, x * residual
    for _ in range(TREND_PASSES):
        k = keep.astype(np.float64)
        n = k.sum(axis=1)
        alive &= n >= MIN_FLOOR_POINTS
        n = np.maximum(n, 1.0)
        sx, sy = np.einsum('ij,ij->i', k, x), np.einsum('ij,ij->i', k, residual)
        variance = np.einsum('ij,ij->i', k, xx) - sx * sx / n
        alive &= variance >= n * MIN_TREND_SPREAD ** 2
        slope = np.where(alive, (np.einsum('ij,ij->i', k, xy) - sx * sy / n)
                         / np.where(alive, variance, 1.0), math.nan)
        slope_ = np.where(alive, slope, 0.0)
        line = (sy / n - slope_ * sx / n)[:, None] + slope_[:, None] * x
        keep = below & (np.abs(residual - line) <= tolerance) & alive[:, None]
    alive &= keep.sum(axis=1) >= MIN_TREND_POINTS
    return inliers, np.where(alive, slope, math.nan)


def _pitch_check(depth: np.ndarray, rows: np.ndarray, camera_height: float, pitch: float,
                 scale: float, chosen: np.ndarray, tolerance: float) -> Tuple[float, float]:
    """
    Return what a pitch :data:`PITCH_CHECK_DEG` off would do on the floor inliers.

    Were the floor pitched ``delta`` more than assumed, each floor pixel's scale would be
    off by ``g(pitch + delta) / g(pitch)`` (the floor geometry alone, free of noise): the
    slope of its log against the log distance is the trend that error would show, its
    median the scale error. Returns (the smaller trend of +-delta in magnitude, the larger
    scale error in magnitude); NaN without enough floor.
    """
    g = math.cos(pitch) * rows[chosen] + math.sin(pitch)
    below = g > MIN_DOWN_RAY
    g = g[below]
    log_s = np.log(camera_height / (depth[chosen][below] * g)) - math.log(scale)
    g = g[np.abs(log_s) <= tolerance]
    if g.size < MIN_FLOOR_POINTS:
        return math.nan, math.nan
    x = np.log(camera_height / g)
    spread = x - x.mean()
    variance = float(spread @ spread)
    r = (rows[chosen][below][np.abs(log_s) <= tolerance])
    trends, errors = [], []
    for delta in (PITCH_CHECK_DEG, -PITCH_CHECK_DEG):
        along = pitch + math.radians(delta)
        g_true = math.cos(along) * r + math.sin(along)
        ratio = np.log(np.maximum(g_true, 1e-6) / g)
        trends.append(float(spread @ ratio) / variance if variance > 0.0 else 0.0)
        errors.append(float(np.expm1(np.median(ratio))))
    return min(trends, key=abs), max(errors, key=abs)


def fit_ground_scale(depth: np.ndarray, intr: Intrinsics, camera_height: float,
                     pitch_deg: float, roll_deg: float = 0.0,
                     bounds: Tuple[float, float] = (0.01, 100.0),
                     tolerance: float = INLIER_TOLERANCE, refit: bool = True,
                     bins: Optional[Sequence[float]] = None,
                     mounting_pitch_deg: Optional[float] = None) -> GroundFit:
    """
    Fit the scale that puts the most pixels of ``depth`` on the floor plane.

    The floor is ``camera_height`` below the optical centre, seen with the given pitch and
    roll. Saturated pixels (:func:`saturation_limits`) are no floor evidence: they are left
    out of the scale, the inliers, the trend and the pitch profiles. With ``refit``, the
    floor inliers and trend along every pitch of :data:`PITCH_GRID_DEG` from
    ``mounting_pitch_deg`` (default: ``pitch_deg``) are returned as well, with the pitch
    that holds the most floor (:class:`GroundScale` decides what to follow).

    :param depth: (H, W) depth in metres (NaN or <= 0 where invalid)
    :param intr: intrinsics of ``depth``
    :param camera_height: optical centre above the floor, metres (> 0)
    :param pitch_deg: downward tilt of the optical axis
    :param roll_deg: rotation about the optical axis (positive: the image's right side down)
    :param bounds: smallest and largest scale searched (relative to ``depth``)
    :param tolerance: inlier tolerance in log scale
    :param refit: also measure the pitch profiles
    :param bins: the metric bins ``depth`` was predicted with (None: unknown)
    :param mounting_pitch_deg: the configured (or TF) pitch the profiles are centred on
    :return: the fit; ``scale`` is None when no unsaturated pixel sees the floor
    :raises ValueError: a non-positive height, bad bounds, or a depth of another size
    """
    if not (math.isfinite(camera_height) and camera_height > 0.0):
        raise ValueError(f'camera height must be > 0 m, got {camera_height}')
    low, high = bounds
    if not 0.0 < low < high:
        raise ValueError(f'scale bounds must satisfy 0 < min < max, got {bounds}')
    if depth.shape != (intr.height, intr.width):
        raise ValueError(f'depth {depth.shape} and intrinsics {intr.width}x{intr.height} differ')
    d, xn, yn = _grid(depth, intr)
    samples = int(d.size)
    usable = np.isfinite(d) & (d > 0.0)
    roll = math.radians(roll_deg)
    d = d[usable]
    rows = xn[usable] * math.sin(roll) + yn[usable] * math.cos(roll)
    pitch = math.radians(pitch_deg)
    floor_low, floor_high = saturation_limits(d, bins)
    limits = (floor_low * (1.0 + NOISE_MARGIN), floor_high / (1.0 + NOISE_MARGIN))
    scale, inliers, chosen = _scale_along(d, rows, camera_height, pitch, bounds, tolerance,
                                          limits)
    g = math.cos(pitch) * rows + math.sin(pitch)
    saturated = int(np.count_nonzero((g > MIN_DOWN_RAY) & ~chosen))
    if scale is None:
        return GroundFit(None, 0.0, 0, samples, saturated=saturated)
    trend, trend_inliers = _trend(d, rows, camera_height, pitch, scale, chosen, tolerance)
    check_trend, check_error = _pitch_check(d, rows, camera_height, pitch, scale, chosen,
                                            tolerance)
    fit = GroundFit(scale, inliers / samples, inliers, samples, saturated=saturated,
                    trend=trend, trend_inliers=trend_inliers, check_trend=check_trend,
                    check_error=check_error)
    if not refit:
        return fit
    anchor = pitch_deg if mounting_pitch_deg is None else mounting_pitch_deg
    size = max(1, int(np.count_nonzero(chosen)))
    counts, trends = _profiles(d, rows, camera_height, np.radians(anchor + PITCH_GRID_DEG),
                               bounds, tolerance, chosen)
    profile = counts / size
    best = int(np.argmax(profile))
    return GroundFit(scale, inliers / samples, inliers, samples,
                     anchor + _peak(profile, best), int(round(profile[best] * size)),
                     saturated, trend, trend_inliers, tuple(float(v) for v in profile),
                     tuple(trends), check_trend, check_error)


def _level_pitch(profile: np.ndarray, trends: np.ndarray, margin: float = 0.0) -> float:
    """
    Return the live pitch correction (deg) from the profiles over the frames.

    The mounting stands while the floor's trend along it is within :data:`PITCH_DEADBAND`
    plus ``margin`` (one factor fits the floor along it, up to the trend's own noise).
    Else the correction is where the trend crosses zero nearest to the mounting
    (interpolated), provided the floor there holds at least the floor inliers of the
    mounting; else none.
    """
    zero = int(np.argmin(np.abs(PITCH_GRID_DEG)))
    if not math.isfinite(trends[zero]) or abs(trends[zero]) <= PITCH_DEADBAND + margin:
        return 0.0
    sign = np.sign(trends[zero])
    order = sorted(range(len(trends)), key=lambda i: abs(PITCH_GRID_DEG[i]))
    for i in order:
        for j in (i - 1, i + 1):
            if not 0 <= j < len(trends) or abs(PITCH_GRID_DEG[j]) < abs(PITCH_GRID_DEG[i]):
                continue
            a, b = trends[i], trends[j]
            if not (math.isfinite(a) and math.isfinite(b)) or np.sign(a) != sign or \
                    np.sign(b) == sign:
                continue
            offset = float(PITCH_GRID_DEG[i] + (PITCH_GRID_DEG[j] - PITCH_GRID_DEG[i])
                           * a / (a - b))
            nearest = int(np.argmin(np.abs(PITCH_GRID_DEG - offset)))
            if profile[nearest] >= profile[zero]:
                return offset
            return 0.0
    return 0.0


def _peak(profile: np.ndarray, best: int) -> float:
    """Return the offset (deg) of the profile's peak at ``best``, refined by a parabola."""
    offset = float(PITCH_GRID_DEG[best])
    if 0 < best < len(profile) - 1:
        left, centre, right = profile[best - 1], profile[best], profile[best + 1]
        curvature = left - 2.0 * centre + right
        if curvature < 0.0:
            step = float(PITCH_GRID_DEG[1] - PITCH_GRID_DEG[0])
            offset += step * 0.5 * (left - right) / curvature
    return offset


@dataclass(frozen=True)
class Mounting:
    """Where the camera is over the floor: height (m), pitch and roll (degrees)."""

    height: float
    pitch_deg: float
    roll_deg: float = 0.0

    @classmethod
    def from_quaternion(cls, height: float, quaternion: Sequence[float]) -> 'Mounting':
        """
        Build it from the optical frame's orientation in a floor frame with z up (TF).

        :param height: the optical centre's z in the floor frame (m)
        :param quaternion: (x, y, z, w) rotation from the optical frame to the floor frame
        """
        x, y, z, w = (float(v) for v in quaternion)
        norm = math.sqrt(x * x + y * y + z * z + w * w)
        if not (math.isfinite(norm) and norm > 0.0):
            raise ValueError(f'quaternion must be non-zero and finite, got {quaternion}')
        x, y, z, w = x / norm, y / norm, z / norm, w / norm
        # Third row of the rotation matrix: the floor's z axis in optical coordinates.
        up = (2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y))
        return cls.from_down(height, [-v for v in up])

    @classmethod
    def from_down(cls, height: float, down: Sequence[float]) -> 'Mounting':
        """Build it from the floor's downward unit normal in the optical frame (e.g. TF)."""
        x, y, z = (float(v) for v in down)
        norm = math.sqrt(x * x + y * y + z * z)
        if not (math.isfinite(norm) and norm > 0.0):
            raise ValueError(f'down vector must be non-zero and finite, got {down}')
        x, y, z = x / norm, y / norm, z / norm
        return cls(height, math.degrees(math.asin(max(-1.0, min(1.0, z)))),
                   math.degrees(math.atan2(x, y)))


class GroundScale:
    """
    One camera's live scale: fits every frame, smooths over frames, holds when it must.

    :attr:`scale` is the total factor applied to the bins (``depth_scale`` times the fit),
    :attr:`state` one of :data:`STATES`, :attr:`inlier_fraction` that of the last fit,
    :attr:`saturated_fraction` the share of the grid below the horizon left out as
    saturated, :attr:`trend` the live slope of the floor's scale with distance and
    :attr:`note` what it means (empty when one factor fits the floor).
    """

    def __init__(self):
        self.scale: Optional[float] = None
        self.state = 'waiting'
        self.inlier_fraction = 0.0
        self.saturated_fraction = 0.0
        self.fits = 0
        self.floor_pitch_deg = math.nan
        self.pitch_correction_deg = 0.0
        self.trend = math.nan
        self.note = ''
        #: The last frame's fitted total scale (None: no fit yet).
        self.fitted: Optional[float] = None
        self._mounting: Optional[Mounting] = None
        self.reason = 'no frame yet'
        self._forget()

    def _forget(self) -> None:
        self.pitch_correction_deg, self.trend, self.note = 0.0, math.nan, ''
        self._profile: Optional[np.ndarray] = None
        self._trends: Optional[np.ndarray] = None
        self._trend_weights: Optional[np.ndarray] = None
        self._trend_squares: Optional[np.ndarray] = None
        self._square_weights: Optional[np.ndarray] = None
        self._check_error = math.nan
        #: A fit that jumped (held until the next agrees); None: none. A new mounting
        #: (``_forget``) is expected to move the scale: its first fit is not held.
        self._jumped: Optional[float] = None
        self._new_mounting = True

    def _trend_margin(self) -> float:
        """Return :data:`PITCH_SIGNIFICANCE` standard errors of the live trend (mounting)."""
        zero = int(np.argmin(np.abs(PITCH_GRID_DEG)))
        weight, squares = self._trend_weights[zero], self._square_weights[zero]
        if weight <= 0.0 or squares <= 0.0:
            return math.inf
        spread = max(0.0, float(self._trend_squares[zero] - self._trends[zero] ** 2))
        return PITCH_SIGNIFICANCE * math.sqrt(spread * squares) / weight

    def update(self, depth: np.ndarray, intr: Intrinsics, settings: ScaleSettings,
               depth_scale: float, mounting: Optional[Mounting] = None,
               bins: Optional[Sequence[float]] = None) -> float:
        """
        Fit this frame and return the factor to multiply ``depth`` by.

        :param depth: the prediction (made with ``depth_scale``), metres
        :param intr: its intrinsics
        :param settings: the ``scale.*`` parameters
        :param depth_scale: the ``depth_scale`` the prediction was made with
        :param mounting: the camera's height and orientation over the floor (default: the
            ``scale.camera_*`` settings; a TF lookup gives it otherwise)
        :param bins: the metric bins the prediction was made with (``depth_scale``
            applied): saturated pixels are told by them (None: by the depth's extremes)
        """
        if settings.mode != 'ground':  # back to ground later: a fresh start
            self.scale, self.state, self.reason = None, 'fixed', 'scale.mode: fixed'
            self.fits = 0
            self._forget()
            return 1.0
        if self.scale is None:
            self.scale = depth_scale
        if mounting is None:
            mounting = Mounting(settings.camera_height, settings.camera_pitch_deg,
                                settings.camera_roll_deg)
        if mounting != self._mounting:  # a new mounting: forget what was learnt of the old
            self._mounting = mounting
            self._forget()
        pitch = mounting.pitch_deg + self.pitch_correction_deg
        fit = fit_ground_scale(depth, intr, mounting.height, pitch, mounting.roll_deg,
                               refit=settings.refine_pitch, bins=bins,
                               mounting_pitch_deg=mounting.pitch_deg)
        if fit.profile:
            counts, trends = np.asarray(fit.profile), np.asarray(fit.trends)
            seen = np.isfinite(trends)
            if self._profile is None:
                self._profile = counts
                self._trends, self._trend_weights = np.zeros_like(trends), np.zeros_like(trends)
                self._trend_squares = np.zeros_like(trends)
                self._square_weights = np.zeros_like(trends)
            else:
                self._profile = (1.0 - PROFILE_RATE) * self._profile + PROFILE_RATE * counts
            # each pitch's trend: a weighted average over the frames that measured it, the
            # weight the share of recent frames that did
            kept = (1.0 - PROFILE_RATE) * self._trend_weights
            self._trend_weights = kept + PROFILE_RATE * seen
            measured = np.where(seen, trends, 0.0)
            self._trends = np.where(
                self._trend_weights > 0.0,
                (kept * self._trends + PROFILE_RATE * measured)
                / np.maximum(self._trend_weights, 1e-12), 0.0)
            self._trend_squares = np.where(
                self._trend_weights > 0.0,
                (kept * self._trend_squares + PROFILE_RATE * measured ** 2)
                / np.maximum(self._trend_weights, 1e-12), 0.0)
            self._square_weights = ((1.0 - PROFILE_RATE) ** 2 * self._square_weights
                                    + PROFILE_RATE ** 2 * seen)
        correction = self.pitch_correction_deg
        if not settings.refine_pitch:
            correction, self._profile = 0.0, None
        elif self._profile is not None:
            correction = _level_pitch(self._profile, np.where(
                self._trend_weights >= MIN_TREND_WEIGHT, self._trends, math.nan),
                self._trend_margin())
        if correction != self.pitch_correction_deg:
            if abs(correction - self.pitch_correction_deg) > PITCH_RESTART_DEG:
                self.fits = 0  # the scale fitted along the old pitch is no guide any more
            self.pitch_correction_deg = correction
            pitch = mounting.pitch_deg + self.pitch_correction_deg
            fit = fit_ground_scale(depth, intr, mounting.height, pitch, mounting.roll_deg,
                                   refit=False, bins=bins)
        self.inlier_fraction = fit.inlier_fraction
        self.saturated_fraction = fit.saturated / fit.samples if fit.samples else 0.0
        self.floor_pitch_deg = pitch
        saturated = (f'; {self.saturated_fraction:.1%} of the image is where the floor would '
                     "read at the bins' limits (saturated: no floor evidence)"
                     if self.saturated_fraction >= 0.01 else '')
        if fit.scale is None or fit.inlier_fraction < settings.min_inliers:
            self.state = 'holding'
            self.reason = (f'{fit.inlier_fraction:.1%} of the image on the floor (scale.'
                           f'min_inliers {settings.min_inliers:.0%}){saturated}: holding '
                           f'{self.scale:.3f}')
            return self.scale / depth_scale
        total = fit.scale * depth_scale
        if not settings.min <= total <= settings.max:
            self.state = 'out of bounds'
            self.reason = (f'fitted {total:.3f} outside [{settings.min:g}, {settings.max:g}]: '
                           f'holding {self.scale:.3f}')
            return self.scale / depth_scale
        agrees = self._jumped is not None and abs(math.log(total / self._jumped)) <= JUMP
        if self.fits > 0 and not self._new_mounting and not agrees and \
                abs(math.log(total / self.scale)) > JUMP:
            self._jumped = total
            self.state = 'holding'
            self.reason = (f'fitted {total:.3f} on {fit.inlier_fraction:.1%} floor, '
                           f'{total / self.scale - 1.0:+.0%} from the live scale: followed '
                           f'only when the next frame agrees; holding {self.scale:.3f}')
            return self.scale / depth_scale
        self._jumped, self._new_mounting = None, False
        if self.fits == 0:
            self.scale = total
        else:
            keep = settings.smoothing
            self.scale = math.exp(keep * math.log(self.scale) + (1.0 - keep) * math.log(total))
        if math.isfinite(fit.trend):
            self.trend = fit.trend if not math.isfinite(self.trend) else \
                (1.0 - TREND_RATE) * self.trend + TREND_RATE * fit.trend
        if math.isfinite(fit.check_error):
            self._check_error = fit.check_error if not math.isfinite(self._check_error) else \
                (1.0 - PROFILE_RATE) * self._check_error + PROFILE_RATE * fit.check_error
        mounting_trend = 0.0  # scale.refine_pitch false: the pitch is trusted
        if settings.refine_pitch:
            zero = int(np.argmin(np.abs(PITCH_GRID_DEG)))
            known = self._trend_weights is not None and \
                self._trend_weights[zero] >= MIN_TREND_WEIGHT
            mounting_trend = float(self._trends[zero]) if known else math.nan
        self.note = scale_note(self.trend, self.pitch_correction_deg, mounting_trend,
                               self._check_error)
        self.fitted = total
        self.fits += 1
        self.state = 'fitting'
        self.reason = f'fitted {total:.3f} on {fit.inlier_fraction:.1%} floor{saturated}'
        return self.scale / depth_scale

    def report(self) -> List[Tuple[str, str]]:
        """Return the key values of the diagnostics (and of ``depthclip calibrate``)."""
        note = self.reason + (f'; {self.note}' if self.note else '')
        return [
            ('scale', f'{self.scale:.4f}' if self.scale is not None else 'none yet'),
            ('scale state', self.state),
            ('scale inlier fraction', f'{self.inlier_fraction:.3f}'),
            ('scale saturated fraction', f'{self.saturated_fraction:.3f}'),
            ('scale floor pitch deg', f'{self.floor_pitch_deg:.2f}'),
            ('scale pitch correction deg', f'{self.pitch_correction_deg:+.2f}'),
            ('scale trend', f'{self.trend:+.3f}' if math.isfinite(self.trend) else 'none yet'),
            ('scale note', note),
        ]


def scale_note(trend: float, correction_deg: float = 0.0, mounting_trend: float = 0.0,
               check_error: float = math.nan) -> str:
    """
    Return what the live trend and pitch correction mean, or '' when one factor fits.

    Compression towards the bins' middle makes the floor's scale grow with distance (a
    trend > 0); along a refitted pitch it looks like a steeper floor instead, so a pitch
    correction is said as well: it is either a mounting that is off or such compression,
    and the depth alone cannot tell which. Without a correction, a pitch the floor cannot
    check is said where a mounting :data:`PITCH_CHECK_DEG` off would make the scale
    :data:`PITCH_CHECK_ERROR` off or more (``check_error``): when the floor's live trend
    along the mounting (``mounting_trend``) is unknown (too little unsaturated floor
    measured it), or beyond what a right mounting shows (:data:`PITCH_DOUBT`) yet too weak
    or too noisy to correct the pitch (:data:`PITCH_DEADBAND`, :data:`PITCH_SIGNIFICANCE`).
    """
    notes = []
    if math.isfinite(trend) and abs(trend) > TREND_NOTE:
        kind = ("compressed towards the bins' middle" if trend > 0.0
                else "stretched away from the bins' middle")
        notes.append(f'one factor cannot fit this floor: its scale changes '
                     f'{2.0 ** trend - 1.0:+.0%} per doubling of distance (the depth looks '
                     f'{kind}); the scale is right at the middle distances of the floor only')
    if abs(correction_deg) >= PITCH_NOTE_DEG:
        notes.append(f'the floor looks pitched {correction_deg:+.1f} deg from the mounting '
                     '(corrected): either the mounting is off, or the depth is compressed '
                     "towards the bins' middle, which looks like a floor pitched further down; "
                     'if the mounting is right, set scale.refine_pitch false')
    elif math.isfinite(check_error) and abs(check_error) >= PITCH_CHECK_ERROR:
        cost = (f'a mounting {PITCH_CHECK_DEG:g} deg off would make this scale up to '
                f'{abs(check_error):.0%} off')
        if not math.isfinite(mounting_trend):
            notes.append('the pitch is not checked: too few frames or too little unsaturated '
                         f"floor measured the floor's trend; {cost}")
        elif abs(mounting_trend) > PITCH_DOUBT:
            notes.append(f"the pitch may be off: the floor's trend along the mounting "
                         f'({mounting_trend:+.3f}) is more than a right mounting shows '
                         f'({PITCH_DOUBT:g}) but too weak or too noisy to correct it (beyond '
                         f'{PITCH_DEADBAND:g} plus {PITCH_SIGNIFICANCE:g} x its standard error); '
                         f'{cost}')
    return '; '.join(notes)
