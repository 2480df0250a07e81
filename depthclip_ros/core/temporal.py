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
Steady depth over time: an exponential filter of the class probabilities, per camera (ROS-free).

What is filtered: the per-patch depth-class probabilities ``p`` (K x h x w, at feature
resolution, after the flip average), before they become depth and before upsampling. They
are cheap (one value per 32 x 32 pixels and class), they are what the image actually
decides, and a convex combination of distributions is a distribution: the filtered depth
stays inside the bins, and the confidence (``1 - H(p) / log K``) is that of the filtered
distribution. Filtering the full-size depth instead would cost 1000 times more memory
traffic and average away the confidence.

Definition, frame ``t`` of one camera:

    ``f_t = alpha * p_t + (1 - alpha) * f_{t-1}``

reset to ``f_t = p_t`` (the history dropped) when

- it is the camera's first frame, or the number of depth classes changed (a prompt
  change), or the feature grid changed;
- the size of the camera's input image changed (every input is resized to the network's
  size, so the feature grid alone never shows it), or its ``camera_info`` K changed (a
  zoom, another camera behind the same topic); a K first seen after some frames does not
  count;
- the stamps went backwards, or more than ``temporal.max_gap`` seconds passed since the last
  frame (a bag loop, a camera restart, a paused robot);
- the scene changed: the mean over patches of the total variation distance
  ``0.5 * sum_k |p_t - f_{t-1}|`` (0: same distributions, 1: disjoint) exceeds
  ``temporal.reset_threshold`` (a cut, the robot turning fast).

``alpha`` is the weight of the newest frame. For noise that is independent from frame to
frame the filter divides the frame-to-frame standard deviation by ``sqrt((2 - alpha) /
alpha)`` (3 at ``alpha = 0.2``); it lags a moving scene by about ``1 / alpha`` frames, which
the scene-change reset bounds.
"""

from typing import Optional, Sequence, Tuple

import torch

from depthclip_ros.core.config import TemporalSettings


def scene_change(probabilities: torch.Tensor, history: torch.Tensor) -> float:
    """
    Return the mean over patches of the total variation distance of two class maps.

    :param probabilities: ``(K, h, w)`` class probabilities of the new frame
    :param history: ``(K, h, w)`` filtered probabilities so far
    :return: in [0, 1]; 0 for identical maps
    """
    return float(0.5 * (probabilities - history).abs().sum(dim=0).mean())


class TemporalFilter:
    """
    One camera's filter state; see the module documentation for the definition.

    :attr:`resets` counts the resets, :attr:`last_reset` says why the last one happened,
    :attr:`last_change` is the scene-change measure of the last frame.
    """

    def __init__(self):
        self._history: Optional[torch.Tensor] = None
        self._stamp_ns: Optional[int] = None
        self._input_size: Optional[Tuple[int, int]] = None
        self._k: Optional[Tuple[float, ...]] = None
        self.resets = 0
        self.last_reset = ''
        self.last_change = 0.0

    @property
    def active(self) -> bool:
        """Return whether the filter holds a history."""
        return self._history is not None

    def reset(self, why: str = 'reset') -> None:
        """Drop the history: the next frame starts afresh."""
        self._history = None
        self._stamp_ns = None
        self._input_size = None
        self._k = None
        self.last_reset = why

    def update(self, probabilities: torch.Tensor, stamp_ns: Optional[int],
               settings: TemporalSettings, input_size: Optional[Tuple[int, int]] = None,
               k: Optional[Sequence[float]] = None) -> torch.Tensor:
        """
        Filter one frame's class probabilities; return what to make the depth from.

        :param probabilities: ``(K, h, w)`` class probabilities of the frame
        :param stamp_ns: the frame's stamp in nanoseconds (None: no time checks)
        :param settings: ``temporal.*``; when not enabled the probabilities pass unchanged
            and the history is dropped
        :param input_size: ``(height, width)`` of the camera image, before any resizing
            (None: not checked)
        :param k: the camera_info's K of the frame (None: unknown, not checked)
        """
        if not settings.enable:
            if self._history is not None:
                self.reset('temporal.enable is false')
            return probabilities
        k = tuple(float(v) for v in k) if k is not None else None
        why = self._input_change(input_size, k) if self._history is not None else None
        why = why or self._reset_reason(probabilities, stamp_ns, settings)
        if input_size is not None:
            self._input_size = (int(input_size[0]), int(input_size[1]))
        if k is not None:
            self._k = k
        if why is None:
            filtered = settings.alpha * probabilities + (1.0 - settings.alpha) * self._history
        else:
            filtered = probabilities
            self.resets += 1
            self.last_reset = why
        self._history = filtered.detach()
        self._stamp_ns = stamp_ns
        return filtered

    def _input_change(self, input_size: Optional[Tuple[int, int]],
                      k: Optional[Tuple[float, ...]]) -> Optional[str]:
        if input_size is not None and self._input_size is not None and \
                tuple(input_size) != self._input_size:
            (h0, w0), (h1, w1) = self._input_size, input_size
            return f'input image size changed from {w0}x{h0} to {w1}x{h1}'
        if k is not None and self._k is not None and k != self._k:
            return 'camera_info K changed'
        return None

    def _reset_reason(self, probabilities: torch.Tensor, stamp_ns: Optional[int],
                      settings: TemporalSettings) -> Optional[str]:
        history = self._history
        if history is None:
            return 'first frame'
        if history.shape != probabilities.shape or history.device != probabilities.device:
            return 'image size or depth classes changed'
        if stamp_ns is not None and self._stamp_ns is not None:
            gap = (stamp_ns - self._stamp_ns) / 1e9
            if gap < 0.0:
                return f'stamp went backwards by {-gap:.3f} s'
            if gap > settings.max_gap:
                return f'{gap:.2f} s since the last frame (temporal.max_gap {settings.max_gap:g})'
        self.last_change = scene_change(probabilities, history.to(probabilities.dtype))
        if self.last_change > settings.reset_threshold:
            return (f'scene change {self.last_change:.2f} > temporal.reset_threshold '
                    f'{settings.reset_threshold:g}')
        return None
