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
Loading CLIP models through open_clip: tags, local checkpoints, devices and precisions.

Model code lives in :mod:`depthclip_ros.core.model`; this module only decides what to build and
where its weights come from. Local checkpoints never unpickle arbitrary objects: safetensors
files are read with safetensors, everything else with ``torch.load(weights_only=True)``.
"""

import contextlib
from dataclasses import dataclass
import logging
import os
from typing import Any, Dict, Optional

import torch

from depthclip_ros.core.config import is_checkpoint_path, ModelConfig
from depthclip_ros.core.text import one_line

LOG = logging.getLogger('depthclip_ros')

RANDOM_WEIGHTS_WARNING = (
    'model.pretrained is empty: using RANDOM weights. Depth from random weights is '
    'meaningless; this is for tests and benchmarks only.')


class ModelLoadError(RuntimeError):
    """The model could not be built or its weights could not be loaded (one clear line)."""


@dataclass
class LoadedModel:
    """
    A CLIP model ready for inference and what it is.

    ``dtype`` and ``precision`` are the image encoder's; the text encoder always runs in
    fp32 (it runs once per prompt change, and the depth head magnifies its rounding errors).
    ``check_bf16``: the engine still has to decide between fp32 and bf16 (``auto`` on a CPU
    with native bf16; see :class:`PrecisionChoice`).
    """

    model: torch.nn.Module
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    precision: str
    weights: str
    random_weights: bool
    precision_reason: str = 'explicit'
    check_bf16: bool = False


def resolve_device(device: str) -> torch.device:
    """
    Turn ``auto|cpu|cuda|cuda:N`` into a torch device.

    :raises ModelLoadError: CUDA asked for but not available
    """
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if device.startswith('cuda'):
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f'model.device is {device!r} but CUDA is not available on this machine; '
                'set model.device to auto or cpu')
        index = int(device.split(':')[1]) if ':' in device else 0
        if index >= torch.cuda.device_count():
            raise ModelLoadError(
                f'model.device is {device!r} but only {torch.cuda.device_count()} CUDA '
                'device(s) exist')
    return torch.device(device)


#: ``model.precision: auto`` keeps a bf16 image encoder on a CPU with native bf16 only when
#: its depth is within this many metres (99th percentile over pixels) of fp32's on the
#: bundled sample frames (checked by the engine at load time).
AUTO_BF16_MAX_P99_M = 0.05

PRECISION_DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}


@dataclass(frozen=True)
class PrecisionChoice:
    """
    The precision to load the image encoder in, and why.

    ``check_bf16``: ``auto`` on a CPU with native bf16. The model is loaded in fp32 and the
    engine (:class:`~depthclip_ros.core.engine.DepthClipEngine`) switches the image encoder
    to bf16 only if that stays within :data:`AUTO_BF16_MAX_P99_M` of fp32.
    """

    precision: str
    reason: str
    check_bf16: bool = False


def resolve_precision(precision: str, device: torch.device,
                      native_bf16: Optional[bool] = None) -> PrecisionChoice:
    """
    Decide the image encoder's precision for ``model.precision`` on ``device``.

    Explicit values are kept. ``auto``: fp16 on CUDA; on a CPU with native bf16, fp32 to be
    checked against bf16 by the engine (``check_bf16``); fp32 on other CPUs (emulated bf16
    is about 70 times slower than fp32 there).

    :param native_bf16: whether the CPU has native bf16; ``None``: ask
        :func:`cpu_has_native_bf16`
    """
    if precision != 'auto':
        return PrecisionChoice(precision, f'explicit: model.precision {precision}')
    if device.type == 'cuda':
        return PrecisionChoice('fp16', 'auto: CUDA device (fp16)')
    if native_bf16 is None:
        native_bf16 = cpu_has_native_bf16()
    if native_bf16:
        return PrecisionChoice('fp32', 'auto: native bf16 CPU, bf16 not checked yet (fp32)',
                               check_bf16=True)
    return PrecisionChoice('fp32', 'auto: CPU without native bf16 (fp32)')


def cpu_has_native_bf16() -> bool:
    """
    Return whether bf16 runs natively here: CPU flags and oneDNN's kernels.

    The CPU must have AVX512-BF16 or AMX-BF16 instructions, and oneDNN must be allowed to use
    them (``ONEDNN_MAX_CPU_ISA=AVX2``, for one, makes torch emulate bf16 slowly).
    """
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            flags = f.read()
    except OSError:
        return False
    if 'avx512_bf16' not in flags and 'amx_bf16' not in flags:
        return False
    if not torch.backends.mkldnn.is_available() or not torch.backends.mkldnn.enabled:
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an older or newer torch without the query
        return True


def load_clip(model_cfg: ModelConfig) -> LoadedModel:
    """
    Build the CLIP model named by ``model_cfg`` and load its weights.

    ``model_cfg.pretrained`` is an open_clip pretrained tag (downloaded or taken from the
    cache), a path to a local checkpoint file, or empty for random weights.

    :raises ModelLoadError: with one line that says what to change
    """
    import open_clip

    device = resolve_device(model_cfg.device)
    choice = resolve_precision(model_cfg.precision, device)
    precision = choice.precision
    name = model_cfg.name
    if name not in open_clip.list_models():
        raise ModelLoadError(
            f'model.name {name!r} is not an open_clip architecture; e.g. RN50, RN101, '
            'RN50x4, ViT-B-32, ViT-B-16')
    pretrained = model_cfg.pretrained.strip()
    is_file = bool(pretrained) and is_checkpoint_path(pretrained)
    quick_gelu = _quick_gelu(model_cfg, pretrained, is_file)
    try:
        if not pretrained:
            LOG.warning(RANDOM_WEIGHTS_WARNING)
            model = open_clip.create_model(name, pretrained=None, force_quick_gelu=quick_gelu)
            weights = f'{name} RANDOM weights'
        elif is_file:
            with _quiet_random_init():
                model = open_clip.create_model(name, pretrained=None,
                                               force_quick_gelu=quick_gelu)
            load_checkpoint_file(model, pretrained)
            weights = f'{name} {pretrained}'
        else:
            tags = open_clip.list_pretrained_tags_by_model(name)
            if pretrained not in tags:
                raise ModelLoadError(
                    f'model.pretrained {pretrained!r} is neither a file nor a pretrained tag '
                    f'of {name} (tags: {", ".join(tags) or "none"}); set model.pretrained to '
                    'a tag or to a local checkpoint path')
            model = _create_from_tag(open_clip, name, pretrained, quick_gelu)
            weights = f'{name} {pretrained}'
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: B902 - any failure inside open_clip/torch
        raise ModelLoadError(
            f'cannot load {name} weights from {pretrained!r}: {one_line(error)}') from None
    model.eval()
    model.requires_grad_(False)
    dtype = PRECISION_DTYPES[precision]
    model.to(device=device, dtype=torch.float32)
    model.visual.to(dtype=dtype)  # the text side stays fp32 (see LoadedModel)
    tokenizer = open_clip.get_tokenizer(name)
    return LoadedModel(model=model, tokenizer=tokenizer, device=device, dtype=dtype,
                       precision=precision, weights=weights, random_weights=not pretrained,
                       precision_reason=choice.reason, check_bf16=choice.check_bf16)


def _quick_gelu(model_cfg: ModelConfig, pretrained: str, is_file: bool) -> bool:
    if model_cfg.quick_gelu != 'auto':
        return model_cfg.quick_gelu == 'true'
    if model_cfg.name.endswith('-quickgelu'):
        return False  # the architecture already says so
    if pretrained and not is_file:
        import open_clip
        tag_cfg = open_clip.get_pretrained_cfg(model_cfg.name, pretrained) or {}
        return bool(tag_cfg.get('quick_gelu', False))
    # Every released ModifiedResNet checkpoint (OpenAI's and open_clip's) uses QuickGELU.
    return model_cfg.name.startswith('RN')


def _create_from_tag(open_clip, name: str, tag: str, quick_gelu: bool) -> torch.nn.Module:
    try:
        with _quiet_random_init():
            return open_clip.create_model(name, pretrained=tag, force_quick_gelu=quick_gelu)
    except Exception as error:  # noqa: B902 - download/cache failures come in many types
        raise ModelLoadError(
            f'cannot obtain the {tag!r} weights of {name} (offline and not cached?): '
            f'{one_line(error)}. Set model.pretrained to a local checkpoint file, e.g. '
            f'--set model.pretrained=/path/to/{name}.pt (or the params file / '
            f'`-p model.pretrained:=...`)') from None


def load_checkpoint_file(model: torch.nn.Module, path: str) -> None:
    """
    Load a local checkpoint into ``model`` without unpickling arbitrary objects.

    Accepts safetensors files and torch files holding a state dict (optionally under
    ``state_dict``, optionally with ``module.`` prefixes), including OpenAI's TorchScript
    archives.

    :raises ModelLoadError: missing, unreadable, unsafe or mismatching checkpoint
    """
    from depthclip_ros.core.files import check_regular_file
    try:
        check_regular_file(path, f'model.pretrained: checkpoint file {path}')
    except ValueError as error:
        raise ModelLoadError(str(error)) from None
    state_dict = read_state_dict(path)
    import open_clip
    from open_clip.factory import convert_state_dict
    try:
        state_dict = convert_state_dict(model, state_dict)
        if 'positional_embedding' in state_dict and not hasattr(model, 'positional_embedding'):
            state_dict = open_clip.convert_to_custom_text_state_dict(state_dict)
        for key in ('input_resolution', 'context_length', 'vocab_size'):
            state_dict.pop(key, None)
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise ModelLoadError(
            f'checkpoint {path} does not fit model.name {model.__class__.__name__} '
            f'architecture: {one_line(error)}') from None


def read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """
    Read tensors from a checkpoint file safely.

    :raises ModelLoadError: the file is corrupt, holds pickled objects, or no tensors
    """
    try:
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            checkpoint: Any = load_file(path, device='cpu')
        else:
            checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # noqa: B902 - corrupt files raise many types
        raise ModelLoadError(
            f'cannot read checkpoint {path} safely (corrupt, or not plain tensors): '
            f'{one_line(error)}') from None
    if isinstance(checkpoint, torch.jit.ScriptModule):
        checkpoint = checkpoint.state_dict()
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict'), dict):
        checkpoint = checkpoint['state_dict']
    if not isinstance(checkpoint, dict) or not checkpoint or not all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ModelLoadError(f'checkpoint {path} holds no state dict of tensors')
    if next(iter(checkpoint)).startswith('module.'):
        checkpoint = {k[len('module.'):]: v for k, v in checkpoint.items()}
    return dict(checkpoint)


def save_random_checkpoint(name: str, path: str, seed: int = 0,
                           quick_gelu: Optional[bool] = None) -> str:
    """
    Save seeded random weights of open_clip architecture ``name`` to ``path``.

    For tests, benchmarks and offline smoke runs: the file goes through the same loading
    path as real checkpoints. ``.safetensors`` paths are written with safetensors, others
    with ``torch.save`` of a plain state dict.

    :return: ``path``
    """
    import open_clip
    if quick_gelu is None:
        quick_gelu = name.startswith('RN')
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        with _quiet_random_init():
            model = open_clip.create_model(name, pretrained=None, force_quick_gelu=quick_gelu)
    finally:
        torch.random.set_rng_state(generator_state)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith('.safetensors'):
        from safetensors.torch import save_file
        save_file(state, path)
    else:
        torch.save(state, path)
    return path


class _RandomInitFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API
        message = record.getMessage()
        return 'initialized randomly' not in message and 'Failed to download' not in message


@contextlib.contextmanager
def _quiet_random_init():
    """Hide open_clip's root-logger noise that this module reports better itself."""
    root = logging.getLogger()
    log_filter = _RandomInitFilter()
    root.addFilter(log_filter)
    try:
        yield
    finally:
        root.removeFilter(log_filter)
