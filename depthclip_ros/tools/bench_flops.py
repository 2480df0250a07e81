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
``depthclip bench``: how close each row runs to this machine's arithmetic limit.

- :func:`count_flops`: the floating-point operations of one forward pass, counted from the
  shapes of its convolutions and matrix products (``torch.utils.flop_counter``: a multiply
  and an add per multiply-accumulate, biases, activations and normalizations not counted),
  at the configured input size. :func:`trunk_gflop_per_image` counts the image encoder the
  engine runs (:class:`~depthclip_ros.core.model.DenseFeatures` of the feature mode); a
  frame costs that times the images per frame (2 with flip TTA).
- :func:`matmul_peak`: the best rate of a square matrix product in torch (fp32, bf16,
  fp16) with the threads the benchmark runs with; :func:`int8_matmul_peak`: the same for
  onnxruntime's u8 x s8 ``MatMulInteger`` (the kernel family its int8 convolutions use),
  in integer operations per second. These are the peaks the rows are compared with.
- :func:`add_efficiency`: per backend row ``gflop_s`` (the frame's work over its ms),
  ``peak`` (which probe it is compared with), ``peak_gflop_s`` and ``fraction_of_peak``.
"""

import time
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn

from depthclip_ros.core.model import DenseFeatures

#: Side of the square matrices the peak probes multiply.
PEAK_SIZE = 2048
#: Timed products per probe (after one warm-up); the best one counts.
PEAK_REPEATS = 3


def count_flops(module: Callable[..., Any], *inputs: torch.Tensor) -> int:
    """
    Return the floating-point operations of ``module(*inputs)``, counted from op shapes.

    Convolutions and matrix products only (2 per multiply-accumulate): what dominates a CNN
    or a transformer; the call runs once, without gradients.
    """
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        module(*inputs)
    return int(counter.get_total_flops())


def trunk_gflop_per_image(model: nn.Module, feature_mode: str, input_size: Tuple[int, int],
                          dtype: torch.dtype, device: torch.device) -> float:
    """
    Return the GFLOP of the image encoder on one image at ``input_size`` (height, width).

    :param model: the CLIP model (its ``visual`` is what runs)
    """
    features = DenseFeatures(model, feature_mode)
    images = torch.zeros((1, 3) + tuple(input_size), dtype=dtype, device=device)
    return count_flops(features, images) / 1e9


def _best_seconds(fn: Callable[[], Any], sync: Callable[[], None], repeats: int) -> float:
    fn()
    sync()
    best = float('inf')
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak(dtype: torch.dtype = torch.float32, device: str = 'cpu', size: int = PEAK_SIZE,
                repeats: int = PEAK_REPEATS) -> float:
    """Return the best GFLOP/s of a ``size`` x ``size`` matrix product in torch."""
    generator = torch.Generator(device='cpu').manual_seed(0)
    a = torch.rand((size, size), generator=generator).to(device=device, dtype=dtype)
    b = torch.rand((size, size), generator=generator).to(device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    seconds = _best_seconds(lambda: torch.mm(a, b), sync, repeats)
    return 2.0 * size ** 3 / seconds / 1e9


def int8_matmul_peak(size: int = PEAK_SIZE, repeats: int = PEAK_REPEATS) -> float:
    """
    Return the best GOP/s of onnxruntime's u8 x s8 ``MatMulInteger`` (int32 out) on the CPU.

    :raises ImportError: onnx or onnxruntime is not installed
    """
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    import onnxruntime as ort
    rng = np.random.default_rng(0)
    weight = rng.integers(-128, 128, size=(size, size), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node('MatMulInteger', ['a', 'w'], ['y'])], 'int8_peak',
        [helper.make_tensor_value_info('a', TensorProto.UINT8, [size, size])],
        [helper.make_tensor_value_info('y', TensorProto.INT32, [size, size])],
        [numpy_helper.from_array(weight, 'w')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = min(model.ir_version, 9)
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), sess_options=options,
                                   providers=['CPUExecutionProvider'])
    a = rng.integers(0, 256, size=(size, size), dtype=np.uint8)
    seconds = _best_seconds(lambda: session.run(None, {'a': a}), lambda: None, repeats)
    return 2.0 * size ** 3 / seconds / 1e9


def row_peak(row: Dict[str, Any], cuda: bool) -> str:
    """
    Return the peak a backend row is compared with: ``<arithmetic>`` or ``''`` for none.

    torch rows: their precision on the device; onnxruntime on the CPU: fp32, or int8
    (onnxruntime's integer product); CUDA rows: the fp32 or fp16 product of torch on the
    GPU (TensorRT int8 has no probe here).
    """
    precision = row['precision']
    if row['backend'] == 'torch':
        return precision
    on_cpu = row['providers'].startswith('CPU')
    if on_cpu:
        return {'fp32': 'fp32', 'int8': 'int8'}.get(precision, '')
    return precision if cuda and precision in ('fp32', 'fp16') else ''


def measure_peaks(arithmetics, device: str, size: int = PEAK_SIZE,
                  repeats: int = PEAK_REPEATS) -> Tuple[Dict[str, Optional[float]], list]:
    """
    Measure the peaks of the arithmetics the rows use; None (and a note) where not measurable.

    :param arithmetics: e.g. ``{'fp32', 'int8'}``
    :return: ``{arithmetic: GFLOP/s or None}`` and notes
    """
    peaks: Dict[str, Optional[float]] = {}
    notes = []
    dtypes = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
    for name in sorted(arithmetics):
        try:
            if name == 'int8':
                peaks[name] = int8_matmul_peak(size, repeats)
            else:
                peaks[name] = matmul_peak(dtypes[name], device, size, repeats)
        except (ImportError, RuntimeError, KeyError) as error:
            peaks[name] = None
            notes.append(f'{name} matrix-product peak not measured: {error}')
    return peaks, notes


def add_efficiency(result: Dict[str, Any], gflop_per_frame: float,
                   peaks: Dict[str, Optional[float]]) -> None:
    """Add ``gflop_s``, ``peak``, ``peak_gflop_s`` and ``fraction_of_peak`` to every row."""
    cuda = str(result.get('device', 'cpu')).startswith('cuda')
    for row in result.get('backends') or []:
        row['gflop_s'] = gflop_per_frame / (row['ms'] / 1000.0)
        peak = row_peak(row, cuda)
        value = peaks.get(peak) if peak else None
        row['peak'] = peak if value is not None else ''
        row['peak_gflop_s'] = value
        row['fraction_of_peak'] = row['gflop_s'] / value if value else None
