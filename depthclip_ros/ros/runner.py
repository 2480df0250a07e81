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
The executables' shared ``main``: start a node, spin it, shut down cleanly on any signal.

The console scripts ``depthclip_node``, ``depthclip_lifecycle_node`` and ``camera_player``
are the functions of this module. It imports nothing heavy at the top, so Ctrl-C or
SIGTERM at any moment (while torch is still importing, while the model loads, while
spinning) ends the process with exit code 0 and no traceback; a node that cannot start
logs one FATAL line and exits 1. Before ``rclpy.init`` a process without a Fast DDS profile
of the user's gets the package's large-sample profile, and logs one line saying which
profile it runs with (:mod:`depthclip_ros.core.dds_profile`). Callbacks run on the threads of
:class:`~depthclip_ros.ros.executor.CallbackThreads`. ``python -m depthclip_ros.ros.runner
depthclip_node --ros-args ...`` runs an executable by name.
"""

import os
import signal
import sys
import threading
import time
from typing import Callable, List, Optional, Sequence, Tuple, Type

from depthclip_ros.core.text import one_line

#: Threads of the executor: parameter services and timers, image callbacks, one spare.
EXECUTOR_THREADS = 3

#: glibc mallopt parameter M_ARENA_MAX, and the arenas a node keeps.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2
#: Seconds between two returns of the heap's free pages to the system (glibc malloc_trim).
TRIM_PERIOD_S = 10.0


def steady_memory() -> Optional[Callable[[], None]]:
    """
    Keep a long-running node's resident memory flat under a stream of large images (glibc).

    Every camera frame allocates and frees buffers of about a megabyte (messages, images,
    tensors), many per second, most of them for frames that are then dropped. glibc serves
    them from per-thread heap arenas whose free pages stay resident, so the resident size
    creeps up over the hours. Two arenas bound that spread, and the returned function gives
    the free pages inside the heaps back to the system (``malloc_trim``); the executables
    call it every ``TRIM_PERIOD_S`` seconds. glibc still chooses between heap and mmap as it
    does by default: a fixed mmap threshold also flattens the memory, but page-faults every
    large tensor anew: inference took 1.8x as long (bf16, two frames at 416x544 on 2 cores:
    578 vs 302 ms).

    :return: the trim function, or None off glibc (nothing changed)
    """
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
        libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
        malloc_trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return lambda: malloc_trim(0) and None


def _exit_at_once(signum, frame):
    """
    End the process now: a signal arrived before the node spins (importing, loading).

    Raising from the handler instead would unwind through whatever native code runs at
    that moment (torch's import, rclpy's pybind11 calls), which can abort the process
    (std::terminate) instead of ending it; nothing needs saving before the node spins.
    """
    os._exit(0)


def run_node(factory: Callable[[], object], name: str, args: Optional[List[str]] = None,
             fatal: Tuple[Type[BaseException], ...] = (),
             done: Callable[[object], bool] = lambda node: False) -> int:
    """
    Create a node with ``factory`` and spin it until a signal (or ``done(node)``).

    :param factory: builds the node (after ``rclpy.init``)
    :param name: logger name for a start-up failure
    :param args: command line (``--ros-args ...``); ``sys.argv`` when ``None``
    :param fatal: exceptions of ``factory`` that mean "cannot start" (one FATAL line, exit 1)
    :param done: stop spinning when this returns true (e.g. a player at the end of its file)
    :return: 0 after a clean shutdown, 1 when the node cannot start
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.signals import SignalHandlerOptions

    from depthclip_ros.core.dds_profile import apply_profile
    from depthclip_ros.ros.executor import CallbackThreads

    trim = steady_memory()
    problem = params_file_problem(sys.argv if args is None else args)
    if problem:
        rclpy.logging.get_logger(name).fatal(f'cannot start: {problem}')
        return 1
    profile = apply_profile()  # before Fast DDS starts: it reads its profiles once
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except Exception as error:  # noqa: B902 - rcl's argument errors: one line, no traceback
        rclpy.logging.get_logger(name).fatal(f'cannot start: {one_line(error)} (check the '
                                             '--ros-args of the command line)')
        return 1
    rclpy.logging.get_logger(name).info(profile.message)
    stop = threading.Event()
    spinning = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        if not spinning.is_set():
            _exit_at_once(signum, frame)  # still loading the model: abandon it

    previous = _install(on_signal)
    node = None
    executor = None
    code = 0
    try:
        node = factory()
        executor = CallbackThreads(num_threads=EXECUTOR_THREADS)
        executor.add_node(node)
        spinning.set()
        next_trim = time.monotonic() + TRIM_PERIOD_S
        while not stop.is_set() and rclpy.ok() and not done(node):
            executor.spin_once(timeout_sec=0.1)
            if trim is not None and time.monotonic() >= next_trim:
                trim()
                next_trim = time.monotonic() + TRIM_PERIOD_S
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except fatal as error:
        rclpy.logging.get_logger(name).fatal(one_line(error, 2000))  # one line, bounded
        code = 1
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        if node is not None and hasattr(node, 'stop_worker'):
            node.stop_worker()  # cancels a prompt encoding that would hold the executor
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def params_file_problem(arguments: Sequence[str]) -> Optional[str]:
    """
    Check the ``--params-file`` files of a command line before rcl reads them.

    rcl would block on a FIFO and take minutes over 100,000 levels of nesting: every file
    must be a regular file, and one of up to ``MAX_YAML_BYTES`` (parameter files have a few
    KiB) must parse within the nesting and alias-expansion limits of
    :func:`~depthclip_ros.core.files.load_yaml`. Larger files are left to rcl.

    :return: the first problem, one line naming the file, or None
    """
    from depthclip_ros.core.files import check_regular_file, load_yaml, MAX_YAML_BYTES
    inside = False
    for i, item in enumerate(arguments):
        if item == '--ros-args':
            inside = True
        elif item == '--':
            inside = False
        elif inside and item == '--params-file' and i + 1 < len(arguments):
            path = arguments[i + 1]
            where = f'--params-file {path}'
            try:
                if check_regular_file(path, where).st_size <= MAX_YAML_BYTES:
                    load_yaml(path, where)
            except ValueError as error:
                return one_line(error)
            except UnicodeDecodeError:
                return f'{where} is not a text (YAML) parameter file'
    return None


def _install(handler) -> dict:
    """Install ``handler`` for SIGINT and SIGTERM; return the previous handlers."""
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: leave signals alone
            pass
    return previous


def _guarded(start: Callable[[], int]) -> int:
    """Run ``start`` (which imports the node's modules); a signal before it spins exits 0."""
    previous = _install(_exit_at_once)
    try:
        return start()
    except KeyboardInterrupt:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _argv(args: Optional[List[str]]) -> List[str]:
    """Return the command line ``rclpy.init`` reads: ``args``, or the process's."""
    return list(sys.argv if args is None else args)


def depthclip_node(args: Optional[List[str]] = None) -> int:
    """Run ``depthclip_node`` until Ctrl-C or SIGTERM; return the exit code."""
    def start():
        from depthclip_ros.ros.node import DepthClipNode, ModelLoadError, NODE_NAME, StartupError
        return run_node(lambda: DepthClipNode(arguments=_argv(args)), NODE_NAME, args,
                        (ModelLoadError, StartupError))
    return _guarded(start)


def depthclip_lifecycle_node(args: Optional[List[str]] = None) -> int:
    """Run ``depthclip_lifecycle_node`` until Ctrl-C or SIGTERM; return the exit code."""
    def start():
        from depthclip_ros.ros.lifecycle_node import DepthClipLifecycleNode
        from depthclip_ros.ros.node import ModelLoadError, NODE_NAME, StartupError
        return run_node(lambda: DepthClipLifecycleNode(arguments=_argv(args)), NODE_NAME, args,
                        (ModelLoadError, StartupError))
    return _guarded(start)


def camera_player(args: Optional[List[str]] = None) -> int:
    """Run ``camera_player`` until its source ends, max_frames, Ctrl-C or SIGTERM."""
    def start():
        from depthclip_ros.ros.camera_player import CameraPlayer, NODE_NAME, SourceError
        from depthclip_ros.ros.parameters import StartupError
        return run_node(CameraPlayer, NODE_NAME, args, (SourceError, StartupError),
                        done=lambda node: node.finished.is_set())
    return _guarded(start)


#: Executable name -> entry function.
EXECUTABLES = {'depthclip_node': depthclip_node,
               'depthclip_lifecycle_node': depthclip_lifecycle_node,
               'camera_player': camera_player}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m depthclip_ros.ros.runner EXECUTABLE [--ros-args ...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in EXECUTABLES:
        print(f'usage: python -m depthclip_ros.ros.runner {{{",".join(EXECUTABLES)}}} '
              '[--ros-args ...]', file=sys.stderr)
        return 2
    return EXECUTABLES[argv[0]]([argv[0]] + argv[1:])


if __name__ == '__main__':
    sys.exit(main())
