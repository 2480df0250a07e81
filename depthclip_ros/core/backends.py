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
The engine's image encoders: torch (:class:`DenseFeatures`) or onnxruntime (an exported graph).

An encoder turns a normalized image batch ``(B, 3, H, W)`` into the dense features of the
feature mode, ``(B, C, H/s, W/s)`` float32 on the engine's device; everything after that
(the head, flip TTA, upsampling, the temporal filter, the scale, the outputs) is the
engine's one code path whichever encoder ran. ``model.backend`` chooses:

``torch``
    :class:`TorchEncoder`: CLIP's image tower in eager PyTorch (fp32, bf16 or fp16).
``onnxruntime``
    :class:`OnnxEncoder`: ``model.onnx_file``, written by ``depthclip export onnx`` (fp32,
    or int8 with ``--int8``), run by onnxruntime with ``model.onnx_providers``. The file's
    metadata (:class:`OnnxProvenance`) must say it was made for this ``model.name``,
    ``feature_mode``, input size and image-tower weights; otherwise, and for a missing file
    or a provider this onnxruntime does not have, loading fails with one
    :class:`~depthclip_ros.core.loading.ModelLoadError` line naming the parameter.

The text encoder (class embeddings) always runs in torch: prompts, bins and temperature stay
live whichever backend encodes the images. onnxruntime is imported only when the
onnxruntime backend is used.
"""

from dataclasses import dataclass, fields, MISSING, replace
import hashlib
import logging
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from depthclip_ros.core.backend_choice import cache_root
from depthclip_ros.core.config import (DepthClipConfig, FEATURE_MODES, MAX_INPUT_SIDE,
                                       MIN_INPUT_SIDE, ModelConfig, NORMALIZATIONS)
from depthclip_ros.core.files import check_regular_file, short
from depthclip_ros.core.grounding import unsupported_reason
from depthclip_ros.core.loading import LoadedModel, ModelLoadError, resolve_device
from depthclip_ros.core.model import DenseFeatures, UnsupportedBackboneError
from depthclip_ros.core.text import one_line

LOG = logging.getLogger('depthclip_ros')

__all__ = ['auto_exports_for_gpu', 'check_provenance', 'choose_providers', 'Encoder',
           'encoder_model_config', 'import_onnxruntime', 'make_encoder', 'onnx_installed',
           'OnnxEncoder', 'OnnxProvenance', 'provider_options', 'read_provenance',
           'TorchEncoder', 'visual_fingerprint']

#: Longest metadata value read, characters (fingerprints and notes are far shorter).
MAX_METADATA_CHARS = 1000
#: Widest feature a graph may declare (CLIP backbones have 512 to 4096).
MAX_FEATURE_DIM = 65536
#: Precisions of exported graphs.
GRAPH_PRECISIONS = ('fp32', 'int8')

#: Input and output names of exported graphs.
INPUT_NAME = 'images'
OUTPUT_NAME = 'features'
#: Version of the metadata layout written by ``depthclip export onnx``.
FORMAT_VERSION = '1'
METADATA_PREFIX = 'depthclip.'

TENSORRT = 'TensorrtExecutionProvider'
CUDA = 'CUDAExecutionProvider'
CPU = 'CPUExecutionProvider'
#: What ``model.onnx_providers: [auto]`` picks from on a CUDA ``model.device``, best first.
GPU_PREFERENCE = (TENSORRT, CUDA, CPU)
AUTO = 'auto'

#: TensorRT: the builder's workspace limit, bytes (fits the 8 GB Jetson Orin modules).
TENSORRT_WORKSPACE_BYTES = 2 << 30
#: TensorRT with a dynamic batch: the optimization profile's largest batch (images: with
#: flip TTA each camera frame is two) and the batch it is tuned for (one frame and its mirror).
TENSORRT_MAX_BATCH = 32
TENSORRT_OPT_BATCH = 2

#: An int8 file whose depth p99 against fp32 (measured at export) exceeds this is used only
#: with a warning (the same limit ``model.precision: auto`` applies to bf16).
INT8_WARN_P99_M = 0.05


def import_onnxruntime():
    """
    Import onnxruntime, or explain how to install it.

    :raises ModelLoadError: onnxruntime is not installed
    """
    try:
        import onnxruntime
    except ImportError:
        raise ModelLoadError(
            'model.backend onnxruntime needs the onnxruntime package: pip install onnxruntime '
            "(CPU) or onnxruntime-gpu (CUDA, TensorRT), or pip install 'depthclip_ros[onnx]'; "
            'or set model.backend to torch') from None
    return onnxruntime


def onnx_installed() -> bool:
    """Return whether onnx and onnxruntime import (what exporting and running a graph need)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


# -------------------------------------------------------------------------------------------
# Provenance of an exported file
# -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OnnxProvenance:
    """
    What an exported image encoder was made for and from: the ONNX file's metadata.

    Stored as ``depthclip.<field>`` string entries of the model's ``metadata_props``.
    ``visual_sha256`` fingerprints the image tower's weights (:func:`visual_fingerprint`);
    ``batch`` is ``dynamic`` or the graph's fixed batch size. The ``check_*`` fields are the
    export's comparison with torch fp32 on the bundled sample frames (metres for depth),
    ``int8_*`` the int8 graph's depth error there (empty for fp32 files).
    """

    model: str
    weights: str
    visual_sha256: str
    feature_mode: str
    input_height: int
    input_width: int
    normalization: str
    batch: str
    feature_dim: int
    stride: int
    opset: int
    precision: str
    format_version: str = FORMAT_VERSION
    depthclip_version: str = ''
    torch_version: str = ''
    onnxruntime_version: str = ''
    created: str = ''
    check_frames: str = ''
    check_temperature: str = ''
    check_max_feature_diff: str = ''
    check_max_depth_diff_m: str = ''
    calibration: str = ''
    int8_mean_diff_m: str = ''
    int8_p99_diff_m: str = ''
    int8_max_diff_m: str = ''

    def to_metadata(self) -> Dict[str, str]:
        """Return the ``metadata_props`` entries: ``{'depthclip.model': 'RN50', ...}``."""
        return {METADATA_PREFIX + f.name: str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], path: str) -> 'OnnxProvenance':
        """
        Read the provenance from a model's metadata.

        :raises ModelLoadError: not written by ``depthclip export onnx`` (or another layout)
        """
        version = metadata.get(METADATA_PREFIX + 'format_version')
        if version is None:
            raise ModelLoadError(
                f'model.onnx_file {path} was not written by `depthclip export onnx` (no '
                f'{METADATA_PREFIX}* metadata): export the image encoder with it')
        if version != FORMAT_VERSION:
            raise ModelLoadError(
                f'model.onnx_file {path} has metadata format {version}, this depthclip_ros reads '
                f'{FORMAT_VERSION}: export it again with `depthclip export onnx`')
        values: Dict[str, Any] = {}
        for f in fields(cls):
            raw = metadata.get(METADATA_PREFIX + f.name)
            if raw is None:
                if f.default is not MISSING:  # optional: files may predate the field
                    continue
                raise ModelLoadError(f'model.onnx_file {path}: metadata '
                                     f'{METADATA_PREFIX}{f.name} is missing: export it again')
            if len(raw) > MAX_METADATA_CHARS:
                raise ModelLoadError(f'model.onnx_file {path}: metadata {METADATA_PREFIX}'
                                     f'{f.name} has {len(raw)} characters; at most '
                                     f'{MAX_METADATA_CHARS}: export it again')
            try:
                values[f.name] = int(raw) if f.type in (int, 'int') else raw
            except ValueError:
                raise ModelLoadError(f'model.onnx_file {path}: metadata {METADATA_PREFIX}'
                                     f'{f.name} is not an integer ({short(raw)})') from None
        _check_metadata(values, path)
        return cls(**values)

    def with_updates(self, **values: Any) -> 'OnnxProvenance':
        """Return a copy with some fields replaced."""
        return replace(self, **values)


def _check_metadata(values: Mapping[str, Any], path: str) -> None:
    """
    Check the fields of the provenance that the encoder computes with, before it does.

    :raises ModelLoadError: a field outside what ``depthclip export onnx`` writes
    """
    def bad(name: str, rule: str) -> ModelLoadError:
        return ModelLoadError(f'model.onnx_file {path}: metadata {METADATA_PREFIX}{name} must '
                              f'be {rule}, got {short(values[name])}: the file is damaged or '
                              'not from `depthclip export onnx`; export it again')
    side = min(values['input_height'], values['input_width'])
    ranges = (('input_height', MIN_INPUT_SIDE, MAX_INPUT_SIDE),
              ('input_width', MIN_INPUT_SIDE, MAX_INPUT_SIDE),
              ('feature_dim', 1, MAX_FEATURE_DIM), ('stride', 1, max(side, 1)),
              ('opset', 1, 1000))
    for name, low, high in ranges:
        if not low <= values[name] <= high:
            raise bad(name, f'an integer in [{low}, {high}]')
    batch = values['batch']
    if batch != 'dynamic' and not (batch.isdigit() and 1 <= int(batch) <= 4096):
        raise bad('batch', 'dynamic or a batch size of 1 to 4096')
    for name, choices in (('feature_mode', FEATURE_MODES), ('normalization', NORMALIZATIONS),
                          ('precision', GRAPH_PRECISIONS)):
        if values[name] not in choices:
            raise bad(name, 'one of ' + ', '.join(choices))


def visual_fingerprint(visual: nn.Module) -> str:
    """
    Return a SHA-256 of the image tower's weights as fp32 (names, shapes and values).

    The same for any memory format and device; different for other weights (and for the
    same weights rounded to bf16 or fp16).
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(visual.state_dict().items()):
        values = tensor.detach().to(device='cpu', dtype=torch.float32).contiguous()
        digest.update(f'{name}:{tuple(values.shape)};'.encode('utf-8'))
        digest.update(memoryview(values.numpy()).cast('B'))
    return digest.hexdigest()


def check_provenance(provenance: OnnxProvenance, config: DepthClipConfig, fingerprint: str,
                     path: str) -> None:
    """
    Check that an exported file was made for this configuration and these weights.

    :raises ModelLoadError: naming model.onnx_file, what differs, and what to do
    """
    wanted = (('model.name', provenance.model, config.model.name),
              ('feature_mode', provenance.feature_mode, config.feature_mode),
              ('input size (input.height x input.width)',
               f'{provenance.input_height}x{provenance.input_width}',
               f'{config.input.height}x{config.input.width}'))
    for name, in_file, configured in wanted:
        if in_file != configured:
            raise ModelLoadError(
                f'model.onnx_file {path} was exported for {name} {in_file}, but this '
                f'configuration has {configured}: export it again for this configuration '
                '(`depthclip export onnx --params ...`) or set the parameters to match')
    if provenance.visual_sha256 != fingerprint:
        raise ModelLoadError(
            f'model.onnx_file {path} was exported from other image-encoder weights '
            f'({provenance.weights}) than model.pretrained loads now: export it again with '
            'this model.pretrained (the text side needs the same weights)')


# -------------------------------------------------------------------------------------------
# Providers
# -------------------------------------------------------------------------------------------
def choose_providers(requested: Sequence[str], available: Sequence[str],
                     device: torch.device) -> List[str]:
    """
    Resolve ``model.onnx_providers`` against what this onnxruntime offers.

    ``[auto]``: on a CUDA ``model.device``, TensorRT, CUDA and CPU, whichever are available,
    in that order; on the CPU, the CPU provider. An explicit list is kept as it is (first
    preferred; onnxruntime runs what a provider cannot on the next one, and on the CPU).

    :param requested: the parameter's value
    :param available: ``onnxruntime.get_available_providers()``
    :param device: the torch device the head runs on (``model.device``)
    :raises ModelLoadError: an empty list, ``auto`` among others, a name listed twice, or a
        provider this onnxruntime does not have (the message lists the available ones)
    """
    requested = list(requested)
    if not requested:
        raise ModelLoadError('model.onnx_providers is empty: list execution providers (first '
                             'preferred) or write [auto]')
    if AUTO in requested:
        if len(requested) > 1:
            raise ModelLoadError(f'model.onnx_providers: auto stands alone ([auto]), got '
                                 f'{requested}')
        if device.type == 'cuda':
            return [p for p in GPU_PREFERENCE if p in available or p == CPU]
        return [CPU]
    for name in requested:
        if requested.count(name) > 1:
            raise ModelLoadError(f'model.onnx_providers lists {name} twice')
        if name not in available:
            hint = (' (the onnxruntime package has only the CPU; pip install onnxruntime-gpu '
                    'for CUDA and TensorRT)' if name in (TENSORRT, CUDA) else '')
            raise ModelLoadError(
                f'model.onnx_providers: {name} is not available in this onnxruntime '
                f'(available: {", ".join(available)}){hint}; list available providers or '
                'write [auto]')
    return requested


def tensorrt_cache_dir() -> str:
    """Return where TensorRT engines and timing caches are kept (the package's cache)."""
    return os.path.join(cache_root(), 'tensorrt')


def provider_options(providers: Sequence[str], fp16: bool, device: torch.device,
                     input_size: Tuple[int, int], dynamic_batch: bool,
                     cache_dir: Optional[str] = None) -> List[Dict[str, str]]:
    """
    Return the onnxruntime options of each provider (strings, as onnxruntime takes them).

    TensorRT: fp16 kernels when ``fp16``, engines and timing caches kept in ``cache_dir``
    (default :func:`tensorrt_cache_dir`; the first start builds them, later starts load
    them), a workspace of :data:`TENSORRT_WORKSPACE_BYTES`, and for a dynamic batch one
    optimization profile from 1 to :data:`TENSORRT_MAX_BATCH` images tuned for
    :data:`TENSORRT_OPT_BATCH`. CUDA: the device. CPU: none.

    :param input_size: (height, width) of the graph's input
    :param dynamic_batch: whether the graph's batch dimension is dynamic
    """
    index = device.index if device.type == 'cuda' and device.index is not None else 0
    height, width = input_size
    out = []
    for name in providers:
        if name == TENSORRT:
            cache = cache_dir or tensorrt_cache_dir()
            options = {
                'device_id': str(index),
                'trt_fp16_enable': 'True' if fp16 else 'False',
                'trt_engine_cache_enable': 'True',
                'trt_engine_cache_path': cache,
                'trt_timing_cache_enable': 'True',
                'trt_timing_cache_path': cache,
                'trt_max_workspace_size': str(TENSORRT_WORKSPACE_BYTES),
            }
            if dynamic_batch:
                shape = f'3x{height}x{width}'
                options.update({
                    'trt_profile_min_shapes': f'{INPUT_NAME}:1x{shape}',
                    'trt_profile_opt_shapes': f'{INPUT_NAME}:{TENSORRT_OPT_BATCH}x{shape}',
                    'trt_profile_max_shapes': f'{INPUT_NAME}:{TENSORRT_MAX_BATCH}x{shape}',
                })
            out.append(options)
        elif name == CUDA:
            out.append({'device_id': str(index)})
        else:
            out.append({})
    return out


# -------------------------------------------------------------------------------------------
# Encoders
# -------------------------------------------------------------------------------------------
class Encoder:
    """
    The engine's encode step: dense features of a normalized batch.

    ``backend``: ``torch`` or ``onnxruntime``; ``stride``: input pixels per feature;
    ``precision`` / ``precision_reason``: what runs and why (one line).
    """

    backend = ''

    @property
    def stride(self) -> int:  # pragma: no cover - overridden
        """Return the feature stride in input pixels."""
        raise NotImplementedError

    @property
    def out_dim(self) -> int:  # pragma: no cover - overridden
        """Return the number of feature channels (the text embedding width)."""
        raise NotImplementedError

    @property
    def precision(self) -> str:  # pragma: no cover - overridden
        """Return the precision the image encoder runs in."""
        raise NotImplementedError

    @property
    def precision_reason(self) -> str:  # pragma: no cover - overridden
        """Return one line saying which precision runs and why."""
        raise NotImplementedError

    @property
    def description(self) -> str:
        """Return the backend in a few words (diagnostics)."""
        return self.backend

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """Return ``(B, C, h, w)`` float32 features of a normalized ``(B, 3, H, W)`` batch."""
        raise NotImplementedError

    @property
    def semantic_reason(self) -> str:
        """Return why :meth:`with_semantics` cannot run here, or ``''`` when it can."""
        return ''

    def with_semantics(self, batch: torch.Tensor, count: Optional[int] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Return the features and the semantic (``projected``) features of one encoder pass.

        :param count: semantic features of the first ``count`` images only (None: all)

        :raises ValueError: this encoder cannot give them (:attr:`semantic_reason`)
        """
        raise ValueError(self.semantic_reason or 'no semantic features')  # pragma: no cover


class TorchEncoder(Encoder):
    """
    CLIP's image tower in PyTorch (:class:`DenseFeatures`, NHWC weights for speed).

    :raises ModelLoadError: the backbone cannot serve the feature mode
    """

    backend = 'torch'

    def __init__(self, loaded: LoadedModel, feature_mode: str):
        self._loaded = loaded
        try:
            self.features = DenseFeatures(loaded.model, feature_mode)
        except UnsupportedBackboneError as error:
            raise ModelLoadError(str(error)) from None
        self.features.use_channels_last()

    @property
    def stride(self) -> int:
        """Return the feature stride in input pixels."""
        return self.features.stride

    @property
    def out_dim(self) -> int:
        """Return the number of feature channels (the text embedding width)."""
        return self.features.out_dim

    @property
    def precision(self) -> str:
        """Return the precision the loaded image tower runs in."""
        return self._loaded.precision

    @property
    def precision_reason(self) -> str:
        """Return why that precision (``model.precision`` and ``auto``'s check)."""
        return self._loaded.precision_reason

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Return the dense features of a normalized batch."""
        return self.features(batch)

    def with_semantics(self, batch: torch.Tensor, count: Optional[int] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return the features and the semantic features of one trunk pass."""
        return self.features.features_and_semantics(batch, count)


class OnnxEncoder(Encoder):
    """
    An exported image encoder run by onnxruntime.

    Inputs and outputs are bound to torch tensors (IO binding): on a CUDA ``model.device``
    with the CUDA or TensorRT provider they stay on the GPU; otherwise they go through host
    memory. A graph exported with a fixed batch runs larger batches in chunks of that size
    (the last one padded).

    :param config: the engine's settings (``model.*``, ``feature_mode``, input size)
    :param loaded: the torch CLIP model (its image tower's weights are fingerprinted)
    :raises ModelLoadError: one line naming the parameter (missing or foreign file,
        unavailable provider, a precision the backend cannot give)
    """

    backend = 'onnxruntime'

    def __init__(self, config: DepthClipConfig, loaded: LoadedModel):
        m = config.model
        path = m.onnx_file.strip()
        if not path:
            raise ModelLoadError('model.backend is onnxruntime but model.onnx_file is empty: '
                                 'export the image encoder with `depthclip export onnx --output '
                                 'FILE.onnx` and set model.onnx_file to it')
        try:
            check_regular_file(path, f'model.onnx_file {path}')
        except ValueError as error:
            raise ModelLoadError(f'{error}: export one with `depthclip export onnx --output '
                                 'FILE.onnx`') from None
        if m.precision == 'bf16':
            raise ModelLoadError('model.precision bf16 is for model.backend torch; with '
                                 'onnxruntime the file sets the precision (fp32 or int8, '
                                 'fp16 with TensorRT): set model.precision to auto or fp32')
        ort = import_onnxruntime()
        self._ort = ort
        device = loaded.device
        providers = choose_providers(m.onnx_providers, ort.get_available_providers(), device)
        fp16 = m.precision in ('auto', 'fp16') and TENSORRT in providers
        if m.precision == 'fp16' and TENSORRT not in providers:
            raise ModelLoadError('model.precision fp16 with model.backend onnxruntime needs '
                                 'TensorrtExecutionProvider in model.onnx_providers (CUDA and '
                                 'CPU run the exported graph as it is): set model.precision '
                                 'to auto or fp32')
        fingerprint = visual_fingerprint(loaded.model.visual)
        dynamic = True
        if providers != [CPU]:
            # Check the file before a GPU provider spends minutes building engines for it.
            early = OnnxProvenance.from_metadata(_light_metadata(ort, path), path)
            check_provenance(early, config, fingerprint, path)
            dynamic = early.batch == 'dynamic'
        self.session = _session(ort, path, providers, provider_options(
            providers, fp16, device, (config.input.height, config.input.width), dynamic))
        self.provenance = OnnxProvenance.from_metadata(
            self.session.get_modelmeta().custom_metadata_map, path)
        check_provenance(self.provenance, config, fingerprint, path)
        started = self.session.get_providers()
        missing = [p for p in providers if p not in started]
        self.providers = [p for p in providers if p in started]
        if missing and list(m.onnx_providers) != [AUTO]:
            raise ModelLoadError(
                f'model.onnx_providers: {", ".join(missing)} could not be started by '
                'onnxruntime (see its log above; TensorRT needs the TensorRT libraries, CUDA '
                'the CUDA and cuDNN ones): install them, or list only providers that start')
        self._check_signature(path)
        self.path = path
        self._device = device
        on_gpu = device.type == 'cuda' and self.providers[0] in (TENSORRT, CUDA)
        self._bind_device = device if on_gpu else torch.device('cpu')
        precision = self.provenance.precision
        self._precision = 'fp16' if precision == 'fp32' and fp16 and \
            self.providers[0] == TENSORRT else precision
        fp16 = fp16 and TENSORRT in self.providers  # TensorRT may not have started
        notes = f'; {", ".join(missing)} did not start' if missing else ''
        self._reason = (f'onnxruntime {ort.__version__}, {os.path.basename(path)} '
                        f'({precision} graph{self._int8_note()}), '
                        f'{" > ".join(self.providers)}{" with fp16" if fp16 else ""}{notes}')
        if precision == 'int8':
            self._warn_int8(path)

    # --------------------------------------------------------------------------------- info
    @property
    def stride(self) -> int:
        """Return the feature stride in input pixels (from the file)."""
        return self.provenance.stride

    @property
    def out_dim(self) -> int:
        """Return the number of feature channels (from the file)."""
        return self.provenance.feature_dim

    @property
    def precision(self) -> str:
        """Return ``fp32``, ``int8`` (the file's), or ``fp16`` (an fp32 file on TensorRT)."""
        return self._precision

    @property
    def precision_reason(self) -> str:
        """Return the runtime, file, graph precision and providers in one line."""
        return self._reason

    @property
    def description(self) -> str:
        """Return ``onnxruntime (<providers>)``."""
        return f'onnxruntime ({", ".join(self.providers)})'

    @property
    def semantic_reason(self) -> str:
        """Return ``''`` for a ``projected`` graph (its output is them), else why not."""
        return unsupported_reason(self.backend, self.provenance.feature_mode)

    def with_semantics(self, batch: torch.Tensor, count: Optional[int] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Return the graph's output twice: in ``projected`` mode it is the semantic features.

        :raises ValueError: a ``paper`` graph (:attr:`semantic_reason`)
        """
        reason = self.semantic_reason
        if reason:
            raise ValueError(reason)
        features = self(batch)
        return features, features[:count]

    @property
    def fixed_batch(self) -> Optional[int]:
        """Return the graph's fixed batch size, or None for a dynamic batch."""
        return self._fixed_batch

    def _int8_note(self) -> str:
        p = self.provenance
        if p.precision != 'int8' or not p.int8_p99_diff_m:
            return ''
        return f', |depth - fp32| p99 {float(p.int8_p99_diff_m):.3f} m at export'

    def _warn_int8(self, path: str) -> None:
        p = self.provenance
        if not p.int8_p99_diff_m:  # not measured yet: the export itself is loading it
            return
        try:
            p99 = float(p.int8_p99_diff_m)
        except ValueError:
            p99 = math.nan
        if not p99 <= INT8_WARN_P99_M:
            LOG.warning(f'model.onnx_file {path} is int8 and its depth differs from fp32 by '
                        f'{p99:.3f} m at the 99th percentile on the sample frames (more than '
                        f'{INT8_WARN_P99_M:g} m): use it knowingly, or an fp32 file')

    def _check_signature(self, path: str) -> None:
        """Check the graph's input and output against the provenance."""
        p = self.provenance
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or inputs[0].name != INPUT_NAME \
                or outputs[0].name != OUTPUT_NAME:
            raise ModelLoadError(f'model.onnx_file {path}: the graph must have one input '
                                 f'{INPUT_NAME!r} and one output {OUTPUT_NAME!r}: export it '
                                 'again with `depthclip export onnx`')
        shape = list(inputs[0].shape)
        if len(shape) != 4 or shape[1:] != [3, p.input_height, p.input_width]:
            raise ModelLoadError(f'model.onnx_file {path}: input shape {shape} is not '
                                 f'[batch, 3, {p.input_height}, {p.input_width}]')
        self._fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        self._out_shape = (p.feature_dim, p.input_height // p.stride, p.input_width // p.stride)

    # ---------------------------------------------------------------------------- inference
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Return the dense features of a normalized batch, on the engine's device."""
        batch = batch.to(device=self._bind_device, dtype=torch.float32).contiguous()
        n = batch.shape[0]
        size = self._fixed_batch or n
        if self._fixed_batch is None or n == size:
            out = self._run(batch)
        else:
            chunks = []
            for start in range(0, n, size):
                chunk = batch[start:start + size]
                if chunk.shape[0] < size:
                    pad = chunk.new_zeros((size - chunk.shape[0],) + tuple(chunk.shape[1:]))
                    chunk = torch.cat([chunk, pad])
                chunks.append(self._run(chunk.contiguous()))
            out = torch.cat(chunks)[:n]
        return out.to(self._device)

    def _run(self, batch: torch.Tensor) -> torch.Tensor:
        out = torch.empty((batch.shape[0],) + self._out_shape, dtype=torch.float32,
                          device=self._bind_device)
        device = self._bind_device
        kind, index = ('cuda', device.index or 0) if device.type == 'cuda' else ('cpu', 0)
        binding = self.session.io_binding()
        if kind == 'cuda':
            torch.cuda.current_stream(device).synchronize()  # the input is written
        binding.bind_input(INPUT_NAME, kind, index, np.float32, list(batch.shape),
                           batch.data_ptr())
        binding.bind_output(OUTPUT_NAME, kind, index, np.float32, list(out.shape),
                            out.data_ptr())
        self.session.run_with_iobinding(binding)
        if kind == 'cuda':
            binding.synchronize_outputs()
        return out


def _session(ort, path: str, providers: Sequence[str], options: Sequence[Dict[str, str]]):
    """
    Create an inference session with every graph optimization.

    :raises ModelLoadError: the file is not a model onnxruntime can run, or a provider failed
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # errors only: a provider that fails to start says why
    # Worker threads sleep between runs instead of spinning: the torch head, the node's
    # callbacks and other processes get the cores the moment a run ends.
    so.add_session_config_entry('session.intra_op.allow_spinning', '0')
    try:
        return ort.InferenceSession(path, sess_options=so, providers=list(providers),
                                    provider_options=list(options))
    except Exception as error:  # noqa: B902 - onnxruntime raises its own types
        raise ModelLoadError(f'model.onnx_file {path} cannot be loaded by onnxruntime with '
                             f'model.onnx_providers {list(providers)}: {one_line(error)}'
                             ) from None


def read_provenance(path: str) -> OnnxProvenance:
    """
    Read an exported file's provenance without building an inference session for it.

    :raises ModelLoadError: onnxruntime is missing, or the file is no exported encoder
    """
    return OnnxProvenance.from_metadata(_light_metadata(import_onnxruntime(), path), path)


def _light_metadata(ort, path: str) -> Dict[str, str]:
    """Read a model's metadata with an unoptimized CPU session (no engine is built)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    try:
        session = ort.InferenceSession(path, sess_options=so, providers=[CPU])
    except Exception as error:  # noqa: B902 - onnxruntime raises its own types
        raise ModelLoadError(f'model.onnx_file {path} is not an ONNX model onnxruntime can '
                             f'read: {one_line(error)}') from None
    return dict(session.get_modelmeta().custom_metadata_map)


# -------------------------------------------------------------------------------------------
# Selection
# -------------------------------------------------------------------------------------------
def encoder_model_config(config: DepthClipConfig) -> ModelConfig:
    """
    Return the model settings to load the torch CLIP model with, for ``model.backend``.

    onnxruntime (and auto where it will run TensorRT): the image tower is loaded in fp32 (its
    weights are fingerprinted against the file; only the text encoder runs in torch),
    whatever ``model.precision`` says about the onnxruntime side.
    """
    if config.model.backend == 'onnxruntime' or auto_exports_for_gpu(config):
        return replace(config.model, precision='fp32')
    return config.model


def auto_exports_for_gpu(config: DepthClipConfig) -> bool:
    """
    Return whether ``model.backend: auto`` will run TensorRT fp16 from an exported graph.

    That is on a CUDA ``model.device`` with an onnxruntime that has TensorRT, and
    ``model.precision`` auto or fp16 (see :mod:`~depthclip_ros.core.backend_choice`).
    """
    m = config.model
    if m.backend != AUTO or m.precision not in (AUTO, 'fp16'):
        return False
    try:
        if resolve_device(m.device).type != 'cuda':
            return False
        ort = import_onnxruntime()
    except ModelLoadError:
        return False
    return TENSORRT in ort.get_available_providers()


def make_encoder(config: DepthClipConfig, loaded: LoadedModel) -> Encoder:
    """
    Build the encoder ``model.backend`` names.

    :raises ModelLoadError: one line naming the parameter to change
    """
    if config.model.backend == 'onnxruntime':
        return OnnxEncoder(config, loaded)
    return TorchEncoder(loaded, config.feature_mode)
