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
Adapted class embeddings: the ``.npz`` file of ``depthclip adapt`` and its validation.

``depthclip adapt`` learns one embedding per depth class (and optionally the bins and the
temperature) from a few RGB-D frames; ``prompts.embeddings_file`` makes the engine use them
instead of the prompts' text embeddings. The file is a plain NumPy ``.npz`` archive without
pickled objects (read with ``np.load(allow_pickle=False)``):

====================  ===========================================================
key                   content
====================  ===========================================================
``format``            ``'depthclip_ros adapted class embeddings'``
``version``           int, :data:`FORMAT_VERSION`
``embeddings``        ``(K, C)`` float32, unit-norm rows, nearest class first
``depth_bins``        ``(K,)`` float64 metres before ``depth_scale``, increasing
``temperature``       float64, the softmax temperature
``model_name``        str, the open_clip architecture (must match ``model.name``)
``feature_mode``      str, ``paper`` or ``projected`` (must match ``feature_mode``)
``input_size``        ``(2,)`` int64, height and width it was made at (informative)
``normalization``     str, ``input.normalization`` it was made with (informative)
``weights``           str, the weights it was made with, e.g. ``RN50 openai``
``depth_scale``       float64, ``depth_scale`` it was made with (informative)
``templates``         str array, the prompts it started from (also ``objects``,
                      ``depth_classes``)
``frames``            int64: frames used (``train_frames`` + ``heldout_frames``)
``heldout_names``     str array, the held-out frames
``metric_names``      str array; ``heldout_before`` / ``heldout_after`` float64:
                      mean held-out metrics of the start (prompts) and of the file
``learned``           str array, what was learned (``embeddings``, ``depth_bins``,
                      ``temperature``)
``seed``, ``steps``   int64, the optimisation's seed and the steps it ran
====================  ===========================================================

Files are written byte-for-byte reproducibly (fixed zip timestamps, sorted keys). Nothing
here imports rclpy.
"""

from dataclasses import dataclass
import hashlib
import io
import math
import os
import tempfile
from typing import Any, Dict, Optional, Sequence, Tuple
import zipfile

import numpy as np

from depthclip_ros.core.config import (check_depth_bins, DepthClipConfig, MAX_CLASS_COSINE,
                                       MAX_DEPTH_CLASSES, SPECS)
from depthclip_ros.core.files import read_bounded, short
from depthclip_ros.core.stats import most_similar_rows

__all__ = ['AdaptedEmbeddings', 'check_compatible', 'embeddings_key', 'EMBEDDINGS_PARAMETER',
           'FORMAT_NAME', 'FORMAT_VERSION', 'load_embeddings', 'save_embeddings']

#: The engine parameter naming the file.
EMBEDDINGS_PARAMETER = 'prompts.embeddings_file'
FORMAT_NAME = 'depthclip_ros adapted class embeddings'
FORMAT_VERSION = 1
#: Largest file accepted, and most bytes its arrays may hold uncompressed, all together (a few
#: hundred KiB are typical: K x C float32 and metadata).
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Largest array in a file (32 classes x 8192 float32 are 1 MiB).
MAX_MEMBER_BYTES = 4 * 1024 * 1024
#: Most arrays in a file (it has 24).
MAX_MEMBERS = 64
#: Largest deviation of a row's norm from 1.
UNIT_NORM_TOLERANCE = 1e-3
#: Keys every file must have.
REQUIRED_KEYS = ('format', 'version', 'embeddings', 'depth_bins', 'temperature', 'model_name',
                 'feature_mode')
#: A fixed zip timestamp: the same arrays give the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, eq=False)
class AdaptedEmbeddings:
    """
    The content of an adapted-embeddings file (see the module documentation).

    Compared by identity; :meth:`same_content` compares what a file would hold.
    """

    embeddings: np.ndarray
    depth_bins: Tuple[float, ...]
    temperature: float
    model_name: str
    feature_mode: str
    input_size: Tuple[int, int] = (0, 0)
    normalization: str = ''
    weights: str = ''
    depth_scale: float = 1.0
    templates: Tuple[str, ...] = ()
    objects: Tuple[str, ...] = ()
    depth_classes: Tuple[str, ...] = ()
    frames: int = 0
    train_frames: int = 0
    heldout_frames: int = 0
    heldout_names: Tuple[str, ...] = ()
    metric_names: Tuple[str, ...] = ()
    heldout_before: Tuple[float, ...] = ()
    heldout_after: Tuple[float, ...] = ()
    learned: Tuple[str, ...] = ('embeddings',)
    seed: int = 0
    steps: int = 0
    #: Where it was read from, and the SHA-256 of the file (empty when not read from one).
    path: str = ''
    digest: str = ''

    @property
    def classes(self) -> int:
        """Return K, the number of depth classes."""
        return int(self.embeddings.shape[0])

    @property
    def width(self) -> int:
        """Return C, the embedding width."""
        return int(self.embeddings.shape[1])

    def same_content(self, other: 'AdaptedEmbeddings') -> bool:
        """Return whether ``other`` holds the same arrays and values (path and digest aside)."""
        mine, theirs = _arrays(self), _arrays(other)
        return mine.keys() == theirs.keys() and all(
            mine[k].dtype == theirs[k].dtype and np.array_equal(mine[k], theirs[k])
            for k in mine)

    def head_values(self) -> Dict[str, Any]:
        """Return the engine parameters the file sets: ``depth_bins`` and ``temperature``."""
        return {'depth_bins': [float(b) for b in self.depth_bins],
                'temperature': float(self.temperature)}

    def metric(self, name: str) -> Tuple[float, float]:
        """Return the held-out metric ``name`` before and after (NaN when not recorded)."""
        if name in self.metric_names:
            i = self.metric_names.index(name)
            return self.heldout_before[i], self.heldout_after[i]
        return math.nan, math.nan

    def summary(self) -> str:
        """Return one line: what the file was made for and how much it helped."""
        h, w = self.input_size
        text = (f'{self.classes} adapted class embeddings for {self.model_name} '
                f'{self.feature_mode} ({self.weights or "weights unknown"}, {w}x{h}) from '
                f'{self.frames} frames')
        before, after = self.metric('abs_rel')
        if math.isfinite(before) and math.isfinite(after):
            text += (f', held-out AbsRel {before:.3f} -> {after:.3f} on {self.heldout_frames} '
                     'frames')
        bins = ', '.join(f'{b:.3g}' for b in self.depth_bins)
        return text + f'; depth_bins [{bins}], temperature {self.temperature:.4g}'

    def validate(self, where: str = 'adapted embeddings') -> None:
        """
        Check the arrays: shapes, finite values, unit-norm distinct rows, bins and temperature.

        :param where: how messages name the file
        :raises ValueError: naming what is wrong
        """
        e = self.embeddings
        if not isinstance(e, np.ndarray) or e.ndim != 2 or e.dtype != np.float32:
            raise ValueError(f'{where}: embeddings must be a K x C float32 array, got '
                             f'{getattr(e, "shape", None)} {getattr(e, "dtype", None)}')
        k, c = e.shape
        if not 2 <= k <= MAX_DEPTH_CLASSES or c < 1:
            raise ValueError(f'{where}: embeddings must have 2 to {MAX_DEPTH_CLASSES} rows (depth '
                             f'classes), got {k} x {c}')
        if not np.isfinite(e).all():
            raise ValueError(f'{where}: embeddings hold NaN or infinite values')
        norms = np.linalg.norm(e.astype(np.float64), axis=1)
        if np.abs(norms - 1.0).max() > UNIT_NORM_TOLERANCE:
            raise ValueError(f'{where}: embedding rows must be unit-norm, got norms '
                             f'{norms.min():.4g} .. {norms.max():.4g}')
        i, j, cosine = most_similar_rows(e)
        if cosine > MAX_CLASS_COSINE:
            raise ValueError(f'{where}: classes {i} and {j} have (nearly) the same embedding '
                             f'(cosine {cosine:.5f} > {MAX_CLASS_COSINE})')
        bins = self.depth_bins
        if len(bins) != k:
            raise ValueError(f'{where}: {len(bins)} depth_bins for {k} class embeddings; they '
                             'must match one to one')
        check_depth_bins(bins, where)
        spec = SPECS['temperature']
        t = self.temperature
        if not (math.isfinite(t) and spec.min_value <= t <= spec.max_value):
            raise ValueError(f'{where}: temperature must be in {spec.range_text()}, got {t}')
        if not self.model_name.strip() or not self.feature_mode.strip():
            raise ValueError(f'{where}: model_name and feature_mode must not be empty')


def embeddings_key(config: DepthClipConfig) -> Tuple:
    """
    Return what the class embeddings of ``config`` depend on.

    The file when ``prompts.embeddings_file`` is set (the prompts are then not used), else
    the prompts (:meth:`DepthClipConfig.text_key`).
    """
    path = config.prompts.embeddings_file
    return ('file', path) if path else ('prompts',) + config.text_key()


def check_compatible(adapted: AdaptedEmbeddings, model_name: str, feature_mode: str,
                     width: int, where: str = 'adapted embeddings') -> None:
    """
    Check that ``adapted`` was made for this model: name, feature mode and embedding width.

    :raises ValueError: naming the difference and what to do
    """
    if adapted.model_name != model_name:
        raise ValueError(f'{where} was made for model.name {adapted.model_name}, this model is '
                         f'{model_name}: run depthclip adapt with this model')
    if adapted.feature_mode != feature_mode:
        raise ValueError(f'{where} was made for feature_mode {adapted.feature_mode}, the '
                         f'settings have {feature_mode}: run depthclip adapt with this '
                         'feature_mode')
    if adapted.width != width:
        raise ValueError(f'{where} has embeddings of width {adapted.width}, the features of '
                         f'this model have {width}: it was made for another model')


# -------------------------------------------------------------------------------------------
# Files
# -------------------------------------------------------------------------------------------
def _arrays(adapted: AdaptedEmbeddings) -> Dict[str, np.ndarray]:
    def strings(items: Sequence[str]) -> np.ndarray:
        return np.array(list(items), dtype=np.str_) if items else np.zeros(0, dtype='<U1')

    return {
        'format': np.array(FORMAT_NAME),
        'version': np.array(FORMAT_VERSION, dtype=np.int64),
        'embeddings': np.ascontiguousarray(adapted.embeddings, dtype=np.float32),
        'depth_bins': np.array(adapted.depth_bins, dtype=np.float64),
        'temperature': np.array(adapted.temperature, dtype=np.float64),
        'model_name': np.array(adapted.model_name),
        'feature_mode': np.array(adapted.feature_mode),
        'input_size': np.array(adapted.input_size, dtype=np.int64),
        'normalization': np.array(adapted.normalization),
        'weights': np.array(adapted.weights),
        'depth_scale': np.array(adapted.depth_scale, dtype=np.float64),
        'templates': strings(adapted.templates),
        'objects': strings(adapted.objects),
        'depth_classes': strings(adapted.depth_classes),
        'frames': np.array(adapted.frames, dtype=np.int64),
        'train_frames': np.array(adapted.train_frames, dtype=np.int64),
        'heldout_frames': np.array(adapted.heldout_frames, dtype=np.int64),
        'heldout_names': strings(adapted.heldout_names),
        'metric_names': strings(adapted.metric_names),
        'heldout_before': np.array(adapted.heldout_before, dtype=np.float64),
        'heldout_after': np.array(adapted.heldout_after, dtype=np.float64),
        'learned': strings(adapted.learned),
        'seed': np.array(adapted.seed, dtype=np.int64),
        'steps': np.array(adapted.steps, dtype=np.int64),
    }


def save_embeddings(path: str, adapted: AdaptedEmbeddings) -> str:
    """
    Write ``adapted`` as an ``.npz`` archive (no pickled objects), atomically.

    The same content gives the same bytes (sorted keys, fixed timestamps, no compression).

    :return: ``path``
    :raises ValueError: invalid content (see :meth:`AdaptedEmbeddings.validate`)
    """
    adapted.validate()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.adapt-', suffix='.npz', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f, zipfile.ZipFile(f, 'w', zipfile.ZIP_STORED) as archive:
            for key, array in sorted(_arrays(adapted).items()):
                info = zipfile.ZipInfo(key + '.npy', date_time=_ZIP_TIME)
                info.external_attr = 0o644 << 16
                with archive.open(info, 'w', force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _text(value: np.ndarray, key: str, where: str) -> str:
    if value.dtype.kind != 'U' or value.ndim != 0:
        raise ValueError(f'{where}: {key} must be a string')
    return str(value)


def _strings(value: Optional[np.ndarray], key: str, where: str) -> Tuple[str, ...]:
    if value is None:
        return ()
    if value.ndim != 1 or (value.size and value.dtype.kind != 'U'):
        raise ValueError(f'{where}: {key} must be a list of strings')
    return tuple(str(v) for v in value)


def _number(value: Optional[np.ndarray], key: str, where: str, default: float = 0.0) -> float:
    if value is None:
        return default
    if value.ndim != 0 or value.dtype.kind not in 'fiu':
        raise ValueError(f'{where}: {key} must be a number')
    return float(value)


def _numbers(value: Optional[np.ndarray], key: str, where: str) -> Tuple[float, ...]:
    if value is None:
        return ()
    if value.ndim != 1 or value.dtype.kind not in 'fiu':
        raise ValueError(f'{where}: {key} must be a list of numbers')
    return tuple(float(v) for v in value)


def _member_array(member) -> np.ndarray:
    """Read one ``.npy`` member after checking what its header declares against the limits."""
    fmt = np.lib.format
    version = fmt.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(member)
    else:
        raise ValueError(f'.npy format version {version[0]}.{version[1]} is not read')
    if dtype.hasobject:
        raise _Pickled()
    count = math.prod(int(n) for n in shape)
    nbytes = count * dtype.itemsize
    if count > MAX_MEMBER_BYTES or nbytes > MAX_MEMBER_BYTES:
        raise ValueError(f'its header declares a {"x".join(map(str, shape)) or "scalar"} '
                         f'{dtype} array of {nbytes} bytes; an array of adapted embeddings '
                         f'has at most {MAX_MEMBER_BYTES}')
    data = member.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f'it is truncated ({len(data)} of {nbytes} bytes)')
    if member.read(1):
        raise ValueError('it holds data after its array')
    array = np.frombuffer(data, dtype=dtype, count=count) if count else np.zeros(0, dtype)
    return array.reshape(shape, order='F' if fortran else 'C').copy()


class _Pickled(Exception):
    """An array of Python objects (it would need pickle)."""


def read_archive(data: bytes, where: str) -> Dict[str, np.ndarray]:
    """
    Read every array of an ``.npz`` archive without unpickling anything, within bounds.

    Before anything is decompressed, the member count and every member's declared size
    (zip directory) are checked, and before an array is read, the shape and type its
    ``.npy`` header declares: no member bigger than :data:`MAX_MEMBER_BYTES`, none of Python
    objects, at most :data:`MAX_FILE_BYTES` in all. A member is decompressed only as far
    as its header declares, so a small file cannot make this read gigabytes.

    :raises ValueError: not an ``.npz`` archive, an array that needs pickle, or one that is
        bigger, shorter or longer than it may be
    """
    if data[:6] == b'\x93NUMPY':
        raise ValueError(f'{where} holds a single array, not an .npz archive from depthclip '
                         'adapt')
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except Exception as error:  # noqa: B902 - zipfile's errors on a corrupt archive
        raise ValueError(f'{where} is not a readable .npz archive ({" ".join(str(error).split())})'
                         ) from None
    arrays: Dict[str, np.ndarray] = {}
    with archive:
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f'{where} has {len(infos)} members; a file from depthclip adapt '
                             f'has fewer than {MAX_MEMBERS}')
        total = 0
        for info in infos:
            if info.file_size > MAX_MEMBER_BYTES:
                raise ValueError(f'{where}: member {short(info.filename)} declares '
                                 f'{info.file_size} bytes uncompressed; an array of adapted '
                                 f'embeddings has at most {MAX_MEMBER_BYTES} (not read)')
            total += info.file_size
        if total > MAX_FILE_BYTES:
            raise ValueError(f'{where} declares {total} bytes uncompressed; adapted embeddings '
                             f'have at most {MAX_FILE_BYTES} (not read)')
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith('.npy') else info.filename
            if key in arrays:
                raise ValueError(f'{where}: array {short(key)} appears twice')
            try:
                with archive.open(info) as member:
                    arrays[key] = _member_array(member)
            except _Pickled:
                raise ValueError(f'{where}: array {short(key)} holds pickled Python objects; '
                                 'refused (files are read without unpickling)') from None
            except Exception as error:  # noqa: B902 - a corrupt member, a bad header
                raise ValueError(f'{where}: array {short(key)} cannot be read '
                                 f'({" ".join(str(error).split())[:200]})') from None
    return arrays


def load_embeddings(path: str) -> AdaptedEmbeddings:
    """
    Read and validate an adapted-embeddings file (``np.load(allow_pickle=False)``).

    Checks the content only (:meth:`AdaptedEmbeddings.validate`); whether it fits a model is
    :func:`check_compatible`'s job.

    :raises ValueError: missing, not a regular file, too big (on disk, or declared inside:
        :func:`read_archive`), not an ``.npz`` archive, pickled objects inside,
        keys missing, or invalid content (the message names the file and the reason)
    """
    where = f'{EMBEDDINGS_PARAMETER} {path}'
    try:
        data = read_bounded(path, where, MAX_FILE_BYTES)
    except ValueError as error:
        raise ValueError(f'{error}; give a .npz file written by depthclip adapt') from None
    arrays = read_archive(data, where)
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise ValueError(f'{where} lacks {", ".join(missing)}: not a file from depthclip adapt')
    if _text(arrays['format'], 'format', where) != FORMAT_NAME:
        raise ValueError(f'{where} is not a file from depthclip adapt (format '
                         f'{str(arrays["format"])!r})')
    version = _number(arrays['version'], 'version', where)
    if version != FORMAT_VERSION:
        raise ValueError(f'{where} has format version {version:g}; this depthclip_ros reads '
                         f'version {FORMAT_VERSION}')
    embeddings = arrays['embeddings']
    if embeddings.dtype.kind != 'f':
        raise ValueError(f'{where}: embeddings must be floating point, got {embeddings.dtype}')
    bins = arrays['depth_bins']
    if bins.ndim != 1 or bins.dtype.kind not in 'fiu':
        raise ValueError(f'{where}: depth_bins must be a list of numbers')
    size_array = arrays.get('input_size')
    input_size = (0, 0)
    if size_array is not None:
        if size_array.shape != (2,) or size_array.dtype.kind not in 'iu':
            raise ValueError(f'{where}: input_size must be two integers (height, width)')
        input_size = (int(size_array[0]), int(size_array[1]))
    optional_text = {key: _text(arrays[key], key, where) if key in arrays else ''
                     for key in ('normalization', 'weights')}
    adapted = AdaptedEmbeddings(
        embeddings=np.ascontiguousarray(embeddings, dtype=np.float32),
        depth_bins=tuple(float(b) for b in bins),
        temperature=_number(arrays['temperature'], 'temperature', where),
        model_name=_text(arrays['model_name'], 'model_name', where),
        feature_mode=_text(arrays['feature_mode'], 'feature_mode', where),
        input_size=input_size,
        normalization=optional_text['normalization'],
        weights=optional_text['weights'],
        depth_scale=_number(arrays.get('depth_scale'), 'depth_scale', where, 1.0),
        templates=_strings(arrays.get('templates'), 'templates', where),
        objects=_strings(arrays.get('objects'), 'objects', where),
        depth_classes=_strings(arrays.get('depth_classes'), 'depth_classes', where),
        frames=int(_number(arrays.get('frames'), 'frames', where)),
        train_frames=int(_number(arrays.get('train_frames'), 'train_frames', where)),
        heldout_frames=int(_number(arrays.get('heldout_frames'), 'heldout_frames', where)),
        heldout_names=_strings(arrays.get('heldout_names'), 'heldout_names', where),
        metric_names=_strings(arrays.get('metric_names'), 'metric_names', where),
        heldout_before=_numbers(arrays.get('heldout_before'), 'heldout_before', where),
        heldout_after=_numbers(arrays.get('heldout_after'), 'heldout_after', where),
        learned=_strings(arrays.get('learned'), 'learned', where),
        seed=int(_number(arrays.get('seed'), 'seed', where)),
        steps=int(_number(arrays.get('steps'), 'steps', where)),
        path=path, digest=hashlib.sha256(data).hexdigest())
    if len(adapted.heldout_before) != len(adapted.metric_names) or \
            len(adapted.heldout_after) != len(adapted.metric_names):
        raise ValueError(f'{where}: heldout_before/heldout_after must give one value per '
                         'metric_names entry')
    adapted.validate(where)
    return adapted
