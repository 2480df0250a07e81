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
The DepthCLIP engine: a loaded model, cached class embeddings and batched prediction.

Thread-safe: :meth:`DepthClipEngine.update` swaps the live settings and the class
embeddings that go with them in one step, and :meth:`DepthClipEngine.predict` takes one
consistent snapshot of both per call, so no frame is ever made with new prompts and old
bins.
"""

from dataclasses import dataclass
import logging
import math
import os
import threading
import time
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from depthclip_ros.core import backend_choice as bc, loading
from depthclip_ros.core.backends import (auto_exports_for_gpu, check_provenance,
                                         encoder_model_config, make_encoder, onnx_installed,
                                         OnnxEncoder, read_provenance, TorchEncoder,
                                         visual_fingerprint)
from depthclip_ros.core.config import DepthClipConfig, read_only_names
from depthclip_ros.core.embeddings import (AdaptedEmbeddings, check_compatible, embeddings_key,
                                           EMBEDDINGS_PARAMETER, load_embeddings)
from depthclip_ros.core.files import check_regular_file
from depthclip_ros.core.grounding import (grounding_key, grounding_probabilities, GroundingText,
                                          query_masks, query_text, QueryMasks)
from depthclip_ros.core.loading import load_clip, LoadedModel, ModelLoadError
from depthclip_ros.core.model import (average_mirrored, CancelledError, class_embeddings,
                                      class_probabilities, confidence, expected_depth,
                                      normalization_stats)
from depthclip_ros.core.sample import precision_check_frames
from depthclip_ros.core.stats import depth_difference, DepthDifference  # noqa: F401 (re-export)
from depthclip_ros.core.text import one_line

__all__ = ['CancelledError', 'DepthClipEngine', 'DepthDifference', 'depth_difference',
           'finish_depth', 'LiveState', 'ModelLoadError', 'precision_check_frames',
           'Prediction']

LOG = logging.getLogger('depthclip_ros')


#: A function of one image's ``(K, h, w)`` class probabilities, returning probabilities.
ProbabilityStep = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Prediction:
    """
    Depth (float32 metres, finite) and confidence (float32 in [0, 1]) of one image.

    ``grounding``: the query masks at the depth's size when ``grounding.queries`` is set
    (:func:`~depthclip_ros.core.grounding.locate_queries` turns them and the depth into 3D
    points), else None.
    """

    depth: np.ndarray
    confidence: np.ndarray
    grounding: Optional[QueryMasks] = None


@dataclass(frozen=True)
class LiveState:
    """Live settings and what the head needs of them: one consistent snapshot per batch."""

    config: DepthClipConfig
    text: torch.Tensor          # (K, C) float32 on the device
    bins: torch.Tensor          # (K,) float32 metres (depth_scale applied) on the device
    #: The file the class embeddings come from (``prompts.embeddings_file``), or None.
    adapted: Optional[AdaptedEmbeddings] = None
    #: The query and background embeddings when ``grounding.queries`` is set, else None.
    grounding: Optional[GroundingText] = None

    @property
    def embeddings_source(self) -> str:
        """Return one line: where the class embeddings come from (log, diagnostics)."""
        if self.adapted is None:
            return 'prompts (prompts.templates, prompts.objects, prompts.depth_classes)'
        return (f'{EMBEDDINGS_PARAMETER} {self.adapted.path}: {self.adapted.summary()}; '
                'prompts.* do not drive the class embeddings while it is set')


def check_images(images: Sequence[np.ndarray]) -> None:
    """
    Check that every image is a non-empty H x W x 3 uint8 array.

    :raises ValueError: naming what is wrong
    """
    for image in images:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
                or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
            raise ValueError('images must be H x W x 3 uint8 RGB arrays, got '
                             f'{getattr(image, "shape", None)} '
                             f'{getattr(image, "dtype", type(image).__name__)}')


def finish_depth(depth: torch.Tensor, size: Tuple[int, int], depth_range: Tuple[float, float],
                 smoothing_sigma: float) -> np.ndarray:
    """
    Turn one low-resolution depth map into the published one.

    Upsampled bilinearly (corners aligned) to ``size``, smoothed with ``smoothing_sigma``,
    non-finite values replaced and everything clipped to the bins' range.

    :param depth: ``(1, 1, h, w)`` metres
    :param size: ``(height, width)`` of the output
    :param depth_range: the first and last bin (metres)
    :param smoothing_sigma: Gaussian sigma in output pixels (0: none)
    :return: ``(height, width)`` float32, C-contiguous
    """
    low, high = depth_range
    sigma = smoothing_sigma
    d = F.interpolate(depth, size=size, mode='bilinear', align_corners=True)
    d_np = d[0, 0].float().cpu().numpy()
    if sigma > 0:
        d_np = cv2.GaussianBlur(d_np, (0, 0), sigmaX=sigma, sigmaY=sigma,
                                borderType=cv2.BORDER_REFLECT)
    d_np = np.nan_to_num(d_np, nan=low, posinf=high, neginf=low)
    np.clip(d_np, low, high, out=d_np)
    return np.ascontiguousarray(d_np, dtype=np.float32)


class DepthClipEngine:
    """
    Zero-shot monocular depth with a frozen CLIP model (DepthCLIP).

    The image encoder is ``model.backend``'s (:mod:`depthclip_ros.core.backends`: torch,
    or onnxruntime running an exported file); the text encoder and everything after the
    encoder run in torch, the same code for both.

    :param config: validated settings (model, input, prompts, bins, ...)
    :param loaded: an already loaded model (tests, several engines on one model)
    :raises ModelLoadError: the model or its weights cannot be loaded, the backbone cannot
        serve ``feature_mode``, or the onnxruntime backend cannot run (the message names the
        setting to change)
    """

    def __init__(self, config: DepthClipConfig, loaded: Optional[LoadedModel] = None):
        config.validate()
        # The files first: a bad one is refused before the model loads.
        early = load_embeddings(config.prompts.embeddings_file) \
            if config.prompts.embeddings_file else None
        onnx_file = config.model.onnx_file.strip()
        if config.model.backend == 'onnxruntime' and onnx_file:
            try:
                check_regular_file(onnx_file, f'model.onnx_file {onnx_file}')
            except ValueError as error:
                raise ModelLoadError(f'{error}: export one with `depthclip export onnx '
                                     '--output FILE.onnx`') from None
        self._loaded = loaded if loaded is not None else load_clip(encoder_model_config(config))
        self._encoder = make_encoder(config, self._loaded)
        mean, std = normalization_stats(config.input.normalization)
        device = self._loaded.device
        self._mean = torch.tensor(mean, device=device).reshape(1, 3, 1, 1)
        self._std = torch.tensor(std, device=device).reshape(1, 3, 1, 1)
        self._lock = threading.Lock()  # serializes prepare(), never held by predict()
        self._cancelled = threading.Event()
        self._text_computations = 0
        adapted = None
        if config.prompts.embeddings_file:  # at start the file gives depth_bins/temperature
            adapted = self._load_adapted(config.prompts.embeddings_file, config, early)
            config = config.with_updates(adapted.head_values())
        self._state = self._make_state(config, previous=None, adapted=adapted)
        if adapted is not None:
            LOG.info(f'class embeddings from {self._state.embeddings_source}')
        self._choice = ''
        if config.model.backend == 'auto':
            self._choose_backend()
        elif self._loaded.check_bf16 and isinstance(self._encoder, TorchEncoder):
            self._choose_fp32_or_bf16()

    # ---------------------------------------------------------------------------- properties
    @property
    def config(self) -> DepthClipConfig:
        """Return the settings in force now."""
        return self._state.config

    @property
    def device(self) -> str:
        """Return the device inference runs on (``cpu``, ``cuda:0``, ...)."""
        dev = self._loaded.device
        if dev.type == 'cuda' and dev.index is None:
            return f'cuda:{torch.cuda.current_device()}'
        return str(dev)

    @property
    def precision(self) -> str:
        """Return the image encoder's precision: fp32, fp16, bf16 or int8 (text: fp32)."""
        return self._encoder.precision

    @property
    def precision_reason(self) -> str:
        """Return one line saying which precision is used and why (``auto``'s measurement)."""
        if self._choice:
            return f'{self._encoder.precision_reason}; {self._choice}'
        return self._encoder.precision_reason

    @property
    def backend(self) -> str:
        """Return the image encoder's backend: ``torch`` or ``onnxruntime``."""
        return self._encoder.backend

    @property
    def backend_description(self) -> str:
        """Return the backend in a few words, e.g. ``onnxruntime (CPUExecutionProvider)``."""
        return self._encoder.description

    @property
    def weights(self) -> str:
        """Return what was loaded, e.g. ``RN50 openai`` or ``RN50 RANDOM weights``."""
        return self._loaded.weights

    @property
    def random_weights(self) -> bool:
        """Return whether the weights are random (tests and benchmarks only)."""
        return self._loaded.random_weights

    @property
    def loaded(self) -> LoadedModel:
        """Return the loaded model (to share it with another engine)."""
        return self._loaded

    @property
    def text_computations(self) -> int:
        """Return how many times class embeddings have been computed."""
        return self._text_computations

    @property
    def stride(self) -> int:
        """Return the feature stride in input pixels."""
        return self._encoder.stride

    # ----------------------------------------------------------------------------- precision
    def _choose_fp32_or_bf16(self) -> None:
        """
        ``model.precision: auto`` on a CPU with native bf16: keep bf16 only if it is close.

        Predicts the bundled sample frames with the fp32 image encoder and with a bf16 copy
        (the text side stays fp32), at the configured input size, prompts, bins and
        temperature, and keeps the copy when the 99th percentile of ``|bf16 - fp32|`` over
        all pixels is at most :data:`~depthclip_ros.core.loading.AUTO_BF16_MAX_P99_M`.
        Otherwise the fp32 weights are put back as they were (bit for bit). Frames go
        through one at a time, as in normal use; the fp32 weights are freed when bf16 is
        kept.
        """
        loaded = self._loaded
        limit = loading.AUTO_BF16_MAX_P99_M
        frames = precision_check_frames()
        loaded.check_bf16 = False
        if not frames:
            loaded.precision_reason = ('auto: native bf16 CPU, but the bundled sample frames '
                                       'to check bf16 against are missing (fp32)')
            return
        reference = [self.predict_one(frame).depth for frame in frames]
        visual = self._encoder.features.visual
        fp32_tensors = visual.state_dict()  # the fp32 weights themselves, not copies
        visual.to(dtype=torch.bfloat16)
        try:
            difference = depth_difference(
                reference, [self.predict_one(frame).depth for frame in frames])
        except RuntimeError as error:  # a torch build without some bf16 kernel
            visual.load_state_dict(fp32_tensors, assign=True)
            reason = one_line(error, limit=200)
            loaded.precision_reason = f'auto: bf16 failed on this CPU ({reason}): fp32'
            return
        if difference.p99 <= limit:
            loaded.precision, loaded.dtype = 'bf16', torch.bfloat16
            loaded.precision_reason = (
                f'auto: native bf16 CPU, bf16 within {limit:g} m p99 of fp32 on the sample '
                f'frames (p99 {difference.p99:.3f} m)')
        else:
            visual.load_state_dict(fp32_tensors, assign=True)  # the very same fp32 tensors
            loaded.precision_reason = (
                f'auto: native bf16 CPU, but bf16 is {difference.p99:.3f} m p99 from fp32 on '
                f'the sample frames (limit {limit:g} m): fp32')

    # ------------------------------------------------------------------------------ backend
    def _choose_backend(self) -> None:
        """
        ``model.backend: auto``: run the fastest correct encoder (:mod:`.backend_choice`).

        A stored choice for these graphs and this machine is used as it is; otherwise every
        candidate predicts the sample frames, the ONNX graphs are exported into the cache
        first (once), and the choice is stored. A stored graph that does not load is
        exported again.
        """
        loaded, m = self._loaded, self.config.model
        loaded.check_bf16 = False
        if loaded.device.type == 'cuda':
            self._choose_gpu_backend()
            return
        frames = precision_check_frames()
        tried, left = bc.cpu_candidates(m.precision, loading.cpu_has_native_bf16(),
                                        onnx_installed(), bc.cpu_has_vnni())
        if len(tried) == 1:  # model.precision bf16 or fp16: loaded so already
            self._choice = f'model.backend auto: {tried[0].name} (model.precision {m.precision})'
            return
        if not frames:
            self._choice = ('model.backend auto: torch fp32 (the bundled sample frames to '
                            'compare the candidates on are missing)')
            return
        from depthclip_ros.core.onnx_export import graph_versions
        folder = os.path.join(bc.cache_dir(), bc.graph_key(
            self.config, visual_fingerprint(loaded.model.visual), graph_versions()))
        choice_file = os.path.join(folder, bc.machine_key(torch.get_num_threads(),
                                                          self.config.flip_tta))
        stored = bc.load_choice(choice_file)
        if stored is not None:
            chosen, trials = stored
            try:
                self._adopt(chosen, folder)
                trial = next(t for t in trials if t.candidate == chosen)
                self._choice = f'{bc.summary(trial, trials)}; stored in {choice_file}'
                LOG.info(self._choice)
                return
            except ModelLoadError as error:
                LOG.warning(f'model.backend auto: the stored {chosen.name} does not load '
                            f'({one_line(error, limit=300)}): choosing again')
        trials = self._trials(tried, folder, frames) + left
        chosen = bc.pick(trials)
        self._adopt(chosen.candidate, folder)
        try:
            os.makedirs(folder, exist_ok=True)
            bc.save_choice(choice_file, chosen.candidate, trials)
        except OSError as error:  # a read-only cache: choose again at the next start
            LOG.warning(f'model.backend auto: cannot store the choice in {choice_file} '
                        f'({one_line(error, limit=200)}): the next start chooses again; set '
                        f'{bc.CACHE_ENV} to a writable folder')
        self._choice = bc.summary(chosen, trials)
        LOG.info(self._choice)

    def _trials(self, tried: Sequence[bc.Candidate], folder: str,
                frames: Sequence[np.ndarray]) -> List[bc.Trial]:
        """Run every candidate on ``frames``: its speed and its distance to torch fp32."""
        reference, ms = self._timed_depths(frames)
        trials = [bc.Trial(bc.TORCH_FP32, ms, 0.0)]
        int8 = bc.ONNX_INT8 in tried
        for candidate in tried[1:]:
            try:
                if candidate == bc.TORCH_BF16:
                    trials.append(self._bf16_trial(reference, frames))
                else:
                    trials.append(self._onnx_trial(candidate, folder, int8, reference, frames))
            except (ModelLoadError, OSError, RuntimeError, ValueError) as error:
                trials.append(bc.Trial(candidate, note=f'failed: {one_line(error, limit=200)}'))
        return trials

    def _timed_depths(self, frames: Sequence[np.ndarray]) -> Tuple[List[np.ndarray], float]:
        """
        Predict ``frames`` one at a time; return the depths and the fastest frame's ms.

        The first frame warms up and is not timed; of the others the fastest counts (another
        process on the same cores only ever slows a frame down).
        """
        depths, seconds = [], []
        for frame in frames:
            start = time.perf_counter()
            depths.append(self.predict_one(frame).depth)
            seconds.append(time.perf_counter() - start)
        return depths, 1000.0 * min(seconds[1:] or seconds)

    def _bf16_trial(self, reference: Sequence[np.ndarray],
                    frames: Sequence[np.ndarray]) -> bc.Trial:
        visual = self._encoder.features.visual
        fp32_tensors = visual.state_dict()  # the fp32 weights themselves, not copies
        visual.to(dtype=torch.bfloat16)
        try:
            depths, ms = self._timed_depths(frames)
        finally:
            visual.load_state_dict(fp32_tensors, assign=True)
        return bc.Trial(bc.TORCH_BF16, ms, depth_difference(reference, depths).p99)

    def _onnx_trial(self, candidate: bc.Candidate, folder: str, int8: bool,
                    reference: Sequence[np.ndarray], frames: Sequence[np.ndarray]) -> bc.Trial:
        self._ensure_graphs(folder, int8)
        path = os.path.join(folder, bc.INT8_GRAPH if candidate == bc.ONNX_INT8
                            else bc.FP32_GRAPH)
        if candidate == bc.ONNX_INT8:  # measured at export: not run when over the limit
            try:
                p99 = float(read_provenance(path).int8_p99_diff_m)
            except ValueError:
                p99 = math.nan
            if not p99 <= bc.MAX_P99_M:
                return bc.Trial(candidate, p99_m=p99, note=f'{p99:.3f} m p99 from fp32 at '
                                f'export, over {bc.MAX_P99_M:g} m')
        torch_encoder = self._encoder
        self._encoder = self._onnx_encoder(path, ['CPUExecutionProvider'], 'fp32')
        try:
            depths, ms = self._timed_depths(frames)
        finally:
            self._encoder = torch_encoder
        return bc.Trial(candidate, ms, depth_difference(reference, depths).p99)

    def _ensure_graphs(self, folder: str, int8: bool) -> None:
        """Export the graphs into ``folder`` unless each is there and made for this model."""
        fingerprint = visual_fingerprint(self._loaded.model.visual)
        for name in (bc.FP32_GRAPH, bc.INT8_GRAPH) if int8 else (bc.FP32_GRAPH,):
            path = os.path.join(folder, name)
            if not os.path.exists(path):
                break
            try:
                check_provenance(read_provenance(path), self.config, fingerprint, path)
            except ModelLoadError as error:
                LOG.warning(f'model.backend auto: the cached {path} cannot be used '
                            f'({one_line(error, limit=300)}): exporting it again')
                break
        else:
            return
        self._export_graphs(self, folder, int8)

    @staticmethod
    def _export_graphs(cpu_engine: 'DepthClipEngine', folder: str, int8: bool) -> None:
        """Export the fp32 (and int8) graph of ``cpu_engine`` (torch fp32) into ``folder``."""
        from depthclip_ros.core.onnx_export import export_onnx, ExportCheckError
        os.makedirs(folder, exist_ok=True)
        what = 'fp32 and int8 graphs' if int8 else 'fp32 graph'
        LOG.info(f'model.backend auto: exporting the image encoder to ONNX ({what}) into '
                 f'{folder}; once: later starts reuse it ...')
        start = time.perf_counter()
        fp32_path = os.path.join(folder, bc.FP32_GRAPH)
        try:
            if int8:
                export_onnx(cpu_engine, os.path.join(folder, bc.INT8_GRAPH), int8=True,
                            repeats=0, fp32_output=fp32_path)
            else:
                export_onnx(cpu_engine, fp32_path, repeats=0)
        except ExportCheckError as error:
            raise ModelLoadError(f'model.backend auto: {error}') from None
        LOG.info(f'model.backend auto: exported in {time.perf_counter() - start:.1f} s')

    def _onnx_encoder(self, path: str, providers: Sequence[str], precision: str
                      ) -> OnnxEncoder:
        config = self.config.with_updates({'model.backend': 'onnxruntime',
                                           'model.onnx_file': path,
                                           'model.onnx_providers': list(providers),
                                           'model.precision': precision})
        return OnnxEncoder(config, self._loaded)

    def _adopt(self, candidate: bc.Candidate, folder: str) -> None:
        """
        Run the image encoder as ``candidate`` from now on.

        :raises ModelLoadError: its cached graph does not load
        """
        loaded = self._loaded
        if candidate == bc.TORCH_BF16:
            self._encoder.features.visual.to(dtype=torch.bfloat16)
            loaded.precision, loaded.dtype = 'bf16', torch.bfloat16
            loaded.precision_reason = 'auto: bf16 torch'
        elif candidate in (bc.ONNX_FP32, bc.ONNX_INT8):
            name = bc.INT8_GRAPH if candidate == bc.ONNX_INT8 else bc.FP32_GRAPH
            self._encoder = self._onnx_encoder(os.path.join(folder, name),
                                               ['CPUExecutionProvider'], 'fp32')
        elif candidate != bc.TORCH_FP32:
            raise ModelLoadError(f'model.backend auto: unknown choice {candidate.name}')

    def _choose_gpu_backend(self) -> None:
        """CUDA: TensorRT fp16 from the cached fp32 graph where onnxruntime has it, else torch."""
        from depthclip_ros.core.onnx_export import graph_versions
        if not auto_exports_for_gpu(self.config):
            self._choice = (f'model.backend auto: torch {self.precision} on CUDA (no '
                            'TensorRT in this onnxruntime)')
            return
        folder = os.path.join(bc.cache_dir(), bc.graph_key(
            self.config, visual_fingerprint(self._loaded.model.visual), graph_versions()))
        path = os.path.join(folder, bc.FP32_GRAPH)
        try:
            if not os.path.exists(path):
                cpu = DepthClipEngine(self.config.with_updates(
                    {'model.backend': 'torch', 'model.device': 'cpu', 'model.precision': 'fp32'}))
                self._export_graphs(cpu, folder, int8=False)
            self._encoder = self._onnx_encoder(path, ['auto'], 'fp16')
            self._choice = f'model.backend auto: TensorRT fp16 ({path})'
        except ModelLoadError as error:
            loaded = self._loaded
            loaded.model.visual.half()
            loaded.precision, loaded.dtype = 'fp16', torch.float16
            self._choice = (f'model.backend auto: torch fp16 on CUDA (TensorRT failed: '
                            f'{one_line(error, limit=200)})')
        LOG.info(self._choice)

    # ------------------------------------------------------------------------------ settings
    @property
    def state(self) -> 'LiveState':
        """Return the live settings and embeddings in force now (one consistent snapshot)."""
        return self._state

    def update(self, values: Mapping[str, Any]) -> DepthClipConfig:
        """
        Apply live settings (dotted names) atomically: :meth:`prepare`, then :meth:`commit`.

        :raises ValueError: unknown or read-only name, or an invalid value (the reason)
        """
        state = self.prepare(values)
        self.commit(state)
        return state.config

    def prepare(self, values: Mapping[str, Any]) -> 'LiveState':
        """
        Validate live settings and compute what they need, without applying them.

        All values are validated together against the settings in force; the class
        embeddings are computed (once) when the prompts change, checked (every prompt fits
        the text encoder, no two classes read the same) and can be cancelled with
        :meth:`cancel`. Predictions go on with the old state meanwhile: nothing changes until
        :meth:`commit`.

        ``prompts.embeddings_file``: a file set here is read and checked against the model
        (:mod:`depthclip_ros.core.embeddings`); its ``depth_bins`` and ``temperature`` are
        taken unless ``values`` sets them too. Setting the same path again re-reads the file
        (a new state when its content changed). While a file is set the prompts do not
        drive the class embeddings.

        :raises ValueError: unknown or read-only name, or an invalid value (the reason)
        :raises CancelledError: :meth:`cancel` was called while embeddings were computed
        """
        read_only = set(read_only_names())
        for name in values:
            if name in read_only:
                raise ValueError(f'{name} is read-only: it cannot change while the model is '
                                 'loaded (restart with the new value)')
        with self._lock:
            current = self._state
            values = dict(values)
            adapted = None
            path = values.get(EMBEDDINGS_PARAMETER)
            if isinstance(path, str) and path:
                adapted = self._load_adapted(path, current.config)
                for name, value in adapted.head_values().items():
                    values.setdefault(name, value)
            config = current.config.with_updates(values)
            if config == current.config and (
                    adapted is None or (current.adapted is not None
                                        and adapted.digest == current.adapted.digest)):
                return current
            return self._make_state(config, previous=current, adapted=adapted)

    def commit(self, state: 'LiveState') -> None:
        """Put a state from :meth:`prepare` in force (one reference swap: frames never mix)."""
        self._state = state

    def cancel(self) -> None:
        """Stop any class-embedding computation now and refuse new ones (shutting down)."""
        self._cancelled.set()

    def _load_adapted(self, path: str, config: DepthClipConfig,
                      adapted: Optional[AdaptedEmbeddings] = None) -> AdaptedEmbeddings:
        """Read an adapted-embeddings file and check it against this model and ``config``."""
        adapted = adapted if adapted is not None else load_embeddings(path)
        check_compatible(adapted, config.model.name, config.feature_mode,
                         self._encoder.out_dim, where=f'{EMBEDDINGS_PARAMETER} {path}')
        return adapted

    def _make_state(self, config: DepthClipConfig, previous: Optional['LiveState'],
                    adapted: Optional[AdaptedEmbeddings] = None) -> 'LiveState':
        device = self._loaded.device
        if adapted is None and previous is not None and \
                embeddings_key(previous.config) == embeddings_key(config):
            text, adapted = previous.text, previous.adapted
        elif config.prompts.embeddings_file:
            if adapted is None:
                adapted = self._load_adapted(config.prompts.embeddings_file, config)
            text = torch.from_numpy(adapted.embeddings.copy()).to(device)
        else:
            p = config.prompts
            text = class_embeddings(self._loaded.model, self._loaded.tokenizer, p.templates,
                                    p.objects, p.depth_classes, device,
                                    should_stop=self._cancelled.is_set)
            self._text_computations += 1
        if adapted is not None and len(config.depth_bins) != adapted.classes:
            raise ValueError(f'depth_bins has {len(config.depth_bins)} values but '
                             f'{EMBEDDINGS_PARAMETER} {adapted.path} has {adapted.classes} '
                             'class embeddings; they must match one to one')
        bins = torch.tensor(config.metric_bins, dtype=torch.float32, device=device)
        return LiveState(config=config, text=text, bins=bins,
                         adapted=adapted if config.prompts.embeddings_file else None,
                         grounding=self._grounding_text(config, previous))

    def _grounding_text(self, config: DepthClipConfig,
                        previous: Optional['LiveState']) -> Optional[GroundingText]:
        """
        Return the query embeddings ``config`` needs (None when it has no queries).

        Kept from ``previous`` when only the threshold changed.

        :raises ValueError: this encoder cannot give semantic features, a prompt does not
            fit, or two words read the same
        """
        g = config.grounding
        if not g.queries:
            return None
        reason = self._encoder.semantic_reason
        if reason:
            raise ValueError(reason)
        if previous is not None and previous.grounding is not None and \
                grounding_key(previous.config) == grounding_key(config):
            old = previous.grounding
            return GroundingText(queries=old.queries, background=old.background,
                                 embeddings=old.embeddings, threshold=float(g.threshold))
        return query_text(self._loaded.model, self._loaded.tokenizer, g, self._loaded.device,
                          should_stop=self._cancelled.is_set)

    # ---------------------------------------------------------------------------- prediction
    def preprocess(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """
        Turn RGB uint8 images into one normalized batch at the network input size.

        Images already at the input size are used as they are (no resampling); others are
        resized bilinearly (with antialiasing when shrinking) to input.height x input.width.

        :raises ValueError: an image that is not H x W x 3 uint8
        """
        cfg = self._state.config.input
        size = (cfg.height, cfg.width)
        device = self._loaded.device
        batch = []
        check_images(images)
        for image in images:
            tensor = torch.from_numpy(np.ascontiguousarray(image))
            if device.type == 'cuda':
                tensor = tensor.pin_memory().to(device, non_blocking=True)
            tensor = tensor.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
            if tuple(tensor.shape[-2:]) != size:
                shrink = tensor.shape[-2] > size[0] or tensor.shape[-1] > size[1]
                tensor = F.interpolate(tensor, size=size, mode='bilinear', align_corners=False,
                                       antialias=shrink)
            batch.append(tensor)
        x = torch.cat(batch, dim=0)
        return (x - self._mean) / self._std

    @torch.inference_mode()
    def encode(self, batch: torch.Tensor) -> torch.Tensor:
        """Run the image encoder once on a normalized batch: dense features (B, C, h, w)."""
        return self._encoder(batch)

    @torch.inference_mode()
    def predict_low_res(self, batch: torch.Tensor, state: Optional[LiveState] = None,
                        steps: Optional[Sequence[Optional[ProbabilityStep]]] = None
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Depth and confidence at feature resolution for a normalized batch.

        With flip_tta, the image and its mirror go through the encoder as one batch and the
        class probabilities of the mirror, flipped back, are averaged with the image's
        (the reference averages depths; depth is linear in the probabilities, so the
        depth is the same, and the confidence comes from the averaged distribution).

        :param steps: per image, a function applied to its ``(K, h, w)`` class
            probabilities before they become depth (a temporal filter), or None
        :return: depth ``(B, 1, h, w)`` metres and confidence ``(B, 1, h, w)``, float32
        """
        depth, conf, _ = self._low_res(batch, state if state is not None else self._state,
                                       steps)
        return depth, conf

    def _low_res(self, batch: torch.Tensor, state: LiveState,
                 steps: Optional[Sequence[Optional[ProbabilityStep]]]
                 ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """
        :meth:`predict_low_res`, and the query probabilities when ``state`` has queries.

        The semantic features come from the same encoder pass; with flip TTA only the
        image's own half is used (not its mirror).

        :return: depth, confidence, and ``(B, Q + B_g, h, w)`` query probabilities or None
        """
        cfg = state.config
        n = batch.shape[0]
        if cfg.flip_tta:
            batch = torch.cat([batch, torch.flip(batch, dims=[3])], dim=0)
        grounding = None
        if state.grounding is None:
            features = self._encoder(batch)
        else:
            features, semantic = self._encoder.with_semantics(batch, n)
            grounding = grounding_probabilities(semantic, state.grounding.embeddings)
        probabilities = class_probabilities(features, state.text, cfg.temperature)
        if cfg.flip_tta:
            probabilities = average_mirrored(probabilities[:n], probabilities[n:])
        if steps is not None and any(step is not None for step in steps):
            probabilities = torch.stack([step(p) if step is not None else p
                                         for p, step in zip(probabilities, steps)])
        return expected_depth(probabilities, state.bins), confidence(probabilities), grounding

    @torch.inference_mode()
    def predict(self, images: Sequence[np.ndarray],
                output_sizes: Optional[Sequence[Tuple[int, int]]] = None,
                state: Optional[LiveState] = None,
                steps: Optional[Sequence[Optional[ProbabilityStep]]] = None
                ) -> List[Prediction]:
        """
        Predict metric depth for a batch of RGB images in one encoder pass.

        :param images: H x W x 3 uint8 RGB arrays (any sizes)
        :param output_sizes: (height, width) per image; default: each image's own size
        :param state: the live settings to use (:attr:`state` of some moment); default: now
        :param steps: per image, a function of its class probabilities (see
            :meth:`predict_low_res`), e.g. a camera's temporal filter
        :return: one :class:`Prediction` per image
        :raises ValueError: malformed image or output size
        """
        if len(images) == 0:
            return []
        check_images(images)
        if output_sizes is None:
            output_sizes = [image.shape[:2] for image in images]
        if len(output_sizes) != len(images):
            raise ValueError('output_sizes must give one (height, width) per image')
        if steps is not None and len(steps) != len(images):
            raise ValueError('steps must give one step (or None) per image')
        for size in output_sizes:
            if len(size) != 2 or int(size[0]) < 1 or int(size[1]) < 1:
                raise ValueError(f'output size must be (height, width) >= 1, got {size}')
        state = state if state is not None else self._state  # one snapshot per batch
        batch = self.preprocess(images)
        depth, conf, grounding = self._low_res(batch, state, steps)
        cfg = state.config
        out = []
        for i, (h, w) in enumerate(output_sizes):
            size = (int(h), int(w))
            c = F.interpolate(conf[i:i + 1], size=size, mode='bilinear', align_corners=True)
            c_np = np.clip(np.nan_to_num(c[0, 0].float().cpu().numpy(), nan=0.0), 0.0, 1.0)
            masks = None if grounding is None else query_masks(grounding[i], size,
                                                               state.grounding)
            out.append(Prediction(depth=finish_depth(depth[i:i + 1], size, cfg.depth_range,
                                                     cfg.smoothing_sigma),
                                  confidence=np.ascontiguousarray(c_np, dtype=np.float32),
                                  grounding=masks))
        return out

    def predict_one(self, image: np.ndarray,
                    output_size: Optional[Tuple[int, int]] = None) -> Prediction:
        """Predict depth for one RGB image; see :meth:`predict`."""
        return self.predict([image], None if output_size is None else [output_size])[0]
