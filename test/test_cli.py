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

"""The ``depthclip`` command line, run for real on real files."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np

from depthclip_ros.core.sample import sample_frames
from depthclip_ros.tools.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARAMS = os.path.join(REPO, 'config', 'depthclip.yaml')


def test_predict_end_to_end_on_image_files(tmp_path, rn50_checkpoint, capsys):
    frames = sample_frames()[:2]
    jpg = tmp_path / 'photo.jpg'
    cv2.imwrite(str(jpg), cv2.resize(cv2.imread(frames[0]), (333, 251)))
    out = tmp_path / 'out'
    rc = main(['predict', frames[0], frames[1], str(jpg), '--params', PARAMS,
               '--output', str(out), '--batch', '2',
               '--set', f'model.pretrained={rn50_checkpoint}', '--set', 'model.device=cpu',
               '--set', 'model.precision=fp32', '--set', 'model.backend=torch',
               '--set', 'input.height=128', '--set', 'input.width=160',
               '--set', 'depth_bins=[2, 3, 4, 5, 6, 7, 8]'])
    assert rc == 0
    printed = capsys.readouterr()
    assert 'RANDOM' not in printed.out and f'RN50 {rn50_checkpoint}' in printed.out
    assert 'precision: fp32 (explicit: model.precision fp32)' in printed.out.splitlines()
    for path, shape in ((frames[0], (480, 640)), (str(jpg), (251, 333))):
        stem = os.path.splitext(os.path.basename(path))[0]
        depth = np.load(out / f'{stem}_depth.npy')
        conf = np.load(out / f'{stem}_confidence.npy')
        assert depth.dtype == np.float32 and depth.shape == shape
        assert np.isfinite(depth).all() and depth.min() >= 2.0 and depth.max() <= 8.0
        assert conf.shape == shape and 0.0 <= conf.min() and conf.max() <= 1.0
        png = cv2.imread(str(out / f'{stem}_depth.png'))
        assert png.shape[0] == shape[0] and png.shape[1] > shape[1]  # colour bar appended


def test_predict_errors_are_one_line(tmp_path, capsys):
    rc = main(['predict', str(tmp_path / 'missing.png'), '--output', str(tmp_path),
               '--set', 'model.pretrained=', '--set', 'model.device=cpu',
               '--set', 'input.height=64', '--set', 'input.width=64'])
    assert rc == 2
    assert 'cannot read image' in capsys.readouterr().err
    rc = main(['predict', sample_frames()[0], '--output', str(tmp_path),
               '--set', 'temperature=-1'])
    assert rc == 2
    assert 'temperature must be > 0' in capsys.readouterr().err
    rc = main(['predict', sample_frames()[0], '--output', str(tmp_path),
               '--set', 'model.pretrained=' + str(tmp_path / 'none.safetensors')])
    err = capsys.readouterr().err
    assert rc == 2 and 'does not exist' in err and 'Traceback' not in err


def test_offline_without_weights_is_one_clear_message(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE='1', HF_HOME=str(tmp_path / 'hf'),
               XDG_CACHE_HOME=str(tmp_path / 'cache'))
    proc = subprocess.run([sys.executable, '-m', 'depthclip_ros.tools.cli', 'predict',
                           sample_frames()[0], '--output', str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if 'error' in line]
    assert len(errors) == 1 and 'model.pretrained' in errors[0]


def test_checkpoint_command_writes_loadable_random_weights(tmp_path, capsys):
    path = tmp_path / 'w.safetensors'
    assert main(['checkpoint', '--random', '--seed', '3', '--output', str(path)]) == 0
    assert 'RANDOM' in capsys.readouterr().out
    assert path.stat().st_size > 1e8


def test_bench_json_has_the_documented_keys(rn50_checkpoint, capsys):
    rc = main(['bench', '--json', '--size', '120x160', '--repeats', '1',
               '--set', f'model.pretrained={rn50_checkpoint}', '--set', 'model.device=cpu',
               '--set', 'model.precision=fp32', '--set', 'model.backend=torch',
               '--set', 'input.height=64', '--set', 'input.width=64',
               '--set', 'flip_tta=false', '--skip-precision', '--skip-baseline'])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ('encoder_ms', 'encoder_passes', 'predict_ms', 'per_patch_ms', 'fp32_ms',
                'bf16_ms', 'device', 'predict_over_encoder', 'precision', 'precision_reason',
                'bf16_mean_abs_diff_m', 'bf16_p99_abs_diff_m', 'bf16_max_abs_diff_m',
                'fp16_mean_abs_diff_m', 'fp16_p99_abs_diff_m', 'fp16_max_abs_diff_m',
                'backend', 'auto_choice'):
        assert key in result, key
    assert result['device'] == 'cpu' and result['encoder_passes'] == 1
    assert result['backend'] == 'torch' and result['auto_choice'] is None  # no rows
    assert result['precision'] == 'fp32'
    assert result['precision_reason'] == 'explicit: model.precision fp32'
    assert result['encoder_ms'] > 0 and result['predict_ms'] > 0
    assert result['per_patch_ms'] is None and result['fp32_ms'] is None


def test_bench_node_runs_on_random_weights_from_an_empty_pretrained(tmp_path):
    """The settings reach the node in a parameter file: an empty value is fine there."""
    proc = subprocess.run(
        [sys.executable, '-m', 'depthclip_ros.tools.cli', 'bench', '--node', '--json',
         '--set', 'model.pretrained=', '--set', 'model.device=cpu',
         '--set', 'model.backend=torch', '--set', 'input.height=64',
         '--set', 'input.width=64', '--set', 'flip_tta=false', '--size', '96x128',
         '--duration', '1', '--repeats', '1'],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert 'Traceback' not in proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['weights'] == 'RN50 RANDOM weights' and result['size'] == '96x128'
    assert result['engine_fps'] > 0


def test_bench_reports_reduced_precision_differences(capsys):
    """
    bf16 (forced, so on any CPU) is timed and compared with fp32 on the sample frames.

    With random weights: every engine the bench builds must get the same (seeded) ones, or
    the comparison is between two different models.
    """
    from depthclip_ros.tools.bench import format_report
    rc = main(['bench', '--json', '--size', '64x64', '--repeats', '1', '--force-bf16',
               '--set', 'model.pretrained=', '--set', 'model.device=cpu',
               '--set', 'model.precision=fp32', '--set', 'model.backend=torch',
               '--set', 'input.height=64', '--set', 'input.width=64',
               '--set', 'flip_tta=false', '--skip-baseline', '--skip-onnx'])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['fp32_ms'] > 0 and result['bf16_ms'] > 0 and result['bf16_speedup'] > 0
    mean, p99, largest = (result[f'bf16_{k}_abs_diff_m'] for k in ('mean', 'p99', 'max'))
    # measured mean / p99 / max: 0.0058 / 0.0121 / 0.0131 m, native bf16 and
    # ONEDNN_MAX_CPU_ISA=AVX2 alike; two different random models differ by ~1 m
    assert 0.0 < mean <= largest and 0.0 < p99 <= largest <= 0.05
    # fp16 is timed on CUDA only
    assert result['fp16_ms'] is None and result['fp16_p99_abs_diff_m'] is None
    report = format_report(result)
    assert 'precision fp32: explicit: model.precision fp32' in report
    assert f'|depth - fp32| on the sample frames: mean {mean:.4f} m, p99 {p99:.4f} m' in report


def test_per_patch_baseline_encodes_49_crops_separately(rn50_checkpoint):
    from depthclip_ros.core.config import DepthClipConfig
    from depthclip_ros.core.engine import DepthClipEngine
    from depthclip_ros.tools.bench import per_patch_frame
    engine = DepthClipEngine(DepthClipConfig.from_flat({
        'model.pretrained': rn50_checkpoint, 'model.device': 'cpu', 'model.precision': 'fp32',
        'model.backend': 'torch', 'input.height': 64, 'input.width': 64}))
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, 32:] = 255
    embeddings = per_patch_frame(engine, image, flip=False)
    sequential = per_patch_frame(engine, image, flip=False, batched=False)
    assert np.allclose(embeddings.numpy(), sequential.numpy(), atol=1e-4)
    assert embeddings.shape == (49, 1024)
    # crops from the black and the white half are encoded differently
    assert not np.allclose(embeddings[0].numpy(), embeddings[6].numpy())
