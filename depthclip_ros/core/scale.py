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

A pitch that is a few degrees off (a mounting measured badly, a robot rocking) biases that
scale: 5 degrees give 15 to 30 % for a camera 1 m up seeing the floor from 2 to 5 m. The
floor also says what its pitch is: on the floor, inverse depth is linear in the image row.
Each frame refits that line robustly from a few starting pitches (:func:`_refit_pitch`);
when the refitted floor holds clearly more inliers (:data:`PITCH_EVIDENCE`), the live
estimator moves its pitch correction towards it (:data:`PITCH_RATE` per frame, within
:data:`MAX_TILT_DEG`), so a wrong pitch is learnt away over a few frames while a right one
stays put (``scale.refine_pitch: false`` trusts the configured pitch always).

Over frames (:class:`GroundScale`): a fit with too few inliers (``scale.min_inliers``, a
fraction of the grid) or outside ``[scale.min, scale.max]`` is not used, and the last good
scale is held (state ``holding`` or ``out of bounds``); a good fit moves the scale in log
space, ``log S = smoothing * log S_prev + (1 - smoothing) * log S_fit`` (state
``fitting``). Before the first good fit the scale is ``depth_scale``.
"""

from dataclasses import dataclass
import math
from typing import Optional, Sequence, Tuple

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
#: The refitted floor pitch stays within this many degrees of the configured one.
MAX_TILT_DEG = 15.0
#: The pitch refit starts this many degrees off the current pitch (a refit from one start
#: can stay in a local minimum).
REFIT_STARTS_DEG = (0.0, -3.0, 3.0, -6.0, 6.0)
REFIT_ITERATIONS = 15
#: Relative distance to the floor line within which points start the refit.
START_BAND = 0.3
MIN_FLOOR_POINTS = 30
#: The live estimator follows a refitted pitch only when the floor along it holds this
#: many times the inliers of the current pitch: the configured mounting is trusted unless
#: the floor clearly disagrees.
PITCH_EVIDENCE = 1.05
#: Weight of each frame's refit in the pitch correction (an average over a few frames).
PITCH_RATE = 0.3

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
    #: The refitted floor pitch (degrees) when it holds more floor pixels than the given one.
    refit_pitch_deg: Optional[float] = None
    #: Floor inliers along the refitted pitch.
    refit_inliers: int = 0


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


def _scale_along(depth: np.ndarray, rows: np.ndarray, camera_height: float, pitch: float,
                 bounds: Tuple[float, float], tolerance: float) -> Tuple[Optional[float], int]:
    """
    Return the floor scale for a floor seen at ``pitch`` (radians), and its inlier count.

    ``rows``: each pixel's ``y_n`` rotated by the roll (its coordinate down the image).
    """
    g = math.cos(pitch) * rows + math.sin(pitch)
    below = g > MIN_DOWN_RAY
    log_s = np.log(camera_height / (depth[below] * g[below]))
    log_s = log_s[(log_s > math.log(bounds[0])) & (log_s < math.log(bounds[1]))]
    count, centre = _densest(log_s, tolerance)
    if count == 0:
        return None, 0
    scale = float(np.exp(np.median(log_s[np.abs(log_s - centre) <= tolerance])))
    return scale, int(np.count_nonzero(np.abs(log_s - math.log(scale)) <= tolerance))


def _refit_pitch(depth: np.ndarray, rows: np.ndarray, camera_height: float, pitch: float,
                 scale: float, tolerance: float, max_tilt: float) -> Optional[float]:
    """
    Refit the floor's pitch from ``pitch`` (radians); None if it leaves ``max_tilt`` of it.

    On the floor, inverse depth is linear in the image row: ``1/d = A y + B`` with
    ``A = s cos(pitch) / h`` and ``B = s sin(pitch) / h``. The line is refitted by
    iteratively reweighted least squares (Tukey weights of the relative residual, the band
    narrowing from :data:`START_BAND` to the tolerance; depth noise is multiplicative, so
    each point weighs ``d^2``).
    """
    inverse = 1.0 / depth
    design = np.stack([rows, np.ones_like(rows)], axis=1)
    a = scale * math.cos(pitch) / camera_height
    b = scale * math.sin(pitch) / camera_height
    band = START_BAND
    for _ in range(REFIT_ITERATIONS):
        relative = (a * rows + b) / inverse - 1.0
        weights = np.where(np.abs(relative) < band, (1.0 - (relative / band) ** 2) ** 2, 0.0)
        weights /= inverse ** 2
        if np.count_nonzero(weights) < MIN_FLOOR_POINTS:
            return None
        weighted = design.T * weights
        try:
            a, b = np.linalg.solve(weighted @ design, weighted @ inverse)
        except np.linalg.LinAlgError:
            return None
        if a <= 0.0 or abs(math.atan2(b, a) - pitch) > max_tilt:
            return None
        band = max(tolerance, band * 0.75)
    return math.atan2(b, a)


def fit_ground_scale(depth: np.ndarray, intr: Intrinsics, camera_height: float,
                     pitch_deg: float, roll_deg: float = 0.0,
                     bounds: Tuple[float, float] = (0.01, 100.0),
                     tolerance: float = INLIER_TOLERANCE, refit: bool = True) -> GroundFit:
    """
    Fit the scale that puts the most pixels of ``depth`` on the floor plane.

    The floor is ``camera_height`` below the optical centre, seen with the given pitch and
    roll. With ``refit``, the floor's pitch is also refitted from several starts around the
    given one (within :data:`MAX_TILT_DEG`) and the best refit, by its floor inliers, is
    returned beside the fit (:class:`GroundScale` decides whether to follow it).

    :param depth: (H, W) depth in metres (NaN or <= 0 where invalid)
    :param intr: intrinsics of ``depth``
    :param camera_height: optical centre above the floor, metres (> 0)
    :param pitch_deg: downward tilt of the optical axis
    :param roll_deg: rotation about the optical axis (positive: the image's right side down)
    :param bounds: smallest and largest scale searched (relative to ``depth``)
    :param tolerance: inlier tolerance in log scale
    :param refit: also refit the floor's pitch
    :return: the fit; ``scale`` is None when no pixel sees the floor
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
    scale, inliers = _scale_along(d, rows, camera_height, pitch, bounds, tolerance)
    if scale is None:
        return GroundFit(None, 0.0, 0, samples)
    fit = GroundFit(scale, inliers / samples, inliers, samples)
    if not refit:
        return fit
    best = (inliers, None)
    for start_deg in REFIT_STARTS_DEG:
        start = pitch + math.radians(start_deg)
        start_scale, _ = _scale_along(d, rows, camera_height, start, bounds, tolerance)
        if start_scale is None:
            continue
        refitted = _refit_pitch(d, rows, camera_height, start, start_scale, tolerance,
                                math.radians(MAX_TILT_DEG))
        if refitted is None or abs(refitted - pitch) > math.radians(MAX_TILT_DEG):
            continue
        _, count = _scale_along(d, rows, camera_height, refitted, bounds, tolerance)
        if count > best[0]:
            best = (count, refitted)
    if best[1] is None:
        return fit
    return GroundFit(scale, inliers / samples, inliers, samples, math.degrees(best[1]),
                     best[0])


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
    :attr:`state` one of :data:`STATES`, :attr:`inlier_fraction` that of the last fit.
    """

    def __init__(self):
        self.scale: Optional[float] = None
        self.state = 'waiting'
        self.inlier_fraction = 0.0
        self.fits = 0
        self.floor_pitch_deg = math.nan
        self.pitch_correction_deg = 0.0
        self._mounting: Optional[Mounting] = None
        self.reason = 'no frame yet'

    def update(self, depth: np.ndarray, intr: Intrinsics, settings: ScaleSettings,
               depth_scale: float, mounting: Optional[Mounting] = None) -> float:
        """
        Fit this frame and return the factor to multiply ``depth`` by.

        :param depth: the prediction (made with ``depth_scale``), metres
        :param intr: its intrinsics
        :param settings: the ``scale.*`` parameters
        :param depth_scale: the ``depth_scale`` the prediction was made with
        :param mounting: the camera's height and orientation over the floor (default: the
            ``scale.camera_*`` settings; a TF lookup gives it otherwise)
        """
        if settings.mode != 'ground':  # back to ground later: a fresh start
            self.scale, self.state, self.reason = None, 'fixed', 'scale.mode: fixed'
            self.fits, self.pitch_correction_deg = 0, 0.0
            return 1.0
        if self.scale is None:
            self.scale = depth_scale
        if mounting is None:
            mounting = Mounting(settings.camera_height, settings.camera_pitch_deg,
                                settings.camera_roll_deg)
        if mounting != self._mounting:  # a new mounting: forget what was learnt of the old
            self._mounting, self.pitch_correction_deg = mounting, 0.0
        pitch = mounting.pitch_deg + self.pitch_correction_deg
        fit = fit_ground_scale(depth, intr, mounting.height, pitch, mounting.roll_deg,
                               refit=settings.refine_pitch)
        if fit.refit_pitch_deg is not None and fit.refit_inliers > PITCH_EVIDENCE * fit.inliers:
            self.pitch_correction_deg += PITCH_RATE * (fit.refit_pitch_deg - pitch)
            pitch = mounting.pitch_deg + self.pitch_correction_deg
            fit = fit_ground_scale(depth, intr, mounting.height, pitch, mounting.roll_deg,
                                   refit=False)
        self.inlier_fraction = fit.inlier_fraction
        self.floor_pitch_deg = pitch
        if fit.scale is None or fit.inlier_fraction < settings.min_inliers:
            self.state = 'holding'
            self.reason = (f'{fit.inlier_fraction:.1%} of the image on the floor (scale.'
                           f'min_inliers {settings.min_inliers:.0%}): holding {self.scale:.3f}')
            return self.scale / depth_scale
        total = fit.scale * depth_scale
        if not settings.min <= total <= settings.max:
            self.state = 'out of bounds'
            self.reason = (f'fitted {total:.3f} outside [{settings.min:g}, {settings.max:g}]: '
                           f'holding {self.scale:.3f}')
            return self.scale / depth_scale
        if self.fits == 0:
            self.scale = total
        else:
            keep = settings.smoothing
            self.scale = math.exp(keep * math.log(self.scale) + (1.0 - keep) * math.log(total))
        self.fits += 1
        self.state = 'fitting'
        self.reason = f'fitted {total:.3f} on {fit.inlier_fraction:.1%} floor'
        return self.scale / depth_scale
