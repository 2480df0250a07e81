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
From a prediction to every output array: the one output path of the node and the bag tool.

:func:`compute_outputs` takes a :class:`~depthclip_ros.core.engine.Prediction`, the input
image, the camera model (from ``camera_info``, when usable) and the node settings, and
returns the depth, confidence, colorized depth, point cloud (packed) and the intrinsics of
the depth image, as plain arrays. The ROS node turns them into messages and publishes them;
``depthclip bag`` serializes the same arrays into a bag. Same settings, same defaults (the
parameter table of :mod:`depthclip_ros.core.config`), same outputs.
"""

from dataclasses import dataclass
import math
from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from depthclip_ros.core.colorize import colorize_depth
from depthclip_ros.core.config import NodeSettings, output_divisor
from depthclip_ros.core.geometry import (camera_geometry, depth_to_points, Intrinsics,
                                         pack_cloud, Rectification)
from depthclip_ros.core.grounding import Grounding, locate_queries, QueryMasks

#: Identity rectification (row-major 3x3) and zero plumb_bob distortion.
IDENTITY_R = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
ZERO_D = (0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class CameraModel:
    """
    What the outputs need of a ``sensor_msgs/CameraInfo``: size, K, distortion, R and P.

    :meth:`from_message` reads any object with the fields of that message (an rclpy
    message, a rosbags message), so this module needs no message package.
    """

    width: int
    height: int
    k: Tuple[float, ...]
    distortion_model: str = ''
    d: Tuple[float, ...] = ()
    r: Tuple[float, ...] = IDENTITY_R
    #: Row-major 3x4 projection; empty: ``[K|0]``.
    p: Tuple[float, ...] = ()

    @classmethod
    def from_message(cls, msg: Any) -> 'CameraModel':
        """Read ``width``, ``height``, ``k``, ``distortion_model``, ``d``, ``r``, ``p``."""
        return cls(width=int(msg.width), height=int(msg.height),
                   k=tuple(float(v) for v in msg.k),
                   distortion_model=str(msg.distortion_model or ''),
                   d=tuple(float(v) for v in msg.d), r=tuple(float(v) for v in msg.r),
                   p=tuple(float(v) for v in getattr(msg, 'p', ())))

    def intrinsics(self) -> Intrinsics:
        """
        Return the pinhole intrinsics.

        :raises ValueError: uncalibrated (all-zero K), non-finite values or a zero size
        """
        return Intrinsics.from_camera_info(self.k, self.width, self.height)


@dataclass(frozen=True)
class IntrinsicsChoice:
    """The intrinsics of an image, where they came from, and what was wrong, if anything."""

    intrinsics: Intrinsics
    #: The camera model they came from; None when they come from ``camera.fov_deg``.
    source: Optional[CameraModel]
    #: Why (part of) the camera model was not used (None: used, or there was none).
    problem: Optional[str] = None
    #: How to rectify the image before inference; None: use it as it is.
    rectification: Optional[Rectification] = None
    #: What the ``camera_info`` of the outputs says (D, R, P's fourth column); None: source.
    published: Optional[CameraModel] = None
    #: Where the intrinsics come from, in words.
    origin: str = 'camera.fov_deg'
    #: Whether ``problem`` made the intrinsics fall back to ``camera.fov_deg``.
    fov_fallback: bool = False


def choose_intrinsics(camera: Optional[CameraModel], width: int, height: int,
                      fov_deg: float, rectify: bool = False) -> IntrinsicsChoice:
    """
    Return the intrinsics of a ``width`` x ``height`` image, and how to rectify it.

    The camera model's when it is usable and of that size
    (:func:`~depthclip_ros.core.geometry.camera_geometry`: ``rectify`` true rectifies a
    distorted image into P and uses P for a rectified one; false uses K and passes D on);
    otherwise intrinsics from the horizontal field of view ``fov_deg`` (centred principal
    point), with the reason.
    """
    problem = None
    if camera is not None:
        if (camera.width, camera.height) != (width, height):
            problem = (f'camera_info is for {camera.width}x{camera.height} but the image is '
                       f'{width}x{height}')
        else:
            try:
                geo = camera_geometry(width, height, camera.k, camera.d, camera.r, camera.p,
                                      camera.distortion_model, rectify)
            except ValueError as error:
                problem = f'camera_info is unusable ({error})'
            else:
                intr = geo.intrinsics
                tail = geo.p_tail
                published = CameraModel(
                    width, height, tuple(intr.k()), geo.distortion_model, geo.d, geo.r,
                    (intr.fx, 0.0, intr.cx, tail[0], 0.0, intr.fy, intr.cy, tail[1],
                     0.0, 0.0, 1.0, tail[2]))
                return IntrinsicsChoice(intr, camera, geo.problem, geo.rectification,
                                        published, geo.origin)
    return IntrinsicsChoice(Intrinsics.from_fov(width, height, fov_deg), None, problem,
                            fov_fallback=problem is not None)


def output_factor(width: int, height: int, scale: float) -> Tuple[int, int]:
    """
    Return (N used, N asked) for ``output_scale`` 1/N on a ``width`` x ``height`` image.

    N used divides both sides: the largest divisor of both that is at most N asked (so the
    output is never smaller than asked).
    """
    asked = output_divisor(scale)
    common = math.gcd(int(width), int(height))
    used = max(n for n in range(1, min(asked, common) + 1) if common % n == 0)
    return used, asked


def output_size(width: int, height: int, scale: float) -> Tuple[int, int]:
    """Return ``(width, height)`` at ``output_scale`` 1/N: both exact divisors, same N."""
    n, _ = output_factor(width, height, scale)
    return width // n, height // n


@dataclass(frozen=True)
class OutputRequest:
    """Which optional outputs somebody wants (the node: which topics have subscribers)."""

    confidence: bool = True
    colorized: bool = True
    points: bool = True


@dataclass
class FrameOutputs:
    """
    Every output of one frame, as arrays.

    ``depth`` and ``confidence`` are float32 (H, W) at the output size; ``colorized`` bgr8;
    ``cloud`` is :func:`~depthclip_ros.core.geometry.pack_cloud`'s dict; ``intrinsics`` are
    those of the output size and ``camera`` the camera model they came from (distortion and
    rectification to copy into ``depth/camera_info``), None for FoV intrinsics.
    ``grounding``: every query's answer and the label image (at the output size) when
    ``grounding.queries`` is set, else None.
    """

    depth: np.ndarray
    intrinsics: Intrinsics
    camera: Optional[CameraModel]
    confidence: Optional[np.ndarray] = None
    colorized: Optional[np.ndarray] = None
    cloud: Optional[Dict[str, object]] = None
    grounding: Optional[Grounding] = None


def compute_outputs(depth: np.ndarray, confidence: np.ndarray, rgb: np.ndarray,
                    intrinsics: IntrinsicsChoice, settings: NodeSettings,
                    depth_range: Tuple[float, float],
                    request: OutputRequest = OutputRequest(),
                    masks: Optional[QueryMasks] = None) -> FrameOutputs:
    """
    Compute the outputs of one frame from its prediction.

    :param depth: predicted depth (H, W) float32 metres, at the output size
    :param confidence: predicted confidence (H, W) float32 in [0, 1]
    :param rgb: the input image (any size: intrinsics and colours are scaled to the depth's)
    :param intrinsics: the input image's intrinsics (:func:`choose_intrinsics`)
    :param settings: ``publish.*``, ``cloud.*``
    :param depth_range: the colour scale of the colorized depth (the bins' range), metres
    :param request: the optional outputs wanted (an output also needs its ``publish.*``)
    :param masks: the query masks of the prediction (``grounding.queries`` set), at the
        depth's size: located with the published depth (pixels that
        ``depth.min_confidence`` blanks out do not count) and, in the point cloud, a
        ``label`` field per point; None: no grounding, the outputs as before bit for bit
    """
    height, width = depth.shape
    intr = intrinsics.intrinsics
    if (intr.width, intr.height) != (width, height):
        intr = intr.scaled(width, height)
    if settings.depth_min_confidence > 0.0:
        with np.errstate(invalid='ignore'):
            keep = confidence >= settings.depth_min_confidence
        depth = np.where(keep, depth, np.float32(np.nan)).astype(np.float32, copy=False)
    camera = intrinsics.published if intrinsics.published is not None else intrinsics.source
    out = FrameOutputs(depth=depth, intrinsics=intr, camera=camera)
    if masks is not None:
        out.grounding = locate_queries(masks, depth, intr)
    if settings.publish_confidence and request.confidence:
        out.confidence = confidence
    if settings.publish_colorized and request.colorized:
        out.colorized = colorize_depth(depth, *depth_range)
    if settings.publish_points and request.points:
        colors = None
        if settings.cloud_color:
            colors = rgb if rgb.shape[:2] == (height, width) else cv2.resize(
                rgb, (width, height), interpolation=cv2.INTER_AREA)
        use_conf = settings.cloud_min_confidence > 0.0
        points = depth_to_points(
            depth, intr, stride=settings.cloud_stride, min_range=settings.cloud_min_range,
            max_range=settings.cloud_max_range, confidence=confidence if use_conf else None,
            min_confidence=settings.cloud_min_confidence, rgb=colors,
            organized=settings.cloud_organized,
            labels=None if out.grounding is None else out.grounding.labels)
        out.cloud = pack_cloud(points)
    return out


def camera_info_fields(intr: Intrinsics, source: Optional[CameraModel]) -> Dict[str, Any]:
    """
    Return the fields of the ``CameraInfo`` of an image with intrinsics ``intr``.

    Distortion and rectification come from ``source`` (they do not change with resizing),
    else zero ``plumb_bob`` distortion and identity rectification. P is ``[K|t]``, ``t``
    being the fourth column of ``source.p`` scaled like K (zero when it has none).

    :return: ``width``, ``height``, ``k`` (9), ``p`` (12), ``distortion_model``, ``d``, ``r``
    """
    if source is not None and source.distortion_model:
        model, d, r = source.distortion_model, source.d, source.r
    else:
        model, d, r = 'plumb_bob', ZERO_D, IDENTITY_R
    p = [float(v) for v in intr.p()]
    if source is not None and len(source.p) == 12 and source.width > 0 and source.height > 0:
        p[3] = source.p[3] * intr.width / source.width
        p[7] = source.p[7] * intr.height / source.height
        p[11] = source.p[11]
    return {'width': int(intr.width), 'height': int(intr.height),
            'k': [float(v) for v in intr.k()], 'p': p,
            'distortion_model': model, 'd': [float(v) for v in d],
            'r': [float(v) for v in r]}


def scaled_sizes(images: Sequence[np.ndarray], scale: float) -> list:
    """Return the ``(height, width)`` output size of every image at ``output_scale``."""
    sizes = []
    for image in images:
        width, height = output_size(image.shape[1], image.shape[0], scale)
        sizes.append((height, width))
    return sizes
