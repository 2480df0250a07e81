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
``model.backend: auto``: the choice (fake timings), the cache keys, and real starts.

The choice is tested with made-up trials: which one wins never depends on this CPU. The
starts are real (a small input, the random RN50 checkpoint): the first exports into a cache
folder of the test, a second start reuses it without exporting, and a corrupt graph or
choice file is rebuilt, never trusted. What the world does that a kind test would not: the
fastest candidate is the wrong one, two candidates are equally fast, the reference failed,
the CPU has no VNNI or no bf16, onnx is missing, the cache holds garbage.
"""

import json
import logging
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from depthclip_ros.core import backend_choice as bc, loading
from depthclip_ros.core.backend_choice import (Candidate, cpu_candidates, gpu_candidate,
                                               ONNX_FP32, ONNX_INT8, pick, TORCH_BF16,
                                               TORCH_FP32, Trial)
from depthclip_ros.core.backends import onnx_installed
from depthclip_ros.core.config import DepthClipConfig
from depthclip_ros.core.engine import depth_difference, DepthClipEngine, precision_check_frames


# ----------------------------------------------------------------------------- the choice
def trials(**ms_p99):
    names = {'torch_fp32': TORCH_FP32, 'torch_bf16': TORCH_BF16, 'onnx_fp32': ONNX_FP32,
             'onnx_int8': ONNX_INT8}
    return [Trial(names[k], ms, p99) for k, (ms, p99) in ms_p99.items()]


def test_the_fastest_correct_candidate_wins():
    found = trials(torch_fp32=(1635, 0.0), torch_bf16=(700, 0.01), onnx_fp32=(1368, 0.0),
                   onnx_int8=(500, 0.27))
    assert pick(found).candidate == TORCH_BF16  # int8 is faster but over the limit


def test_a_wrong_candidate_never_wins_however_fast():
    found = trials(torch_fp32=(1000, 0.0), onnx_int8=(10, bc.MAX_P99_M + 1e-6))
    assert pick(found).candidate == TORCH_FP32
    assert pick(trials(torch_fp32=(1000, 0.0), onnx_int8=(10, bc.MAX_P99_M))).candidate \
        == ONNX_INT8  # the limit itself is within


def test_torch_fp32_stays_unless_clearly_beaten():
    """Timing noise (a few percent) never moves the choice away from the reference."""
    assert pick(trials(torch_fp32=(1000, 0.0), onnx_fp32=(960, 0.0))).candidate == TORCH_FP32
    edge = 1000 / bc.MIN_SPEEDUP
    assert pick(trials(torch_fp32=(1000, 0.0), onnx_fp32=(edge, 0.0))).candidate == ONNX_FP32
    assert pick(trials(torch_fp32=(1000, 0.0), onnx_fp32=(1000, 0.0))).candidate == TORCH_FP32


def test_without_a_reference_the_fastest_correct_wins_and_none_is_an_error():
    failed = Trial(TORCH_FP32, note='failed: out of memory')
    assert pick([failed, Trial(ONNX_FP32, 900, 0.0), Trial(TORCH_BF16, 800, 0.02)]).candidate \
        == TORCH_BF16
    with pytest.raises(ValueError, match='no image encoder ran correctly'):
        pick([failed, Trial(ONNX_INT8, 10, 0.3), Trial(ONNX_FP32, note='not installed')])


def test_summary_names_the_choice_and_every_figure():
    found = trials(torch_fp32=(1635, 0.0), onnx_fp32=(1368, 0.0)) + [
        Trial(ONNX_INT8, p99_m=0.27, note='0.270 m p99 from fp32 at export, over 0.05 m')]
    line = bc.summary(pick(found), found)
    assert line.startswith('model.backend auto: onnxruntime fp32, the fastest within 0.05 m')
    for part in ('torch fp32 1635 ms (p99 0.000 m)', 'onnxruntime fp32 1368 ms',
                 'onnxruntime int8: 0.270 m p99 from fp32 at export'):
        assert part in line


@pytest.mark.parametrize('native_bf16, vnni, expected, left', [
    (False, False, [TORCH_FP32, ONNX_FP32], [TORCH_BF16, ONNX_INT8]),  # the AVX2-only CPU
    (True, True, [TORCH_FP32, TORCH_BF16, ONNX_FP32, ONNX_INT8], []),  # AVX-512 bf16 + VNNI
    (False, True, [TORCH_FP32, ONNX_FP32, ONNX_INT8], [TORCH_BF16]),
])
def test_cpu_candidates_follow_the_cpu(native_bf16, vnni, expected, left):
    tried, out = cpu_candidates('auto', native_bf16, True, vnni)
    assert tried == expected and [t.candidate for t in out] == left
    assert all(t.note and t.ms is None for t in out)
    if not vnni:
        assert 'no VNNI' in out[-1].note


def test_cpu_candidates_follow_the_precision_and_what_is_installed():
    assert cpu_candidates('fp32', True, True, True)[0] == [TORCH_FP32, ONNX_FP32]
    assert cpu_candidates('bf16', True, True, True) == ([TORCH_BF16], [])
    assert cpu_candidates('fp16', False, True, True) == ([Candidate('torch', 'fp16')], [])
    tried, left = cpu_candidates('auto', True, False, True)
    assert tried == [TORCH_FP32, TORCH_BF16]
    assert [t.candidate for t in left] == [ONNX_FP32, ONNX_INT8]
    assert all('not installed' in t.note for t in left)


def test_gpu_candidate():
    trt = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    assert gpu_candidate('auto', trt) == Candidate('onnxruntime', 'fp16')
    assert gpu_candidate('fp16', trt) == Candidate('onnxruntime', 'fp16')
    assert gpu_candidate('auto', trt[1:]) == Candidate('torch', 'fp16')
    assert gpu_candidate('auto', []) == Candidate('torch', 'fp16')
    assert gpu_candidate('fp32', trt) == Candidate('torch', 'fp32')


def test_vnni_from_the_cpu_flags():
    assert bc.cpu_has_vnni('flags\t: fpu avx2 avx512f avx512_vnni avx512_bf16')
    assert bc.cpu_has_vnni('flags\t: fpu avx2 avx_vnni')
    assert not bc.cpu_has_vnni('flags\t: fpu sse4_2 avx2 fma')
    assert not bc.cpu_has_vnni('')


# ------------------------------------------------------------------------------ the cache
def test_cache_folder_from_the_environment(tmp_path):
    assert bc.cache_dir({bc.CACHE_ENV: str(tmp_path)}) == str(tmp_path / 'onnx')
    assert bc.cache_dir({'XDG_CACHE_HOME': '/x/cache'}) == '/x/cache/depthclip/onnx'
    assert bc.cache_dir({}).endswith(os.path.join('.cache', 'depthclip', 'onnx'))
    assert bc.cache_root({'XDG_CACHE_HOME': '/x/cache'}) == '/x/cache/depthclip'


def test_graph_key_changes_with_everything_a_graph_depends_on():
    config = DepthClipConfig()
    versions = {'torch': '2.14.1', 'onnxruntime': '1.32.0'}
    key = bc.graph_key(config, 'a' * 64, versions)
    assert key.startswith('RN50_paper_416x544_')
    assert key == bc.graph_key(config, 'a' * 64, dict(versions))
    others = [bc.graph_key(config, 'b' * 64, versions),
              bc.graph_key(config, 'a' * 64, dict(versions, onnxruntime='1.33.0')),
              bc.graph_key(config.with_updates({'input.height': 384}), 'a' * 64, versions),
              bc.graph_key(config.with_updates({'feature_mode': 'projected'}), 'a' * 64,
                           versions),
              bc.graph_key(config.with_updates({'input.normalization': 'clip'}), 'a' * 64,
                           versions)]
    assert len(set(others + [key])) == len(others) + 1
    # live settings do not shape the graph
    assert bc.graph_key(config.with_updates({'temperature': 0.5}), 'a' * 64, versions) == key


def test_machine_key_changes_with_the_cpu_threads_and_flip():
    cpu = 'processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2\n' \
          'processor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2\n'
    key = bc.machine_key(2, True, cpu)
    assert key.startswith('choice_') and key.endswith('.json')
    assert key == bc.machine_key(2, True, cpu)
    assert len({key, bc.machine_key(4, True, cpu), bc.machine_key(2, False, cpu),
                bc.machine_key(2, True, cpu.replace('avx2', 'avx2 avx512f')),
                bc.machine_key(2, True, cpu.replace('EPYC', 'Xeon'))}) == 5


def test_a_choice_file_round_trips_and_garbage_reads_as_none(tmp_path):
    path = str(tmp_path / 'choice.json')
    assert bc.load_choice(path) is None  # none yet
    found = trials(torch_fp32=(1635, 0.0), onnx_fp32=(1368, 1e-6)) + [
        Trial(ONNX_INT8, note='no VNNI on this CPU')]
    bc.save_choice(path, ONNX_FP32, found)
    chosen, back = bc.load_choice(path)
    assert chosen == ONNX_FP32 and back == found
    assert os.listdir(tmp_path) == ['choice.json']  # no temporary file left
    for garbage in ('', '{', '[]', '{"chosen": 1, "trials": []}',
                    json.dumps({'chosen': {'backend': 'torch', 'precision': 'bf16'},
                                'trials': [found[0].to_dict()]}),  # chosen never tried
                    json.dumps({'chosen': {'backend': 'torch', 'precision': 'fp32'},
                                'trials': [{'backend': 'torch'}]})):
        with open(path, 'w', encoding='utf-8') as f:
            f.write(garbage)
        assert bc.load_choice(path) is None, garbage


# ----------------------------------------------------------------------------- real starts
needs_onnx = pytest.mark.skipif(not onnx_installed(), reason='onnx / onnxruntime not installed')


def auto_on_this_cpu(patch, root):
    """
    Auto with the candidates torch fp32 and onnxruntime fp32, its cache under ``root``.

    bf16 and int8 are left out (the CPU's flags are replaced) to keep the starts short; the
    tests above cover them.
    """
    patch.setenv(bc.CACHE_ENV, str(root))
    patch.setattr(loading, 'cpu_has_native_bf16', lambda: False)
    patch.setattr(bc, 'cpu_has_vnni', lambda flags=None: False)


def auto_config(checkpoint):
    return DepthClipConfig.from_flat({'model.pretrained': checkpoint, 'model.device': 'cpu',
                                      'model.backend': 'auto', 'input.height': 64,
                                      'input.width': 96})


def choose(trial):
    """Return a ``pick`` that takes the given candidate (made-up timings)."""
    return lambda found: next(t for t in found if t.candidate == trial)


class Lines(logging.Handler):
    """Collect the package's log lines (INFO and up) of one start."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def start(config):
    """Return a new engine and its log, as one text."""
    logger, lines = logging.getLogger('depthclip_ros'), Lines()
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        engine = DepthClipEngine(config)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    return engine, '\n'.join(lines.lines)


@pytest.fixture(scope='module')
def first(rn50_checkpoint, tmp_path_factory):
    """Start into an empty cache (onnxruntime fp32 chosen); return engine, log, cache root."""
    if not onnx_installed():
        pytest.skip('onnx / onnxruntime not installed')
    root = tmp_path_factory.mktemp('auto-cache')
    with pytest.MonkeyPatch.context() as patch:
        auto_on_this_cpu(patch, root)
        patch.setattr(bc, 'pick', choose(ONNX_FP32))
        engine, log = start(auto_config(rn50_checkpoint))
    return SimpleNamespace(engine=engine, log=log, root=root, folder=root / 'onnx')


def choice_file(folder):
    [graphs] = os.listdir(folder)
    [name] = [f for f in os.listdir(folder / graphs) if f.startswith('choice_')]
    return folder / graphs / name


@needs_onnx
def test_the_first_start_exports_chooses_and_stores(first, rn50_checkpoint):
    log, engine = first.log, first.engine
    assert 'exporting the image encoder to ONNX (fp32 graph)' in log
    assert 'model.backend auto: exported in ' in log
    assert 'model.backend auto: onnxruntime fp32, the fastest' in log
    assert (engine.backend, engine.precision) == ('onnxruntime', 'fp32')
    assert 'model.backend auto: onnxruntime fp32' in engine.precision_reason
    [graphs] = os.listdir(first.folder)
    assert graphs.startswith('RN50_paper_64x96_')
    assert 'fp32.onnx' in os.listdir(first.folder / graphs)
    chosen, found = bc.load_choice(str(choice_file(first.folder)))
    assert chosen == ONNX_FP32
    assert [t.candidate for t in found] == [TORCH_FP32, ONNX_FP32, TORCH_BF16, ONNX_INT8]
    assert all(t.ms > 0 for t in found[:2]) and found[1].p99_m < 1e-3
    assert 'no native bf16' in found[2].note and 'no VNNI' in found[3].note
    # the depth is torch fp32's
    torch_engine = DepthClipEngine(auto_config(rn50_checkpoint).with_updates(
        {'model.backend': 'torch', 'model.precision': 'fp32'}))
    frames = precision_check_frames()
    diff = depth_difference([torch_engine.predict_one(f).depth for f in frames],
                            [engine.predict_one(f).depth for f in frames])
    assert diff.maximum < 1e-3


@needs_onnx
def test_a_later_start_reuses_the_graph_and_the_choice(first, rn50_checkpoint, monkeypatch):
    auto_on_this_cpu(monkeypatch, first.root)
    monkeypatch.setattr(bc, 'pick', choose(TORCH_FP32))  # would change the choice if re-run
    again, log = start(auto_config(rn50_checkpoint))
    assert 'exporting' not in log and 'stored in' in log
    assert (again.backend, again.precision) == ('onnxruntime', 'fp32')
    image = precision_check_frames()[0]
    assert np.array_equal(again.predict_one(image).depth, first.engine.predict_one(image).depth)


@needs_onnx
def test_a_corrupt_cached_graph_is_exported_again(first, rn50_checkpoint, tmp_path,
                                                  monkeypatch):
    shutil.copytree(first.root, tmp_path / 'cache')
    auto_on_this_cpu(monkeypatch, tmp_path / 'cache')
    monkeypatch.setattr(bc, 'pick', choose(ONNX_FP32))
    graph = choice_file(tmp_path / 'cache' / 'onnx').parent / 'fp32.onnx'
    graph.write_bytes(b'not a graph at all')
    engine, log = start(auto_config(rn50_checkpoint))
    assert 'the stored onnxruntime fp32 does not load' in log
    assert 'cannot be used' in log and 'exporting the image encoder to ONNX' in log
    assert (engine.backend, engine.precision) == ('onnxruntime', 'fp32')
    assert graph.stat().st_size > 1000


@needs_onnx
def test_a_corrupt_choice_file_is_chosen_again(first, rn50_checkpoint, tmp_path, monkeypatch):
    shutil.copytree(first.root, tmp_path / 'cache')
    auto_on_this_cpu(monkeypatch, tmp_path / 'cache')
    choice = choice_file(tmp_path / 'cache' / 'onnx')
    choice.write_text('{"chosen": ')
    monkeypatch.setattr(bc, 'pick', choose(TORCH_FP32))
    engine, log = start(auto_config(rn50_checkpoint))
    assert 'exporting' not in log  # the graph is still good
    assert 'model.backend auto: torch fp32, the fastest' in log
    assert (engine.backend, engine.precision) == ('torch', 'fp32')
    assert bc.load_choice(str(choice))[0] == TORCH_FP32


def test_without_onnx_auto_compares_torch_only(rn50_checkpoint, tmp_path, monkeypatch):
    auto_on_this_cpu(monkeypatch, tmp_path)
    monkeypatch.setattr('depthclip_ros.core.engine.onnx_installed', lambda: False)
    monkeypatch.setattr(loading, 'cpu_has_native_bf16', lambda: True)
    monkeypatch.setattr(bc, 'pick', choose(TORCH_FP32))
    engine, log = start(auto_config(rn50_checkpoint))
    assert (engine.backend, engine.precision) == ('torch', 'fp32')
    assert 'exporting' not in log
    assert 'onnxruntime fp32: onnx / onnxruntime not installed' in engine.precision_reason
    assert 'torch bf16 ' in engine.precision_reason  # it ran


@needs_onnx
def test_a_read_only_cache_costs_the_onnx_candidates_never_the_start(rn50_checkpoint, tmp_path,
                                                                     monkeypatch):
    """A robot whose cache folder cannot be written: torch runs, the log says why."""
    blocked = tmp_path / 'file'
    blocked.write_text('a file where the cache folder would be')
    auto_on_this_cpu(monkeypatch, blocked)
    monkeypatch.setattr(bc, 'pick', choose(TORCH_FP32))
    engine, log = start(auto_config(rn50_checkpoint))
    assert (engine.backend, engine.precision) == ('torch', 'fp32')
    assert 'onnxruntime fp32: failed: ' in engine.precision_reason
    assert 'cannot store the choice' in log and bc.CACHE_ENV in log
