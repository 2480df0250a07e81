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
Small helpers shared by the ``depthclip`` commands: settings, arguments, images, JSON, timing.

Nothing here imports torch, rclpy or another command module, so every command can use it.
"""

import argparse
import json
import math
import os
import socket
import sys
import tempfile
import threading
from typing import Any, Callable, List, Tuple
from urllib.parse import urlparse

from depthclip_ros.core.config import is_checkpoint_path
from depthclip_ros.core.stats import median_ms  # noqa: F401 (the commands time with it)


class CommandError(Exception):
    """A command cannot go on for a reason it states in one line (exit code 1, no traceback)."""


#: Seconds to wait for a TCP connection to the model hub before calling it unreachable.
HUB_PROBE_TIMEOUT_S = 3.0

#: Largest camera image (pixels) the commands accept for a synthetic frame (``--size``).
MAX_SIZE_PIXELS = 50_000_000


# -------------------------------------------------------------------------------------------
# Settings from --params / --set
# -------------------------------------------------------------------------------------------
def add_config_args(parser: argparse.ArgumentParser, params_required: bool = False) -> None:
    """Add ``--params FILE`` and the repeatable ``--set NAME=VALUE`` to a command's parser."""
    parser.add_argument('--params', metavar='FILE', required=params_required,
                        help='ROS 2 parameter file (default: the installed '
                             'config/depthclip.yaml)')
    parser.add_argument('--set', dest='overrides', metavar='NAME=VALUE', action='append',
                        default=[], help='override a parameter by its dotted name, e.g. '
                                         '--set model.pretrained=/path/RN50.pt (repeatable)')


def params_path(args: argparse.Namespace) -> str:
    """
    Return the parameter file of ``--params`` (checked: it reads as one), or the default.

    :raises ValueError: ``--params`` names no file (missing, or a directory), or one that is
        not a ROS 2 parameter file
    """
    from depthclip_ros.core.config import default_params_file, load_params_file
    from depthclip_ros.core.files import check_regular_file
    path = getattr(args, 'params', None)
    if not path:
        return default_params_file()
    try:
        check_regular_file(path, f'--params {path}')
    except ValueError as error:
        raise ValueError(f'{error}; give a ROS 2 parameter file') from None
    try:
        load_params_file(path)
    except UnicodeDecodeError:
        raise ValueError(f'--params {path} is not a text (YAML) parameter file') from None
    return path


def load_engine_config(args: argparse.Namespace):
    """
    Build the engine configuration from ``--params`` and ``--set``.

    :raises ValueError: unreadable file, unknown name or invalid value (the message says which)
    """
    from depthclip_ros.core.config import load_config
    return load_config(params_path(args), args.overrides)


def load_settings(args: argparse.Namespace):
    """
    Build the engine configuration and the node settings from ``--params`` and ``--set``.

    Offline there is no TF: a ``scale.floor_frame`` is reported and ``scale.camera_*`` used.

    :return: ``(DepthClipConfig, NodeSettings)``, what the node would run with
    :raises ValueError: unreadable file, unknown name or invalid value (the message says which)
    """
    from depthclip_ros.core.config import load_settings as load
    config, settings = load(params_path(args), args.overrides)
    if settings.scale_mode == 'ground' and settings.scale_floor_frame:
        print(f'note: scale.floor_frame {settings.scale_floor_frame!r} needs TF, which offline '
              'commands do not have: the ground scale uses scale.camera_height, '
              'scale.camera_pitch_deg and scale.camera_roll_deg', file=sys.stderr)
    return config, settings


# -------------------------------------------------------------------------------------------
# Weights: never wait for a model hub that cannot be reached
# -------------------------------------------------------------------------------------------
def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """
    Return whether a TCP connection to the model hub (or the HTTPS proxy) opens in time.

    Bounded by ``timeout`` even where name resolution hangs (it runs in a daemon thread).
    """
    proxy = os.environ.get('HTTPS_PROXY') or os.environ.get('https_proxy')
    url = urlparse(proxy or os.environ.get('HF_ENDPOINT') or 'https://huggingface.co')
    host = url.hostname
    if not host:
        return False
    port = url.port or (443 if url.scheme == 'https' else 80)
    result: List[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def hub_offline_requested() -> bool:
    """Return whether ``HF_HUB_OFFLINE`` asks for the cache only."""
    return os.environ.get('HF_HUB_OFFLINE', '').strip().lower() in ('1', 'true', 'yes', 'on')


def offline_unless_hub_reachable(pretrained: str) -> bool:
    """
    Use the weights cache only (``HF_HUB_OFFLINE=1``) when a tag's hub cannot be reached.

    Without this, a tag that is not cached on a machine without network takes the hub
    client's retries, about 50 s, to fail; with it, a cached copy loads at once and a missing
    one fails at once with the loader's ``model.pretrained`` message. Call it before
    anything imports open_clip (huggingface_hub reads the variable when it is imported).
    Child processes started afterwards inherit the variable.

    :param pretrained: the ``model.pretrained`` value
    :return: whether the cache only is used (already asked for, or the hub is unreachable)
    """
    if hub_offline_requested():
        return True
    if not pretrained.strip() or is_checkpoint_path(pretrained) or hub_reachable():
        return False
    os.environ['HF_HUB_OFFLINE'] = '1'
    return True


# -------------------------------------------------------------------------------------------
# argparse types: a bad value is an argparse error naming the argument
# -------------------------------------------------------------------------------------------
def int_at_least(minimum: int, note: str = '') -> Callable[[str], int]:
    """Return an argparse type accepting integers ``>= minimum`` (``note`` explains 0 etc.)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'must be an integer >= {minimum}{note}, got {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be >= {minimum}{note}, got {value}')
        return value
    return parse


def number_in(low: float, high: float = math.inf, low_open: bool = False,
              unit: str = '', high_open: bool = False) -> Callable[[str], float]:
    """
    Return an argparse type accepting numbers between ``low`` and ``high``.

    :param low_open: leave ``low`` itself out
    :param high_open: leave ``high`` itself out
    """
    if high == math.inf:
        span = f'> {low:g}' if low_open else f'>= {low:g}'
    else:
        span = (f'in {"(" if low_open else "["}{low:g}, {high:g}{")" if high_open else "]"}')

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'must be a number {span}{unit}, got {text!r}') \
                from None
        above = low < value if low_open else low <= value
        below = value < high if high_open else value <= high
        if not (above and below):  # NaN fails both
            raise argparse.ArgumentTypeError(f'must be {span}{unit}, got {text}')
        return value
    return parse


def parse_size(text: str) -> Tuple[int, int]:
    """
    Parse ``'480x640'`` (height x width) into ``(480, 640)``.

    :raises ValueError: not two positive integers, or larger than ``MAX_SIZE_PIXELS``
    """
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise ValueError(f'--size must look like 480x640 (height x width), got {text!r}') \
            from None
    if h < 1 or w < 1 or h * w > MAX_SIZE_PIXELS:
        raise ValueError(f'--size {text}: height and width must be >= 1 and the image at most '
                         f'{MAX_SIZE_PIXELS} pixels')
    return h, w


def size_arg(text: str) -> Tuple[int, int]:
    """Argparse type of ``--size HxW``: :func:`parse_size` with an argparse error."""
    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).replace('--size ', '', 1)) from None


# -------------------------------------------------------------------------------------------
# Files, output and indices
# -------------------------------------------------------------------------------------------
def read_rgb(path: str):
    """
    Read an image file as RGB uint8.

    :raises ValueError: missing, not a file, or not an image OpenCV can decode
    """
    import cv2
    if not os.path.isfile(path):
        what = 'is a directory' if os.path.isdir(path) else 'no such file'
        raise ValueError(f'cannot read image {path}: {what}')
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'cannot read image {path}: not an image OpenCV can decode')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def check_output_dir(path: str, option: str = '--output') -> None:
    """
    Check that ``path`` can be a directory to write into (it may not exist yet).

    :raises ValueError: it exists and is not a directory
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f'{option} {path} is a file; give a directory')


def dumps(obj: Any) -> str:
    """Serialize a result dict as one JSON line."""
    return json.dumps(obj, sort_keys=True)


def evenly(count: int, wanted: int) -> List[int]:
    """Return ``min(count, wanted)`` evenly spaced indices into ``range(count)`` (0: all)."""
    if wanted <= 0 or wanted >= count:
        return list(range(count))
    if wanted == 1:
        return [0]
    step = (count - 1) / (wanted - 1)
    return sorted({int(round(i * step)) for i in range(wanted)})


def cached_random_checkpoint(name: str = 'RN50', announce: str = '') -> str:
    """
    Return seeded random weights of open_clip architecture ``name`` in the user's cache.

    Written once to ``$XDG_CACHE_HOME/depthclip`` (default ``~/.cache/depthclip``), through
    a temporary file, so that a half-written file is never used.

    :param name: the architecture
    :param announce: printed (with the path) when the file is written, e.g. ``'demo: '``
    """
    from depthclip_ros.core.loading import save_random_checkpoint
    cache = os.path.join(os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')),
                         'depthclip')
    path = os.path.join(cache, f'{name}-random-seed0.safetensors')
    if not os.path.isfile(path):
        if announce:
            print(f'{announce}writing seeded RANDOM {name} weights to {path}', flush=True)
        os.makedirs(cache, exist_ok=True)
        # A unique temporary name: two commands started together never write the same file.
        handle, tmp = tempfile.mkstemp(prefix=f'.{name}-', suffix='.safetensors', dir=cache)
        os.close(handle)
        try:
            save_random_checkpoint(name, tmp, seed=0)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path


# -------------------------------------------------------------------------------------------
# Timing
# -------------------------------------------------------------------------------------------
