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

from typing import List, Optional, Tuple

import numpy as np

from depthclip_ros.core.config import NodeSettings
from depthclip_ros.core.engine import ProbabilityStep
from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.scale import GroundScale, Mounting
from depthclip_ros.core.temporal import TemporalFilter


class CameraFilters:
    """One camera's temporal filter and ground scale."""

    def __init__(self):
        self.temporal = TemporalFilter()
        self.scale = GroundScale()

    def step(self, stamp_ns: Optional[int], settings: NodeSettings) -> Optional[ProbabilityStep]:
        """
        Return the probability step of this frame for the engine, or None when it is off.

        :param stamp_ns: the frame's stamp (None: no time checks)
        """
        temporal = settings.temporal
        if not temporal.enable:
            if self.temporal.active:
                self.temporal.reset('temporal.enable is false')
            return None
        return lambda probabilities: self.temporal.update(probabilities, stamp_ns, temporal)

    def rescale(self, depth: np.ndarray, intrinsics: Intrinsics, settings: NodeSettings,
                depth_scale: float, mounting: Optional[Mounting] = None) -> float:
        """
        Fit the ground scale of this frame (``scale.mode: ground``); return its factor.

        The factor multiplies the depth predicted with ``depth_scale``; 1 in fixed mode.
        """
        return self.scale.update(depth, intrinsics, settings.scale, depth_scale, mounting)

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
            scale = self.scale
            values += [
                ('scale', f'{scale.scale:.4f}' if scale.scale is not None else 'none yet'),
                ('scale state', scale.state),
                ('scale inlier fraction', f'{scale.inlier_fraction:.3f}'),
                ('scale floor pitch deg', f'{scale.floor_pitch_deg:.2f}'),
                ('scale note', scale.reason),
            ]
        return values
