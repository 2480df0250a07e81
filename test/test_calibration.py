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

"""``depthclip calibrate``: a known scale is found again, and the written params reproduce it."""

import os

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
import yaml

from depthclip_ros.core.config import DepthClipConfig, load_config, load_params_file
from depthclip_ros.core.engine import DepthClipEngine
from depthclip_ros.core.sample import load_sample_rgb
from depthclip_ros.tools.calibration import fit_scale, predict_frames, write_calibrated_params
from depthclip_ros.tools.cli import main
from depthclip_ros.tools.datasets import bag_frames, detect_format, folder_frames, nyu_frames
from depthclip_ros.tools.evaluation import paste_nyu_prediction
from depthclip_ros.tools.rosbag_io import make_typestore

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARAMS = os.path.join(REPO, 'config', 'depthclip.yaml')
K = 1.7


def _sets(overrides):
    return [a for k, v in overrides.items() for a in ('--set', f'{k}={v}')]


@pytest.fixture(scope='module')
def engine(small_overrides):
    return DepthClipEngine(DepthClipConfig.from_flat(small_overrides))


def _small_rgb(i, size=(160, 120)):
    return cv2.resize(load_sample_rgb(i), size, interpolation=cv2.INTER_AREA)


def test_fit_scale_methods():
    rng = np.random.default_rng(0)
    pred = rng.uniform(1.0, 3.0, (50, 60))
    gt = 2.5 * pred
    gt[0, :10] = np.nan   # invalid gt is ignored
    gt[1, :10] = 0.0
    gt[2, :10] = 500.0    # beyond max_depth
    for method in ('median', 'log-lsq'):
        fit = fit_scale([(gt, pred), (gt[:20], pred[:20])], method, max_depth=100.0)
        assert fit.scale == pytest.approx(2.5, rel=1e-9)
        assert fit.frames == 2 and fit.pixels == 3000 - 30 + 1200 - 30
        assert fit.delta1_before == 0.0 and fit.delta1_after == 1.0
    outliers = gt.copy()
    outliers[10:20] *= 5.0  # 1 in 5 pixels wildly off: the median does not care
    assert fit_scale([(outliers, pred)], 'median', max_depth=100.0).scale == \
        pytest.approx(2.5, rel=1e-9)
    assert fit_scale([(outliers, pred)], 'log-lsq', max_depth=100.0).scale > 3.0
    many = fit_scale([(gt, pred)], max_depth=100.0, max_pixels_per_frame=100)
    assert many.pixels == 100 and many.scale == pytest.approx(2.5)
    with pytest.raises(ValueError, match='no valid depth'):
        fit_scale([(np.zeros((3, 3)), np.ones((3, 3)))])
    with pytest.raises(ValueError, match='method'):
        fit_scale([(gt, pred)], 'mean')


def test_write_calibrated_params(tmp_path):
    base = tmp_path / 'base.yaml'
    base.write_text('/**:\n  ros__parameters:\n    depth_bins: [1, 2, 3, 4, 5, 6, 7]\n'
                    '    cloud: {stride: 2}\n'
                    'depthclip_node:\n  ros__parameters:\n    depth_scale: 3.0\n'
                    '    temperature: 0.2\n')
    out = tmp_path / 'sub' / 'calibrated.yaml'
    write_calibrated_params(str(out), 1.25, str(base),
                            ['model.device=cpu', 'prompts.objects=[thing, stuff]'],
                            comment='fitted\non 3 frames')
    text = out.read_text()
    assert text.startswith('# fitted\n# on 3 frames\n')
    flat = load_params_file(str(out))
    assert flat['depth_scale'] == 1.25 and flat['cloud.stride'] == 2
    assert flat['model.device'] == 'cpu' and flat['prompts.objects'] == ['thing', 'stuff']
    node = load_params_file(str(out), node_name='depthclip_node')
    assert node['depth_scale'] == 1.25 and node['temperature'] == 0.2  # section kept, fixed
    assert load_config(str(out)).depth_scale == 1.25
    # integers for double parameters are written as doubles, as ROS 2 needs them
    assert flat['depth_bins'] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert all(isinstance(v, float) for v in flat['depth_bins'])
    with pytest.raises(ValueError, match='depth_scale'):
        write_calibrated_params(str(tmp_path / 'bad.yaml'), 1000.0, str(base))
    assert not (tmp_path / 'bad.yaml').exists()
    assert sorted(os.listdir(tmp_path / 'sub')) == ['calibrated.yaml']  # no temp file left


def test_calibrate_folder_cli_finds_k_and_predict_reproduces_gt(tmp_path, engine,
                                                                small_overrides, capsys):
    data = tmp_path / 'data'
    (data / 'rgb').mkdir(parents=True)
    (data / 'depth').mkdir()
    gts = {}
    for i in (0, 2):
        rgb = _small_rgb(i)
        path = str(data / 'rgb' / f'frame{i}.png')
        cv2.imwrite(path, rgb[:, :, ::-1])
        pred = engine.predict_one(rgb).depth
        mm = np.rint(K * pred * 1000.0).astype(np.uint16)
        cv2.imwrite(str(data / 'depth' / f'frame{i}.png'), mm)
        gts[path] = mm.astype(np.float32) / 1000.0
    assert detect_format(str(data)) == 'folder'
    out = tmp_path / 'calibrated.yaml'
    rc = main(['calibrate', str(data), '--output', str(out), '--params', PARAMS,
               '--no-progress'] + _sets(small_overrides))
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert 'depth_scale: 1 -> ' in printed and f'wrote {out}' in printed
    scale = yaml.safe_load(out.read_text())['/**']['ros__parameters']['depth_scale']
    assert scale == pytest.approx(K, rel=0.01)
    assert scale == pytest.approx(K, rel=1e-3)  # only the millimetre rounding is off
    # the node's own parameters of the base file are kept
    assert load_params_file(str(out))['cloud.stride'] == 4

    predicted = tmp_path / 'predicted'
    rc = main(['predict', *gts, '--params', str(out), '--output', str(predicted)])
    assert rc == 0, capsys.readouterr().err
    for path, gt in gts.items():
        stem = os.path.splitext(os.path.basename(path))[0]
        depth = np.load(predicted / f'{stem}_depth.npy')
        np.testing.assert_allclose(depth, gt, rtol=2e-3, atol=2e-3)


def _write_depth_bag(path, engine, encoding, storage):
    ts = make_typestore()
    types = ts.types

    def header(stamp):
        return types['std_msgs/msg/Header'](
            stamp=types['builtin_interfaces/msg/Time'](sec=stamp // 10 ** 9,
                                                       nanosec=stamp % 10 ** 9),
            frame_id='cam')

    with Writer(path, version=9, storage_plugin=getattr(StoragePlugin, storage.upper())) as w:
        image = w.add_connection('/cam/color/image_raw', 'sensor_msgs/msg/Image', typestore=ts)
        depth = w.add_connection('/cam/depth/image_rect_raw', 'sensor_msgs/msg/Image',
                                 typestore=ts)
        for i in range(3):
            t = 10 ** 18 + i * 10 ** 8
            rgb = _small_rgb(i)
            pred = engine.predict_one(rgb).depth
            if encoding == '32FC1':
                data, step = (K * pred).astype('<f4'), 160 * 4
            else:
                data, step = np.rint(K * pred * 1000.0).astype('<u2'), 160 * 2
            msg = types['sensor_msgs/msg/Image'](
                header=header(t), height=120, width=160, encoding='rgb8', is_bigendian=0,
                step=160 * 3, data=rgb.reshape(-1))
            w.write(image, t, ts.serialize_cdr(msg, 'sensor_msgs/msg/Image'))
            dmsg = types['sensor_msgs/msg/Image'](
                header=header(t + 3_000_000), height=120, width=160, encoding=encoding,
                is_bigendian=0, step=step, data=data.reshape(-1).view(np.uint8))
            w.write(depth, t + 4_000_000, ts.serialize_cdr(dmsg, 'sensor_msgs/msg/Image'))


@pytest.mark.parametrize('encoding,storage', [('32FC1', 'mcap'), ('16UC1', 'sqlite3')])
def test_calibrate_from_a_bag(tmp_path, engine, encoding, storage):
    bag = str(tmp_path / 'bag')
    _write_depth_bag(bag, engine, encoding, storage)
    assert detect_format(bag) == 'bag'
    count, frames = bag_frames(bag, frames=2)  # topics found by their names
    assert count == 2
    fit = fit_scale(predict_frames(engine, frames, batch=2, total=count, progress=False))
    assert fit.frames == 2 and fit.scale == pytest.approx(K, rel=0.01)
    with pytest.raises(ValueError, match='within'):
        bag_frames(bag, max_dt=0.001)
    with pytest.raises(ValueError, match='not a sensor_msgs/msg/Image'):
        bag_frames(bag, depth_topic='/nope')
    with pytest.raises(ValueError, match='both the image and the depth'):
        bag_frames(bag, image_topic='/cam/depth/image_rect_raw')


def test_calibrate_nyu_layout_matches_the_eval_crop(tmp_path, engine):
    scene = tmp_path / 'nyu' / 'room'
    scene.mkdir(parents=True)
    rgb = load_sample_rgb(1)
    cv2.imwrite(str(scene / 'rgb_00001.png'), rgb[:, :, ::-1])
    pred = engine.predict([np.ascontiguousarray(rgb[56:472, 60:604])], [(416, 544)])[0].depth
    gt = paste_nyu_prediction(pred) * K
    gt[:, :300] = 0.0   # no gt on the left half
    gt[:56] = 9.0       # wrong gt above the input crop: never seen
    cv2.imwrite(str(scene / 'sync_depth_00001.png'), np.rint(gt * 1000.0).astype(np.uint16))
    assert detect_format(str(tmp_path / 'nyu')) == 'nyu'
    count, frames = nyu_frames(str(tmp_path / 'nyu'))
    frames = list(frames)
    assert count == 1 and frames[0].rgb.shape == (416, 544, 3)
    fit = fit_scale(predict_frames(engine, frames, batch=1, progress=False), max_depth=10.0,
                    max_pixels_per_frame=10 ** 6)
    assert fit.scale == pytest.approx(K, rel=1e-3)
    # rows 56..470 and columns 300..600: the input crop, the eval crop and the gt overlap
    assert fit.pixels == (471 - 56) * (601 - 300)


def test_calibrate_errors(tmp_path, capsys):
    rc = main(['calibrate', str(tmp_path / 'missing')])
    assert rc == 2 and 'does not exist' in capsys.readouterr().err
    (tmp_path / 'rgb').mkdir()
    (tmp_path / 'depth').mkdir()
    rc = main(['calibrate', str(tmp_path)])
    assert rc == 2 and 'has a depth file' in capsys.readouterr().err
    with pytest.raises(ValueError, match='must hold depth/'):
        folder_frames(str(tmp_path / 'rgb'))
    rc = main(['calibrate', str(tmp_path), '--frames', '-1'])
    assert rc == 2 and '--frames' in capsys.readouterr().err


def test_calibrate_ground_fits_the_floor_and_prints_the_oracle(tmp_path, small_overrides,
                                                               monkeypatch, capsys):
    """
    ``--method ground`` finds the scale from the floor alone, as the node's live fit does.

    The model is replaced by one whose depth is the sample room's exact depth divided by K
    (the bins off by a factor K): the ground fit, with the sample camera's mounting (1 m
    up, 3 degrees down), must give K, and so must the oracle.
    """
    from depthclip_ros.core.engine import Prediction
    from depthclip_ros.core.sample import load_sample_depth
    data = tmp_path / 'data'
    (data / 'rgb').mkdir(parents=True)
    (data / 'depth').mkdir()
    truth = {}
    for i in range(4):
        rgb = load_sample_rgb(i)
        cv2.imwrite(str(data / 'rgb' / f'frame{i}.png'), rgb[:, :, ::-1])
        gt = load_sample_depth(i)
        cv2.imwrite(str(data / 'depth' / f'frame{i}.png'),
                    np.nan_to_num(np.rint(gt * 1000.0)).astype(np.uint16))
        truth[rgb.tobytes()] = gt

    def predict(self, images, output_sizes=None, **options):
        return [Prediction(depth=(truth[image.tobytes()] / K).astype(np.float32),
                           confidence=np.ones(image.shape[:2], np.float32))
                for image in images]
    monkeypatch.setattr(DepthClipEngine, 'predict', predict)
    fov = 2.0 * np.degrees(np.arctan(320.0 / 525.0))  # the sample camera, fx = 525 at 640 px
    out = tmp_path / 'ground.yaml'
    rc = main(['calibrate', str(data), '--method', 'ground', '--camera-height', '1.0',
               '--pitch-deg', '3', '--output', str(out), '--no-progress',
               '--set', f'camera.fov_deg={fov}'] + _sets(small_overrides))
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert 'ground: scale ' in printed.out and 'oracle (median of gt / prediction)' in printed.out
    # the key values the node's diagnostics show, from the same estimator
    from depthclip_ros.core.scale import GroundScale
    for key, _ in GroundScale().report():
        assert f'\n  {key}: ' in printed.out, key
    assert '  scale state: fitting' in printed.out
    scale = yaml.safe_load(out.read_text())['/**']['ros__parameters']['depth_scale']
    assert scale == pytest.approx(K, rel=0.02)
    rc = main(['calibrate', str(data), '--method', 'ground', '--no-progress'])
    assert rc == 2 and '--camera-height' in capsys.readouterr().err
