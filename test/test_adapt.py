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

"""``depthclip adapt`` and ``prompts.embeddings_file`` in the engine, predict, eval and bag."""

import importlib.util
import json
import os

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from depthclip_ros.core.config import DepthClipConfig
from depthclip_ros.core.embeddings import (AdaptedEmbeddings, check_compatible,
                                           load_embeddings, save_embeddings)
from depthclip_ros.core.engine import DepthClipEngine
from depthclip_ros.core.sample import render_scene
from depthclip_ros.tools.adapt import _spread, grid_sample_gt, split_holdout
from depthclip_ros.tools.cli import main
from depthclip_ros.tools.evaluation import compute_metrics, mean_metrics
from depthclip_ros.tools.rosbag_io import make_typestore

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W, H = 160, 128
FRAMES = 16


def _load_script():
    spec = importlib.util.spec_from_file_location(
        'rgbd_room', os.path.join(REPO, 'scripts', 'rgbd_room.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RGBD_ROOM = _load_script()


def _sets(overrides):
    return [a for k, v in overrides.items() for a in ('--set', f'{k}={v}')]


def _room_frame(i):
    """Frame ``i`` of the synthetic room: its own camera position, one of four variants."""
    return RGBD_ROOM.room_frame(i, FRAMES, W, H)


@pytest.fixture(scope='module')
def room(tmp_path_factory):
    """Write a folder dataset (rgb/*.png + depth/*.npy) of the synthetic room, exact depth."""
    root = tmp_path_factory.mktemp('room')
    assert RGBD_ROOM.main([str(root), '--frames', str(FRAMES), '--size', f'{H}x{W}']) == 0
    frames = {f'f{i:03d}': (cv2.imread(str(root / 'rgb' / f'f{i:03d}.png'))[:, :, ::-1].copy(),
                            np.load(root / 'depth' / f'f{i:03d}.npy')) for i in range(FRAMES)}
    rgb, depth = _room_frame(5)
    np.testing.assert_array_equal(frames['f005'][0], rgb)
    np.testing.assert_array_equal(frames['f005'][1], depth)
    return root, frames


@pytest.fixture(scope='module')
def adapted(room, small_overrides, tmp_path_factory):
    """Run ``depthclip adapt``: the class embeddings only, and with the bins."""
    out = tmp_path_factory.mktemp('adapted')
    files = {}
    for name, extra in (('embeddings', []), ('bins', ['--learn-bins', '--seed', '3'])):
        path = str(out / f'{name}.npz')
        rc = main(['adapt', str(room[0]), '--output', path, '--steps', '100', '--no-progress']
                  + extra + _sets(small_overrides))
        assert rc == 0
        files[name] = path
    return files


@pytest.fixture(scope='module')
def engine(small_overrides):
    return DepthClipEngine(DepthClipConfig.from_flat(small_overrides))


def _heldout_abs_rel(loaded, overrides, frames, names, extra=None):
    engine = DepthClipEngine(DepthClipConfig.from_flat(dict(overrides, **(extra or {}))), loaded)
    chosen = [frames[name] for name in names]
    predictions = engine.predict([rgb for rgb, _ in chosen])
    return mean_metrics([compute_metrics(depth, p.depth, 1e-3, np.inf)
                         for (_, depth), p in zip(chosen, predictions)])['abs_rel']


# -------------------------------------------------------------------------------------------
# the file
# -------------------------------------------------------------------------------------------
def _unit_rows(k, c, seed=0):
    rows = np.random.default_rng(seed).normal(size=(k, c))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _content(**changes):
    values = dict(embeddings=_unit_rows(7, 1024), depth_bins=(0.5, 1, 2, 3, 4, 6, 8),
                  temperature=0.05, model_name='RN50', feature_mode='paper',
                  input_size=(128, 160), templates=('This {} is {}',), objects=('object',),
                  depth_classes=tuple('abcdefg'), frames=10, metric_names=('abs_rel',),
                  heldout_before=(0.4,), heldout_after=(0.3,))
    values.update(changes)
    return AdaptedEmbeddings(**values)


def test_the_file_round_trips_byte_for_byte(tmp_path):
    content = _content()
    a, b = str(tmp_path / 'a.npz'), str(tmp_path / 'sub' / 'b.npz')
    save_embeddings(a, content)
    save_embeddings(b, content)
    assert open(a, 'rb').read() == open(b, 'rb').read()
    loaded = load_embeddings(a)
    assert loaded.same_content(content) and loaded.path == a and len(loaded.digest) == 64
    np.testing.assert_array_equal(loaded.embeddings, content.embeddings)
    assert loaded.head_values() == {'depth_bins': [0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0],
                                    'temperature': 0.05}
    assert loaded.metric('abs_rel') == (0.4, 0.3)
    assert 'held-out AbsRel 0.400 -> 0.300' in loaded.summary()
    with np.load(a, allow_pickle=False) as archive:  # plain arrays, no pickle
        assert archive['embeddings'].dtype == np.float32
        assert str(archive['model_name']) == 'RN50'
    assert sorted(os.listdir(tmp_path)) == ['a.npz', 'sub']  # no temporary file left


def _write_raw(path, **arrays):
    with open(path, 'wb') as f:
        np.savez(f, **arrays)
    return str(path)


def test_bad_files_are_refused_with_a_reason(tmp_path):
    good = str(tmp_path / 'good.npz')
    save_embeddings(good, _content())
    base = dict(np.load(good, allow_pickle=False))
    nan = base['embeddings'].copy()
    nan[2, 5] = np.nan
    cases = [
        (_write_raw(tmp_path / 'nan.npz', **dict(base, embeddings=nan)), 'NaN'),
        (_write_raw(tmp_path / 'pickle.npz', **dict(base, objects=np.array([{'x': 1}],
                                                                           dtype=object))),
         'pickled Python objects'),
        (_write_raw(tmp_path / 'missing.npz', **{k: v for k, v in base.items()
                                                 if k != 'depth_bins'}), 'lacks depth_bins'),
        (_write_raw(tmp_path / 'bins.npz', **dict(base, depth_bins=np.array([1., 2, 2, 3, 4, 5,
                                                                             6]))),
         'strictly increasing'),
        (_write_raw(tmp_path / 'count.npz', **dict(base, depth_bins=np.arange(1.0, 6.0))),
         '5 depth_bins for 7 class embeddings'),
        (_write_raw(tmp_path / 'norm.npz', **dict(base, embeddings=base['embeddings'] * 2)),
         'unit-norm'),
        (_write_raw(tmp_path / 'same.npz', **dict(base, embeddings=np.repeat(
            base['embeddings'][:1], 7, axis=0))), 'the same embedding'),
        (_write_raw(tmp_path / 'temp.npz', **dict(base, temperature=np.array(0.0))),
         'temperature'),
        (_write_raw(tmp_path / 'format.npz', **dict(base, format=np.array('other'))),
         'not a file from depthclip adapt'),
        (str(tmp_path / 'missing_file.npz'), 'does not exist'),
    ]
    single = str(tmp_path / 'single.npy')
    np.save(single, base['embeddings'])
    cases.append((single, 'not an .npz archive'))
    text = tmp_path / 'text.npz'
    text.write_text('not a zip')
    cases.append((str(text), 'not a readable .npz archive'))
    for path, words in cases:
        with pytest.raises(ValueError, match=words):
            load_embeddings(path)
    loaded = load_embeddings(good)
    for name, feature_mode, width, words in (('ViT-B-16', 'paper', 1024, 'model.name'),
                                             ('RN50', 'projected', 1024, 'feature_mode'),
                                             ('RN50', 'paper', 512, 'width 1024')):
        with pytest.raises(ValueError, match=words):
            check_compatible(loaded, name, feature_mode, width)


def test_the_engine_uses_the_file_and_refuses_what_does_not_fit(tmp_path, engine):
    prompts_state = engine.state
    good = _content(embeddings=prompts_state.text.numpy()[::-1].copy())
    path = str(tmp_path / 'good.npz')
    save_embeddings(path, good)
    before = engine.text_computations
    state = engine.prepare({'prompts.embeddings_file': path})
    assert state.adapted is not None and state.config.depth_bins == good.depth_bins
    assert state.config.temperature == 0.05
    np.testing.assert_array_equal(state.text.numpy(), good.embeddings)
    assert 'prompts.* do not drive' in state.embeddings_source
    # bins set in the same change win over the file's; the file's temperature is taken
    mine = engine.prepare({'prompts.embeddings_file': path,
                           'depth_bins': [1, 2, 3, 4, 5, 6, 7]})
    assert mine.config.depth_bins == (1, 2, 3, 4, 5, 6, 7) and mine.config.temperature == 0.05
    engine.commit(state)
    try:
        assert engine.prepare({'prompts.embeddings_file': path}) is state  # unchanged file
        # prompts change, the class embeddings do not (the file drives them)
        changed = engine.prepare({'prompts.depth_classes': list('abcdefg')})
        assert changed.text is state.text and changed.adapted is state.adapted
        # a rewritten file at the same path is read again
        save_embeddings(path, _content(embeddings=good.embeddings, temperature=0.2))
        again = engine.prepare({'prompts.embeddings_file': path})
        assert again is not state and again.config.temperature == 0.2
        with pytest.raises(ValueError, match='prompts.embeddings_file .* has 7 class'):
            engine.prepare({'depth_bins': [1, 2, 3]})
        other = str(tmp_path / 'other.npz')
        save_embeddings(other, _content(model_name='ViT-B-16'))
        with pytest.raises(ValueError, match='made for model.name ViT-B-16'):
            engine.prepare({'prompts.embeddings_file': other})
        narrow = str(tmp_path / 'narrow.npz')
        save_embeddings(narrow, _content(embeddings=_unit_rows(7, 512)))
        with pytest.raises(ValueError, match='width 512'):
            engine.prepare({'prompts.embeddings_file': narrow})
        assert engine.state is state
        # back to the prompts: the same embeddings as before, computed once more
        cleared = engine.prepare({'prompts.embeddings_file': ''})
        assert cleared.adapted is None and engine.text_computations == before + 1
        np.testing.assert_array_equal(cleared.text.numpy(), prompts_state.text.numpy())
    finally:
        engine.commit(prompts_state)


def test_paper_mode_without_a_file_is_unchanged(room, engine, small_overrides):
    rgb, _ = room[1]['f003']
    reference = engine.predict_one(rgb).depth
    config = DepthClipConfig.from_flat(dict(small_overrides, **{'prompts.embeddings_file': ''}))
    assert config == engine.config
    np.testing.assert_array_equal(DepthClipEngine(config, engine.loaded).predict_one(rgb).depth,
                                  reference)


# -------------------------------------------------------------------------------------------
# depthclip adapt
# -------------------------------------------------------------------------------------------
def test_split_holdout():
    names = [f'f{i}' for i in range(10)]
    train, held, how = split_holdout(names, 0.2)
    assert held == [2, 7] and train == [0, 1, 3, 4, 5, 6, 8, 9] and 'evenly' in how
    scenes = [f'{scene}/rgb_{i}.jpg' for scene in ('a', 'b', 'c', 'd') for i in range(3)]
    train, held, how = split_holdout(scenes, 0.2)
    assert [scenes[i].split('/')[0] for i in held] == ['c'] * 3 and 'c' in how
    train, held, _ = split_holdout(['x/1', 'x/2', 'y/1'], 0.5)
    assert held and train
    assert sorted(_spread(7)) == list(range(7))
    with pytest.raises(ValueError, match='at least 2 frames'):
        split_holdout(['only'], 0.2)


def test_grid_sampling_matches_corner_aligned_upsampling():
    gt = np.arange(30, dtype=np.float32).reshape(5, 6)
    assert grid_sample_gt(gt, 5, 6).tolist() == gt.tolist()
    assert grid_sample_gt(gt, 2, 2).tolist() == [[0, 5], [24, 29]]


def test_adapting_improves_the_heldout_frames(adapted, room, engine, small_overrides):
    root, frames = room
    for name in ('embeddings', 'bins'):
        content = load_embeddings(adapted[name])
        before, after = content.metric('abs_rel')
        assert after <= 0.8 * before, (name, before, after)
        assert content.heldout_frames == 3 and content.train_frames == 13
        assert content.frames == FRAMES and len(content.heldout_names) == 3
        assert content.model_name == 'RN50' and content.feature_mode == 'paper'
        assert content.input_size == (H, W) and content.weights.startswith('RN50 ')
        assert content.depth_classes == DepthClipConfig().prompts.depth_classes
        # the engine with the file gives what adapt reported, on the same held-out frames
        direct = _heldout_abs_rel(engine.loaded, small_overrides, frames, content.heldout_names,
                                  {'prompts.embeddings_file': adapted[name]})
        zero_shot = _heldout_abs_rel(engine.loaded, small_overrides, frames,
                                     content.heldout_names)
        assert direct == pytest.approx(after, rel=1e-4)
        assert zero_shot == pytest.approx(before, rel=1e-4)
        assert direct <= 0.8 * zero_shot
    only = load_embeddings(adapted['embeddings'])
    assert only.learned == ('embeddings',)
    assert only.depth_bins == DepthClipConfig().depth_bins and only.temperature == 0.1
    learned = load_embeddings(adapted['bins'])
    assert learned.learned == ('embeddings', 'depth_bins') and learned.seed == 3
    assert learned.depth_bins != DepthClipConfig().depth_bins
    assert all(b2 > b1 > 0 for b1, b2 in zip(learned.depth_bins, learned.depth_bins[1:]))


def test_the_same_seed_gives_the_same_file_and_the_table(room, small_overrides, tmp_path,
                                                         capsys):
    paths = [str(tmp_path / 'first.npz'), str(tmp_path / 'second.npz')]
    for path in paths:
        rc = main(['adapt', str(room[0]), '-o', path, '--steps', '20', '--frames', '6',
                   '--holdout', '0.5', '--learn-bins', '--learn-temperature', '--seed', '7',
                   '--no-progress']
                  + _sets(small_overrides))
        assert rc == 0, capsys.readouterr().err
        printed = capsys.readouterr().out
        lines = printed.splitlines()
        header = next(i for i, line in enumerate(lines)
                      if line.startswith('held-out (3 frames)'))
        assert lines[header].split()[-3:] == ['δ<1.25', 'AbsRel', 'RMSE']
        assert lines[header + 1].startswith('zero-shot')
        assert lines[header + 2].startswith('adapted')
        assert f'wrote {path}' in printed
    first, second = (open(path, 'rb').read() for path in paths)
    assert first == second
    a, b = load_embeddings(paths[0]), load_embeddings(paths[1])
    assert a.embeddings.tobytes() == b.embeddings.tobytes() and a.same_content(b)
    assert a.frames == 6 and a.steps <= 20 and a.seed == 7
    assert a.learned == ('embeddings', 'depth_bins', 'temperature') and a.temperature != 0.1


def test_adapt_errors_are_one_line(room, small_overrides, tmp_path, capsys):
    sets = _sets(small_overrides)
    cases = [
        (['adapt', str(room[0]), '-o', str(tmp_path / 'x.yaml')] + sets, 'must end in .npz'),
        (['adapt', str(room[0]), '-o', str(tmp_path)] + sets, 'must end in .npz'),
        (['adapt', str(tmp_path / 'nothing')] + sets, 'does not exist'),
        (['adapt', str(room[0]), '--frames', '1', '-o', str(tmp_path / 'y.npz')] + sets,
         'at least 2 frames'),
        (['adapt', str(room[0]), '-o', str(tmp_path / 'z.npz'), '--set',
          f'prompts.embeddings_file={tmp_path / "old.npz"}'] + sets, 'leave it empty'),
    ]
    for argv, words in cases:
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2 and words in err, (argv, err)
        assert len(err.strip().splitlines()) == 1, err
    for bad in ('2', '1', '0'):  # an open interval: neither end is a split
        rc = main(['adapt', str(room[0]), '--holdout', bad])
        err = capsys.readouterr().err
        assert rc == 2 and 'must be in (0, 1)' in err
        assert err.strip().splitlines()[-1].startswith('depthclip adapt: error: argument '
                                                       '--holdout'), err
    assert not any(p.name.endswith('.npz') for p in tmp_path.iterdir())


# -------------------------------------------------------------------------------------------
# the file in predict, eval and bag
# -------------------------------------------------------------------------------------------
def test_predict_with_the_file(adapted, room, engine, small_overrides, tmp_path, capsys):
    path = adapted['bins']
    learned = load_embeddings(path)
    image = str(room[0] / 'rgb' / 'f005.png')
    rc = main(['predict', image, '--output', str(tmp_path / 'out'), '--set',
               f'prompts.embeddings_file={path}'] + _sets(small_overrides))
    assert rc == 0, capsys.readouterr().err
    depth = np.load(tmp_path / 'out' / 'f005_depth.npy')
    expected = DepthClipEngine(DepthClipConfig.from_flat(dict(
        small_overrides, **{'prompts.embeddings_file': path})), engine.loaded).predict_one(
            room[1]['f005'][0]).depth
    np.testing.assert_allclose(depth, expected, rtol=1e-5, atol=1e-5)
    low, high = learned.depth_bins[0], learned.depth_bins[-1]
    assert low - 1e-4 <= depth.min() and depth.max() <= high + 1e-4
    assert depth.max() > 3.0  # beyond the prompts' last bin: the file's bins are used


def test_eval_nyu_with_the_file(adapted, small_overrides, tmp_path, capsys):
    scene = tmp_path / 'nyu' / 'room'
    scene.mkdir(parents=True)
    for i, z in enumerate((-1.0, 0.5)):
        rgb, depth = render_scene(z, 640, 480)
        cv2.imwrite(str(scene / f'rgb_{i:05d}.png'), rgb[:, :, ::-1])
        cv2.imwrite(str(scene / f'sync_depth_{i:05d}.png'),
                    np.rint(depth * 1000.0).astype(np.uint16))
    path = adapted['bins']
    out = tmp_path / 'out'
    rc = main(['eval', 'nyu', str(tmp_path / 'nyu'), '--output', str(out), '--no-progress',
               '--set', f'prompts.embeddings_file={path}'] + _sets(small_overrides))
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / 'nyu_summary.json').read_text())
    learned = load_embeddings(path)
    assert summary['config']['prompts.embeddings_file'] == path
    assert summary['config']['depth_bins'] == list(learned.depth_bins)
    assert summary['config']['temperature'] == learned.temperature
    assert summary['images'] == 2 and 0.0 < summary['metrics']['abs_rel'] < 1.0


def _write_rgbd_bag(path, frames):
    ts = make_typestore()
    types = ts.types

    def header(stamp):
        return types['std_msgs/msg/Header'](
            stamp=types['builtin_interfaces/msg/Time'](sec=stamp // 10 ** 9,
                                                       nanosec=stamp % 10 ** 9),
            frame_id='cam')

    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        image = w.add_connection('/cam/color/image_raw', 'sensor_msgs/msg/Image', typestore=ts)
        depth = w.add_connection('/cam/depth/image_rect_raw', 'sensor_msgs/msg/Image',
                                 typestore=ts)
        for i, (rgb, gt) in enumerate(frames):
            t = 10 ** 18 + i * 10 ** 8
            msg = types['sensor_msgs/msg/Image'](
                header=header(t), height=H, width=W, encoding='rgb8', is_bigendian=0,
                step=W * 3, data=rgb.reshape(-1))
            w.write(image, t, ts.serialize_cdr(msg, 'sensor_msgs/msg/Image'))
            dmsg = types['sensor_msgs/msg/Image'](
                header=header(t), height=H, width=W, encoding='32FC1', is_bigendian=0,
                step=W * 4, data=gt.astype('<f4').reshape(-1).view(np.uint8))
            w.write(depth, t + 1000, ts.serialize_cdr(dmsg, 'sensor_msgs/msg/Image'))


def test_adapt_from_a_bag_and_bag_with_the_file(adapted, room, engine, small_overrides,
                                                tmp_path, capsys):
    frames = [room[1][f'f{i:03d}'] for i in range(0, FRAMES, 4)]
    no_depth = (frames[0][0], np.zeros((H, W), np.float32))  # a depth camera starting up
    src = str(tmp_path / 'rgbd')
    _write_rgbd_bag(src, [no_depth] + frames)
    made = str(tmp_path / 'from_bag.npz')
    rc = main(['adapt', src, '-o', made, '--steps', '10', '--no-progress']
              + _sets(small_overrides))
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f'{len(frames) + 1} bag frames' in captured.out
    assert '1 frame(s) without a valid depth pixel left out' in captured.err
    assert load_embeddings(made).frames == len(frames)

    path = adapted['bins']
    out = str(tmp_path / 'out')
    rc = main(['bag', src, out, '--image-topic', '/cam/color/image_raw', '--no-progress',
               '--set', f'prompts.embeddings_file={path}'] + _sets(small_overrides))
    assert rc == 0, capsys.readouterr().err
    with_file = DepthClipEngine(DepthClipConfig.from_flat(dict(
        small_overrides, **{'prompts.embeddings_file': path})), engine.loaded)
    with Reader(out) as reader:
        ts = make_typestore()
        connections = [c for c in reader.connections if c.topic == '/cam/color/depth/image']
        depths = [ts.deserialize_cdr(raw, c.msgtype)
                  for c, _, raw in reader.messages(connections=connections)]
    assert len(depths) == len(frames) + 1
    last = np.frombuffer(depths[-1].data.tobytes(), dtype='<f4').reshape(H, W)
    np.testing.assert_allclose(last, with_file.predict_one(frames[-1][0]).depth, rtol=1e-5,
                               atol=1e-5)
