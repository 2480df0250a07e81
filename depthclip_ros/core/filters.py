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
What one camera carries from frame to frame: its temporal filter and its ground scale.

The node keeps one :class:`CameraFilters` per camera, ``depthclip bag`` one per image topic
and ``depthclip predict`` one for its sequence of images, so every camera has its own
history and a reset of one never touches another. Both filters are off by default
(``temporal.enable: false``, ``scale.mode: fixed``): the depth is then the paper's,
bit for bit.
"""

from typing import List, Optional, Sequence, Tuple

import numpy as np

from depthclip_ros.core.config import NodeSettings
from depthclip_ros.core.engine import LiveState, ProbabilityStep
from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.scale import GroundScale, Mounting
from depthclip_ros.core.temporal import TemporalFilter


class CameraFilters:
    """One camera's temporal filter and ground scale."""

    def __init__(self):
        self.temporal = TemporalFilter()
        self.scale = GroundScale()

    def step(self, stamp_ns: Optional[int], settings: NodeSettings,
             input_size: Optional[Tuple[int, int]] = None,
             k: Optional[Sequence[float]] = None) -> Optional[ProbabilityStep]:
        """
        Return the probability step of this frame for the engine, or None when it is off.

        :param stamp_ns: the frame's stamp (None: no time checks)
        :param input_size: ``(height, width)`` of the camera image as it arrived: a change
            drops the temporal history
        :param k: the frame's camera_info K, when known: a change drops the history too
        """
        temporal = settings.temporal
        if not temporal.enable:
            if self.temporal.active:
                self.temporal.reset('temporal.enable is false')
            return None
        return lambda probabilities: self.temporal.update(probabilities, stamp_ns, temporal,
                                                          input_size, k)

    def scaled(self, depth: np.ndarray, intrinsics: Intrinsics, settings: NodeSettings,
               state: LiveState, mounting: Optional[Mounting] = None
               ) -> Tuple[np.ndarray, Tuple[float, float]]:
        """
        Apply the ground scale to one frame's depth (``scale.mode: ground``).

        :param depth: the prediction, made with ``state``'s ``depth_scale``
        :param intrinsics: the image's intrinsics (any size: scaled to the depth's)
        :param state: the engine state the prediction was made with
        :param mounting: the camera's mounting (TF), else the ``scale.camera_*`` settings
        :return: the depth and its colour range (the bins' range), both scaled; unchanged
            in fixed mode
        """
        low, high = state.config.depth_range
        if settings.scale_mode != 'ground':
            self.scale.update(depth, intrinsics, settings.scale, state.config.depth_scale)
            return depth, (low, high)
        height, width = depth.shape
        if (intrinsics.width, intrinsics.height) != (width, height):
            intrinsics = intrinsics.scaled(width, height)
        factor = self.scale.update(depth, intrinsics, settings.scale,
                                   state.config.depth_scale, mounting,
                                   bins=state.config.metric_bins)
        return depth * np.float32(factor), (low * factor, high * factor)

    def report(self, settings: NodeSettings) -> List[Tuple[str, str]]:
        """Return key values for diagnostics: what each filter does and did."""
        temporal = settings.temporal
        if temporal.enable:
            state = (f'alpha {temporal.alpha:g}, {self.temporal.resets} reset(s), last: '
                     f'{self.temporal.last_reset or "none"}; scene change '
                     f'{self.temporal.last_change:.3f}')
        else:
            state = 'off'
        values = [('temporal filter', state), ('scale mode', settings.scale_mode)]
        if settings.scale_mode == 'ground':
            values += self.scale.report()
        return values
