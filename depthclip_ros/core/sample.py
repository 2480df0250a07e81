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
A bundled synthetic indoor sample scene with exact ground-truth depth.

The scene is a room rendered procedurally with NumPy (deterministic, no assets): a wooden
floor with a checkered rug, a ceiling with a lamp panel, plastered side walls with a
picture and a door, a back wall with a window, and three boxes. It is seen by a 640x480
pinhole camera with ``fx = fy = 525``, ``cx = 319.5``, ``cy = 239.5`` (the Kinect / NYU Depth
v2 camera), 1.0 m above the floor and pitched 3 degrees down. Depth is exact: each pixel
centre's ray is intersected analytically with the room's planes and the boxes' faces.

World frame: x right, y down, z forward (the optical frame of the camera at ``camera_z = 0``
before pitching). The floor is ``y = 1.0``, the ceiling ``y = -1.2``, the side walls
``x = -1.5`` and ``x = 1.5`` and the back wall ``z = 4.2``.

The bundled frames ``data/sample/frame_00i.png`` (RGB) and ``depth_00i.png`` (16-bit
millimetres, the NYU convention, 0 = invalid) are :func:`render_scene` at
``camera_z = 0.25 * i`` for ``i = 0..3``: the camera moves forward 0.25 m per frame, so the
back wall is 4.2 m to 3.45 m away along the optical axis. Regenerate them with
``python -m depthclip_ros.core.sample``.
"""

import math
import os
import sys
from typing import List, Optional, Tuple

import cv2
import numpy as np

from depthclip_ros.core.geometry import Intrinsics

#: Number of bundled frames.
SAMPLE_FRAME_COUNT = 4
#: Forward camera motion between bundled frames, metres.
SAMPLE_STEP_M = 0.25

_WIDTH = 640
_HEIGHT = 480
_CAMERA_HEIGHT = 1.0          # metres above the floor
_PITCH_DEG = 3.0              # camera pitched down
_FLOOR_Y = 1.0
_CEILING_Y = -1.2
_WALL_X = 1.5
_BACK_Z = 4.2
_LIGHT = (0.0, -1.1, 3.1)         # point light under the lamp panel
_LIGHT_POWER = 1.6
_AMBIENT = 0.16
_FOG_COLOUR = (0.30, 0.31, 0.33)
_FOG_DENSITY = 0.04

# Axis-aligned boxes ((x0, y0, z0), (x1, y1, z1)) standing on the floor (y = 1.0).
_BOXES = (
    ((-1.30, 0.45, 2.40), (-0.50, 1.00, 3.05)),    # cardboard box, left
    ((-1.12, 0.15, 2.55), (-0.70, 0.45, 2.90)),    # small box on top of it
    ((0.62, 0.10, 3.25), (1.42, 1.00, 3.85)),      # chest of drawers, right
)

# Material ids.
_FLOOR, _CEILING, _LEFT, _RIGHT, _BACK = 0, 1, 2, 3, 4
_BOX0 = 5


def sample_dir() -> str:
    """Return the directory holding the bundled sample frames."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'sample')


def sample_frames() -> List[str]:
    """Return the sorted paths of the bundled RGB frames (``frame_*.png``)."""
    directory = sample_dir()
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, name) for name in os.listdir(directory)
                  if name.startswith('frame_') and name.endswith('.png'))


def sample_intrinsics() -> Intrinsics:
    """Return the intrinsics of the bundled 640x480 frames (fx = fy = 525)."""
    return Intrinsics(fx=525.0, fy=525.0, cx=319.5, cy=239.5, width=_WIDTH, height=_HEIGHT)


def sample_camera_z(index: int) -> float:
    """
    Return the camera position along the room's z axis for bundled frame ``index``.

    :param index: Frame index in ``[0, SAMPLE_FRAME_COUNT)``.
    :return: ``SAMPLE_STEP_M * index`` metres.
    """
    _check_index(index)
    return SAMPLE_STEP_M * int(index)


def _check_index(index: int):
    if isinstance(index, bool) or int(index) != index or not 0 <= index < SAMPLE_FRAME_COUNT:
        raise ValueError(f'sample frame index must be in [0, {SAMPLE_FRAME_COUNT}), '
                         f'got {index!r}')


def load_sample_depth(index: int) -> np.ndarray:
    """
    Load the ground-truth depth of bundled frame ``index``.

    :param index: Frame index in ``[0, SAMPLE_FRAME_COUNT)``.
    :return: (480, 640) float32 depth in metres (millimetre resolution), NaN where invalid.
    :raises ValueError: If the index is out of range.
    :raises FileNotFoundError: If the file is missing.
    """
    _check_index(index)
    path = os.path.join(sample_dir(), f'depth_{int(index):03d}.png')
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise FileNotFoundError(f'cannot read sample depth {path}')
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise ValueError(f'{path} is not a 16-bit single-channel PNG')
    depth = raw.astype(np.float32) / np.float32(1000.0)
    depth[raw == 0] = np.nan
    return depth


def load_sample_rgb(index: int) -> np.ndarray:
    """
    Load bundled frame ``index`` as an RGB image.

    :param index: Frame index in ``[0, SAMPLE_FRAME_COUNT)``.
    :return: (480, 640, 3) uint8 RGB.
    """
    _check_index(index)
    path = os.path.join(sample_dir(), f'frame_{int(index):03d}.png')
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f'cannot read sample frame {path}')
    return np.ascontiguousarray(bgr[:, :, ::-1])


# --- procedural textures -------------------------------------------------------------------


def _hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Integer lattice hash -> float64 in [0, 1); exact and platform independent."""
    h = (ix.astype(np.int64).astype(np.uint32) * np.uint32(374761393)
         + iy.astype(np.int64).astype(np.uint32) * np.uint32(668265263)
         + np.uint32((seed * 2654435761) & 0xFFFFFFFF))
    h = (h ^ (h >> np.uint32(13))) * np.uint32(1274126177)
    h = h ^ (h >> np.uint32(16))
    return h.astype(np.float64) / 4294967296.0


def _value_noise(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Smooth 2-D value noise in [0, 1) with unit lattice spacing."""
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    sx = fx * fx * (3.0 - 2.0 * fx)
    sy = fy * fy * (3.0 - 2.0 * fy)
    ix = x0.astype(np.int64)
    iy = y0.astype(np.int64)
    a = _hash(ix, iy, seed)
    b = _hash(ix + 1, iy, seed)
    c = _hash(ix, iy + 1, seed)
    d = _hash(ix + 1, iy + 1, seed)
    return (a + (b - a) * sx) * (1.0 - sy) + (c + (d - c) * sx) * sy


def _fbm(x: np.ndarray, y: np.ndarray, seed: int, octaves: int = 4) -> np.ndarray:
    """Fractal value noise in about [0, 1)."""
    total = np.zeros_like(x)
    amp = 0.5
    norm = 0.0
    for i in range(octaves):
        scale = 2.0 ** i
        total += amp * _value_noise(x * scale, y * scale, seed + 17 * i)
        norm += amp
        amp *= 0.5
    return total / norm


def _rect(a: np.ndarray, b: np.ndarray, a0: float, a1: float, b0: float, b1: float):
    return (a >= a0) & (a <= a1) & (b >= b0) & (b <= b1)


def _albedo(mat: np.ndarray, x: np.ndarray, y: np.ndarray,
            z: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Return (linear RGB albedo (N, 3), emission (N, 3)) at hit points (x, y, z)."""
    n = mat.shape[0]
    alb = np.zeros((n, 3))
    emit = np.zeros((n, 3))

    # Floor: oak planks along z (0.18 m wide, 1.2 m long, staggered) and a checkered rug.
    m = mat == _FLOOR
    if m.any():
        fx, fz = x[m], z[m]
        plank = np.floor(fx / 0.18)
        offset = _hash(plank, np.full_like(plank, 7.0), 3) * 1.2
        seg = np.floor((fz + offset) / 1.2)
        tone = 0.75 + 0.35 * _hash(plank, seg, 5)
        grain = _fbm(fx * 40.0 + plank * 13.0, fz * 2.5 + seg * 7.0, 11, 3)
        stripes = 0.5 + 0.5 * np.sin((fx * 90.0 + 6.0 * grain) * 2.0)
        wood = np.array([0.42, 0.25, 0.12]) * (tone * (0.8 + 0.25 * grain
                                                       + 0.08 * stripes))[:, None]
        seam = (np.abs(fx / 0.18 - np.round(fx / 0.18)) < 0.035) | \
            (np.abs((fz + offset) / 1.2 - np.round((fz + offset) / 1.2)) < 0.004)
        wood[seam] *= 0.45
        rug = _rect(fx, fz, -0.40, 0.60, 2.1, 3.7)
        border = rug & ~_rect(fx, fz, -0.32, 0.52, 2.18, 3.62)
        cells = (np.floor((fx + 0.32) / 0.17) + np.floor((fz - 2.18) / 0.17)) % 2 == 0
        fibre = 0.9 + 0.2 * _fbm(fx * 120.0, fz * 120.0, 23, 2)
        rug_col = np.where(cells[:, None], [0.55, 0.09, 0.07], [0.80, 0.72, 0.55])
        rug_col = np.where(border[:, None], [0.12, 0.14, 0.30], rug_col) * fibre[:, None]
        alb[m] = np.where(rug[:, None], rug_col, wood)

    # Ceiling: white with a rectangular lamp panel.
    m = mat == _CEILING
    if m.any():
        cx, cz = x[m], z[m]
        col = np.ones((cx.shape[0], 3)) * (0.80 + 0.06 * _fbm(cx * 3.0, cz * 3.0, 31))[:, None]
        lamp = _rect(cx, cz, -0.30, 0.30, 2.8, 3.4)
        col[lamp] = [0.9, 0.9, 0.9]
        e = np.zeros_like(col)
        e[lamp] = [2.2, 2.1, 1.9]
        alb[m] = col
        emit[m] = e

    # Side walls: warm plaster with a baseboard; a picture on the left, a door on the right.
    for wall, seed in ((_LEFT, 41), (_RIGHT, 43)):
        m = mat == wall
        if not m.any():
            continue
        wz, wy = z[m], y[m]
        plaster = 0.92 + 0.08 * _fbm(wz * 4.0, wy * 4.0, seed) \
            + 0.03 * _fbm(wz * 40.0, wy * 40.0, seed + 1, 2)
        col = np.array([0.78, 0.72, 0.62]) * plaster[:, None]
        if wall == _LEFT:
            frame = _rect(wz, wy, 2.9, 3.8, -0.65, -0.05)
            canvas = _rect(wz, wy, 2.96, 3.74, -0.59, -0.11)
            col[frame] = [0.10, 0.07, 0.05]
            sky = 0.5 + 0.5 * np.clip((wy + 0.59) / 0.48, 0.0, 1.0)
            hills = wy > -0.25 + 0.06 * np.sin(wz * 9.0)
            paint = np.where(hills[:, None], [0.20, 0.42, 0.18],
                             np.stack([0.35 * sky, 0.55 * sky, 0.85 + 0 * sky], axis=1))
            col[canvas] = paint[canvas]
        else:
            door = _rect(wz, wy, 2.30, 3.15, -1.05, 1.0)
            jamb = door & ~_rect(wz, wy, 2.36, 3.09, -0.99, 1.0)
            panel = _rect(wz, wy, 2.45, 3.0, -0.9, -0.15) | _rect(wz, wy, 2.45, 3.0, 0.0, 0.85)
            grain = _fbm(wz * 3.0, wy * 30.0, seed + 5, 3)
            wood = np.array([0.35, 0.20, 0.10]) * (0.85 + 0.3 * grain)[:, None]
            col[door] = wood[door]
            col[door & ~panel & ~jamb] *= 0.85
            col[jamb] = [0.85, 0.84, 0.80]
            knob = (wz - 3.03) ** 2 + wy ** 2 < 0.03 ** 2
            col[knob] = [0.75, 0.62, 0.25]
        col[wy > _FLOOR_Y - 0.10] = [0.88, 0.87, 0.84]
        alb[m] = col

    # Back wall: grey-blue paint, a window with mullions, a baseboard.
    m = mat == _BACK
    if m.any():
        bx, by = x[m], y[m]
        col = np.array([0.55, 0.62, 0.70]) * (0.93 + 0.07 * _fbm(bx * 4.0, by * 4.0, 51))[:, None]
        window = _rect(bx, by, -0.55, 0.75, -0.85, -0.05)
        glass = _rect(bx, by, -0.50, 0.70, -0.80, -0.10)
        mull = (np.abs(bx - 0.10) < 0.025) | (np.abs(by + 0.45) < 0.025)
        col[window] = [0.90, 0.90, 0.88]
        outside = glass & ~mull
        sky = np.clip((by + 0.8) / 0.7, 0.0, 1.0)
        trees = by > -0.30 + 0.12 * _fbm(bx * 6.0, bx * 0.0, 57)
        view = np.where(trees[:, None], [0.18, 0.30, 0.14],
                        np.stack([0.55 + 0.3 * sky, 0.70 + 0.2 * sky, 0.95 + 0 * sky], axis=1))
        col[outside] = view[outside] * 0.4
        e = np.zeros_like(col)
        e[outside] = view[outside] * 0.9
        col[by > _FLOOR_Y - 0.10] = [0.88, 0.87, 0.84]
        alb[m] = col
        emit[m] = e

    # Boxes: cardboard with a tape stripe; a painted cabinet with drawers.
    for k, ((x0, y0, z0), (x1, y1, z1)) in enumerate(_BOXES):
        m = mat == _BOX0 + k
        if not m.any():
            continue
        bx, by, bz = x[m], y[m], z[m]
        if k < 2:
            fibres = _fbm(bx * 15.0 + bz * 15.0, by * 15.0, 61 + k)
            col = np.array([0.62, 0.45, 0.26]) * (0.85 + 0.25 * fibres)[:, None]
            mid = 0.5 * (x0 + x1)
            tape = (np.abs(bx - mid) < 0.04) & ((by < y0 + 0.002) | (bz < z0 + 0.002))
            col[tape] = [0.70, 0.62, 0.45]
            edge = (np.minimum(np.minimum(bx - x0, x1 - bx),
                               np.minimum(by - y0, y1 - by)) < 0.008) & (bz < z0 + 0.002)
            col[edge] *= 0.7
        else:
            paint = _fbm(bx * 8.0, by * 8.0, 71)
            col = np.array([0.20, 0.33, 0.42]) * (0.95 + 0.05 * paint)[:, None]
            front = (bx < x0 + 0.002) | (bz < z0 + 0.002)
            u = np.where(bx < x0 + 0.002, bz - z0, bx - x0)
            drawer_line = front & (np.abs(((by - y0) / (y1 - y0) * 3.0)
                                          - np.round((by - y0) / (y1 - y0) * 3.0)) < 0.012)
            col[drawer_line] *= 0.4
            handle = front & (np.abs(u - 0.4) < 0.1) & \
                (np.abs(((by - y0) / (y1 - y0) * 3.0) % 1.0 - 0.25) < 0.025)
            col[handle] = [0.8, 0.8, 0.8]
        alb[m] = col
    return alb, emit


# --- ray tracing ---------------------------------------------------------------------------


def _camera_rays(intr: Intrinsics, du: float = 0.0, dv: float = 0.0) -> np.ndarray:
    """World-frame ray directions (3, H*W) whose optical-frame z component is 1."""
    u = np.arange(intr.width, dtype=np.float64) + du
    v = np.arange(intr.height, dtype=np.float64) + dv
    a = np.broadcast_to((u[np.newaxis, :] - intr.cx) / intr.fx,
                        (intr.height, intr.width)).reshape(-1)
    b = np.broadcast_to((v[:, np.newaxis] - intr.cy) / intr.fy,
                        (intr.height, intr.width)).reshape(-1)
    s, c = math.sin(math.radians(_PITCH_DEG)), math.cos(math.radians(_PITCH_DEG))
    # Camera axes in the world: right = (1, 0, 0), down = (0, c, -s), forward = (0, s, c).
    return np.stack([a, b * c + s, c - b * s])


def _box_hit(o, d: np.ndarray, lo, hi) -> Tuple[np.ndarray, np.ndarray]:
    """
    Slab test of rays ``o + t d`` (each (3, N), o may be a 3-vector) against a box.

    Returns the entry distance t (inf on a miss or when the entry is behind the origin)
    and the axis (0, 1, 2) of the entry face.
    """
    n = d.shape[1]
    t_near = np.full(n, -np.inf)
    t_far = np.full(n, np.inf)
    axis = np.zeros(n, dtype=np.int8)
    for k in range(3):
        dk = d[k]
        # Axis-parallel rays get a tiny slope: no division by zero, same result in practice.
        dk = np.where(np.abs(dk) < 1e-12, 1e-12, dk)
        inv = 1.0 / dk
        t0 = (lo[k] - o[k]) * inv
        t1 = (hi[k] - o[k]) * inv
        tmin = np.minimum(t0, t1)
        later = tmin > t_near
        np.maximum(t_near, tmin, out=t_near)
        axis[later] = k
        np.minimum(t_far, np.maximum(t0, t1), out=t_far)
    hit = (t_near <= t_far) & (t_near > 1e-9)
    return np.where(hit, t_near, np.inf), axis


def _trace(origin: np.ndarray, d: np.ndarray):
    """Nearest hit of rays (3, N) from ``origin``: distance t, material id, unit normal (3, N)."""
    n = d.shape[1]
    dx, dy, dz = d
    cand = np.full((5, n), np.inf)
    with np.errstate(divide='ignore', invalid='ignore'):
        np.divide(_FLOOR_Y - origin[1], dy, out=cand[_FLOOR], where=dy > 0)
        np.divide(_CEILING_Y - origin[1], dy, out=cand[_CEILING], where=dy < 0)
        np.divide(-_WALL_X - origin[0], dx, out=cand[_LEFT], where=dx < 0)
        np.divide(_WALL_X - origin[0], dx, out=cand[_RIGHT], where=dx > 0)
        np.divide(_BACK_Z - origin[2], dz, out=cand[_BACK], where=dz > 0)
    mat = np.argmin(cand, axis=0).astype(np.int8)
    t = np.min(cand, axis=0)
    normals = np.array([[0, 0, 1, -1, 0], [-1, 1, 0, 0, 0], [0, 0, 0, 0, -1]], dtype=np.float64)
    normal = normals[:, mat]
    for k, (lo, hi) in enumerate(_BOXES):
        tb, axis = _box_hit(origin, d, lo, hi)
        closer = tb < t
        if not closer.any():
            continue
        idx = np.nonzero(closer)[0]
        t[idx] = tb[idx]
        mat[idx] = _BOX0 + k
        face = np.zeros((3, idx.shape[0]))
        ax = axis[idx]
        face[ax, np.arange(idx.shape[0])] = -np.sign(d[ax, idx])
        normal[:, idx] = face
    return t, mat, normal


def _shade(origin: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Linear RGB radiance (N, 3) seen along rays (3, N) from ``origin``."""
    t, mat, normal = _trace(origin, d)
    p = origin[:, np.newaxis] + d * t
    alb, emit = _albedo(mat, p[0], p[1], p[2])

    to_light = np.array(_LIGHT)[:, np.newaxis] - p
    dist2 = np.einsum('ij,ij->j', to_light, to_light)
    lambert = np.clip(np.einsum('ij,ij->j', normal, to_light), 0.0, None) / np.sqrt(dist2)
    # Hard shadows from the boxes (the lamp is a small light just below the ceiling).
    lit = np.ones_like(lambert)
    start = p + normal * 1e-4
    for lo, hi in _BOXES:
        tb, _ = _box_hit(start, to_light, lo, hi)
        lit[tb < 1.0] = 0.0
    # Soft darkening into the room's corners (cheap ambient occlusion).
    corner = np.ones_like(lambert)
    for gap in (_FLOOR_Y - p[1], p[1] - _CEILING_Y, _WALL_X - np.abs(p[0]), _BACK_Z - p[2]):
        corner *= 1.0 - 0.35 * np.exp(-np.clip(gap, 0.0, None) / 0.12) * (gap > 1e-6)
    # The lamp is recessed into the ceiling: it lights everything but the ceiling itself.
    direct = _LIGHT_POWER * lambert * lit * (mat != _CEILING) / dist2
    # Fill light from the window (from the back wall) and from the floor, plus ambient.
    fill = 0.10 * np.clip(-normal[2], 0.0, None) + 0.12 * np.clip(normal[1], 0.0, None)
    radiance = alb * (_AMBIENT * corner + direct + fill)[:, np.newaxis] + emit
    # Distance fog along the ray.
    metres = t * np.sqrt(np.einsum('ij,ij->j', d, d))
    keep = np.exp(-_FOG_DENSITY * metres)[:, np.newaxis]
    return radiance * keep + np.array(_FOG_COLOUR) * (1.0 - keep)


def _tonemap(radiance: np.ndarray) -> np.ndarray:
    """Linear radiance -> sRGB-ish uint8 with a soft shoulder."""
    mapped = 1.0 - np.exp(-1.6 * radiance)
    srgb = np.power(np.clip(mapped, 0.0, 1.0), 1.0 / 2.2)
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


def render_scene(camera_z: float, width: int = _WIDTH,
                 height: int = _HEIGHT) -> Tuple[np.ndarray, np.ndarray]:
    """
    Render the sample room from a camera ``camera_z`` metres along the room.

    The intrinsics are :func:`sample_intrinsics` scaled to ``width`` x ``height``. The
    colour image is anti-aliased (4 samples per pixel); the depth is exact at pixel centres.

    :param camera_z: Camera position along the room's z axis in metres, in [-2, 1.6]
        (the bundled frames use 0, 0.25, 0.5 and 0.75).
    :param width: Image width in pixels.
    :param height: Image height in pixels.
    :return: ``(rgb, depth)``: (H, W, 3) uint8 RGB and (H, W) float32 depth in metres
        (z in the camera's optical frame).
    :raises ValueError: If ``camera_z`` is outside [-2, 1.6] (it would approach the boxes).
    """
    camera_z = float(camera_z)
    if not math.isfinite(camera_z) or not -2.0 <= camera_z <= 1.6:
        raise ValueError(f'camera_z must be in [-2.0, 1.6] m, got {camera_z}')
    intr = sample_intrinsics().scaled(width, height)
    origin = np.array([0.0, _FLOOR_Y - _CAMERA_HEIGHT, camera_z])

    # The optical-frame z of every ray direction is 1, so the hit distance t is the depth.
    t_centre, _, _ = _trace(origin, _camera_rays(intr))
    depth = t_centre.reshape(height, width).astype(np.float32)

    radiance = np.zeros((height * width, 3))
    for du, dv in ((-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)):
        radiance += 0.25 * _shade(origin, _camera_rays(intr, du, dv))
    rgb = _tonemap(radiance).reshape(height, width, 3)
    # A touch of lens vignetting.
    v, u = np.mgrid[0:height, 0:width]
    r2 = ((u - intr.cx) / intr.fx) ** 2 + ((v - intr.cy) / intr.fy) ** 2
    rgb = np.clip(np.rint(rgb * (1.0 - 0.18 * r2)[..., None]), 0, 255).astype(np.uint8)
    return rgb, depth


def write_sample(out_dir: Optional[str] = None) -> List[str]:
    """
    Render the bundled frames and their 16-bit millimetre depth PNGs.

    :param out_dir: Output directory; defaults to :func:`sample_dir`.
    :return: Paths of the files written.
    """
    out_dir = out_dir or sample_dir()
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for i in range(SAMPLE_FRAME_COUNT):
        rgb, depth = render_scene(SAMPLE_STEP_M * i)
        mm = np.where(np.isfinite(depth), np.rint(depth * 1000.0), 0)
        mm = np.clip(mm, 0, 65535).astype(np.uint16)
        frame = os.path.join(out_dir, f'frame_{i:03d}.png')
        depth_path = os.path.join(out_dir, f'depth_{i:03d}.png')
        if not cv2.imwrite(frame, np.ascontiguousarray(rgb[:, :, ::-1]),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f'cannot write {frame}')
        if not cv2.imwrite(depth_path, mm, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f'cannot write {depth_path}')
        written += [frame, depth_path]
    return written


def main(argv: Optional[List[str]] = None) -> int:
    """Regenerate the sample frames: ``python -m depthclip_ros.core.sample [out_dir]``."""
    argv = sys.argv[1:] if argv is None else argv
    for path in write_sample(argv[0] if argv else None):
        print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())


def precision_check_frames() -> List[np.ndarray]:
    """
    Return the frames reduced precisions are compared with fp32 on: the bundled samples.

    :return: RGB uint8 frames (empty when the package data is missing)
    """
    try:
        return [load_sample_rgb(i) for i in range(SAMPLE_FRAME_COUNT)]
    except FileNotFoundError:
        return []
