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

"""Test utilities for real rclpy nodes over DDS: spinning, a probe node, waiting."""

import gc
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from builtin_interfaces.msg import Time
import cv2
import numpy as np
from rcl_interfaces.msg import Log
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.sample import load_sample_rgb, sample_intrinsics
from depthclip_ros.ros import msgs as ros_msgs
from depthclip_ros.ros.executor import CallbackThreads
from depthclip_ros.tools.process_tools import proc_status

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE)
ROSOUT = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL)


def rss_mb(pid: Optional[int] = None) -> float:
    """Return the resident memory of a process (this one by default) in MiB."""
    return proc_status(pid)['VmRSS'] / 1024.0


def new_context() -> Context:
    """Initialize and return a private rclpy context (no signal handlers installed)."""
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    return context


def close_context(context: Context) -> None:
    """
    Shut down and destroy a context from :func:`new_context`, and collect the garbage.

    The DDS participant and its threads go away now, not at some later garbage collection:
    a process that forks later (flake8's worker pool, ...) must not inherit live DDS
    objects whose destruction would then run in a child without their threads.
    """
    rclpy.try_shutdown(context=context)
    context.destroy()
    gc.collect()


def overrides(values: Dict[str, Any]) -> List[Parameter]:
    """Return ``Parameter`` overrides for ``{name: value}``."""
    return [Parameter(name, value=value) for name, value in values.items()]


def sample_image(width: int = 160, height: int = 120, index: int = 0):
    """Return (RGB uint8 image, intrinsics) of a bundled sample frame resized to width x height."""
    rgb = load_sample_rgb(index)
    intr = sample_intrinsics()
    if (rgb.shape[1], rgb.shape[0]) != (width, height):
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        intr = intr.scaled(width, height)
    return np.ascontiguousarray(rgb), intr


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, period: float = 0.01,
               what: str = 'condition') -> Any:
    """
    Poll ``predicate`` until it returns something truthy; return that.

    :raises TimeoutError: after ``timeout`` seconds
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f'timed out after {timeout} s waiting for {what}')
        time.sleep(period)


class Spinner:
    """
    Spin nodes with an executor in a background thread (context manager).

    One thread (SingleThreadedExecutor) by default; ``threads > 1``: the executables'
    :class:`~depthclip_ros.ros.executor.CallbackThreads`.
    """

    def __init__(self, *nodes: Node, context: Optional[Context] = None, threads: int = 1):
        if threads > 1:
            self.executor = CallbackThreads(num_threads=threads, context=context)
        else:
            self.executor = SingleThreadedExecutor(context=context)
        self.context = context
        for node in nodes:
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        #: What stopped the spinning early (a callback that raised), else None.
        self.error: Optional[BaseException] = None

    def _spin(self):
        try:
            self.executor.spin()
        except Exception as error:  # noqa: B902 - a callback raised, or shut down under us
            if self.context is None or self.context.ok():
                self.error = error
                traceback.print_exc()  # shows in the failing test's captured output

    def start(self) -> 'Spinner':
        """Start spinning."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop spinning and wait for the thread."""
        self.executor.shutdown(timeout_sec=5.0)
        self.thread.join(timeout=10.0)

    def __enter__(self) -> 'Spinner':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Probe(Node):
    """
    A test node: publishes camera input and records what arrives on subscribed topics.

    Topic names are relative, so the probe lives in the namespace of the node under test.
    """

    def __init__(self, name: str = 'probe', **kwargs):
        super().__init__(name, **kwargs)
        self._lock = threading.Lock()
        self.messages: Dict[str, List[Any]] = {}
        self._subs: Dict[str, Any] = {}
        self.image_pub = self.create_publisher(Image, 'image', RELIABLE)
        self.compressed_pub = self.create_publisher(CompressedImage, 'image/compressed',
                                                    RELIABLE)
        self.info_pub = self.create_publisher(CameraInfo, 'camera_info', RELIABLE)
        self._seconds = 1000
        self._barriers = 0

    # ------------------------------------------------------------------ subscriptions
    def subscribe(self, topic: str, msg_type, qos: QoSProfile = RELIABLE) -> None:
        """Record every message on ``topic`` into ``self.messages[topic]``."""
        with self._lock:
            self.messages.setdefault(topic, [])

        def callback(msg, topic=topic):
            with self._lock:
                self.messages[topic].append(msg)

        self._subs[topic] = self.create_subscription(msg_type, topic, callback, qos)

    def subscribe_rosout(self) -> None:
        """Record the log messages of every node in ``self.messages['/rosout']``."""
        self.subscribe('/rosout', Log, ROSOUT)

    def log_lines(self, node_name: str, contains: str = '') -> List[str]:
        """Return the /rosout messages of node ``node_name`` (its logger name) with text."""
        return [m.msg for m in self.received('/rosout')
                if m.name.endswith(node_name) and contains in m.msg]

    def rosout_barrier(self, node: Node, timeout: float = 20.0) -> None:
        """
        Return once every line ``node`` (in this process) logged before this call has arrived.

        A marker is logged through ``node``'s logger; its /rosout writer is reliable and
        delivers in order, so once the marker is here every earlier line of ``node`` is too.
        Replaces a sleep before asserting how many lines (or that no line) arrived.
        """
        self._barriers += 1
        marker = f'rosout barrier {id(self)}-{self._barriers}'
        node.get_logger().info(marker)
        name = node.get_logger().name
        wait_until(lambda: self.log_lines(name, marker), timeout,
                   what=f'the rosout barrier of {name}')

    def unsubscribe(self, topic: str) -> None:
        """Stop recording ``topic``."""
        self.destroy_subscription(self._subs.pop(topic))

    def received(self, topic: str) -> List[Any]:
        """Return a copy of the messages received on ``topic``."""
        with self._lock:
            return list(self.messages.get(topic, []))

    def wait_for_message(self, topic: str, predicate: Callable[[Any], bool] = lambda m: True,
                         timeout: float = 20.0):
        """Return the first message on ``topic`` that satisfies ``predicate``."""
        def find():
            for msg in self.received(topic):
                if predicate(msg):
                    return msg
            return None
        return wait_until(find, timeout, what=f'a message on {topic}')

    def wait_for_stamp(self, topic: str, header: Header, timeout: float = 20.0):
        """Return the message on ``topic`` whose header stamp equals ``header``'s."""
        return self.wait_for_message(topic, lambda m: m.header.stamp == header.stamp, timeout)

    def publish_until_output(self, send: Callable[['Probe'], Header],
                             topics=('depth/image',), retry: float = 3.0,
                             timeout: float = 30.0) -> Dict[str, Any]:
        """
        Publish with ``send(probe)`` until the outputs of one of those frames come back.

        Republishes every ``retry`` seconds (a best-effort image may be lost, a subscription
        may be new). The outputs of any frame published here count, so a node slower than
        ``retry`` is waited for, never outrun by fresh stamps.

        :param send: publishes one frame, returns its header
        :param topics: outputs to wait for; the first decides which frame came back
        :return: ``{topic: message}`` of one frame, and ``'header'``: that frame's header
        :raises TimeoutError: nothing came back within ``timeout`` seconds
        """
        sent: List[Header] = []
        deadline = time.monotonic() + timeout
        while True:
            sent.append(send(self))
            stamps = [header.stamp for header in sent]
            try:
                first = self.wait_for_message(topics[0], lambda m: m.header.stamp in stamps,
                                              timeout=retry)
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
        header = next(h for h in sent if h.stamp == first.header.stamp)
        out: Dict[str, Any] = {topics[0]: first, 'header': header}
        for topic in topics[1:]:
            out[topic] = self.wait_for_stamp(topic, header, timeout=timeout)
        return out

    # --------------------------------------------------------------------- publishing
    def header(self, frame_id: str = 'test_optical_frame') -> Header:
        """Return a header with a unique, increasing stamp."""
        self._seconds += 1
        return Header(stamp=Time(sec=self._seconds, nanosec=123456789), frame_id=frame_id)

    def publish_camera_info(self, intr: Intrinsics, header: Optional[Header] = None) -> Header:
        """Publish a CameraInfo for ``intr``."""
        header = header or self.header()
        self.info_pub.publish(ros_msgs.camera_info_msg(intr, header))
        return header

    def publish_rgb(self, rgb: np.ndarray, encoding: str = 'rgb8',
                    header: Optional[Header] = None) -> Header:
        """Publish ``rgb`` as an Image in ``encoding``; return its header."""
        header = header or self.header()
        self.image_pub.publish(ros_msgs.rgb_to_image_msg(rgb, header, encoding))
        return header

    def publish_image_msg(self, msg: Image, header: Optional[Header] = None) -> Header:
        """Publish a prepared (possibly malformed) Image with a fresh header; return it."""
        msg.header = header or self.header()
        self.image_pub.publish(msg)
        return msg.header

    def publish_compressed_msg(self, msg: CompressedImage,
                               header: Optional[Header] = None) -> Header:
        """Publish a prepared (possibly malformed) CompressedImage with a fresh header."""
        msg.header = header or self.header()
        self.compressed_pub.publish(msg)
        return msg.header

    def publish_compressed(self, rgb: np.ndarray, fmt: str = 'jpeg',
                           header: Optional[Header] = None) -> Header:
        """Publish ``rgb`` as a CompressedImage; return its header."""
        header = header or self.header()
        self.compressed_pub.publish(ros_msgs.rgb_to_compressed_msg(rgb, header, fmt))
        return header

    def wait_for_subscribers(self, publisher, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until ``publisher`` is matched with ``count`` subscriptions."""
        wait_until(lambda: publisher.get_subscription_count() >= count, timeout,
                   what=f'{count} subscriber(s) on {publisher.topic_name}')


# -------------------------------------------------------------------------------------------
# real processes
# -------------------------------------------------------------------------------------------
def start_process(executable: str, namespace: str, *params: str) -> subprocess.Popen:
    """
    Start an executable of the package (``depthclip_node``, ``camera_player``, ...).

    Runs ``python -m depthclip_ros.ros.runner EXECUTABLE --ros-args -r __ns:=NS -p param ...``.

    Output goes to a temporary file (never a pipe that could fill up and block the process);
    read it with :func:`process_output`. The environment (DDS settings, domain id) is ours.
    """
    cmd = [sys.executable, '-m', 'depthclip_ros.ros.runner', executable, '--ros-args',
           '-r', f'__ns:={namespace}']
    for param in params:
        cmd += ['-p', param]
    log = tempfile.TemporaryFile(mode='w+')
    env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHONFAULTHANDLER='1')
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            text=True)
    proc.log = log
    return proc


def process_output(proc: subprocess.Popen) -> str:
    """Return everything the process wrote so far (stdout and stderr)."""
    proc.log.seek(0)
    return proc.log.read()


def finish_process(proc: subprocess.Popen, timeout: float) -> str:
    """
    Wait for the process to exit and return its output.

    A process that does not exit in time is aborted (faulthandler prints its stacks) and the
    test fails with that output.
    """
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=30)
        raise AssertionError(f'process did not exit within {timeout} s:\n'
                             f'{process_output(proc)[-8000:]}') from None
    return process_output(proc)


def kill_process(proc: subprocess.Popen) -> None:
    """Kill the process if it still runs, and close its log."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)
    proc.log.close()
