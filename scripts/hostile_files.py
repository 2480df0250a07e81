#!/usr/bin/env python3
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
Hostile files against the package's readers: how long a refusal takes, how much it allocates.

Builds, in a temporary folder, the cases of ``test/test_hostile_files.py`` at full size — a
"billion laughs" parameter file of nested list aliases and one of mapping aliases (9 levels
of 9: 387 million values), 100,000 levels of nesting, and an embeddings ``.npz`` of 4.7 MB
holding a 1 GiB member — then reads each with the package's readers and prints the time,
the peak of Python allocations (tracemalloc) and the refusal. No ROS needed::

    python scripts/hostile_files.py
"""

import io
import os
import tempfile
import time
import tracemalloc
import zipfile

import numpy as np

from depthclip_ros.core.config import load_params_file
from depthclip_ros.core.embeddings import AdaptedEmbeddings, load_embeddings, save_embeddings

GIB = 1 << 30


def laughs(mapping: bool) -> str:
    """Return a parameter file whose temperature expands to 9**9 values through aliases."""
    lines = ['l0: &l0 lol']
    for level in range(1, 10):
        prev = f'*l{level - 1}'
        items = ', '.join(f'k{i}: {prev}' if mapping else prev for i in range(9))
        lines.append(f'l{level}: &l{level} ' + (f'{{{items}}}' if mapping else f'[{items}]'))
    return '\n'.join(lines) + '\n/**:\n  ros__parameters:\n    temperature: *l9\n'


def bomb(folder: str) -> str:
    """Write a valid embeddings file whose embeddings member holds 1 GiB of zeros, deflated."""
    good = os.path.join(folder, 'good.npz')
    rows = np.random.default_rng(0).standard_normal((7, 1024)).astype(np.float32)
    save_embeddings(good, AdaptedEmbeddings(
        embeddings=rows / np.linalg.norm(rows, axis=1, keepdims=True),
        depth_bins=(0.5, 1, 2, 3, 4, 6, 8), temperature=0.05, model_name='RN50',
        feature_mode='paper'))
    path = os.path.join(folder, 'bomb.npz')
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {'descr': '<f4', 'fortran_order': False,
                                                  'shape': (GIB // 4096, 1024)})
    with zipfile.ZipFile(good) as src, \
            zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in src.infolist():
            if info.filename != 'embeddings.npy':
                out.writestr(info.filename, src.read(info))
        with out.open('embeddings.npy', 'w', force_zip64=True) as member:
            member.write(header.getvalue())
            zeros = bytes(1 << 24)
            for _ in range(GIB // len(zeros)):
                member.write(zeros)
    return path


def measure(name: str, load, path: str) -> None:
    """Print how long ``load(path)`` takes to refuse and its peak of Python allocations."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        load(path)
        outcome = 'ACCEPTED'
    except ValueError as error:
        outcome = f'refused: {str(error)[-100:]}'
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    size = os.path.getsize(path) / 1e6
    print(f'{name} ({size:.1f} MB): {seconds * 1000:.0f} ms, peak {peak / 1e6:.1f} MB, '
          f'{outcome}')


def main() -> None:
    """Build and read every case."""
    with tempfile.TemporaryDirectory() as folder:
        for mapping in (False, True):
            path = os.path.join(folder, f'laughs_{mapping}.yaml')
            with open(path, 'w') as f:
                f.write(laughs(mapping))
            measure(f'billion laughs, {"mapping" if mapping else "list"} aliases',
                    load_params_file, path)
        deep = os.path.join(folder, 'deep.yaml')
        with open(deep, 'w') as f:
            f.write('[' * 100_000 + ']' * 100_000)
        measure('100,000 levels of nesting', load_params_file, deep)
        measure('embeddings .npz with a 1 GiB member', load_embeddings, bomb(folder))


if __name__ == '__main__':
    main()
