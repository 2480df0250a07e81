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
What tests and tools read of a running DepthCLIP node (plain or lifecycle).

Counters, timings, the engine and settings in force, the topics and their QoS, and two
controls for tests: fault injection and holding the worker. A mixin of both node classes.
"""

from typing import Any, Dict, List, Optional, Tuple

from depthclip_ros.core.config import NodeSettings
from depthclip_ros.core.engine import DepthClipEngine


class DepthClipApi:
    """What tests and tools read of a DepthCLIP node (both kinds); needs ``self.depthclip``."""

    #: The node's :class:`~depthclip_ros.ros.node.DepthClipBinding`.
    depthclip: Any

    @property
    def engine(self) -> Optional[DepthClipEngine]:
        """Return the DepthCLIP engine: the model and its live settings (None unloaded)."""
        return self.depthclip.engine

    @property
    def settings(self) -> Optional[NodeSettings]:
        """Return the node settings in force (None before the node is configured)."""
        pipeline = self.depthclip.pipeline
        return pipeline.settings if pipeline is not None else None

    @property
    def converter_name(self) -> str:
        """Return which image converter runs: ``cv_bridge`` or ``image_conversion``."""
        converter = self.depthclip.converter
        return converter.name if converter is not None else ''

    @property
    def camera_names(self) -> List[str]:
        """Return the camera names (``['']`` for the single, un-namespaced camera)."""
        return [camera.name for camera in self.depthclip.scheduler.cameras]

    @property
    def image_topics(self) -> Dict[str, str]:
        """Return camera name -> resolved image topic subscribed to."""
        return {camera.name: camera.topic for camera in self.depthclip.scheduler.cameras}

    @property
    def image_topic(self) -> str:
        """Return the resolved image topic of the first camera."""
        return self.depthclip.scheduler.cameras[0].topic

    @property
    def image_reliability(self) -> Dict[str, Tuple[str, str]]:
        """Return camera name -> (image subscription reliability in force, why)."""
        return dict(self.depthclip.reliability)

    @property
    def stats(self) -> Dict[str, int]:
        """Return the frame counters (received, processed, dropped, ...) of all cameras."""
        return self.depthclip.scheduler.totals()

    def camera_stats(self, name: str = '') -> Dict[str, int]:
        """Return a snapshot of the frame counters of camera ``name``."""
        return self.depthclip.scheduler.counts(name)

    def last_problem(self, name: str = '') -> str:
        """Return the last warning about camera ``name``'s input (logged or throttled)."""
        return self.depthclip.scheduler.problem(name)

    @property
    def batch_stats(self) -> Tuple[int, int]:
        """Return (encoder passes, frames they held): the mean batch size is their ratio."""
        return self.depthclip.scheduler.batch_stats

    def timings(self, name: Optional[str] = None) -> Dict[str, float]:
        """Return median and p95 of inference, latency and pipeline times in ms."""
        return self.depthclip.scheduler.timings(name)

    def worker_paused(self):
        """Return a context manager during which the worker starts no batch (tests)."""
        return self.depthclip.scheduler.paused()

    @property
    def worker_running(self) -> bool:
        """Return whether the worker thread runs."""
        pipeline = self.depthclip.pipeline
        return pipeline is not None and pipeline.running

    def stop_worker(self) -> None:
        """Stop the worker thread after its current batch, and any prompt encoding."""
        if self.depthclip.pipeline is not None:
            self.depthclip.pipeline.engine.cancel()
            self.depthclip.pipeline.stop()
