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
The worker that turns waiting camera frames into outputs (ROS-free).

One thread takes the newest frame of every camera from the
:class:`~depthclip_ros.core.scheduler.Scheduler`, decodes them, predicts them in one
encoder pass, computes every output (:mod:`depthclip_ros.core.outputs`) and hands them to a
:class:`FrameSink` (the ROS node publishes them). Settings are snapshotted once per batch:
:meth:`DepthPipeline.apply` swaps the engine's live state and the node settings together
in one step and never waits for a running inference, so a parameter change takes effect at
the next batch and no frame ever sees half of it. Bad input, inference failures (CUDA out
of memory, a device error) and publishing errors drop the frames concerned, are counted
and logged (throttled), and the worker goes on.
"""

import threading
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from depthclip_ros.core.config import NodeSettings
from depthclip_ros.core.engine import DepthClipEngine, LiveState
from depthclip_ros.core.filters import CameraFilters
from depthclip_ros.core.geometry import RectifyMaps
from depthclip_ros.core.grounding import Grounding
from depthclip_ros.core.outputs import (choose_intrinsics, compute_outputs, FrameOutputs,
                                        IntrinsicsChoice, output_factor, OutputRequest,
                                        scaled_sizes)
from depthclip_ros.core.scale import Mounting
from depthclip_ros.core.scheduler import CameraState, Frame, Scheduler
from depthclip_ros.core.text import one_line

#: Exceptions after which the CUDA cache is emptied (the frames are dropped either way).
OUT_OF_MEMORY_ERRORS = (getattr(torch, 'OutOfMemoryError', torch.cuda.OutOfMemoryError),)


class FrameSink:
    """What the pipeline needs from its host (the ROS node); override every method."""

    def decode(self, frame: Frame) -> Tuple[np.ndarray, int]:
        """
        Return the frame as (H, W, 3) RGB uint8 and the count of bytes after its rows.

        :raises ValueError: the image is malformed or of an unsupported encoding
        """
        raise NotImplementedError

    def request(self, camera: CameraState) -> OutputRequest:
        """Return which optional outputs of ``camera`` somebody wants now."""
        return OutputRequest()

    def publish(self, camera: CameraState, frame: Frame, outputs: FrameOutputs) -> None:
        """Publish the outputs of ``frame`` (with its header)."""
        raise NotImplementedError

    def now_ns(self) -> int:
        """Return the time that image stamps are measured against, in nanoseconds."""
        return time.time_ns()

    def mounting(self, camera: CameraState, frame: Frame) -> Optional[Mounting]:
        """
        Return the camera's mounting over the floor for ``scale.mode: ground``.

        None: the ``scale.camera_*`` settings (the ROS node looks it up in TF when
        ``scale.floor_frame`` is set).
        """
        return None


class DepthPipeline:
    """
    The worker thread: scheduler -> decode -> engine -> outputs -> sink.

    :param engine: the loaded engine (its live state is snapshotted per batch)
    :param scheduler: frame slots, counters and warnings
    :param sink: decodes and publishes
    :param settings: node settings in force at start
    """

    def __init__(self, engine: DepthClipEngine, scheduler: Scheduler, sink: FrameSink,
                 settings: NodeSettings):
        self.engine = engine
        self.scheduler = scheduler
        self._sink = sink
        self._settings = settings
        self._swap_lock = threading.Lock()
        self._worker: Optional[threading.Thread] = None
        # One per camera, made here: the worker and the diagnostics both read them.
        self._filters: Dict[str, CameraFilters] = {camera.name: CameraFilters()
                                                   for camera in scheduler.cameras}
        # The latest frame's grounding answers per camera (the diagnostics read them).
        self._grounding: Dict[str, Optional[Grounding]] = {}
        # Only the worker uses them.
        self._rectify_maps: Dict[str, RectifyMaps] = {camera.name: RectifyMaps()
                                                      for camera in scheduler.cameras}

    # ---------------------------------------------------------------------------- settings
    def filters(self, camera: str) -> CameraFilters:
        """Return camera ``camera``'s temporal filter and ground scale."""
        return self._filters[camera]

    def last_grounding(self, camera: str) -> Optional[Grounding]:
        """Return camera ``camera``'s latest grounding answers (None: none since the change)."""
        return self._grounding.get(camera)

    @property
    def settings(self) -> NodeSettings:
        """Return the node settings in force."""
        return self._settings

    def snapshot(self) -> Tuple[NodeSettings, LiveState]:
        """Return the node settings and the engine state in force, as one consistent pair."""
        with self._swap_lock:
            return self._settings, self.engine.state

    def apply(self, settings: Optional[NodeSettings] = None,
              state: Optional[LiveState] = None) -> None:
        """
        Put new node settings and/or a prepared engine state in force, together.

        Takes effect at the next batch; never waits for the running one.
        """
        with self._swap_lock:
            if state is not None:
                self.engine.commit(state)
            if settings is not None:
                self._settings = settings

    # ------------------------------------------------------------------------------ worker
    @property
    def running(self) -> bool:
        """Return whether the worker thread is alive."""
        return self._worker is not None and self._worker.is_alive()

    def start(self) -> None:
        """Start the worker thread."""
        self.scheduler.start()
        self._worker = threading.Thread(target=self._run, name='depthclip_worker', daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker after its current batch and wait for it."""
        self.scheduler.stop()
        worker, self._worker = self._worker, None
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout)

    def _run(self) -> None:
        while True:
            batch = self.scheduler.take_batch(lambda: self._settings.max_batch_size,
                                              lambda: self._settings.camera_info_timeout)
            if batch is None:
                return
            try:
                self.process(batch)
            except Exception as error:  # noqa: B902 - keep serving frames; count and report
                for camera, _ in batch:
                    self.scheduler.bump(camera, 'errors')
                self.scheduler.warn([camera for camera, _ in batch], 'error',
                                    f'frame failed: {type(error).__name__}: {one_line(error)}',
                                    level='error')

    # ---------------------------------------------------------------------------- one batch
    def process(self, batch: List[Tuple[CameraState, Frame]]) -> None:
        """Decode, predict, compute and publish one batch (one encoder pass)."""
        settings, state = self.snapshot()
        ready = []
        for camera, frame in batch:
            rgb = self._decode(camera, frame)
            if rgb is not None:
                choice = self._intrinsics(camera, frame, rgb, settings)
                if choice.rectification is not None:
                    try:
                        rgb = self._rectify_maps[camera.name].rectify(rgb, choice.rectification)
                    except Exception as error:  # noqa: B902 - cv2.error: the image as it is
                        self.scheduler.warn([camera], 'rectify', 'rectification failed '
                                            f'({type(error).__name__}: {one_line(error)}); '
                                            'using the image as it is, with K')
                        choice = choose_intrinsics(frame.camera, rgb.shape[1], rgb.shape[0],
                                                   settings.camera_fov_deg, rectify=False)
                self._check_output_scale(camera, rgb, settings.output_scale)
                ready.append((camera, frame, rgb, choice))
        if not ready:
            return
        images = [rgb for _, _, rgb, _ in ready]
        start = time.perf_counter()
        try:
            steps = [self.filters(camera.name).step(
                frame.stamp_ns, settings, rgb.shape[:2],
                frame.camera.k if frame.camera is not None else None)
                for camera, frame, rgb, _ in ready]
            predictions = self.engine.predict(images, scaled_sizes(images, settings.output_scale),
                                              state=state, steps=steps)
        except Exception as error:  # noqa: B902 - OOM, CUDA errors, ...: drop, go on
            self._inference_failed([camera for camera, _, _, _ in ready], error)
            return
        inference_ms = (time.perf_counter() - start) * 1000.0
        self.scheduler.count_batch(len(ready))
        for (camera, frame, rgb, choice), prediction in zip(ready, predictions):
            try:
                self._finish(camera, frame, rgb, choice, prediction, settings, state,
                             inference_ms)
            except Exception as error:  # noqa: B902 - one camera's output failed
                self.scheduler.bump(camera, 'errors')
                self.scheduler.warn([camera], 'publish_error', 'publishing the outputs failed: '
                                    f'{type(error).__name__}: {one_line(error)}',
                                    level='error')

    def _decode(self, camera: CameraState, frame: Frame) -> Optional[np.ndarray]:
        """Return the frame as RGB, or None after counting and reporting a rejection."""
        try:
            rgb, extra = self._sink.decode(frame)
        except ValueError as error:  # ImageConversionError and cv2.error are ValueErrors
            self.scheduler.bump(camera, 'rejected')
            self.scheduler.warn([camera], 'rejected',
                                f'rejected an image on {camera.topic}: {one_line(error)}')
            return None
        if extra:
            self.scheduler.bump(camera, 'extra_data')
            self.scheduler.warn([camera], 'extra_data',
                                f'image on {camera.topic} has {extra} bytes after its '
                                f'{rgb.shape[0]} rows; they are ignored')
        return rgb

    def _inference_failed(self, cameras: List[CameraState], error: BaseException) -> None:
        hint = ''
        if isinstance(error, OUT_OF_MEMORY_ERRORS):
            try:
                torch.cuda.empty_cache()  # a no-op unless CUDA is in use
            except Exception:  # noqa: B902 - a broken device: the error below says it
                pass
            hint = (' (CUDA cache freed; if this repeats, lower input.height/input.width, '
                    'set flip_tta false or serve fewer cameras per node)')
        for camera in cameras:
            self.scheduler.bump(camera, 'errors')
        self.scheduler.warn(cameras, 'inference_error',
                            f'inference failed, {len(cameras)} frame(s) dropped: '
                            f'{type(error).__name__}: {one_line(error)}{hint}', level='error')

    def _intrinsics(self, camera: CameraState, frame: Frame, rgb: np.ndarray,
                    settings: NodeSettings) -> IntrinsicsChoice:
        """Choose the frame's intrinsics and rectification; warn about what is unusable."""
        height, width = rgb.shape[:2]
        fov = settings.camera_fov_deg
        choice = choose_intrinsics(frame.camera, width, height, fov, settings.camera_rectify)
        origin = choice.origin
        if choice.problem is not None:
            self.scheduler.bump(camera, 'camera_info_rejected')
            if choice.fov_fallback:
                self.scheduler.warn([camera], 'camera_info', f'{choice.problem}; using '
                                    f'camera.fov_deg={fov:g} intrinsics for this frame')
            else:
                self.scheduler.warn([camera], 'camera_info_parts',
                                    f'camera_info on {camera.info_topic}: {choice.problem}')
        elif frame.camera is None:
            if frame.info_expected:
                origin = (f'camera.fov_deg (no camera_info within camera.info_timeout='
                          f'{settings.camera_info_timeout:g} s)')
            else:
                origin = 'camera.fov_deg (nobody publishes camera_info)'
            if not camera.warned_no_info and not frame.info_expected:
                camera.warned_no_info = True
                self.scheduler.warn([camera], 'no_camera_info',
                                    f'no camera_info on {camera.info_topic} yet: using '
                                    f'intrinsics from camera.fov_deg={fov:g} (the point cloud '
                                    'scale is approximate)')
        camera.intrinsics_origin = origin
        return choice

    def _check_output_scale(self, camera: CameraState, rgb: np.ndarray, scale: float) -> None:
        """Say when ``output_scale`` 1/N does not divide this image and a finer 1/N is used."""
        height, width = rgb.shape[:2]
        used, asked = output_factor(width, height, scale)
        if used != asked:
            self.scheduler.warn([camera], 'output_scale',
                                f'output_scale 1/{asked} does not divide the {width}x{height} '
                                f'input on both axes: publishing 1/{used} '
                                f'({width // used}x{height // used}) so that depth and image '
                                'still pair by an integer factor', period=60.0)

    def _finish(self, camera: CameraState, frame: Frame, rgb: np.ndarray,
                choice: IntrinsicsChoice, prediction, settings: NodeSettings,
                state: LiveState, inference_ms: float) -> None:
        scale = self._filters[camera.name].scale
        before = scale.state
        mounting = self._sink.mounting(camera, frame) if settings.scale_mode == 'ground' \
            else None
        depth, depth_range = self._filters[camera.name].scaled(
            prediction.depth, choice.intrinsics, settings, state, mounting)
        if scale.state != before and scale.state in ('holding', 'out of bounds'):
            self.scheduler.warn([camera], 'scale', f'ground scale: {scale.reason}',
                                level='info', period=60.0)
        outputs = compute_outputs(depth, prediction.confidence, rgb, choice, settings,
                                  depth_range, self._sink.request(camera),
                                  prediction.grounding)
        self._grounding[camera.name] = outputs.grounding
        if outputs.colorized is not None:
            self.scheduler.bump(camera, 'colorized_built')
        if outputs.cloud is not None:
            self.scheduler.bump(camera, 'clouds_built')
        self.scheduler.bump(camera, 'processed')  # before publishing: never a stale count
        self._sink.publish(camera, frame, outputs)
        latency_ms = None
        if frame.stamp_ns > 0:
            latency_ms = (self._sink.now_ns() - frame.stamp_ns) / 1e6
        self.scheduler.record(camera, inference_ms,
                              (time.monotonic() - frame.received) * 1000.0, latency_ms)
