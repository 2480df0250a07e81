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
An executor that runs callbacks on a few threads and never spins while they wait for one.

rclpy's :class:`~rclpy.executors.MultiThreadedExecutor` yields a callback that a thread has
not started yet again on every pass of its loop, and hands it to its thread pool each time.
Next to inference, which keeps every core busy, a thread takes a while to start, and in
the meantime its spinning thread runs at 100 % of a core and hands the same callback over
thousands of times a second (measured in a node on 2 cores: the image subscription
yielded ~3,500 times a second under a 30 Hz camera, inference slowed several-fold).

:class:`CallbackThreads` is a custom executor in the way rclpy documents them (a
``spin_once`` over :meth:`~rclpy.executors.Executor.wait_for_ready_callbacks`): it hands
each callback to its threads once, and while a handed callback waits for a thread it waits
too (for that thread to start, at most :data:`HANDOFF_WAIT_S`) instead of spinning.
Callback groups keep their meaning: callbacks of one mutually exclusive group never overlap,
and those of different groups run side by side.
"""

from concurrent.futures import ThreadPoolExecutor
import threading
import time
from typing import Any, Callable, List, Optional, Set

from rclpy.executors import (
    ConditionReachedException, Executor, ExternalShutdownException, ShutdownException,
    TimeoutException)

#: Seconds the spinning thread waits for a thread to start a callback it handed over.
HANDOFF_WAIT_S = 0.01


def _never() -> bool:
    """Spin with no condition (one object, so rclpy keeps its wait generator between calls)."""
    return False


class CallbackThreads(Executor):
    """
    Run callbacks on ``num_threads`` threads; callback groups decide what may overlap.

    :param num_threads: threads that run callbacks (at least 1)
    :param context: the rclpy context (the default one when ``None``)
    :raises ValueError: ``num_threads`` is below 1
    """

    def __init__(self, num_threads: int = 2, *, context: Any = None):
        super().__init__(context=context)
        if num_threads < 1:
            raise ValueError(f'num_threads must be at least 1, not {num_threads}')
        self._callback_pool = ThreadPoolExecutor(num_threads,
                                                 thread_name_prefix='callback_thread')
        self._handoff = threading.Condition()
        self._not_started: Set[Any] = set()
        self._handed: List[Any] = []
        self._closing = False

    def _run(self, handler: Any) -> None:
        with self._handoff:
            self._not_started.discard(handler)
            self._handoff.notify_all()
        handler()

    def _hand_over(self, handler: Any, timeout_sec: Optional[float]) -> None:
        with self._handoff:
            if self._closing:
                return
            if handler in self._not_started:
                # Yielded again before a thread took it: wait for one instead of spinning.
                wait = HANDOFF_WAIT_S
                if timeout_sec is not None and timeout_sec >= 0:
                    wait = min(wait, timeout_sec)
                self._handoff.wait(wait)
                return
            self._not_started.add(handler)
            self._handed.append(handler)
            self._callback_pool.submit(self._run, handler)

    def _raise_failures(self) -> None:
        """Raise the exception of the first finished callback that failed (one per call)."""
        while self._handed:
            finished = next((h for h in self._handed if h.done() or h.cancelled()), None)
            if finished is None:
                return
            self._handed.remove(finished)
            if not finished.cancelled():
                finished.result()  # a callback's exception reaches the spinning thread

    def _spin_once(self, timeout_sec: Optional[float], condition: Callable[[], bool]) -> bool:
        """Hand one ready callback to a thread; return False once the executor shut down."""
        self._raise_failures()
        try:
            handler, _, _ = self.wait_for_ready_callbacks(timeout_sec, None, condition)
        except (TimeoutException, ConditionReachedException):
            return True
        except (ShutdownException, ExternalShutdownException):
            return False
        self._hand_over(handler, timeout_sec)
        return True

    def spin_once(self, timeout_sec: Optional[float] = None) -> None:
        """
        Wait for one ready callback (at most ``timeout_sec``) and hand it to a thread.

        :param timeout_sec: seconds to wait; ``None`` or negative: forever, 0: not at all
        """
        self._spin_once(timeout_sec, _never)

    def spin_once_until_future_complete(self, future: Any,
                                        timeout_sec: Optional[float] = None) -> None:
        """
        As :meth:`spin_once`, returning as soon as ``future`` is done.

        :param future: the future to wait for
        :param timeout_sec: seconds to wait; ``None`` or negative: forever, 0: not at all
        """
        future.add_done_callback(lambda _: self.wake())
        self._spin_once(timeout_sec, future.done)

    def spin_until_future_complete(self, future: Any,
                                   timeout_sec: Optional[float] = None) -> None:
        """
        Execute callbacks until ``future`` is done, the executor shuts down, or time is up.

        :param future: the future to wait for
        :param timeout_sec: seconds to wait; ``None`` or negative: forever
        """
        future.add_done_callback(lambda _: self.wake())

        def settled() -> bool:
            return future.done() or future.cancelled()
        end = None if timeout_sec is None or timeout_sec < 0 else time.monotonic() + timeout_sec
        while self.context.ok() and not settled():
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return
            if not self._spin_once(left, settled):
                return

    def shutdown(self, timeout_sec: Optional[float] = None) -> bool:
        """
        Hand no more callbacks over, let the threads finish those they have, then shut down.

        :param timeout_sec: passed to :meth:`rclpy.executors.Executor.shutdown` (the threads
            always finish the callbacks they were handed, as MultiThreadedExecutor's do)
        :return: what :meth:`rclpy.executors.Executor.shutdown` returns
        """
        with self._handoff:
            self._closing = True
        self._callback_pool.shutdown(wait=True)
        return super().shutdown(timeout_sec)
