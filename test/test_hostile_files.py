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
Hostile files: every read bounded by what a valid file can be, and the true reason given.

The malicious files are built here (nothing committed): an embeddings ``.npz`` of a few MB
holding a 1 GiB member, ``.npy`` headers that lie about their shape, "billion laughs" YAML
of list and mapping aliases, deep nesting, oversized files, huge values in type errors, and
``/dev/zero`` or a FIFO where a file is expected. A real attacker's file differs from these in
the numbers (more levels, other sizes) and in where it sits, not in kind: the limits are on
what a valid file can be, so every variant past them is refused the same way; memory is
measured with tracemalloc where Python allocates it.
"""

import io
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

from depthclip_ros.core.cameras import load_cameras_file
from depthclip_ros.core.config import load_config, load_params_file, load_settings
from depthclip_ros.core.embeddings import (AdaptedEmbeddings, load_embeddings,
                                           MAX_MEMBER_BYTES, save_embeddings)
from depthclip_ros.core.files import (check_regular_file, load_yaml, MAX_YAML_BYTES,
                                      MAX_YAML_DEPTH, MAX_YAML_VALUES)
from depthclip_ros.core.sample import sample_frames
from depthclip_ros.tools.cli import main

GIB = 1 << 30


def _unit_rows(k, c, seed=0):
    rows = np.random.default_rng(seed).standard_normal((k, c)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _good(path):
    save_embeddings(str(path), AdaptedEmbeddings(
        embeddings=_unit_rows(7, 1024), depth_bins=(0.5, 1, 2, 3, 4, 6, 8), temperature=0.05,
        model_name='RN50', feature_mode='paper'))
    return str(path)


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _write_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, 'w', compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return str(path)


def _npy_header(shape, dtype='<f4'):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {'descr': dtype, 'fortran_order': False,
                                                  'shape': shape})
    return buffer.getvalue()


def _refused_within(limit, words, load, *args):
    """Check that ``load(*args)`` raises ValueError matching ``words``, allocating < limit."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=words):
            load(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, peak


def test_a_small_file_with_a_gigabyte_member_is_refused_before_reading(tmp_path):
    members = _members(_good(tmp_path / 'good.npz'))
    path = str(tmp_path / 'bomb.npz')
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members.items():
            if name != 'embeddings.npy':
                archive.writestr(name, data)
        with archive.open('embeddings.npy', 'w', force_zip64=True) as member:
            member.write(_npy_header((GIB // 4096, 1024)))
            zeros = bytes(1 << 24)
            for _ in range(GIB // len(zeros)):
                member.write(zeros)
    assert os.path.getsize(path) < 16 << 20  # under the file cap: the old check let it in
    _refused_within(3 * os.path.getsize(path), r'embeddings.npy\' declares 10737\d+ bytes '
                    r'uncompressed.*\(not read\)', load_embeddings, path)


@pytest.mark.parametrize('shape,dtype,data,words', [
    ((GIB // 4,), '<f4', b'', 'declares a 268435456 <f4|declares a 268435456 float32'),
    ((1 << 40, 1 << 40), '<f8', b'', 'bytes; an array of adapted embeddings has at most'),
    ((7, 1024), '<f4', bytes(100), r'truncated \(100 of 28672 bytes\)'),
    ((2,), '<f8', bytes(16 + 8), 'data after its array'),
    ((4,), '|O', b'', 'pickled Python objects'),
], ids=['gigabyte-header', 'overflowing-shape', 'truncated', 'trailing', 'objects'])
def test_npy_headers_are_checked_before_the_data_is_read(tmp_path, shape, dtype,
                                                         data, words):
    members = _members(_good(tmp_path / 'good.npz'))
    members['embeddings.npy'] = _npy_header(shape, dtype) + data
    path = _write_zip(tmp_path / 'lying.npz', members)
    _refused_within(4 << 20, words, load_embeddings, path)


def test_many_members_or_a_large_sum_are_refused(tmp_path):
    members = _members(_good(tmp_path / 'good.npz'))
    many = dict(members, **{f'extra{i}.npy': members['version.npy'] for i in range(100)})
    with pytest.raises(ValueError, match='has 124 members'):
        load_embeddings(_write_zip(tmp_path / 'many.npz', many))
    # five members just under the per-member limit each: 20 MiB declared in all
    big = {f'big{i}.npy': bytes(MAX_MEMBER_BYTES - 1024) for i in range(5)}
    path = _write_zip(tmp_path / 'sum.npz', dict(members, **big), zipfile.ZIP_DEFLATED)
    with pytest.raises(ValueError, match=r'declares \d+ bytes uncompressed; adapted embeddings '
                                         r'have at most'):
        load_embeddings(path)


def test_the_good_file_still_loads(tmp_path):
    loaded = load_embeddings(_good(tmp_path / 'good.npz'))
    assert loaded.classes == 7 and loaded.width == 1024
    assert loaded.embeddings.flags.writeable


# ------------------------------------------------------------------------------ special files
@pytest.fixture
def fifo(tmp_path):
    """Return a FIFO nobody writes to: opening it for reading would block."""
    path = str(tmp_path / 'fifo')
    os.mkfifo(path)
    return path


def test_special_files_are_not_regular_files_and_never_block(fifo, tmp_path):
    for path, kind in ((fifo, 'a FIFO'), ('/dev/zero', 'a character device')):
        with pytest.raises(ValueError, match=f'not a regular file \\({kind}'):
            load_embeddings(path)
        with pytest.raises(ValueError, match=f'parameter file {path} is not a regular file'):
            load_params_file(path)
        with pytest.raises(ValueError, match=f'cameras file {path} is not a regular file'):
            load_cameras_file(path)
        with pytest.raises(ValueError, match='is not a regular file'):
            check_regular_file(path, 'model.onnx_file')
    from depthclip_ros.core.loading import load_checkpoint_file, ModelLoadError
    for path, kind in ((fifo, 'a FIFO'), ('/dev/zero', 'a character device')):
        with pytest.raises(ModelLoadError, match=f'model.pretrained: checkpoint file {path} is '
                                                 f'not a regular file \\({kind}'):
            load_checkpoint_file(None, path)  # refused before the model is touched
    with pytest.raises(ValueError, match='prompts.embeddings_file .* is a directory'):
        load_embeddings(str(tmp_path))
    with pytest.raises(ValueError, match='does not exist'):
        load_embeddings(str(tmp_path / 'nothing.npz'))


@pytest.mark.parametrize('kind', ['fifo', 'dev_zero'])
def test_a_command_names_the_special_file(kind, fifo, tmp_path, capsys):
    path = fifo if kind == 'fifo' else '/dev/zero'
    out = str(tmp_path / 'out')
    assert main(['predict', sample_frames()[0], '-o', out, '--params', path]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'depthclip predict: error: --params {path} is not a regular file'), \
        err
    assert len(err.splitlines()) == 1


# ------------------------------------------------------------------------------ YAML
def _params(tmp_path, body, name='params.yaml'):
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def _laughs(levels=9, mapping=False):
    lines = ['lol0: &l0 lol']
    for level in range(1, levels + 1):
        prev = f'*l{level - 1}'
        if mapping:
            items = ', '.join(f'k{i}: {prev}' for i in range(9))
            lines.append(f'lol{level}: &l{level} {{{items}}}')
        else:
            lines.append(f'lol{level}: &l{level} [{", ".join([prev] * 9)}]')
    return '\n'.join(lines) + '\n'


@pytest.mark.parametrize('mapping', [False, True], ids=['lists', 'mappings'])
def test_billion_laughs_are_refused_while_reading(tmp_path, mapping, capsys):
    body = _laughs(mapping=mapping) + '/**:\n  ros__parameters:\n    temperature: *l9\n'
    if mapping:
        body = body.replace('temperature: *l9', 'temporal: *l9')
    path = _params(tmp_path, body)
    _refused_within(64 << 20, f'expands to more than {MAX_YAML_VALUES} values',
                    load_params_file, path)
    out = str(tmp_path / 'out')
    assert main(['predict', sample_frames()[0], '-o', out, '--params', path]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'expands to more than' in err and len(err) < 400


def test_a_few_aliases_still_work(tmp_path):
    path = _params(tmp_path, 'bins: &b [1.0, 2.0, 3.0]\n/**:\n  ros__parameters:\n'
                             '    depth_bins: *b\n    temperature: 0.2\n')
    assert load_params_file(path)['depth_bins'] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize('body', [
    '[' * 100_000 + ']' * 100_000,
    '{a: ' * 100_000 + '1' + '}' * 100_000,
    ''.join(' ' * i + f'k{i}:\n' for i in range(MAX_YAML_DEPTH + 5)) + ' ' * 40 + 'x\n',
], ids=['lists', 'flow-mappings', 'block-mappings'])
def test_deep_nesting_is_refused_without_a_recursion_error(tmp_path, body, capsys):
    path = _params(tmp_path, body)
    with pytest.raises(ValueError, match=f'nests deeper than {MAX_YAML_DEPTH} levels'):
        load_yaml(path, 'parameter file')
    out = str(tmp_path / 'out')
    assert main(['predict', sample_frames()[0], '-o', out, '--params', path]) != 0
    err = capsys.readouterr().err.strip()
    assert 'RecursionError' not in err and 'nests deeper' in err and len(err) < 400


def test_a_big_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / 'big.yaml'
    with open(path, 'w') as f:
        f.write('/**:\n  ros__parameters:\n')
        for i in range(MAX_YAML_BYTES // 20 + 1000):
            f.write(f'    p{i:012d}: 1\n')
    _refused_within(4 << 20, f'has \\d+ bytes; at most {MAX_YAML_BYTES}', load_params_file,
                    str(path))


@pytest.mark.parametrize('value', ['x' * 200_000, [1.0] * 50_000, {'a': 'b' * 100_000}],
                         ids=['string', 'list', 'mapping'])
def test_error_texts_quote_a_short_prefix(tmp_path, value, capsys):
    import yaml
    path = _params(tmp_path, yaml.safe_dump({'/**': {'ros__parameters': {
        'temperature': value if not isinstance(value, dict) else 'x',
        'prompts': {'objects': value}}}}, width=1 << 30))
    with pytest.raises(ValueError) as info:
        load_config(path)
    assert len(str(info.value)) < 400, str(info.value)[:500]
    out = str(tmp_path / 'out')
    assert main(['predict', sample_frames()[0], '-o', out, '--params', path]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) < 500


# ------------------------------------------------------------------------------ unknown names
@pytest.mark.parametrize('key,closest', [('temporal.alpah', 'temporal.alpha'),
                                         ('model.nmae', 'model.name'),
                                         ('temperatur', 'temperature')])
def test_misspelt_names_in_a_file_are_refused_by_the_commands(tmp_path, key, closest, capsys):
    group, _, leaf = key.rpartition('.')
    inner = f'      {group}:\n        {leaf}: 0.5\n' if group else f'      {leaf}: 0.5\n'
    path = _params(tmp_path, '/**:\n  ros__parameters:\n' + inner.replace('      ', '    ', 1)
                   .replace('\n        ', '\n      '))
    assert key in load_params_file(path)
    for load in (load_config, load_settings):
        with pytest.raises(ValueError, match=f'parameter file {path}: unknown parameter '
                                             f"'{key}' \\(did you mean {closest}\\?\\)"):
            load(path)
    out = str(tmp_path / 'out')
    assert main(['predict', sample_frames()[0], '-o', out, '--params', path]) != 0
    err = capsys.readouterr().err
    assert f"unknown parameter '{key}' (did you mean {closest}?)" in err
    assert main(['predict', sample_frames()[0], '-o', out, '--set', f'{key}=0.5']) != 0
    assert f"unknown parameter '{key}' (did you mean {closest}?)" in capsys.readouterr().err


def test_names_of_others_are_left_alone(tmp_path):
    path = _params(tmp_path, '/**:\n  ros__parameters:\n    use_sim_time: true\n'
                             '    cameras: [front]\n    front:\n      frame_id: f\n'
                             '    qos_overrides:\n      /image:\n        subscription:\n'
                             '          depth: 3\n    other_node_thing: 1\n')
    load_settings(path)
    load_config(path)
