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
Ray-cast rooms and DepthCLIP-like predictions of them, to measure the ground scale (no ROS).

The construction (:func:`make_room`, :func:`render`, :func:`predict`):

- a room: the floor (z = 0), a ceiling, side walls and a far wall, and boxes standing on
  the floor (a cluttered room has boxes until they hide at least 40 % of the floor the
  empty room would show); a pinhole camera ``height`` metres up, pitched down ``pitch``
  and rolled ``roll`` degrees, images of 120 x 160 pixels (the Kinect's field of view);
- its exact depth (z along the optical axis), ray-cast per pixel;
- a "prediction": the exact depth divided by a factor ``k``, times a multiplicative error
  per 32 x 32 patch (log-normal, sigma 6 %, bilinearly upsampled) and per pixel (sigma
  2 %), with the boxes off by one random factor each (0.6 to 1.4: DepthCLIP is worst on
  objects); then what every DepthCLIP output has: **clamped** to the bins' range
  ``[b_min, b_max]`` (the softmax over the bins never leaves it; ``k`` is chosen so that a
  given share of the floor saturates) and optionally **compressed** towards the bins' mean
  (``mid + c (d - mid)``: a softmax that is never one-hot pulls estimates inward), or
  **soft**: instead of the hard clamp, the expectation of a softmax over the bins (logits
  ``-|log(d / b_j)| / 0.1``), which saturates gradually as the real head does.

:func:`run_case` feeds such frames to :class:`~depthclip_ros.core.scale.GroundScale` as
the node does; ``scripts/bench_ground_scale.py`` prints the table of docs/navigation.md.
"""

from dataclasses import dataclass
import functools
import math
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from depthclip_ros.core.config import DepthClipConfig, ScaleSettings
from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.scale import GroundScale, Mounting

#: Image size of the construction (rows, columns) and its intrinsics (the Kinect's 525 px
#: focal length at 640 x 480, scaled to 160 x 120).
SHAPE = (120, 160)
INTRINSICS = Intrinsics(fx=131.25, fy=131.25, cx=79.5, cy=59.5, width=160, height=120)
#: The default bins (the DepthCLIP paper's), metres.
BINS = DepthClipConfig().depth_bins
PATCH_SIGMA = 0.06
PIXEL_SIGMA = 0.02
PATCH = 32
#: Share of the empty room's floor the boxes of a cluttered room hide, at least.
CLUTTER = 0.4


@dataclass(frozen=True)
class Room:
    """A room: walls (m), ceiling (m) and boxes ``(x0, x1, y0, y1, top)`` on the floor."""

    left: float
    right: float
    far: float
    ceiling: float
    boxes: Tuple[Tuple[float, float, float, float, float], ...]


def optical_to_world(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """
    Return the rotation from the optical frame (x right, y down, z forward) to the room's.

    The room: x right, y forward, z up. The camera is rolled about its optical axis
    (positive: the image's right side down), then pitched down about its x axis.
    """
    p, r = math.radians(pitch_deg), math.radians(roll_deg)
    level = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    pitch = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(p), math.sin(p)],
                      [0.0, -math.sin(p), math.cos(p)]])
    roll = np.array([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0],
                     [0.0, 0.0, 1.0]])
    return level @ pitch @ roll


def _rays(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Return (H, W, 3) world directions of the rays (x_n, y_n, 1): t along one is z-depth."""
    v, u = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(np.float64)
    optical = np.stack([(u - INTRINSICS.cx) / INTRINSICS.fx, (v - INTRINSICS.cy) / INTRINSICS.fy,
                        np.ones_like(u)], axis=-1)
    return optical @ optical_to_world(pitch_deg, roll_deg).T


def _hit_box(rays_inverse: np.ndarray, origin: np.ndarray,
             box: Tuple[float, float, float, float, float], depth: np.ndarray) -> np.ndarray:
    """Return (near distance, hit mask) of one box for every ray, in front of ``depth``."""
    x0, x1, y0, y1, top = box
    low = np.array([x0, y0, 0.0]) - origin
    high = np.array([x1, y1, top]) - origin
    with np.errstate(invalid='ignore'):
        t1, t2 = low * rays_inverse, high * rays_inverse
    near = np.nanmax(np.minimum(t1, t2), axis=-1)
    far = np.nanmin(np.maximum(t1, t2), axis=-1)
    return near, (near <= far) & (near > 1e-9) & (near < depth)


def _render_empty(room: Room, height: float, pitch_deg: float, roll_deg: float):
    rays = _rays(pitch_deg, roll_deg)
    origin = np.array([0.0, 0.0, height])
    with np.errstate(divide='ignore', invalid='ignore'):
        inverse = 1.0 / rays
    planes = [(2, 0.0), (2, room.ceiling), (0, -room.left), (0, room.right), (1, room.far),
              (1, -1.0)]
    depth = np.full(SHAPE, np.inf)
    for axis, value in planes:
        t = (value - origin[axis]) * inverse[..., axis]
        depth = np.where((t > 1e-9) & (t < depth), t, depth)
    t_floor = (0.0 - origin[2]) * inverse[..., 2]
    floor = np.isclose(depth, t_floor) & (t_floor > 0)
    return inverse, origin, depth, floor


def render(room: Room, height: float, pitch_deg: float, roll_deg: float
           ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Ray-cast the room from a camera at (0, 0, ``height``).

    :return: exact depth (H, W) float64, the floor mask, and the box index per pixel (-1:
        no box)
    """
    inverse, origin, depth, floor = _render_empty(room, height, pitch_deg, roll_deg)
    box_of = np.full(SHAPE, -1)
    for index, box in enumerate(room.boxes):
        near, hit = _hit_box(inverse, origin, box, depth)
        depth = np.where(hit, near, depth)
        floor &= ~hit
        box_of = np.where(hit, index, box_of)
    return depth, floor, box_of


def make_room(rng: np.random.Generator, height: float, pitch_deg: float, roll_deg: float,
              cluttered: bool) -> Room:
    """
    Draw a room; a cluttered one gets boxes until they hide :data:`CLUTTER` of its floor.

    Boxes stand 0.5 to 5 m ahead, 0.3 to 1.2 m wide and deep, 0.2 to 1.0 m tall (at most
    60 of them).
    """
    walls = dict(left=float(rng.uniform(1.5, 3.0)), right=float(rng.uniform(1.5, 3.0)),
                 far=float(rng.uniform(5.0, 8.0)), ceiling=max(2.7, height + 0.4))
    inverse, origin, depth, floor = _render_empty(Room(boxes=(), **walls), height, pitch_deg,
                                                  roll_deg)
    bare = np.count_nonzero(floor)
    boxes: List[Tuple[float, float, float, float, float]] = []
    count = 0
    while count < 60:
        count += 1
        if not cluttered and len(boxes) >= 2:
            break
        x = float(rng.uniform(-walls['left'], walls['right']))
        y = float(rng.uniform(0.5, min(5.0, walls['far'] - 0.5)))
        w, d = rng.uniform(0.3, 1.2, 2)
        top = float(rng.uniform(0.2, 1.0))
        box = (x - w / 2, x + w / 2, y, y + d, top)
        boxes.append(box)
        if cluttered:
            near, hit = _hit_box(inverse, origin, box, depth)
            depth = np.where(hit, near, depth)
            floor &= ~hit
            if np.count_nonzero(floor) <= (1.0 - CLUTTER) * bare:
                break
    return Room(boxes=tuple(boxes), **walls)


def patch_noise(rng: np.random.Generator, sigma: float = PATCH_SIGMA) -> np.ndarray:
    """Return a multiplicative error field: one log-normal value per 32 x 32 patch."""
    h, w = SHAPE
    small = rng.normal(0.0, sigma, (h // PATCH + 1, w // PATCH + 1)).astype(np.float32)
    return np.exp(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)).astype(np.float64)


def soft_bins(depth: np.ndarray, bins: Sequence[float], temperature: float = 0.1) -> np.ndarray:
    """Return the expectation over ``bins`` of a softmax of ``-|log(depth / b)| / T``."""
    b = np.asarray(bins, np.float64)
    logits = -np.abs(np.log(depth[..., None] / b)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return (weights * b).sum(axis=-1) / weights.sum(axis=-1)


def predict(rng: np.random.Generator, depth: np.ndarray, box_of: np.ndarray, k: float,
            bins: Sequence[float] = BINS, compression: float = 1.0,
            saturation: str = 'clamp', box_factors: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Return one DepthCLIP-like prediction (float32) of exact ``depth`` (see the module).

    :param k: the true scale: the prediction is about ``depth / k``
    :param compression: ``c`` of ``mid + c (d - mid)`` (1: none)
    :param saturation: ``clamp`` (hard, to the bins' range) or ``soft`` (softmax over them)
    :param box_factors: one wrong-depth factor per box (default: drawn, 0.6 to 1.4)
    """
    if box_factors is None:
        box_factors = rng.uniform(0.6, 1.4, int(box_of.max()) + 1)
    pred = depth / k * patch_noise(rng) * np.exp(rng.normal(0.0, PIXEL_SIGMA, SHAPE))
    if box_factors.size:
        pred = np.where(box_of >= 0, pred * box_factors[np.maximum(box_of, 0)], pred)
    low, high = bins[0], bins[-1]
    if saturation == 'soft':
        pred = soft_bins(np.clip(pred, 1e-3, 1e3), bins)
    else:
        pred = np.clip(pred, low, high)
    mid = float(np.mean(bins))
    return (mid + compression * (pred - mid)).astype(np.float32)


def k_for_saturation(depth: np.ndarray, floor: np.ndarray, share: float,
                     bins: Sequence[float] = BINS) -> float:
    """Return the ``k`` for which ``share`` of the floor reads beyond ``b_max`` (exact)."""
    return float(np.quantile(depth[floor], 1.0 - share) / bins[-1])


@dataclass(frozen=True)
class Case:
    """One scene of the benchmark."""

    height: float
    pitch_deg: float
    roll_deg: float
    saturated: float       # share of the floor beyond b_max
    cluttered: bool
    compression: float = 1.0
    saturation: str = 'clamp'
    pitch_error_deg: float = 0.0  # configured minus true pitch


#: The benchmark's scenes: cameras 0.2 to 2.5 m up, pitched 0 to 45 deg, rolled +-5 deg.
CASES = (
    Case(0.2, 8.0, 2.0, 0.3, False),
    Case(0.25, 10.0, -4.0, 0.5, True),
    Case(0.5, 20.0, 5.0, 0.6, True),
    Case(0.8, 0.0, -2.0, 0.4, False),
    Case(1.0, 15.0, 0.0, 0.4, True),
    Case(1.0, 30.0, 3.0, 0.2, True),
    Case(1.2, 5.0, -5.0, 0.1, False),
    Case(1.5, 25.0, 4.0, 0.5, True),
    Case(2.0, 40.0, -3.0, 0.3, True),
    Case(2.5, 45.0, 1.0, 0.15, False),
)


def scene(case: Case, seed: int) -> Dict[str, object]:
    """Return the room of ``case`` (drawn with ``seed``): depth, floor, boxes and ``k``."""
    return dict(_scene(case.height, case.pitch_deg, case.roll_deg, case.saturated,
                       case.cluttered, seed))


@functools.lru_cache(maxsize=64)
def _scene(height: float, pitch_deg: float, roll_deg: float, saturated: float,
           cluttered: bool, seed: int) -> Tuple[Tuple[str, object], ...]:
    """Ray-cast one room once (the variants of a case share it); arrays read-only."""
    rng = np.random.default_rng(seed)
    room = make_room(rng, height, pitch_deg, roll_deg, cluttered)
    depth, floor, box_of = render(room, height, pitch_deg, roll_deg)
    for array in (depth, floor, box_of):
        array.setflags(write=False)
    return (('room', room), ('depth', depth), ('floor', floor), ('box_of', box_of),
            ('k', k_for_saturation(depth, floor, saturated)))


def run_case(case: Case, seed: int, frames: int = 20, refine_pitch: bool = True,
             settings: Optional[ScaleSettings] = None,
             snapshots: Sequence[int] = ()) -> Dict[str, object]:
    """
    Feed ``frames`` noisy predictions of one room to a fresh :class:`GroundScale`.

    :param snapshots: frame counts after which the state is kept as well (in ``at``: 20
        frames of a 100-frame run are the 20-frame run of the same seed)
    :return: ``k``, the final ``scale``, ``error`` (scale / k - 1), ``state``, ``note``,
        ``reason``, ``correction`` (deg), its largest magnitude over the frames, the
        floor's saturated share and ``at``: {frames: the same keys} for ``snapshots``
    """
    view = scene(case, seed)
    rng = np.random.default_rng(seed + 1000)
    boxes = rng.uniform(0.6, 1.4, len(view['room'].boxes))
    if settings is None:
        settings = ScaleSettings(mode='ground', refine_pitch=refine_pitch)
    settings = ScaleSettings(**dict(settings.__dict__, mode='ground',
                                    camera_height=case.height,
                                    camera_pitch_deg=case.pitch_deg + case.pitch_error_deg,
                                    camera_roll_deg=case.roll_deg))
    live = GroundScale()
    largest = 0.0
    k = view['k']
    at = {}

    def now() -> Dict[str, object]:
        scale = live.scale if live.scale is not None else math.nan
        return dict(scale=scale, error=scale / k - 1.0, state=live.state, note=live.note,
                    reason=live.reason, trend=live.trend,
                    correction=live.pitch_correction_deg, largest_correction=largest)

    for frame in range(1, frames + 1):
        pred = predict(rng, view['depth'], view['box_of'], k,
                       compression=case.compression, saturation=case.saturation,
                       box_factors=boxes)
        live.update(pred, INTRINSICS, settings, 1.0, bins=BINS)
        largest = max(largest, abs(live.pitch_correction_deg))
        if frame in snapshots:
            at[frame] = now()
    floor = view['floor']
    exact = view['depth'][floor] / k
    return dict(now(), k=k, at=at,
                floor_saturated=float(np.mean((exact >= BINS[-1]) | (exact <= BINS[0]))),
                floor_share=float(np.mean(floor)))


def mounting_of(case: Case) -> Mounting:
    """Return the true mounting of ``case``."""
    return Mounting(case.height, case.pitch_deg, case.roll_deg)


#: The table's columns: (name, changes to the case, frames).
VARIANTS = (
    ('right', {}, 20),
    ('pitch +5', {'pitch_error_deg': 5.0}, 20),
    ('pitch -5', {'pitch_error_deg': -5.0}, 20),
    ('right x100', {}, 100),
    ('compressed 0.8', {'compression': 0.8}, 20),
    ('compressed 0.7', {'compression': 0.7}, 20),
    ('soft', {'saturation': 'soft'}, 20),
)


def run_table(seeds: int = 3, cases: Sequence[Case] = CASES) -> List[Dict[str, object]]:
    """
    Run every case of ``cases`` with every variant of :data:`VARIANTS` and ``seeds`` seeds.

    :return: one row per case and variant: the case, ``variant``, the worst ``error``
        over the seeds (among the seeds that fit), the largest final and largest ever
        ``correction``, how many seeds ended ``holding`` and with a ``note``
    """
    from dataclasses import replace
    rows = []
    for case in cases:
        for name, changes, frames in VARIANTS:
            runs = [run_case(replace(case, **changes), seed, frames) for seed in range(seeds)]
            fitted = [r for r in runs if r['state'] == 'fitting']
            rows.append(dict(
                case=case, variant=name, seeds=seeds,
                error=max((r['error'] for r in fitted), key=abs, default=math.nan),
                correction=max((r['correction'] for r in runs), key=abs),
                largest_correction=max(r['largest_correction'] for r in runs),
                holding=sum(r['state'] == 'holding' for r in runs),
                notes=sum(bool(r['note']) for r in runs),
                k=float(np.mean([r['k'] for r in runs]))))
    return rows
