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
The executables' executor: callback groups side by side, no spinning while a callback waits.

Every test spins the executor in this thread and waits on events: what is asserted is what
ran and how often a callback was handed to the threads, never how long anything took.
"""

import collections
import threading
import time

import pytest
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from depthclip_ros.ros.executor import CallbackThreads


@pytest.fixture
def node(context):
    node = Node('executor_test', context=context)
    yield node
    node.destroy_node()


def spin_until(executor, condition, limit=30.0):
    """Spin ``executor`` here until ``condition()`` (or ``limit`` seconds)."""
    end = time.monotonic() + limit
    while not condition() and time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
    return condition()


def test_callbacks_of_different_groups_run_side_by_side(context, node):
    """Two callbacks that can only finish together (a barrier of 2): both get through."""
    barrier = threading.Barrier(2, timeout=30.0)
    through = []

    def meet(name):
        def callback():
            if name not in through:
                barrier.wait()  # raises BrokenBarrierError if the other never comes
                through.append(name)
        return callback

    groups = [MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()]
    timers = [node.create_timer(0.01, meet(name), callback_group=group)
              for name, group in zip('ab', groups)]
    executor = CallbackThreads(num_threads=2, context=context)
    executor.add_node(node)
    try:
        assert spin_until(executor, lambda: len(through) == 2)
        assert sorted(through) == ['a', 'b']
    finally:
        for timer in timers:
            node.destroy_timer(timer)
        executor.shutdown(timeout_sec=30.0)


def test_callbacks_of_one_mutually_exclusive_group_never_overlap(context, node):
    running = []
    overlaps = []
    calls = []
    lock = threading.Lock()

    def callback():
        with lock:
            running.append(1)
            overlaps.append(len(running) > 1)
        time.sleep(0.005)  # (a little work, so an overlap would show)
        with lock:
            running.pop()
            calls.append(1)

    group = MutuallyExclusiveCallbackGroup()
    timers = [node.create_timer(0.001, callback, callback_group=group) for _ in range(3)]
    executor = CallbackThreads(num_threads=3, context=context)
    executor.add_node(node)
    try:
        assert spin_until(executor, lambda: len(calls) >= 30)
        assert not any(overlaps)
    finally:
        for timer in timers:
            node.destroy_timer(timer)
        assert executor.shutdown(timeout_sec=30.0)


class CountingPool:
    """Stands in for the executor's thread pool; counts how often each callback is handed."""

    def __init__(self, pool):
        self.pool = pool
        self.handed = collections.Counter()  # keyed by the handler (kept alive: no id reuse)

    def submit(self, run, handler):
        self.handed[handler] += 1
        return self.pool.submit(run, handler)

    def shutdown(self, **kwargs):
        self.pool.shutdown(**kwargs)


def test_a_callback_waiting_for_a_thread_is_handed_over_once(context, node):
    """
    One thread, held by a callback; another callback is ready and waits for that thread.

    rclpy's MultiThreadedExecutor yields such a callback again on every pass and hands it
    to its pool each time (next to inference: thousands of times a second, its spinning
    thread at 100 % of a core). Here it is handed over once in 50 passes, and runs once the
    thread is free.
    """
    release = threading.Event()
    held = threading.Event()
    waiting_runs = []

    def hold():
        held.set()
        release.wait(timeout=60.0)

    groups = [MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()]
    holder = node.create_timer(0.001, hold, callback_group=groups[0])
    waiter = node.create_timer(0.001, lambda: waiting_runs.append(1), callback_group=groups[1])
    executor = CallbackThreads(num_threads=1, context=context)
    executor._callback_pool = pool = CountingPool(executor._callback_pool)
    executor.add_node(node)
    try:
        assert spin_until(executor, held.is_set)
        node.destroy_timer(holder)
        handed_before = sum(pool.handed.values())
        for _ in range(50):
            executor.spin_once(timeout_sec=0.05)
        assert waiting_runs == []  # the only thread is still held
        assert sum(pool.handed.values()) - handed_before <= 1
        assert max(pool.handed.values()) == 1
        release.set()
        assert spin_until(executor, lambda: len(waiting_runs) >= 3)
    finally:
        release.set()
        node.destroy_timer(waiter)
        assert executor.shutdown(timeout_sec=30.0)


def test_an_exception_in_a_callback_reaches_the_spinning_thread(context, node):
    def fail():
        raise RuntimeError('callback failed')

    timer = node.create_timer(0.01, fail)
    executor = CallbackThreads(num_threads=1, context=context)
    executor.add_node(node)
    try:
        with pytest.raises(RuntimeError, match='callback failed'):
            spin_until(executor, lambda: False, limit=30.0)
    finally:
        node.destroy_timer(timer)
        executor.shutdown(timeout_sec=30.0)


def test_spin_until_future_complete_returns_once_it_is_done(context, node):
    from rclpy.task import Future
    future = Future()
    timer = node.create_timer(0.01, lambda: future.done() or future.set_result('done'))
    executor = CallbackThreads(num_threads=2, context=context)
    executor.add_node(node)
    try:
        executor.spin_until_future_complete(future, timeout_sec=30.0)
        assert future.result() == 'done'
    finally:
        node.destroy_timer(timer)
        assert executor.shutdown(timeout_sec=30.0)


def test_at_least_one_thread(context):
    with pytest.raises(ValueError, match='at least 1'):
        CallbackThreads(num_threads=0, context=context)
