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

"""``depthclip bench``'s work count and peaks: FLOP from shapes, probes, per-row ratios."""

import pytest
import torch
from torch import nn

from depthclip_ros.tools.bench_flops import (add_efficiency, count_flops, int8_matmul_peak,
                                             matmul_peak, row_peak, trunk_gflop_per_image)


class Tiny(nn.Module):
    """Two convolutions and a linear layer, with activations that cost nothing counted."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 4, 1, stride=2)
        self.fc = nn.Linear(4 * 5 * 6, 7)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def test_flops_of_a_tiny_model_equal_a_hand_count():
    # 2 FLOP per multiply-accumulate: output elements x inputs per output element
    conv1 = 2 * (8 * 10 * 12) * (3 * 3 * 3)   # 8 x 10 x 12 outputs, 3 channels x 3 x 3
    conv2 = 2 * (4 * 5 * 6) * (8 * 1 * 1)     # stride 2: 4 x 5 x 6 outputs, 8 channels
    fc = 2 * 7 * 120
    assert count_flops(Tiny(), torch.zeros(1, 3, 10, 12)) == conv1 + conv2 + fc == 55440
    assert count_flops(Tiny(), torch.zeros(3, 3, 10, 12)) == 3 * 55440  # per image


def test_rn50_trunk_flops_scale_with_the_input_area(small_overrides):
    from depthclip_ros.core.config import DepthClipConfig
    from depthclip_ros.core.loading import load_clip
    loaded = load_clip(DepthClipConfig.from_flat(small_overrides).model)
    small = trunk_gflop_per_image(loaded.model, 'paper', (64, 96), torch.float32, loaded.device)
    large = trunk_gflop_per_image(loaded.model, 'paper', (128, 192), torch.float32,
                                  loaded.device)
    assert large == pytest.approx(4 * small, rel=1e-9)
    # CLIP's RN50 (three-convolution stem, wider than torchvision's ResNet-50's 4.1 GMAC)
    # is 5.37 GMAC = 10.7 GFLOP at 224 x 224: its 416 x 544 input is 4.51 x that, 48.4 GFLOP
    at_224 = small * (224 * 224) / (64 * 96)
    assert 10.0 < at_224 < 11.5
    projected = trunk_gflop_per_image(loaded.model, 'projected', (64, 96), torch.float32,
                                      loaded.device)
    assert projected > small  # the value and output projections on top


def test_peak_probes_measure_a_positive_rate():
    assert matmul_peak(torch.float32, 'cpu', size=256, repeats=1) > 0.1
    pytest.importorskip('onnxruntime')
    assert int8_matmul_peak(size=256, repeats=1) > 0.1


def test_rows_are_compared_with_the_peak_of_their_arithmetic():
    rows = [{'backend': 'torch', 'precision': 'fp32', 'providers': '', 'ms': 500.0},
            {'backend': 'onnxruntime', 'precision': 'int8', 'providers': 'CPUExecutionProvider',
             'ms': 250.0},
            {'backend': 'onnxruntime', 'precision': 'int8',
             'providers': 'TensorrtExecutionProvider, CPUExecutionProvider', 'ms': 10.0}]
    result = {'device': 'cuda:0', 'backends': rows}
    add_efficiency(result, 20.0, {'fp32': 80.0, 'int8': 160.0})
    assert [row_peak(r, True) for r in rows] == ['fp32', 'int8', '']
    assert rows[0]['gflop_s'] == pytest.approx(40.0)
    assert rows[0]['fraction_of_peak'] == pytest.approx(0.5)
    assert rows[1]['gflop_s'] == pytest.approx(80.0) and rows[1]['peak'] == 'int8'
    assert rows[1]['fraction_of_peak'] == pytest.approx(0.5)
    assert rows[2]['peak'] == '' and rows[2]['fraction_of_peak'] is None
