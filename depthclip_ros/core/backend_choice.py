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
``model.backend: auto``: the fastest image encoder that is correct on this machine.

On a CPU the candidates are torch fp32 (the reference), torch bf16 (a CPU with native bf16),
onnxruntime fp32 and onnxruntime int8 (onnx and onnxruntime installed; int8 only on a CPU
with VNNI, where onnxruntime's u8s8 kernels are fast and exact). Each predicts the bundled
sample frames at the configured size, prompts and bins; a candidate is *correct* when the
99th percentile of its depth's distance to torch fp32 is at most :data:`MAX_P99_M`, and the
fastest correct one is used (another than torch fp32 only when it is at least
:data:`MIN_SPEEDUP` times faster: timing noise never flips a choice).

The ONNX graphs are exported once into the cache (:func:`cache_dir`), in a folder named by
:func:`graph_key` (model, image-tower weights, feature mode, input size, normalization and
the versions that shape a graph); the choice and its figures are stored beside them per
machine (:func:`machine_key`), so later starts load the chosen encoder without exporting or
timing. A graph that onnxruntime cannot open or that was made for something else is rebuilt,
never trusted, and so is an unreadable choice file.

On CUDA: TensorRT fp16 (the exported fp32 graph, built by onnxruntime's TensorRT provider)
when onnxruntime has TensorRT, torch fp16 otherwise; nothing is timed.

The functions here are pure or touch only the cache folder; the engine
(:class:`~depthclip_ros.core.engine.DepthClipEngine`) runs the trials.
"""

from dataclasses import dataclass
import hashlib
import json
import os
import platform
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from depthclip_ros.core.config import DepthClipConfig

__all__ = ['cache_dir', 'cache_root', 'Candidate', 'cpu_candidates', 'cpu_has_vnni',
           'gpu_candidate', 'graph_key', 'load_choice', 'machine_key', 'MAX_P99_M',
           'MIN_SPEEDUP', 'pick', 'save_choice', 'summary', 'Trial']

#: A candidate is correct when its depth p99 distance to torch fp32 is at most this (metres;
#: the limit ``model.precision: auto`` applies to bf16).
MAX_P99_M = 0.05
#: Another encoder replaces torch fp32 only when it is at least this many times faster.
MIN_SPEEDUP = 1.05
#: Environment variable naming the cache folder (default: ``$XDG_CACHE_HOME/depthclip`` or
#: ``~/.cache/depthclip``).
CACHE_ENV = 'DEPTHCLIP_CACHE_DIR'
#: Layout version of the cache's folders and choice files.
CACHE_VERSION = '1'
#: File names in a graph folder.
FP32_GRAPH = 'fp32.onnx'
INT8_GRAPH = 'int8.onnx'


@dataclass(frozen=True)
class Candidate:
    """One way to run the image encoder: a backend and a precision."""

    backend: str
    precision: str

    @property
    def name(self) -> str:
        """Return e.g. ``onnxruntime int8``."""
        return f'{self.backend} {self.precision}'


TORCH_FP32 = Candidate('torch', 'fp32')
TORCH_BF16 = Candidate('torch', 'bf16')
ONNX_FP32 = Candidate('onnxruntime', 'fp32')
ONNX_INT8 = Candidate('onnxruntime', 'int8')


@dataclass
class Trial:
    """
    What one candidate did on the sample frames.

    :ivar ms: milliseconds per frame, the fastest of the timed frames (``None``: not run)
    :ivar p99_m: 99th percentile of ``|depth - torch fp32|`` in metres (``None``: not run)
    :ivar note: why it was not run, or failed
    """

    candidate: Candidate
    ms: Optional[float] = None
    p99_m: Optional[float] = None
    note: str = ''

    def correct(self, limit: float = MAX_P99_M) -> bool:
        """Return whether it ran and stayed within ``limit`` of torch fp32."""
        return self.ms is not None and self.p99_m is not None and self.p99_m <= limit

    def describe(self, limit: float = MAX_P99_M) -> str:
        """Return e.g. ``onnxruntime fp32 812 ms (p99 0.000 m)``."""
        if self.ms is None:
            return f'{self.candidate.name}: {self.note or "not run"}'
        text = f'{self.candidate.name} {self.ms:.0f} ms (p99 {self.p99_m:.3f} m)'
        if not self.correct(limit):
            text += f', over {limit:g} m'
        return text

    def to_dict(self) -> Dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {'backend': self.candidate.backend, 'precision': self.candidate.precision,
                'ms': self.ms, 'p99_m': self.p99_m, 'note': self.note}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'Trial':
        """
        Read :meth:`to_dict`'s output.

        :raises ValueError: a missing or mistyped entry
        """
        try:
            candidate = Candidate(str(data['backend']), str(data['precision']))
            ms, p99 = data['ms'], data['p99_m']
            return cls(candidate, None if ms is None else float(ms),
                       None if p99 is None else float(p99), str(data.get('note', '')))
        except (KeyError, TypeError) as error:
            raise ValueError(f'bad trial entry: {error}') from None


def read_cpuinfo() -> str:
    """Return the text of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            return f.read()
    except OSError:
        return ''


def cpu_has_vnni(flags: Optional[str] = None) -> bool:
    """
    Return whether the CPU has VNNI (the int8 dot products onnxruntime's u8s8 kernels use).

    :param flags: the text of ``/proc/cpuinfo`` (``None``: read it)
    """
    if flags is None:
        flags = read_cpuinfo()
    words = set(flags.split())
    return bool(words & {'avx512_vnni', 'avx_vnni', 'amx_int8'})


def cpu_candidates(precision: str, native_bf16: bool, has_onnx: bool, vnni: bool
                   ) -> Tuple[List[Candidate], List[Trial]]:
    """
    Return the candidates to try on a CPU, and those left out with the reason.

    :param precision: ``model.precision`` (``auto`` tries every precision; ``fp32`` only fp32
        ones; ``bf16`` and ``fp16`` leave torch alone)
    :param native_bf16: whether the CPU runs bf16 natively
    :param has_onnx: whether onnx and onnxruntime are installed
    :param vnni: whether the CPU has VNNI
    """
    if precision in ('bf16', 'fp16'):
        return [Candidate('torch', precision)], []
    tried, left = [TORCH_FP32], []
    if precision == 'auto':
        if native_bf16:
            tried.append(TORCH_BF16)
        else:
            left.append(Trial(TORCH_BF16, note='no native bf16 on this CPU'))
    if not has_onnx:
        note = "onnx / onnxruntime not installed (pip install 'depthclip_ros[onnx]')"
        left.append(Trial(ONNX_FP32, note=note))
        if precision == 'auto':
            left.append(Trial(ONNX_INT8, note=note))
        return tried, left
    tried.append(ONNX_FP32)
    if precision == 'auto':
        if vnni:
            tried.append(ONNX_INT8)
        else:
            left.append(Trial(ONNX_INT8, note='no VNNI on this CPU (u8s8 int8 is slow and '
                                              'may saturate without it)'))
    return tried, left


def pick(trials: Sequence[Trial], limit: float = MAX_P99_M,
         min_speedup: float = MIN_SPEEDUP) -> Trial:
    """
    Return the trial to use: the fastest correct one, torch fp32 unless clearly beaten.

    :param trials: the trials run; torch fp32 among them, as the reference (if it is absent
        or failed, the fastest correct trial wins)
    :param limit: largest p99 depth distance to torch fp32, metres
    :param min_speedup: how many times faster than torch fp32 another trial must be
    :raises ValueError: no trial ran correctly
    """
    correct = [t for t in trials if t.correct(limit)]
    if not correct:
        raise ValueError('no image encoder ran correctly on the sample frames')
    fastest = min(correct, key=lambda t: t.ms)
    reference = next((t for t in correct if t.candidate == TORCH_FP32), None)
    if reference is None or fastest is reference:
        return fastest
    return fastest if fastest.ms * min_speedup <= reference.ms else reference


def summary(chosen: Trial, trials: Sequence[Trial], limit: float = MAX_P99_M) -> str:
    """Return the one log line of a choice: what runs, and every candidate's figures."""
    others = '; '.join(t.describe(limit) for t in trials)
    return (f'model.backend auto: {chosen.candidate.name}, the fastest within {limit:g} m p99 '
            f'of torch fp32 on the sample frames ({others})')


def gpu_candidate(precision: str, providers: Sequence[str]) -> Candidate:
    """
    Return what runs on CUDA: TensorRT fp16 where onnxruntime has it, else torch.

    :param precision: ``model.precision``
    :param providers: ``onnxruntime.get_available_providers()`` (empty: not installed)
    """
    if precision in ('auto', 'fp16') and 'TensorrtExecutionProvider' in providers:
        return Candidate('onnxruntime', 'fp16')
    return Candidate('torch', 'fp16' if precision == 'auto' else precision)


# -------------------------------------------------------------------------------------------
# The cache
# -------------------------------------------------------------------------------------------
def cache_root(environ: Optional[Mapping[str, str]] = None) -> str:
    """
    Return the package's cache folder: ``$DEPTHCLIP_CACHE_DIR``, else the user's cache's.

    That is ``$XDG_CACHE_HOME/depthclip`` or ``~/.cache/depthclip``; the exported graphs of
    ``auto`` are in its ``onnx`` folder, TensorRT's engines in ``tensorrt``.
    """
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return os.path.abspath(env[CACHE_ENV])
    base = env.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'depthclip')


def cache_dir(environ: Optional[Mapping[str, str]] = None) -> str:
    """Return where ``auto`` keeps its exported graphs and choices (:func:`cache_root`)."""
    return os.path.join(cache_root(environ), 'onnx')


def _digest(values: Mapping[str, Any]) -> str:
    text = json.dumps(values, sort_keys=True)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


def graph_key(config: DepthClipConfig, fingerprint: str, versions: Mapping[str, str]) -> str:
    """
    Return the name of the cache folder of this configuration's exported graphs.

    :param fingerprint: the image tower's weights (:func:`~.backends.visual_fingerprint`)
    :param versions: the versions of what shapes a graph (depthclip_ros, torch, onnx,
        onnxruntime, opset)
    """
    values = {'cache': CACHE_VERSION, 'model': config.model.name, 'weights': fingerprint,
              'feature_mode': config.feature_mode,
              'input': [config.input.height, config.input.width],
              'normalization': config.input.normalization, 'versions': dict(versions)}
    return f'{config.model.name}_{config.feature_mode}_{config.input.height}x' \
           f'{config.input.width}_{_digest(values)}'


def machine_key(threads: int, flip_tta: bool, cpuinfo: Optional[str] = None) -> str:
    """
    Return the name of this machine's choice file: CPU model, flags, threads, flip TTA.

    :param cpuinfo: the text of ``/proc/cpuinfo`` (``None``: read it)
    """
    if cpuinfo is None:
        cpuinfo = read_cpuinfo()
    first: Dict[str, str] = {}
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(':')
        first.setdefault(name.strip(), value.strip())
    model = first.get('model name', platform.machine())
    flags = ' '.join(sorted(first.get('flags', '').split()))
    return 'choice_' + _digest({'cpu': model, 'flags': flags, 'threads': threads,
                                'flip_tta': flip_tta, 'cache': CACHE_VERSION}) + '.json'


def load_choice(path: str) -> Optional[Tuple[Candidate, List[Trial]]]:
    """
    Read a stored choice; ``None`` when there is none or it cannot be read (then re-run).

    :return: the chosen candidate and the trials it was chosen from
    """
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        trials = [Trial.from_dict(item) for item in data['trials']]
        chosen = Candidate(str(data['chosen']['backend']), str(data['chosen']['precision']))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if chosen not in [t.candidate for t in trials]:
        return None
    return chosen, trials


def save_choice(path: str, chosen: Candidate, trials: Sequence[Trial]) -> None:
    """Write a choice atomically (a reader never sees half a file)."""
    data = {'chosen': {'backend': chosen.backend, 'precision': chosen.precision},
            'trials': [t.to_dict() for t in trials]}
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)
