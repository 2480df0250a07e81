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

"""``depthclip eval``: metric arithmetic, protocol geometry and end-to-end runs on files."""

import csv
import json
import math
import os

import cv2
import numpy as np
import pytest

from depthclip_ros.core.config import DepthClipConfig
from depthclip_ros.core.engine import DepthClipEngine
from depthclip_ros.core.sample import load_sample_depth, load_sample_rgb
from depthclip_ros.tools.cli import main
from depthclip_ros.tools.evaluation import (compute_metrics, garg_crop, kitti_crop_box,
                                            kitti_frame_metrics, kitti_protocol,
                                            list_kitti_samples, list_nyu_samples, mean_metrics,
                                            METRIC_NAMES, nyu_frame_metrics, nyu_protocol,
                                            paste_nyu_prediction, run_evaluation)


def _sets(overrides):
    return [a for k, v in overrides.items() for a in ('--set', f'{k}={v}')]


@pytest.fixture(scope='module')
def engine(small_overrides):
    return DepthClipEngine(DepthClipConfig.from_flat(small_overrides))


# ------------------------------------------------------------------------------- metrics
def test_perfect_and_doubled_predictions():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 9.0, (40, 50))
    perfect = compute_metrics(gt, gt.copy())
    assert perfect['a1'] == perfect['a2'] == perfect['a3'] == 1.0
    for name in ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'abs_diff'):
        assert perfect[name] == 0.0
    assert perfect['valid_pixels'] == gt.size
    doubled = compute_metrics(gt, 2.0 * gt, max_depth=20.0)
    assert doubled['a1'] == doubled['a2'] == doubled['a3'] == 0.0  # 2 > 1.25^3
    assert doubled['abs_rel'] == pytest.approx(1.0)
    assert doubled['log10'] == pytest.approx(math.log10(2.0))
    assert doubled['rmse_log'] == pytest.approx(math.log(2.0))
    assert doubled['abs_diff'] == pytest.approx(gt.mean())
    assert doubled['rmse'] == pytest.approx(math.sqrt((gt ** 2).mean()))
    assert doubled['sq_rel'] == pytest.approx(gt.mean())


def test_hand_computed_metrics():
    gt = np.array([[1.0, 2.0, 4.0, 5.0]])
    pred = np.array([[1.2, 3.0, 1.6, 5.0]])
    # ratios max(g/p, p/g): 1.2, 1.5, 2.5, 1.0
    m = compute_metrics(gt, pred)
    assert m['valid_pixels'] == 4
    assert m['a1'] == pytest.approx(2 / 4)      # 1.2 and 1.0 < 1.25
    assert m['a2'] == pytest.approx(3 / 4)      # 1.5 < 1.5625
    assert m['a3'] == pytest.approx(3 / 4)      # 2.5 > 1.953125
    assert m['abs_rel'] == pytest.approx((0.2 / 1 + 1.0 / 2 + 2.4 / 4 + 0) / 4)
    assert m['sq_rel'] == pytest.approx((0.04 / 1 + 1.0 / 2 + 5.76 / 4 + 0) / 4)
    assert m['rmse'] == pytest.approx(math.sqrt((0.04 + 1.0 + 5.76 + 0) / 4))
    logs = [math.log(1 / 1.2), math.log(2 / 3), math.log(4 / 1.6), 0.0]
    assert m['rmse_log'] == pytest.approx(math.sqrt(sum(v * v for v in logs) / 4))
    assert m['log10'] == pytest.approx(sum(abs(v) for v in logs) / math.log(10) / 4)
    assert m['abs_diff'] == pytest.approx((0.2 + 1.0 + 2.4 + 0) / 4)


def test_validity_clamping_and_crop():
    gt = np.array([[np.nan, 0.0, 0.0005, 10.0, 12.0, 2.0, 9.99, 3.0]])
    pred = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 0.0001, 50.0, 0.0]])
    kitti_like = compute_metrics(gt, pred, max_depth=10.0)
    # only 2.0, 9.99 and 3.0 are valid gt; pred clamps to [1e-3, 10]
    assert kitti_like['valid_pixels'] == 3
    assert kitti_like['abs_diff'] == pytest.approx(((2.0 - 1e-3) + (10.0 - 9.99) + (3.0 - 1e-3))
                                                   / 3)
    nyu_like = compute_metrics(gt, pred, max_depth=10.0, require_valid_pred=True)
    assert nyu_like['valid_pixels'] == 1  # pred 1e-4 and 0 are not > 1e-3
    assert nyu_like['abs_diff'] == pytest.approx(0.01)
    cropped = compute_metrics(gt, pred, max_depth=10.0, crop=(0, 1, 6, 8))
    assert cropped['valid_pixels'] == 2
    empty = compute_metrics(np.zeros((3, 3)), np.ones((3, 3)))
    assert empty['valid_pixels'] == 0 and math.isnan(empty['a1'])
    assert mean_metrics([kitti_like, empty, nyu_like])['images'] == 2
    assert mean_metrics([kitti_like, nyu_like])['abs_diff'] == pytest.approx(
        (kitti_like['abs_diff'] + nyu_like['abs_diff']) / 2)
    with pytest.raises(ValueError, match='one shape'):
        compute_metrics(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match='does not fit'):
        compute_metrics(np.ones((2, 3)), np.ones((2, 3)), crop=(0, 5, 0, 3))
    assert set(METRIC_NAMES) <= set(empty)


# ---------------------------------------------------------------------- protocol geometry
def test_nyu_crop_and_paste_geometry(tmp_path):
    rgb = np.zeros((480, 640, 3), dtype=np.uint8)
    rgb[56:472, 60:604] = 200
    rgb[56, 60] = (1, 2, 3)
    gt_path = str(tmp_path / 'sync_depth_00001.png')
    cv2.imwrite(gt_path, np.full((480, 640), 2500, dtype=np.uint16))
    crop, gt = nyu_protocol().prepare(rgb, gt_path)
    assert crop.shape == (416, 544, 3) and tuple(crop[0, 0]) == (1, 2, 3)
    assert (crop == 200).sum() == 416 * 544 * 3 - 3
    assert gt.shape == (480, 640) and (gt == 2.5).all()
    with pytest.raises(ValueError, match='640x480'):
        nyu_protocol().prepare(rgb[:400], gt_path)
    pred = np.full((416, 544), 2.5, dtype=np.float32)
    full = paste_nyu_prediction(pred)
    assert full.shape == (480, 640)
    assert (full[56:472, 60:604] == 2.5).all()
    outside = np.ones((480, 640), dtype=bool)
    outside[56:472, 60:604] = False
    assert (full[outside] == 0.0).all()
    m = nyu_frame_metrics(gt, pred)
    # rows 56..470 (eval crop ends at 471), cols 60..600 (eval crop ends at 601)
    assert m['valid_pixels'] == (471 - 56) * (601 - 60)
    assert m['a1'] == 1.0 and m['abs_rel'] == 0.0 and m['rmse'] == 0.0
    # gt outside the pasted crop is never scored, however wrong the zeros there would be
    gt2 = gt.copy()
    gt2[:56] = 9.0
    assert nyu_frame_metrics(gt2, pred)['rmse'] == 0.0
    with pytest.raises(ValueError, match='416x544'):
        paste_nyu_prediction(np.ones((480, 640)))


def test_kitti_geometry_matches_the_reference_loader():
    assert garg_crop(375, 1242) == (153, 371, 44, 1197)
    # the reference crops rows h-352:h and cols (w-1216)//2 + 1216, then the centre 704
    for w in range(1224, 1243):
        top, bottom, left, right = kitti_crop_box(375, w)
        assert (top, bottom) == (375 - 352, 375)
        assert left == (w - 1216) // 2 + (1216 - 704) // 2 and right - left == 704
    assert garg_crop(352, 704) == (143, 349, 25, 678)
    gt = np.zeros((352, 704), dtype=np.float32)
    gt[100, 300] = 5.0    # above the Garg crop: ignored
    gt[200, 300] = 5.0
    gt[200, 301] = 85.0   # beyond the 80 m cap: ignored
    pred = np.full((352, 704), 4.0, dtype=np.float32)
    m = kitti_frame_metrics(gt, pred)
    assert m['valid_pixels'] == 1 and m['abs_diff'] == pytest.approx(1.0)
    with pytest.raises(ValueError, match='smaller than'):
        kitti_crop_box(300, 1242)


def test_split_files(tmp_path):
    for scene in ('bathroom', 'kitchen'):
        (tmp_path / scene).mkdir()
        for n in ('00045', '00046'):
            (tmp_path / scene / f'rgb_{n}.jpg').write_bytes(b'x')
            (tmp_path / scene / f'sync_depth_{n}.png').write_bytes(b'x')
    split = tmp_path / 'split.txt'
    split.write_text('bathroom/rgb_00045.jpg bathroom/sync_depth_00045.png 518.8579\n'
                     '# a comment\n\nkitchen/rgb_00046.jpg 518.8579\n/kitchen/rgb_00045.jpg\n')
    samples = list_nyu_samples(str(tmp_path), str(split))
    assert [(s.name, os.path.relpath(s.gt_path, tmp_path)) for s in samples] == [
        ('bathroom/rgb_00045.jpg', 'bathroom/sync_depth_00045.png'),
        ('kitchen/rgb_00046.jpg', 'kitchen/sync_depth_00046.png'),
        ('kitchen/rgb_00045.jpg', 'kitchen/sync_depth_00045.png')]
    assert len(list_nyu_samples(str(tmp_path))) == 4
    split.write_text('kitchen/rgb_00047.jpg\n')
    with pytest.raises(FileNotFoundError, match='missing'):
        list_nyu_samples(str(tmp_path), str(split))
    split.write_text('bathroom/rgb_00045.jpg None 721.5\n'
                     'kitchen/rgb_00046.jpg kitchen/sync_depth_00046.png 721.5\n')
    samples, no_gt = list_kitti_samples(str(tmp_path), str(split))
    assert no_gt == 1 and [s.name for s in samples] == ['kitchen/rgb_00046.jpg']


# --------------------------------------------------------------------------- end to end
def _write_nyu(root, engine, factor):
    """Fake NYU scene from the sample room: gt = engine prediction (pasted) / factor."""
    scene = root / 'room'
    scene.mkdir(parents=True)
    for i in (0, 2):
        rgb = load_sample_rgb(i)
        cv2.imwrite(str(scene / f'rgb_{i:05d}.jpg'), rgb[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        decoded = cv2.imread(str(scene / f'rgb_{i:05d}.jpg'))[:, :, ::-1]
        pred = engine.predict([np.ascontiguousarray(decoded[56:472, 60:604])],
                              [(416, 544)])[0].depth
        gt_mm = np.rint(paste_nyu_prediction(pred) / factor * 1000.0).astype(np.uint16)
        cv2.imwrite(str(scene / f'sync_depth_{i:05d}.png'), gt_mm)


def test_eval_nyu_known_answers(tmp_path, engine):
    _write_nyu(tmp_path / 'same', engine, 1.0)
    rows, _ = run_evaluation(nyu_protocol(), list_nyu_samples(str(tmp_path / 'same')),
                             engine, batch=2, progress=False)
    m = mean_metrics(rows)
    assert m['images'] == 2 and m['a1'] == 1.0
    assert m['abs_rel'] < 1e-3 and m['rmse'] < 1e-3  # millimetre PNG quantization only
    _write_nyu(tmp_path / 'half', engine, 2.0)        # pred = 2 gt
    rows, _ = run_evaluation(nyu_protocol(), list_nyu_samples(str(tmp_path / 'half')),
                             engine, batch=1, progress=False)
    m = mean_metrics(rows)
    assert m['a1'] == 0.0 and m['abs_rel'] == pytest.approx(1.0, abs=2e-3)


def test_eval_nyu_cli_on_the_sample_room(tmp_path, small_overrides, capsys):
    scene = tmp_path / 'nyu' / 'sample_room'
    scene.mkdir(parents=True)
    for i in (0, 1):
        cv2.imwrite(str(scene / f'rgb_{i:05d}.jpg'), load_sample_rgb(i)[:, :, ::-1])
        mm = np.nan_to_num(load_sample_depth(i) * 1000.0, nan=0.0)
        cv2.imwrite(str(scene / f'sync_depth_{i:05d}.png'), np.rint(mm).astype(np.uint16))
    out = tmp_path / 'out'
    rc = main(['eval', 'nyu', str(tmp_path / 'nyu'), '--output', str(out), '--batch', '2',
               '--no-progress'] + _sets(small_overrides))
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    header = printed.splitlines()[-4].split()
    assert header[:6] == ['δ<1.25', 'δ<1.25²', 'δ<1.25³', 'AbsRel', 'log10', 'RMSE']
    with open(out / 'nyu_per_image.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['image'] for r in rows] == ['sample_room/rgb_00000.jpg',
                                          'sample_room/rgb_00001.jpg']
    assert all(int(r['valid_pixels']) > 100_000 for r in rows)
    summary = json.loads((out / 'nyu_summary.json').read_text())
    assert summary['images'] == 2 and summary['dataset'] == 'nyu'
    assert summary['columns'][:6] == ['a1', 'a2', 'a3', 'abs_rel', 'log10', 'rmse']
    for name, value in summary['metrics'].items():
        assert value == pytest.approx(np.mean([float(r[name]) for r in rows]), abs=1e-6)
    assert 0.0 <= summary['metrics']['a1'] <= summary['metrics']['a3'] <= 1.0
    assert summary['metrics']['rmse'] > 0.0


def test_eval_kitti_cli_known_answers(tmp_path, engine, small_overrides, capsys):
    data = tmp_path / 'kitti'
    image_dir = data / '2011_09_26' / 'drive_0002_sync' / 'image_02' / 'data'
    gt_dir = tmp_path / 'annotated' / 'drive_0002_sync' / 'proj_depth' / 'groundtruth'
    image_dir.mkdir(parents=True)
    gt_dir.mkdir(parents=True)
    rng = np.random.default_rng(3)
    lines = []
    for i in (0, 3):
        rgb = cv2.resize(load_sample_rgb(i), (1242, 375), interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(image_dir / f'{i:010d}.png'), rgb[:, :, ::-1])
        top, bottom, left, right = kitti_crop_box(375, 1242)
        pred = engine.predict([np.ascontiguousarray(rgb[top:bottom, left:right])],
                              [(352, 704)])[0].depth
        gt = np.zeros((375, 1242), dtype=np.float32)
        gt[top:bottom, left:right] = pred
        gt[rng.random(gt.shape) < 0.8] = 0.0  # sparse, like projected LiDAR
        cv2.imwrite(str(gt_dir / f'{i:010d}.png'), np.rint(gt * 256.0).astype(np.uint16))
        lines.append(f'2011_09_26/drive_0002_sync/image_02/data/{i:010d}.png '
                     f'drive_0002_sync/proj_depth/groundtruth/{i:010d}.png 721.5377')
    lines.append('2011_09_26/drive_0002_sync/image_02/data/0000000009.png None 721.5377')
    split = tmp_path / 'eigen_test.txt'
    split.write_text('\n'.join(lines) + '\n')
    out = tmp_path / 'out'
    rc = main(['eval', 'kitti', str(data), '--split', str(split), '--gt-dir',
               str(tmp_path / 'annotated'), '--output', str(out), '--no-progress']
              + _sets(small_overrides))
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / 'kitti_summary.json').read_text())
    assert summary['images'] == 2 and summary['lines_without_gt'] == 1
    assert summary['columns'][:4] == ['abs_rel', 'sq_rel', 'rmse', 'rmse_log']
    m = summary['metrics']
    assert m['a1'] == 1.0 and m['abs_rel'] < 2e-3 and m['rmse'] < 2e-3
    with open(out / 'kitti_per_image.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(int(r['valid_pixels']) > 1000 for r in rows)
    # pred = 2 gt through the same protocol
    samples, _ = list_kitti_samples(str(data), str(split), str(tmp_path / 'annotated'))
    for sample in samples:
        gt = cv2.imread(sample.gt_path, cv2.IMREAD_UNCHANGED)
        cv2.imwrite(sample.gt_path, (gt // 2).astype(np.uint16))
    rows, _ = run_evaluation(kitti_protocol(), samples, engine, batch=2, progress=False)
    m = mean_metrics(rows)
    assert m['a1'] == 0.0 and m['abs_rel'] == pytest.approx(1.0, abs=5e-3)


def test_eval_errors_are_one_line(tmp_path, capsys):
    rc = main(['eval', 'nyu', str(tmp_path / 'none')])
    assert rc == 2 and 'does not exist' in capsys.readouterr().err
    rc = main(['eval', 'nyu', str(tmp_path)])
    assert rc == 2 and 'no NYU samples' in capsys.readouterr().err
    rc = main(['eval', 'kitti', str(tmp_path), '--split', str(tmp_path / 'x.txt')])
    assert rc == 2 and 'split file' in capsys.readouterr().err
