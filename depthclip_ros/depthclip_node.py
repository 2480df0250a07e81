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
The ``depthclip_node``: metric depth, confidence, colorized depth and a point cloud.

Subscribes ``image`` (or ``image/compressed``) and ``camera_info``; publishes
``depth/image`` (32FC1 metres, REP 118), ``depth/camera_info``, ``depth/confidence``,
``depth/colorized`` (bgr8), ``points`` (PointCloud2) and ``/diagnostics``, every output
with the input image's header.

Callbacks only put the newest frame into a one-slot mailbox; one worker thread converts,
predicts and publishes, so a slow model drops stale frames instead of queueing them.
"""

import array
from collections import deque
from dataclasses import dataclass, fields, replace
import math
import signal
import sys
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depthclip_ros import ros_msgs
from depthclip_ros.colorize import colorize_depth
from depthclip_ros.config import DepthClipConfig, ENGINE_PARAMETERS
from depthclip_ros.engine import DepthClipEngine, ModelLoadError
from depthclip_ros.geometry import depth_to_points, Intrinsics, pack_cloud
from depthclip_ros.image_conversion import ImageConversionError

NODE_NAME = 'depthclip_node'

#: Timing samples kept for the diagnostics' median and p95.
STATS_WINDOW = 200

#: Seconds between repeats of the same warning.
WARN_PERIOD = 5.0

TRANSPORTS = ('raw', 'compressed')
RELIABILITIES = ('best_effort', 'reliable')


class StartupError(RuntimeError):
    """The node cannot start with its parameters (one clear line, no traceback)."""


# -------------------------------------------------------------------------------------------
# Node parameters (the engine's own come from depthclip_ros.config.ENGINE_PARAMETERS)
# -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeSettings:
    """
    The node's own settings; field ``a_b`` is parameter ``a.b``. Immutable and validated.

    Defaults match ``config/depthclip.yaml``.
    """

    input_transport: str = 'raw'
    output_scale: float = 1.0
    camera_fov_deg: float = 60.0
    cloud_stride: int = 4
    cloud_min_range: float = 0.1
    cloud_max_range: float = 10.0
    cloud_min_confidence: float = 0.0
    cloud_organized: bool = True
    cloud_color: bool = False
    qos_image_reliability: str = 'best_effort'
    qos_image_depth: int = 1
    publish_confidence: bool = True
    publish_colorized: bool = True
    publish_points: bool = True
    diagnostics_period: float = 1.0

    def with_updates(self, values: Mapping[str, Any]) -> 'NodeSettings':
        """
        Return new validated settings with ``values`` (dotted parameter names) applied.

        :raises ValueError: unknown name or invalid combination (the reason)
        """
        known = {f.name for f in fields(self)}
        changes = {}
        for name, value in values.items():
            key = name.replace('.', '_')
            if key not in known:
                raise ValueError(f'unknown node parameter {name!r}')
            changes[key] = value
        settings = replace(self, **changes)
        settings.validate()
        return settings

    def validate(self) -> None:
        """
        Check every setting and the rules between them.

        :raises ValueError: naming the parameter and the reason
        """
        if self.input_transport not in TRANSPORTS:
            raise ValueError(f'input_transport must be raw or compressed, got '
                             f'{self.input_transport!r}')
        if not (math.isfinite(self.output_scale) and 0.0 < self.output_scale <= 1.0):
            raise ValueError(f'output_scale must be in (0, 1], got {self.output_scale}')
        if not (math.isfinite(self.camera_fov_deg) and 0.0 < self.camera_fov_deg < 180.0):
            raise ValueError(f'camera.fov_deg must be in (0, 180), got {self.camera_fov_deg}')
        if not 1 <= self.cloud_stride <= 64:
            raise ValueError(f'cloud.stride must be 1..64, got {self.cloud_stride}')
        lo, hi = self.cloud_min_range, self.cloud_max_range
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi):
            raise ValueError(f'need 0 <= cloud.min_range < cloud.max_range, got {lo} and {hi}')
        if not 0.0 <= self.cloud_min_confidence <= 1.0:
            raise ValueError(f'cloud.min_confidence must be in [0, 1], got '
                             f'{self.cloud_min_confidence}')
        if self.qos_image_reliability not in RELIABILITIES:
            raise ValueError('qos.image_reliability must be best_effort or reliable, got '
                             f'{self.qos_image_reliability!r}')
        if not 1 <= self.qos_image_depth <= 1000:
            raise ValueError(f'qos.image_depth must be 1..1000, got {self.qos_image_depth}')
        if not (math.isfinite(self.diagnostics_period)
                and 0.05 <= self.diagnostics_period <= 3600.0):
            raise ValueError('diagnostics_period must be between 0.05 and 3600 s, got '
                             f'{self.diagnostics_period}')

    def to_flat(self) -> Dict[str, Any]:
        """Return the settings keyed by dotted parameter names."""
        return {NODE_PARAMETER_NAMES[f.name]: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class NodeParamSpec:
    """Documentation and range of one node parameter."""

    name: str
    description: str
    min_value: Optional[float] = None
    max_value: Optional[float] = None
    choices: Tuple[str, ...] = ()


NODE_PARAMETERS: Tuple[NodeParamSpec, ...] = (
    NodeParamSpec('input_transport', 'raw: subscribe image (sensor_msgs/Image); compressed: '
                  'image/compressed (sensor_msgs/CompressedImage, jpeg or png)',
                  choices=TRANSPORTS),
    NodeParamSpec('output_scale', 'Output resolution relative to the input image, (0, 1]',
                  0.0, 1.0),
    NodeParamSpec('camera.fov_deg', 'Horizontal field of view (deg) used while no valid '
                  'camera_info has arrived', 1.0, 179.0),
    NodeParamSpec('cloud.stride', 'One point per stride x stride depth pixels', 1, 64),
    NodeParamSpec('cloud.min_range', 'Points nearer than this (m) are invalid', 0.0, 1000.0),
    NodeParamSpec('cloud.max_range', 'Points farther than this (m) are invalid', 0.0, 1000.0),
    NodeParamSpec('cloud.min_confidence', 'Points with lower confidence are invalid',
                  0.0, 1.0),
    NodeParamSpec('cloud.organized', 'true: image-shaped cloud with NaN for invalid points; '
                  'false: valid points only'),
    NodeParamSpec('cloud.color', 'Add an rgb field from the input image'),
    NodeParamSpec('qos.image_reliability', 'Reliability of the image subscription',
                  choices=RELIABILITIES),
    NodeParamSpec('qos.image_depth', 'History depth of the image subscription', 1, 1000),
    NodeParamSpec('publish.confidence', 'Publish depth/confidence'),
    NodeParamSpec('publish.colorized', 'Publish depth/colorized'),
    NodeParamSpec('publish.points', 'Publish points'),
    NodeParamSpec('diagnostics_period', 'Seconds between /diagnostics messages', 0.05, 3600.0),
)

#: NodeSettings field -> dotted parameter name.
NODE_PARAMETER_NAMES: Dict[str, str] = {spec.name.replace('.', '_'): spec.name
                                        for spec in NODE_PARAMETERS}

#: Parameters fixed once the node runs.
READ_ONLY_PARAMETERS = frozenset(spec.name for spec in ENGINE_PARAMETERS if spec.read_only)


def parameter_type(value: Any) -> int:
    """Return the ``rcl_interfaces/ParameterType`` of a default value."""
    if isinstance(value, bool):
        return ParameterType.PARAMETER_BOOL
    if isinstance(value, int):
        return ParameterType.PARAMETER_INTEGER
    if isinstance(value, float):
        return ParameterType.PARAMETER_DOUBLE
    if isinstance(value, str):
        return ParameterType.PARAMETER_STRING
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            return ParameterType.PARAMETER_STRING_ARRAY
        if value and all(isinstance(v, bool) for v in value):
            return ParameterType.PARAMETER_BOOL_ARRAY
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return ParameterType.PARAMETER_INTEGER_ARRAY
        return ParameterType.PARAMETER_DOUBLE_ARRAY
    raise ValueError(f'no ROS parameter type for {value!r}')


def make_descriptor(name: str, description: str, ptype: int, read_only: bool = False,
                    min_value: Optional[float] = None, max_value: Optional[float] = None,
                    choices: Tuple[str, ...] = ()) -> ParameterDescriptor:
    """Build a ``ParameterDescriptor`` with ranges (scalars) and choices as constraints."""
    descriptor = ParameterDescriptor(name=name, type=ptype, description=description,
                                     read_only=read_only)
    constraints = []
    if choices:
        constraints.append('one of: ' + ', '.join(choices))
    scalar = ptype in (ParameterType.PARAMETER_INTEGER, ParameterType.PARAMETER_DOUBLE)
    if scalar and min_value is not None and max_value is not None:
        if ptype == ParameterType.PARAMETER_INTEGER:
            descriptor.integer_range = [IntegerRange(from_value=int(min_value),
                                                     to_value=int(max_value), step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(min_value), to_value=float(max_value), step=0.0)]
    elif min_value is not None:
        constraints.append(f'minimum {min_value:g}')
    elif max_value is not None:
        constraints.append(f'maximum {max_value:g}')
    if read_only:
        constraints.append('read-only: restart the node to change it')
    descriptor.additional_constraints = '; '.join(constraints)
    return descriptor


def coerce_numeric(param: Parameter, expected: int) -> Parameter:
    """
    Return ``param`` as a double (array) when an integer (array) was given for one.

    ``ros2 param set /depthclip_node depth_bins "[1, 2, 3]"`` sends integers; they are
    converted instead of being rejected for their type.
    """
    if expected == ParameterType.PARAMETER_DOUBLE \
            and param.type_ == Parameter.Type.INTEGER:
        return Parameter(param.name, Parameter.Type.DOUBLE, float(param.value))
    if expected == ParameterType.PARAMETER_DOUBLE_ARRAY \
            and param.type_ == Parameter.Type.INTEGER_ARRAY:
        return Parameter(param.name, Parameter.Type.DOUBLE_ARRAY,
                         [float(v) for v in param.value])
    return param


def plain_value(value: Any) -> Any:
    """Return parameter values as plain Python (arrays become lists)."""
    if isinstance(value, (array.array, tuple, np.ndarray)):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return value


def percentile(values: List[float], q: float) -> float:
    """Return the ``q``-th percentile of ``values`` (NaN when empty)."""
    return float(np.percentile(values, q)) if values else float('nan')


# -------------------------------------------------------------------------------------------
# Image conversion: cv_bridge when it works in this process, else depthclip_ros's own
# -------------------------------------------------------------------------------------------
class RgbConverter:
    """
    Convert Image / CompressedImage messages to RGB uint8 arrays.

    cv_bridge is used when it imports and passes a self-test (it is broken under NumPy 2);
    otherwise, and for anything cv_bridge cannot convert, ``image_conversion``.
    """

    def __init__(self, try_cv_bridge: bool = True):
        self.bridge = None
        self.reason = 'disabled'
        if try_cv_bridge:
            self.bridge, self.reason = self._probe_cv_bridge()
        self.name = 'cv_bridge' if self.bridge is not None else 'image_conversion'

    @staticmethod
    def _probe_cv_bridge():
        try:
            from cv_bridge import CvBridge
            bridge = CvBridge()
            test = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
            back = bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(test, encoding='rgb8'), 'rgb8')
            if not np.array_equal(np.asarray(back), test):
                return None, 'cv_bridge self-test returned wrong pixels'
            return bridge, 'cv_bridge self-test passed'
        except Exception as error:  # noqa: B902 - ImportError, NumPy 2 ABI errors, ...
            return None, f'cv_bridge unusable ({type(error).__name__}: {error})'

    def to_rgb(self, msg, compressed: bool) -> np.ndarray:
        """
        Return the image as (H, W, 3) RGB uint8.

        :raises ImageConversionError: unsupported encoding or malformed data
        """
        if self.bridge is not None:
            try:
                if compressed:
                    rgb = self.bridge.compressed_imgmsg_to_cv2(msg, 'rgb8')
                else:
                    rgb = self.bridge.imgmsg_to_cv2(msg, 'rgb8')
                rgb = np.asarray(rgb)
                if rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3:
                    return np.ascontiguousarray(rgb)
            except Exception:  # noqa: B902 - cv_bridge cannot do it: try our converter
                pass
        if compressed:
            return ros_msgs.compressed_msg_to_rgb(msg)
        return ros_msgs.image_msg_to_rgb(msg)


@dataclass
class _Frame:
    msg: Any
    compressed: bool
    camera_info: Optional[CameraInfo]
    received: float  # time.monotonic()


def scaled_size(width: int, height: int, scale: float) -> Tuple[int, int]:
    """Return ``(width, height)`` scaled by ``scale`` (rounded, at least 1 pixel)."""
    if scale == 1.0:
        return width, height
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


# -------------------------------------------------------------------------------------------
# The node
# -------------------------------------------------------------------------------------------
class DepthClipNode(Node):
    """
    DepthCLIP as a ROS 2 node.

    :param node_name: node name (default ``depthclip_node``)
    :param kwargs: passed to :class:`rclpy.node.Node` (``namespace``, ``context``,
        ``parameter_overrides``, ``cli_args``, ...)
    :raises ModelLoadError: the model cannot be loaded (one-line reason)
    :raises StartupError: invalid parameters (one-line reason)
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        kwargs['allow_undeclared_parameters'] = False
        kwargs['automatically_declare_parameters_from_overrides'] = False
        super().__init__(node_name, **kwargs)
        self._worker: Optional[threading.Thread] = None
        self._cond = threading.Condition()
        self._stopping = False
        try:
            self._setup()
        except BaseException:
            self.destroy_node()
            raise

    # ----------------------------------------------------------------------------- set-up
    def _setup(self) -> None:
        self._stats_lock = threading.Lock()
        self._counts: Dict[str, int] = {
            'received': 0, 'processed': 0, 'dropped': 0, 'rejected': 0, 'errors': 0,
            'camera_info_received': 0, 'camera_info_rejected': 0, 'clouds_built': 0,
            'colorized_built': 0}
        self._inference_ms: deque = deque(maxlen=STATS_WINDOW)
        self._latency_ms: deque = deque(maxlen=STATS_WINDOW)
        self._pipeline_ms: deque = deque(maxlen=STATS_WINDOW)
        self._last_diag = (dict(self._counts), time.monotonic())

        self._param_types: Dict[str, int] = {}
        engine_values = self._declare_engine_parameters()
        node_values = self._declare_node_parameters()
        try:
            config = DepthClipConfig.from_flat(engine_values)
        except ValueError as error:
            raise StartupError(f'invalid parameter: {error}') from None
        try:
            self._settings = NodeSettings().with_updates(node_values)
        except ValueError as error:
            raise StartupError(f'invalid parameter: {error}') from None

        self._engine = DepthClipEngine(config)
        self.get_logger().info(
            f'model {self._engine.weights} on {self._engine.device} '
            f'({self._engine.precision}), input {config.input.width}x{config.input.height}, '
            f'feature_mode {config.feature_mode}')
        if getattr(self._engine, 'random_weights', False):
            self.get_logger().warning('RANDOM weights: the depth is meaningless (tests only)')

        self._converter = RgbConverter()
        self.get_logger().info(f'image conversion: {self._converter.name} '
                               f'({self._converter.reason})')

        # Node settings are swapped as a whole under this lock, which the worker holds for
        # a whole frame: no frame ever sees half-applied settings.
        self._frame_lock = threading.Lock()
        self._slot: Optional[_Frame] = None
        self._camera_info: Optional[CameraInfo] = None
        self._warned_no_info = False

        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)
        self._pub_depth = self.create_publisher(Image, 'depth/image', out_qos)
        self._pub_info = self.create_publisher(CameraInfo, 'depth/camera_info', out_qos)
        self._pub_conf = self.create_publisher(Image, 'depth/confidence', out_qos)
        self._pub_color = self.create_publisher(Image, 'depth/colorized', out_qos)
        self._pub_points = self.create_publisher(PointCloud2, 'points', out_qos)
        self._pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)

        info_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                              reliability=ReliabilityPolicy.BEST_EFFORT)
        self._info_sub = self.create_subscription(CameraInfo, 'camera_info',
                                                  self._on_camera_info, info_qos)
        self._image_sub = None
        self._image_topic = ''
        self._subscribe_images(self._settings)
        self._diag_timer = self.create_timer(self._settings.diagnostics_period,
                                             self._publish_diagnostics)

        self.add_pre_set_parameters_callback(self._pre_set_parameters)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._worker = threading.Thread(target=self._run, name='depthclip_worker', daemon=True)
        self._worker.start()
        self.get_logger().info(f'ready: subscribed to {self._image_topic}')

    def _declare(self, name: str, default: Any, descriptor: ParameterDescriptor) -> Any:
        overrides = getattr(self, '_parameter_overrides', None)
        if isinstance(overrides, dict) and name in overrides:
            overrides[name] = coerce_numeric(overrides[name], descriptor.type)
        self._param_types[name] = descriptor.type
        try:
            value = self.declare_parameter(name, default, descriptor).value
        except Exception as error:  # noqa: B902 - rclpy's type/range/value exceptions
            raise StartupError(f'parameter {name}: {error}') from None
        return plain_value(value)

    def _declare_engine_parameters(self) -> Dict[str, Any]:
        defaults = DepthClipConfig().to_flat()
        values = {}
        for spec in ENGINE_PARAMETERS:
            default = defaults[spec.name]
            descriptor = make_descriptor(spec.name, spec.description, parameter_type(default),
                                         spec.read_only, spec.min_value, spec.max_value,
                                         spec.choices)
            values[spec.name] = self._declare(spec.name, default, descriptor)
        return values

    def _declare_node_parameters(self) -> Dict[str, Any]:
        defaults = NodeSettings().to_flat()
        values = {}
        for spec in NODE_PARAMETERS:
            default = defaults[spec.name]
            descriptor = make_descriptor(spec.name, spec.description, parameter_type(default),
                                         False, spec.min_value, spec.max_value, spec.choices)
            values[spec.name] = self._declare(spec.name, default, descriptor)
        return values

    def _subscribe_images(self, settings: NodeSettings) -> None:
        if self._image_sub is not None:
            self.destroy_subscription(self._image_sub)
            self._image_sub = None
        reliability = (ReliabilityPolicy.RELIABLE if settings.qos_image_reliability == 'reliable'
                       else ReliabilityPolicy.BEST_EFFORT)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=settings.qos_image_depth,
                         reliability=reliability, durability=DurabilityPolicy.VOLATILE)
        if settings.input_transport == 'compressed':
            self._image_sub = self.create_subscription(
                CompressedImage, self._compressed_topic(), self._on_compressed, qos)
        else:
            self._image_sub = self.create_subscription(Image, 'image', self._on_image, qos)
        self._image_topic = self._image_sub.topic_name

    def _compressed_topic(self) -> str:
        """Return ``<resolved image topic>/compressed`` as image_transport does."""
        explicit = self.resolve_topic_name('image/compressed')
        if explicit != self.resolve_topic_name('image/compressed', only_expand=True):
            return explicit  # remapped on its own
        return self.resolve_topic_name('image').rstrip('/') + '/compressed'

    # ---------------------------------------------------------------------------- public
    @property
    def engine(self) -> DepthClipEngine:
        """Return the DepthCLIP engine: the model and its live settings."""
        return self._engine

    @property
    def settings(self) -> NodeSettings:
        """Return the node settings in force."""
        return self._settings

    @property
    def converter_name(self) -> str:
        """Return which image converter runs: ``cv_bridge`` or ``image_conversion``."""
        return self._converter.name

    @property
    def image_topic(self) -> str:
        """Return the resolved image topic subscribed to."""
        return self._image_topic

    @property
    def stats(self) -> Dict[str, int]:
        """Return a snapshot of the frame counters (received, processed, dropped, ...)."""
        with self._stats_lock:
            return dict(self._counts)

    def timings(self) -> Dict[str, float]:
        """Return median and p95 of inference, latency and pipeline times in ms."""
        with self._stats_lock:
            series = {'inference_ms': list(self._inference_ms),
                      'latency_ms': list(self._latency_ms),
                      'pipeline_ms': list(self._pipeline_ms)}
        out = {}
        for name, values in series.items():
            out[f'{name}_median'] = percentile(values, 50)
            out[f'{name}_p95'] = percentile(values, 95)
        return out

    def stop_worker(self, timeout: float = 30.0) -> None:
        """Stop the worker thread after its current frame and wait for it."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        worker = self._worker
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout)

    def destroy_node(self) -> None:
        """Stop the worker, then destroy the node."""
        self.stop_worker()
        super().destroy_node()

    # ------------------------------------------------------------------------- callbacks
    def _bump(self, name: str, amount: int = 1) -> None:
        with self._stats_lock:
            self._counts[name] += amount

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg
        self._bump('camera_info_received')

    def _on_image(self, msg: Image) -> None:
        self._offer(_Frame(msg, False, self._camera_info, time.monotonic()))

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._offer(_Frame(msg, True, self._camera_info, time.monotonic()))

    def _offer(self, frame: _Frame) -> None:
        with self._cond:
            with self._stats_lock:
                self._counts['received'] += 1
                if self._slot is not None:
                    self._counts['dropped'] += 1
            self._slot = frame
            self._cond.notify()

    # ---------------------------------------------------------------------------- worker
    def _run(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                frame, self._slot = self._slot, None
            try:
                self._process(frame)
            except Exception as error:  # noqa: B902 - keep serving frames; count and report
                self._bump('errors')
                self.get_logger().error(f'frame failed: {type(error).__name__}: {error}',
                                        throttle_duration_sec=WARN_PERIOD)

    def _process(self, frame: _Frame) -> None:
        with self._frame_lock:
            settings = self._settings
            try:
                rgb = self._converter.to_rgb(frame.msg, frame.compressed)
            except ImageConversionError as error:
                self._bump('rejected')
                self.get_logger().warning(f'rejected an image on {self._image_topic}: {error}',
                                          throttle_duration_sec=WARN_PERIOD)
                return
            height, width = rgb.shape[:2]
            out_w, out_h = scaled_size(width, height, settings.output_scale)
            start = time.perf_counter()
            prediction = self._engine.predict_one(rgb, (out_h, out_w))
            inference_ms = (time.perf_counter() - start) * 1000.0
            config = self._engine.config
            intr, source_info = self._intrinsics(frame.camera_info, width, height, settings)
            if (out_w, out_h) != (width, height):
                intr = intr.scaled(out_w, out_h)
            self._bump('processed')  # before publishing: a listener never sees a stale count
            self._publish(frame.msg.header, prediction, rgb, intr, source_info, settings,
                          config)
        latency_ms = None
        stamp_ns = ros_msgs.stamp_to_ns(frame.msg.header.stamp)
        if stamp_ns > 0:
            latency_ms = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6
        with self._stats_lock:
            self._inference_ms.append(inference_ms)
            self._pipeline_ms.append((time.monotonic() - frame.received) * 1000.0)
            if latency_ms is not None:
                self._latency_ms.append(latency_ms)

    def _intrinsics(self, info: Optional[CameraInfo], width: int, height: int,
                    settings: NodeSettings) -> Tuple[Intrinsics, Optional[CameraInfo]]:
        """Return the image's intrinsics and the camera_info they come from (if any)."""
        fov = settings.camera_fov_deg
        if info is not None:
            if (info.width, info.height) != (width, height):
                reason = (f'camera_info is for {info.width}x{info.height} but the image is '
                          f'{width}x{height}')
            else:
                try:
                    return ros_msgs.intrinsics_from_camera_info(info), info
                except ValueError as error:
                    reason = f'camera_info is unusable ({error})'
            self._bump('camera_info_rejected')
            self.get_logger().warning(
                f'{reason}; using camera.fov_deg={fov:g} intrinsics for this frame',
                throttle_duration_sec=WARN_PERIOD)
        elif not self._warned_no_info:
            self._warned_no_info = True
            self.get_logger().warning(
                f'no camera_info on {self._info_sub.topic_name} yet: using intrinsics from '
                f'camera.fov_deg={fov:g} (the point cloud scale is approximate)')
        return Intrinsics.from_fov(width, height, fov), None

    def _publish(self, header, prediction, rgb: np.ndarray, intr: Intrinsics,
                 source_info: Optional[CameraInfo], settings: NodeSettings,
                 config: DepthClipConfig) -> None:
        depth = prediction.depth
        if self._pub_depth.get_subscription_count() > 0:
            self._pub_depth.publish(ros_msgs.array_to_image_msg(depth, header, '32FC1'))
        if self._pub_info.get_subscription_count() > 0:
            self._pub_info.publish(ros_msgs.camera_info_msg(intr, header, source_info))
        if settings.publish_confidence and self._pub_conf.get_subscription_count() > 0:
            self._pub_conf.publish(
                ros_msgs.array_to_image_msg(prediction.confidence, header, '32FC1'))
        if settings.publish_colorized and self._pub_color.get_subscription_count() > 0:
            low, high = config.depth_range
            bgr = colorize_depth(depth, low, high)
            self._bump('colorized_built')
            self._pub_color.publish(ros_msgs.array_to_image_msg(bgr, header, 'bgr8'))
        if settings.publish_points and self._pub_points.get_subscription_count() > 0:
            colors = None
            if settings.cloud_color:
                h, w = depth.shape
                colors = rgb if rgb.shape[:2] == (h, w) else cv2.resize(
                    rgb, (w, h), interpolation=cv2.INTER_AREA)
            use_conf = settings.cloud_min_confidence > 0.0
            points = depth_to_points(
                depth, intr, stride=settings.cloud_stride, min_range=settings.cloud_min_range,
                max_range=settings.cloud_max_range,
                confidence=prediction.confidence if use_conf else None,
                min_confidence=settings.cloud_min_confidence, rgb=colors,
                organized=settings.cloud_organized)
            cloud = ros_msgs.cloud_msg(pack_cloud(points), header)
            self._bump('clouds_built')
            self._pub_points.publish(cloud)

    # ------------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        counts = self.stats
        timings = self.timings()
        last_counts, last_time = self._last_diag
        now = time.monotonic()
        self._last_diag = (counts, now)
        elapsed = max(now - last_time, 1e-6)
        rate = (counts['processed'] - last_counts['processed']) / elapsed

        if counts['errors'] > last_counts['errors']:
            level, message = DiagnosticStatus.ERROR, 'inference errors'
        elif counts['rejected'] > last_counts['rejected']:
            level, message = DiagnosticStatus.WARN, 'rejecting input images'
        elif counts['received'] == 0:
            level, message = DiagnosticStatus.WARN, f'waiting for images on {self._image_topic}'
        else:
            level, message = DiagnosticStatus.OK, f'{rate:.1f} Hz'
        config = self._engine.config
        values = [
            ('frames received', counts['received']),
            ('frames processed', counts['processed']),
            ('frames dropped', counts['dropped']),
            ('frames rejected', counts['rejected']),
            ('errors', counts['errors']),
            ('camera_info rejected', counts['camera_info_rejected']),
            ('output rate Hz', f'{rate:.2f}'),
            ('inference ms median', f'{timings["inference_ms_median"]:.1f}'),
            ('inference ms p95', f'{timings["inference_ms_p95"]:.1f}'),
            ('latency ms median', f'{timings["latency_ms_median"]:.1f}'),
            ('latency ms p95', f'{timings["latency_ms_p95"]:.1f}'),
            ('pipeline ms median', f'{timings["pipeline_ms_median"]:.1f}'),
            ('pipeline ms p95', f'{timings["pipeline_ms_p95"]:.1f}'),
            ('device', self._engine.device),
            ('precision', self._engine.precision),
            ('weights', self._engine.weights),
            ('model', config.model.name),
            ('input size', f'{config.input.width}x{config.input.height}'),
            ('input topic', self._image_topic),
            ('image conversion', self._converter.name),
        ]
        status = DiagnosticStatus(
            level=level, name=f'{self.get_fully_qualified_name()}: depth', message=message,
            hardware_id=self._engine.device,
            values=[KeyValue(key=k, value=str(v)) for k, v in values])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._pub_diag.publish(msg)

    # ------------------------------------------------------------------------- parameters
    def _pre_set_parameters(self, parameters: List[Parameter]) -> List[Parameter]:
        return [coerce_numeric(p, self._param_types[p.name]) if p.name in self._param_types
                else p for p in parameters]

    def _on_set_parameters(self, parameters: List[Parameter]) -> SetParametersResult:
        engine_names = {spec.name for spec in ENGINE_PARAMETERS}
        engine_updates: Dict[str, Any] = {}
        node_updates: Dict[str, Any] = {}
        for param in parameters:
            if param.name in READ_ONLY_PARAMETERS:
                return SetParametersResult(
                    successful=False,
                    reason=f'{param.name} is read-only: restart the node to change it')
            if param.name in engine_names:
                engine_updates[param.name] = plain_value(param.value)
            elif param.name in NODE_PARAMETER_NAMES.values():
                node_updates[param.name] = plain_value(param.value)
        if not engine_updates and not node_updates:
            return SetParametersResult(successful=True)
        try:
            settings = self._settings.with_updates(node_updates)
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        with self._frame_lock:
            if engine_updates:
                try:
                    self._engine.update(engine_updates)
                except ValueError as error:
                    return SetParametersResult(successful=False, reason=str(error))
            old, self._settings = self._settings, settings
        if (old.input_transport, old.qos_image_reliability, old.qos_image_depth) != \
                (settings.input_transport, settings.qos_image_reliability,
                 settings.qos_image_depth):
            self._subscribe_images(settings)
            self.get_logger().info(f'now subscribed to {self._image_topic}')
        if old.diagnostics_period != settings.diagnostics_period:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(settings.diagnostics_period,
                                                 self._publish_diagnostics)
        changed = ', '.join(sorted({**engine_updates, **node_updates}))
        self.get_logger().info(f'parameters updated: {changed}')
        return SetParametersResult(successful=True)


# -------------------------------------------------------------------------------------------
# Entry point
# -------------------------------------------------------------------------------------------
def main(args: Optional[List[str]] = None) -> int:
    """
    Run the node until Ctrl-C or SIGTERM; return the process exit code.

    :param args: command line (``--ros-args ...``); ``sys.argv`` when ``None``
    :return: 0 after a clean shutdown, 1 when the node cannot start
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    spinning = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        if not spinning.is_set():
            raise KeyboardInterrupt  # still loading the model: abandon it

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread: leave signals alone
            pass
    node = None
    executor = None
    code = 0
    try:
        node = DepthClipNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spinning.set()
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ModelLoadError, StartupError) as error:
        rclpy.logging.get_logger(NODE_NAME).fatal(str(error))
        code = 1
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


if __name__ == '__main__':
    sys.exit(main())
