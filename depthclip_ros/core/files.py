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
Reading files a user names, bounded: regular files only, sizes and YAML expansion limited.

Every file the package reads from a parameter or an argument (parameter files, cameras
files, adapted embeddings, ONNX files) goes through :func:`check_regular_file` first: a
device (``/dev/zero``), a FIFO or a socket is refused as "not a regular file" before it is
opened, and files are opened with ``O_NONBLOCK`` so that one swapped in after the check
cannot block either. :func:`load_yaml` parses YAML with PyYAML's safe loader plus limits
that no valid parameter file comes near: its size, its nesting depth, and the number of
values it expands to once aliases are followed (a "billion laughs" file of nested list or
mapping aliases is refused while it is read, in time and memory linear in its size).
Nothing here imports rclpy.
"""

import os
import reprlib
import stat
from typing import Any

import yaml

__all__ = ['check_regular_file', 'load_yaml', 'MAX_YAML_BYTES', 'MAX_YAML_DEPTH',
           'MAX_YAML_VALUES', 'read_bounded', 'short']

#: Largest YAML file read (parameter and cameras files have a few KiB).
MAX_YAML_BYTES = 1024 * 1024
#: Deepest nesting of mappings and lists in a YAML file (parameter files nest 2 to 5 deep).
MAX_YAML_DEPTH = 32
#: Most values (scalars, lists and mappings) a YAML file may expand to, aliases followed.
MAX_YAML_VALUES = 100_000

_KINDS = ((stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'),
          (stat.S_ISFIFO, 'a FIFO (named pipe)'), (stat.S_ISSOCK, 'a socket'))

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 8
_SHORT.maxlevel = 3


def short(value: Any) -> str:
    """Return ``repr(value)`` cut to a short prefix (long strings, lists and nesting elided)."""
    text = _SHORT.repr(value)
    return text if len(text) <= 200 else text[:197] + '...'


def check_regular_file(path: str, where: str) -> os.stat_result:
    """
    Check that ``path`` names a regular file (symbolic links followed), without opening it.

    :param where: how the message names it, e.g. ``'--params /x.yaml'``
    :return: its ``os.stat`` result
    :raises ValueError: ``'<where> does not exist'``, ``'is a directory'`` or ``'is not a
        regular file (a FIFO ...)'``
    """
    try:
        info = os.stat(os.path.expanduser(path))
    except FileNotFoundError:
        raise ValueError(f'{where} does not exist') from None
    except OSError as error:
        raise ValueError(f'{where} cannot be read: {error.strerror}') from None
    return _check_mode(info, where)


def _check_mode(info: os.stat_result, where: str) -> os.stat_result:
    if stat.S_ISDIR(info.st_mode):
        raise ValueError(f'{where} is a directory')
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), 'a special file')
        raise ValueError(f'{where} is not a regular file ({kind})')
    return info


def read_bounded(path: str, where: str, max_bytes: int) -> bytes:
    """
    Read a whole regular file of at most ``max_bytes``, never blocking on a special file.

    :raises ValueError: not a regular file, too big, or unreadable (naming ``where``)
    """
    info = check_regular_file(path, where)
    if info.st_size > max_bytes:
        raise ValueError(f'{where} has {info.st_size} bytes; at most {max_bytes} accepted')
    try:
        fd = os.open(os.path.expanduser(path), os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
    except OSError as error:
        raise ValueError(f'{where} cannot be read: {error.strerror}') from None
    with os.fdopen(fd, 'rb') as f:
        _check_mode(os.fstat(fd), where)  # the file opened is the one checked
        chunks, total = [], 0
        while total <= max_bytes:  # in pieces: no buffer of max_bytes for a small file
            chunk = f.read(min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    data = b''.join(chunks)
    if len(data) > max_bytes:
        raise ValueError(f'{where} has more than {max_bytes} bytes; at most {max_bytes} '
                         'accepted')
    return data


class _LimitError(yaml.YAMLError):
    """A limit of :func:`load_yaml` reached (the text says which, and the line)."""


class _LimitedLoader(yaml.SafeLoader):
    """The safe loader, refusing deep nesting and alias expansion beyond the limits."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._values = {}  # id(node) -> values it expands to

    def compose_node(self, parent, index):
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            line = self.peek_event().start_mark.line + 1
            raise _LimitError(f'nests deeper than {MAX_YAML_DEPTH} levels (line {line})')
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        key = id(node)
        if key not in self._values:
            count = 1
            if isinstance(node, yaml.SequenceNode):
                count += sum(self._values.get(id(child), 1) for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                count += sum(self._values.get(id(k), 1) + self._values.get(id(v), 1)
                             for k, v in node.value)
            self._values[key] = count
            if count > MAX_YAML_VALUES:
                raise _LimitError(f'expands to more than {MAX_YAML_VALUES} values, aliases '
                                  f'followed (line {node.start_mark.line + 1}); refused')
        return node


def load_yaml(path: str, where: str, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """
    Parse a YAML file safely and within bounds (see the module documentation).

    :param where: how messages name the file, e.g. ``'parameter file /x.yaml'``
    :raises ValueError: not a regular file, too big, too deep, too many values once aliases
        are followed, or not valid YAML (one line naming ``where``)
    :raises UnicodeDecodeError: the file is not UTF-8 text
    """
    text = read_bounded(path, where, max_bytes).decode('utf-8')
    loader = _LimitedLoader(text)
    try:
        return loader.get_single_data()
    except _LimitError as error:
        raise ValueError(f'{where} {error}') from None
    except yaml.YAMLError as error:
        raise ValueError(f'{where} is not valid YAML: {" ".join(str(error).split())}'
                         ) from None
    except RecursionError:  # a limit above should always come first
        raise ValueError(f'{where} nests too deeply') from None
    finally:
        loader.dispose()
