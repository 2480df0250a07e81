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
Exporting the image encoder to ONNX (fp32, or int8), checked against torch before it is written.

The graph is the image side only: a normalized batch ``(B, 3, H, W)`` in, the feature mode's
dense features ``(B, C, H/s, W/s)`` out (:class:`~depthclip_ros.core.model.DenseFeatures`).
Class embeddings, bins and temperature stay outside, so prompts and bins stay live with
``model.backend: onnxruntime``. The torch exporter used is the TorchScript one
(``dynamo=False``): it needs nothing beyond torch and onnx.

Before the file is written, the exported graph runs through the engine
(:class:`~depthclip_ros.core.backends.OnnxEncoder`) on the bundled sample frames and is
compared with torch fp32 there: the largest feature difference and the depth differences at
the paper's temperature. An fp32 graph further than :data:`MAX_FP32_DEPTH_DIFF_M` from torch
is not written. int8 (``--int8``): onnxruntime's static quantization, QDQ format, weights
int8 per output channel, activations uint8 per tensor from MinMax calibration on
calibration frames (each frame and, with flip TTA, its mirror); the depth error against
torch fp32 is measured and stored in the file, and an error above
:data:`~depthclip_ros.core.backends.INT8_WARN_P99_M` at the 99th percentile is reported as
a warning (the file is still written: int8 is opt-in).

Mixed precision (:func:`float_path_nodes`, :func:`float_consumers`): the features are L2
normalized, so depth depends on their direction only, and a per-tensor int8 step is the
same absolute error at every position: where the features are short (dark, flat image
regions) it turns into a large error of direction. Quantizing the residual stream
itself (the stem, the projection shortcuts, and every Add, pool and normalization reading a
quantized copy of the stream) added that error again at every stage. So the stem and the
projection shortcuts stay fp32 (about a fifth of RN50's multiply-adds), operators that are
not quantized read the float tensor rather than its int8 copy, and the convolutions of the
residual branches (the rest) run in int8.

The engine is an argument, never imported: the engine itself exports through this module
for ``model.backend: auto`` (:mod:`~depthclip_ros.core.backend_choice`).
"""

import contextlib
from dataclasses import dataclass, field
import datetime
import logging
import os
import shutil
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union
import warnings

import numpy as np
import torch

from depthclip_ros import __version__
from depthclip_ros.core.backends import (CPU, import_onnxruntime, INPUT_NAME, INT8_WARN_P99_M,
                                         METADATA_PREFIX, OnnxProvenance, OUTPUT_NAME,
                                         visual_fingerprint)
from depthclip_ros.core.loading import ModelLoadError
from depthclip_ros.core.model import DenseFeatures
from depthclip_ros.core.sample import precision_check_frames
from depthclip_ros.core.stats import depth_difference, DepthDifference, median_ms

LOG = logging.getLogger('depthclip_ros')

#: The ONNX opset written: TensorRT 8.6 / 10 and onnxruntime >= 1.14 read it.
DEFAULT_OPSET = 17
#: The DepthCLIP paper's softmax temperature: the depth differences are measured at it.
PAPER_TEMPERATURE = 0.1
#: An fp32 graph whose depth differs more than this from torch's is not written (metres).
MAX_FP32_DEPTH_DIFF_M = 1e-3
#: Calibration frames used from a folder or bag by default (evenly spaced).
DEFAULT_CALIBRATION_FRAMES = 32
#: Operators quantized in int8 graphs (the normalization after them stays fp32).
INT8_OP_TYPES = ('Conv', 'MatMul', 'Gemm')
#: Pools a projection shortcut may read its block input through (:func:`float_path_nodes`).
_POOL_OP_TYPES = ('AveragePool', 'MaxPool')


class ExportCheckError(RuntimeError):
    """The exported graph does not give torch's depth: nothing was written."""


@dataclass
class ExportResult:
    """What an export wrote and measured (speeds: ms per frame, predict with the engine)."""

    path: str
    provenance: OnnxProvenance
    max_feature_diff: float
    fp32_depth: DepthDifference
    int8_depth: Optional[DepthDifference] = None
    torch_fp32_ms: Optional[float] = None
    onnx_fp32_ms: Optional[float] = None
    int8_ms: Optional[float] = None
    calibration: str = ''
    notes: List[str] = field(default_factory=list)
    fp32_provenance: Optional[OnnxProvenance] = None

    def to_dict(self) -> Dict[str, Any]:
        """Return a JSON-friendly dict."""
        out: Dict[str, Any] = {
            'path': self.path,
            'precision': self.provenance.precision,
            'model': self.provenance.model,
            'feature_mode': self.provenance.feature_mode,
            'input': f'{self.provenance.input_height}x{self.provenance.input_width}',
            'batch': self.provenance.batch,
            'opset': self.provenance.opset,
            'max_feature_diff': self.max_feature_diff,
            'fp32_max_depth_diff_m': self.fp32_depth.maximum,
            'fp32_p99_depth_diff_m': self.fp32_depth.p99,
            'torch_fp32_ms': self.torch_fp32_ms,
            'onnx_fp32_ms': self.onnx_fp32_ms,
            'int8_ms': self.int8_ms,
            'calibration': self.calibration,
            'notes': self.notes,
        }
        d = self.int8_depth
        out.update({'int8_mean_depth_diff_m': d.mean if d else None,
                    'int8_p99_depth_diff_m': d.p99 if d else None,
                    'int8_max_depth_diff_m': d.maximum if d else None})
        return out


def onnx_api():
    """
    Import onnx and onnxruntime, or explain how to install them.

    :raises ValueError: one of them is missing
    """
    try:
        import onnx
        import_onnxruntime()
    except (ImportError, RuntimeError):
        raise ValueError('depthclip export onnx needs the onnx and onnxruntime packages: pip '
                         "install 'depthclip_ros[onnx]' (or onnx onnxruntime)") from None
    return onnx


def graph_versions() -> Dict[str, str]:
    """Return the versions that shape an exported graph (a cache of graphs is keyed by them)."""
    try:
        import onnx
        onnx_version = onnx.__version__
    except ImportError:
        onnx_version = 'none'
    try:
        ort_version = import_onnxruntime().__version__
    except ModelLoadError:
        ort_version = 'none'
    return {'depthclip_ros': __version__, 'torch': torch.__version__, 'onnx': onnx_version,
            'onnxruntime': ort_version, 'opset': str(DEFAULT_OPSET)}


def default_output(config, int8: bool) -> str:
    """Return the default file name, e.g. ``depthclip_RN50_paper_416x544.onnx``."""
    suffix = '_int8' if int8 else ''
    return (f'depthclip_{config.model.name}_{config.feature_mode}_{config.input.height}x'
            f'{config.input.width}{suffix}.onnx')


def export_onnx(engine: Any, output: str, batch: Union[int, str] = 'dynamic',
                opset: int = DEFAULT_OPSET, int8: bool = False,
                calibration: Optional[Sequence[np.ndarray]] = None,
                calibration_name: str = 'the bundled sample frames',
                repeats: int = 3, fp32_output: Optional[str] = None) -> ExportResult:
    """
    Export ``engine``'s image encoder to ``output``, check it against torch, then write it.

    :param engine: a torch-backend fp32 :class:`~depthclip_ros.core.engine.DepthClipEngine` on
        the CPU with the configuration to export
        (model, weights, feature mode, input size, normalization; prompts, bins and flip
        TTA are used for the check)
    :param batch: ``dynamic`` or the graph's fixed batch size (the engine runs larger
        batches in chunks)
    :param int8: quantize to int8 (static, per-channel weights) with ``calibration``
    :param calibration: RGB uint8 calibration frames (default: the bundled sample frames)
    :param calibration_name: what the calibration frames are, for the metadata and report
    :param repeats: timed runs per speed measurement (0: no speed measurement)
    :param fp32_output: with ``int8``, also write the checked fp32 graph there
    :raises ValueError: a bad argument, or onnx / onnxruntime missing
    :raises ExportCheckError: the exported graph does not match torch (nothing written)
    """
    onnx = onnx_api()
    if engine.backend != 'torch' or engine.precision != 'fp32' or engine.device != 'cpu':
        raise ValueError('export needs a torch fp32 engine on the CPU, got '
                         f'{engine.backend} {engine.precision} on {engine.device}')
    if batch != 'dynamic' and (not isinstance(batch, int) or batch < 1):
        raise ValueError(f'--batch must be dynamic or >= 1, got {batch!r}')
    check_frames = precision_check_frames()
    if not check_frames:
        raise ValueError('the bundled sample frames are missing: the exported graph cannot be '
                         'checked against torch (reinstall depthclip_ros)')
    if int8:
        calibration = list(calibration) if calibration is not None else check_frames
        if not calibration:
            raise ValueError('--calibration gave no frame')
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='.depthclip-export-', dir=folder) as tmp:
        fp32_path = os.path.join(tmp, 'fp32.onnx')
        provenance = _export_fp32(onnx, engine, fp32_path, batch, opset)
        onnx_engine = _onnx_engine(engine, fp32_path)
        max_feature_diff = _max_feature_diff(engine, onnx_engine, check_frames)
        reference = _depths(engine, check_frames)
        fp32_depth = depth_difference(reference, _depths(onnx_engine, check_frames))
        provenance = provenance.with_updates(
            check_frames=f'{len(check_frames)} bundled sample frames',
            check_temperature=f'{PAPER_TEMPERATURE:g}',
            check_max_feature_diff=f'{max_feature_diff:.3g}',
            check_max_depth_diff_m=f'{fp32_depth.maximum:.3g}')
        if not fp32_depth.maximum <= MAX_FP32_DEPTH_DIFF_M:
            raise ExportCheckError(
                f'the exported graph differs from torch by up to {fp32_depth.maximum:.3g} m of '
                f'depth on the sample frames (limit {MAX_FP32_DEPTH_DIFF_M:g} m; features '
                f'{max_feature_diff:.3g}): {output} not written')
        result = ExportResult(path=output, provenance=provenance,
                              max_feature_diff=max_feature_diff, fp32_depth=fp32_depth,
                              fp32_provenance=provenance)
        if repeats > 0:
            frame = check_frames[0]
            result.torch_fp32_ms = median_ms(lambda: engine.predict_one(frame), repeats,
                                             _no_sync)
            result.onnx_fp32_ms = median_ms(lambda: onnx_engine.predict_one(frame), repeats,
                                            _no_sync)
        final = fp32_path
        if int8:
            int8_path = os.path.join(tmp, 'int8.onnx')
            provenance = provenance.with_updates(
                precision='int8', calibration=f'{len(calibration)} frames: {calibration_name}',
                onnxruntime_version=import_onnxruntime().__version__)
            _quantize(fp32_path, int8_path, tmp, engine, calibration, batch)
            _write_metadata(onnx, int8_path, provenance)
            int8_engine = _onnx_engine(engine, int8_path)
            int8_depth = depth_difference(reference, _depths(int8_engine, check_frames))
            provenance = provenance.with_updates(int8_mean_diff_m=f'{int8_depth.mean:.4g}',
                                                 int8_p99_diff_m=f'{int8_depth.p99:.4g}',
                                                 int8_max_diff_m=f'{int8_depth.maximum:.4g}')
            result.provenance, result.int8_depth = provenance, int8_depth
            result.calibration = provenance.calibration
            if repeats > 0:
                frame = check_frames[0]
                result.int8_ms = median_ms(lambda: int8_engine.predict_one(frame), repeats,
                                           _no_sync)
            if not int8_depth.p99 <= INT8_WARN_P99_M:
                result.notes.append(
                    f'int8 depth is {int8_depth.p99:.3f} m from fp32 at the 99th percentile on '
                    f'the sample frames (more than {INT8_WARN_P99_M:g} m): keep it opt-in, '
                    'check it on your own frames before use')
            final = int8_path
            if fp32_output:
                _write_metadata(onnx, fp32_path, result.fp32_provenance)
                shutil.move(fp32_path, fp32_output)
        _write_metadata(onnx, final, provenance)
        os.replace(final, output)
    return result


def _no_sync() -> None:
    return None


def _export_fp32(onnx, engine: Any, path: str, batch: Union[int, str],
                 opset: int) -> OnnxProvenance:
    """Trace the image encoder into ``path`` with its provenance in the metadata."""
    cfg = engine.config
    loaded = engine.loaded
    features = DenseFeatures(loaded.model, cfg.feature_mode).eval()
    size = 2 if batch == 'dynamic' else int(batch)
    dummy = torch.zeros(size, 3, cfg.input.height, cfg.input.width)
    axes = ({INPUT_NAME: {0: 'batch'}, OUTPUT_NAME: {0: 'batch'}} if batch == 'dynamic'
            else None)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the legacy exporter's deprecation and tracer notes
        with torch.no_grad():
            features_out = features(dummy)
            torch.onnx.export(features, (dummy,), path, dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes=axes, do_constant_folding=True)
    provenance = OnnxProvenance(
        model=cfg.model.name, weights=engine.weights,
        visual_sha256=visual_fingerprint(loaded.model.visual), feature_mode=cfg.feature_mode,
        input_height=cfg.input.height, input_width=cfg.input.width,
        normalization=cfg.input.normalization, batch=str(batch),
        feature_dim=int(features_out.shape[1]), stride=features.stride, opset=opset,
        precision='fp32', depthclip_version=__version__, torch_version=torch.__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))
    _write_metadata(onnx, path, provenance)
    return provenance


def _write_metadata(onnx, path: str, provenance: OnnxProvenance) -> None:
    """Replace the ``depthclip.*`` metadata of the model in ``path``."""
    model = onnx.load(path)
    kept = [(p.key, p.value) for p in model.metadata_props
            if not p.key.startswith(METADATA_PREFIX)]
    del model.metadata_props[:]
    for key, value in kept + sorted(provenance.to_metadata().items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = (f'depthclip_ros image encoder: {provenance.model} '
                        f'{provenance.feature_mode} features of normalized '
                        f'{provenance.input_height}x{provenance.input_width} images '
                        f'({provenance.precision})')
    onnx.save(model, path)


def _onnx_engine(engine: Any, path: str) -> Any:
    """Return an onnxruntime (CPU) engine running ``path``, sharing ``engine``'s model."""
    config = engine.config.with_updates({'model.backend': 'onnxruntime',
                                         'model.onnx_file': path,
                                         'model.onnx_providers': [CPU],
                                         'model.precision': 'fp32'})
    return type(engine)(config, loaded=engine.loaded)


def _batches(engine: Any, frames: Iterable[np.ndarray]) -> List[torch.Tensor]:
    """Return the normalized input of each frame and, with flip TTA, of its mirror."""
    out = []
    for frame in frames:
        x = engine.preprocess([frame])
        out.append(x)
        if engine.config.flip_tta:
            out.append(torch.flip(x, dims=[3]))
    return out


@torch.inference_mode()
def _max_feature_diff(engine: Any, other: Any,
                      frames: Sequence[np.ndarray]) -> float:
    batch = torch.cat(_batches(engine, frames))
    return float((engine.encode(batch) - other.encode(batch)).abs().max())


def _depths(engine: Any, frames: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Return the depth of each frame at the paper's temperature, one frame at a time."""
    state = engine.prepare({'temperature': PAPER_TEMPERATURE})
    return [engine.predict([frame], state=state)[0].depth for frame in frames]


def _quantize(fp32_path: str, int8_path: str, tmp: str, engine: Any,
              frames: Sequence[np.ndarray], batch: Union[int, str]) -> None:
    """Quantize ``fp32_path`` to int8 (static), calibrated on ``frames``."""
    from onnxruntime import quantization as oq

    inputs = [x.numpy() for x in _batches(engine, frames)]
    if batch != 'dynamic':  # whole batches of the graph's size, frames repeated to fill
        size = int(batch)
        count = -(-len(inputs) // size) * size
        cycle = [inputs[i % len(inputs)] for i in range(count)]
        inputs = [np.concatenate(cycle[i:i + size]) for i in range(0, count, size)]

    class Reader(oq.CalibrationDataReader):
        def __init__(self):
            self._items = iter(inputs)

        def get_next(self) -> Optional[Dict[str, np.ndarray]]:
            item = next(self._items, None)
            return None if item is None else {INPUT_NAME: item}

    prepared = os.path.join(tmp, 'prepared.onnx')
    oq.quant_pre_process(fp32_path, prepared, skip_symbolic_shape=True)
    kept = float_path_nodes(onnx_api().load(prepared).graph)
    with _quiet_quantizer():
        oq.quantize_static(prepared, int8_path, Reader(), quant_format=oq.QuantFormat.QDQ,
                           per_channel=True, activation_type=oq.QuantType.QUInt8,
                           weight_type=oq.QuantType.QInt8,
                           op_types_to_quantize=list(INT8_OP_TYPES), nodes_to_exclude=kept,
                           calibrate_method=oq.CalibrationMethod.MinMax,
                           calibration_providers=[CPU])
    onnx = onnx_api()
    model = onnx.load(int8_path)
    float_consumers(model.graph, kept)
    onnx.save(model, int8_path)


def float_path_nodes(graph) -> List[str]:
    """
    Return the names of the convolutions of ``graph`` that int8 leaves in fp32.

    The stem (the convolutions from the input up to the first tensor that several operators
    read: its int8 error every later stage would carry) and the projection shortcuts (a Conv
    whose output an Add reads and whose input, directly or through a pool, another Conv also
    reads: the first block of each ResNet stage). A ViT keeps its patch embedding only.
    """
    producer = {out: node for node in graph.node for out in node.output}
    readers: Dict[str, List[Any]] = {}
    for node in graph.node:
        for name in node.input:
            if node.op_type != 'Shape':  # shape arithmetic reads no values
                readers.setdefault(name, []).append(node)
    kept = []
    tensor = graph.input[0].name
    while len(readers.get(tensor, [])) == 1:
        node = readers[tensor][0]
        if node.op_type == 'Conv':
            kept.append(node.name)
        tensor = node.output[0]
    for node in graph.node:
        if node.op_type != 'Conv' or node.name in kept:
            continue
        source = node.input[0]
        if source in producer and producer[source].op_type in _POOL_OP_TYPES:
            source = producer[source].input[0]
        feeds_add = any(r.op_type == 'Add' for r in readers.get(node.output[0], []))
        if feeds_add and any(r is not node and r.op_type == 'Conv'
                             for r in readers.get(source, [])):
            kept.append(node.name)
    return kept


def float_consumers(graph, kept: Iterable[str] = ()) -> int:
    """
    Let only int8 operators read dequantized activations; return how many inputs changed.

    onnxruntime's quantizer hands every reader of a quantized tensor its int8 copy (a
    Quantize-Dequantize pair), also the Adds, pools, fp32 convolutions (``kept``) and the
    normalization: the residual stream would be rounded again at every block. Those read the
    float tensor instead. An int8 operator's own output keeps its pair (onnxruntime fuses it
    into the int8 kernel).
    """
    kept = set(kept)
    producer = {out: node for node in graph.node for out in node.output}
    weights = {init.name for init in graph.initializer}
    quantized_input = {node.output[0]: node.input[0] for node in graph.node
                       if node.op_type == 'QuantizeLinear'}
    source = {node.output[0]: quantized_input[node.input[0]] for node in graph.node
              if node.op_type == 'DequantizeLinear' and node.input[0] in quantized_input}

    def int8(node) -> bool:
        return node.op_type in INT8_OP_TYPES and node.name not in kept

    changed = 0
    for node in graph.node:
        if node.op_type in ('QuantizeLinear', 'DequantizeLinear') or int8(node):
            continue
        for i, name in enumerate(node.input):
            original = source.get(name)
            if original is None or original in weights:
                continue
            if original in producer and int8(producer[original]):
                continue
            node.input[i] = original
            changed += 1
    _remove_unread(graph, ('QuantizeLinear', 'DequantizeLinear'))
    return changed


def _remove_unread(graph, op_types: Sequence[str]) -> None:
    """Remove the nodes of ``op_types`` whose outputs nothing reads (repeatedly)."""
    outputs = {out.name for out in graph.output}
    while True:
        read = {name for node in graph.node for name in node.input} | outputs
        unread = [node for node in graph.node if node.op_type in op_types
                  and not any(out in read for out in node.output)]
        if not unread:
            return
        for node in unread:
            graph.node.remove(node)


@contextlib.contextmanager
def _quiet_quantizer():
    """Silence onnxruntime.quantization's progress output on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def format_export(result: ExportResult) -> str:
    """Return the human-readable report of an export."""
    p = result.provenance
    lines = [
        f'wrote {result.path}: {p.model} {p.feature_mode} features, input '
        f'{p.input_height}x{p.input_width}, batch {p.batch}, opset {p.opset}, {p.precision}',
        f'  check against torch fp32 on {p.check_frames} (temperature '
        f'{p.check_temperature}): max |d feature| {result.max_feature_diff:.3g}, '
        f'max |d depth| {result.fp32_depth.maximum:.3g} m (fp32 graph)',
    ]
    d = result.int8_depth
    if d is not None:
        lines.append(f'  int8 ({result.calibration}): |depth - torch fp32| mean {d.mean:.4f} '
                     f'm, p99 {d.p99:.4f} m, max {d.maximum:.4f} m')
    speeds = [(name, value) for name, value in (('torch fp32', result.torch_fp32_ms),
                                                ('onnxruntime fp32', result.onnx_fp32_ms),
                                                ('onnxruntime int8', result.int8_ms))
              if value is not None]
    if speeds:
        base = result.torch_fp32_ms
        lines.append('  predict per frame (CPU, one sample frame): ' + ', '.join(
            f'{name} {value:.1f} ms' + (f' ({base / value:.2f}x)' if base and
                                        name != 'torch fp32' else '')
            for name, value in speeds))
    lines += [f'  warning: {note}' for note in result.notes]
    return '\n'.join(lines)
