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
The ``depthclip`` command: a registry of the command modules, and one error policy.

Each command lives in its own module, which adds its subcommand(s) with
``register(subparsers)`` and ``set_defaults(run=function)``, ``function(args) -> exit code``:

``depthclip predict IMAGE... --output DIR [--params FILE] [--set name=value ...]``
    :mod:`depthclip_ros.tools.predict`
``depthclip bench [--params FILE] [--size HxW] [--batch N] [--json] [--node | --temporal]``
    :mod:`depthclip_ros.tools.bench_command` (measurements: :mod:`~depthclip_ros.tools.bench`,
    ``--node``: :mod:`~depthclip_ros.tools.node_bench`, ``--temporal``:
    :mod:`~depthclip_ros.tools.bench_temporal`)
``depthclip checkpoint --random --output FILE [--name RN50] [--seed 0]``
    :mod:`depthclip_ros.tools.checkpoint`
``depthclip demo ...``
    :mod:`depthclip_ros.tools.demo` (the only command that needs ROS 2)
``depthclip eval nyu|kitti ...``, ``depthclip calibrate ...``, ``depthclip adapt ...``,
``depthclip bag ...``
    :mod:`depthclip_ros.tools.evaluation`, :mod:`depthclip_ros.tools.calibration`,
    :mod:`depthclip_ros.tools.adapt`, :mod:`depthclip_ros.tools.bag`
``depthclip export onnx [--int8] ...``
    :mod:`depthclip_ros.tools.export_command` (the export:
    :mod:`~depthclip_ros.core.onnx_export`)

Errors users can act on (a bad argument, a missing file, settings that do not fit) end the
command with one line ``depthclip <command>: error: <reason>`` and exit code 2 (argparse's
usage errors too); a run that fails on its way (``CommandError``: a child process stopped)
and anything unexpected with one line and exit code 1 (``DEPTHCLIP_DEBUG=1`` shows the
traceback of the unexpected). Nothing imports this module: it is the entry point only.
"""

import argparse
import importlib
import logging
import os
import sys
from typing import Optional, Sequence

from depthclip_ros import __version__
from depthclip_ros.core.text import one_line
from depthclip_ros.tools.common import CommandError

LOG = logging.getLogger('depthclip_ros')

#: The command modules, in the order of ``depthclip -h``.
COMMAND_MODULES = (
    'depthclip_ros.tools.predict',
    'depthclip_ros.tools.bench_command',
    'depthclip_ros.tools.checkpoint',
    'depthclip_ros.tools.demo',
    'depthclip_ros.tools.evaluation',
    'depthclip_ros.tools.calibration',
    'depthclip_ros.tools.adapt',
    'depthclip_ros.tools.bag',
    'depthclip_ros.tools.export_command',
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``depthclip`` command, built from the modules."""
    parser = argparse.ArgumentParser(
        prog='depthclip', description='DepthCLIP: metric depth from an RGB image and language.')
    parser.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def _user_error_types() -> tuple:
    """Return the exception types that are the user's to fix (one line, exit code 2)."""
    types = [ValueError, OSError]
    loading = sys.modules.get('depthclip_ros.core.loading')  # imported only if a model loaded
    if loading is not None:
        types.append(loading.ModelLoadError)
    return tuple(types)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``depthclip`` command; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or argparse's usage error (code 2)
        return done.code if isinstance(done.code, int) else 2
    logging.basicConfig(level=logging.WARNING, format='[%(levelname)s] %(message)s')
    LOG.setLevel(logging.INFO)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: B902 - the one place that turns errors into a line
        if os.environ.get('DEPTHCLIP_DEBUG'):
            raise
        text = one_line(error, limit=None)
        if isinstance(error, CommandError):
            print(f'depthclip {args.command}: error: {text}', file=sys.stderr)
            return 1
        if isinstance(error, _user_error_types()):
            print(f'depthclip {args.command}: error: {text}', file=sys.stderr)
            return 2
        print(f'depthclip {args.command}: error: {type(error).__name__}: {text} (unexpected; '
              'DEPTHCLIP_DEBUG=1 shows the traceback)', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
