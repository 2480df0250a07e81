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

One camera (parameter ``cameras`` empty, the default): subscribes ``image`` (or
``image/compressed``) and ``camera_info``; publishes ``depth/image`` (32FC1 metres, REP 118),
``depth/camera_info``, ``depth/confidence``, ``depth/colorized`` (bgr8) and ``points``
(PointCloud2), every output with the input image's header.

Several cameras on one model (``cameras: [front, left]``): the same topics under each
camera's name (``front/image``, ``front/camera_info``, ``front/depth/image``, ...; relative,
so they follow the node namespace and remap one by one), and optional per-camera output
frame ids (``front.frame_id``).

Callbacks only put the newest frame of each camera into a one-slot mailbox; one worker
thread takes the newest pending frame of every camera, predicts them in one encoder pass and
publishes, so a slow model drops stale frames instead of queueing them. ``/diagnostics``
has one status per camera.

Bad input never stops the node: a malformed image is rejected; a stamp that goes backwards,
an empty frame_id or data beyond ``height * step`` is processed (as depth_image_proc does)
and reported; an unusable camera_info falls back to ``camera.fov_deg`` intrinsics for that
frame; an inference failure (CUDA out of memory, a device error) drops that batch. Each is
counted in the camera's diagnostics ('last problem' says what it was) and logged at most
once per few seconds per kind and camera.
"""

import array
from collections import deque
from dataclasses import dataclass, fields, replace
import math
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
import rclpy
try:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
import torch

from depthclip_ros.core import cameras as cameras_file
from depthclip_ros.core.colorize import colorize_depth
from depthclip_ros.core.config import DepthClipConfig, ENGINE_PARAMETERS
from depthclip_ros.core.engine import DepthClipEngine, ModelLoadError
from depthclip_ros.core.geometry import depth_to_points, Intrinsics, pack_cloud
from depthclip_ros.ros import msgs as ros_msgs

NODE_NAME = 'depthclip_node'

#: Timing samples kept for the diagnostics' median and p95.
STATS_WINDOW = 200

#: Seconds between repeats of the same warning.
WARN_PERIOD = 5.0

#: Seconds between repeats of the "input faster than inference" note.
DROP_LOG_PERIOD = 60.0

#: A camera that sent nothing for this long is reported (diagnostics WARN).
STALE_AFTER_S = 5.0
#: Seconds with a publisher on the image topic but no image before the node says why.
SILENT_PUBLISHER_S = 5.0
#: Why a best-effort subscription may receive nothing from a publisher on the same host.
BEST_EFFORT_HINT = (
    "best-effort images larger than about 0.5 MB are lost by Fast DDS's default "
    'shared-memory transport (ros2/rmw_fastrtps#739): if the camera publishes reliably (most '
    'drivers do), set qos.image_reliability: reliable; otherwise enlarge the Fast DDS '
    'shared-memory segment (see the README, "Troubleshooting")')
RELIABLE_HINT = ("check that the publisher's QoS matches qos.image_reliability: reliable "
                 '(a best-effort publisher does not connect to a reliable subscription) and '
                 'input_transport')

TRANSPORTS = ('raw', 'compressed')
RELIABILITIES = ('best_effort', 'reliable')

#: The read-only list of camera names; empty: one camera with un-namespaced topics.
CAMERAS_PARAMETER = 'cameras'
MAX_CAMERAS = cameras_file.MAX_CAMERAS
CAMERA_NAME_PATTERN = cameras_file.NAME_PATTERN
#: Per-camera parameter ``<camera>.frame_id``: the outputs' frame_id (empty: the input's).
FRAME_ID_SUFFIX = 'frame_id'
#: Most camera frames per encoder pass (0: the newest frame of every camera).
MAX_BATCH_PARAMETER = 'max_batch_size'

#: (key, message type, relative topic) of each camera's outputs.
OUTPUT_TOPICS = (('depth', Image, 'depth/image'), ('info', CameraInfo, 'depth/camera_info'),
                 ('confidence', Image, 'depth/confidence'),
                 ('colorized', Image, 'depth/colorized'), ('points', PointCloud2, 'points'))

#: Exceptions after which the CUDA cache is emptied (the frames are dropped either way).
OUT_OF_MEMORY_ERRORS = (getattr(torch, 'OutOfMemoryError', torch.cuda.OutOfMemoryError),)


class StartupError(RuntimeError):
    """The node cannot start with its parameters (one clear line, no traceback)."""


# -------------------------------------------------------------------------------------------
# Node parameters (the engine's own come from depthclip_ros.core.config.ENGINE_PARAMETERS)
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

ENGINE_PARAMETER_NAMES = frozenset(spec.name for spec in ENGINE_PARAMETERS)


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


def one_line(error: BaseException) -> str:
    """Return an exception's message on one line, at most 300 characters."""
    text = ' '.join(str(error).split())
    return text if len(text) <= 300 else text[:297] + '...'


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
# Cameras
# -------------------------------------------------------------------------------------------
def validate_camera_names(names: Any) -> Tuple[str, ...]:
    """
    Check the ``cameras`` parameter: unique ROS name tokens, at most :data:`MAX_CAMERAS`.

    :param names: the parameter value (``None`` or an empty list: one un-namespaced camera)
    :return: the names as a tuple (empty for the single-camera mode)
    :raises ValueError: naming the bad entry
    """
    if names is None:
        return ()
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise ValueError(f'cameras must be a list of camera names, e.g. [front, left], got '
                         f'{names!r}')
    names = tuple(names)
    if len(names) > MAX_CAMERAS:
        raise ValueError(f'cameras lists {len(names)} cameras; at most {MAX_CAMERAS}')
    for name in names:
        if not isinstance(name, str) or not CAMERA_NAME_PATTERN.fullmatch(name):
            raise ValueError(f'cameras: {name!r} is not a valid camera name (letters, digits '
                             'and underscores, not starting with a digit)')
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f'cameras: {", ".join(duplicates)} listed more than once')
    return names


def validate_frame_id(name: str, value: Any) -> str:
    """
    Check a frame_id override: empty (keep the input's) or a tf2-valid frame name.

    :raises ValueError: naming the parameter and the reason
    """
    if not isinstance(value, str):
        raise ValueError(f'{name} must be a string, got {value!r}')
    if value.startswith('/'):
        raise ValueError(f'{name} must not start with "/" (tf2 frame ids never do), got '
                         f'{value!r}')
    if value != value.strip() or any(c.isspace() for c in value):
        raise ValueError(f'{name} must not contain white space, got {value!r}')
    return value


#: Per-camera frame counters; their meaning is in the diagnostics keys below.
COUNTERS = ('received', 'processed', 'dropped', 'rejected', 'errors', 'camera_info_received',
            'camera_info_rejected', 'clouds_built', 'colorized_built', 'stamp_backwards',
            'empty_frame_id', 'extra_data', 'qos_incompatible')


class _Camera:
    """One camera: its topics, newest pending frame, camera_info, counters and timings."""

    def __init__(self, name: str):
        self.name = name
        self.prefix = f'{name}/' if name else ''
        self.slot: Optional[_Frame] = None
        self.camera_info: Optional[CameraInfo] = None
        self.frame_id = ''
        self.counts: Dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.inference_ms: deque = deque(maxlen=STATS_WINDOW)
        self.latency_ms: deque = deque(maxlen=STATS_WINDOW)
        self.pipeline_ms: deque = deque(maxlen=STATS_WINDOW)
        self.last_stamp_ns: Optional[int] = None
        self.last_received: Optional[float] = None
        self.last_problem = ''
        self.warned_no_info = False
        self.last_diag: Tuple[Dict[str, int], float] = (dict(self.counts), time.monotonic())
        self.image_sub = None
        self.subscribed_at = time.monotonic()
        self.info_sub = None
        self.image_topic = ''
        self.pubs: Dict[str, Any] = {}

    def topic(self, name: str) -> str:
        """Return this camera's relative topic ``name`` (``<camera>/name``)."""
        return self.prefix + name


# -------------------------------------------------------------------------------------------
# The node's logic, shared by the plain and the lifecycle node
# -------------------------------------------------------------------------------------------
class DepthClipCore:
    """
    Everything of the DepthCLIP node but the base class; mixed into an rclpy node class.

    Phases (the plain node runs them all in its constructor; the lifecycle node in its
    transitions): :meth:`_declare_parameters`, :meth:`_configure` (validate, load the model,
    create the outputs), :meth:`_activate` (subscribe, start the worker and diagnostics),
    :meth:`_deactivate`, :meth:`_cleanup`.
    """

    # ----------------------------------------------------------------------------- set-up
    def _init_core(self) -> None:
        self._worker: Optional[threading.Thread] = None
        self._cond = threading.Condition()
        self._stopping = False
        self._stats_lock = threading.Lock()
        # Node settings and camera frame ids are swapped as a whole under this lock, which
        # the worker holds for a whole batch: no frame ever sees half-applied settings.
        self._frame_lock = threading.Lock()
        self._param_types: Dict[str, int] = {}
        self._engine: Optional[DepthClipEngine] = None
        self._settings: Optional[NodeSettings] = None
        self._converter: Optional[RgbConverter] = None
        self._cameras: List[_Camera] = []
        self._frame_params: Dict[str, _Camera] = {}
        self._pub_diag = None
        self._diag_timer = None
        self._throttle: Dict[Tuple[str, Tuple[str, ...]], Tuple[float, int]] = {}
        self._faults: deque = deque()
        self._batches = 0
        self._batched_frames = 0
        self._max_batch = 0
        self._multi = False

    def _declare_parameters(self) -> None:
        """Declare every parameter (values are checked by :meth:`_configure`)."""
        self._declare_engine_parameters()
        self._declare_node_parameters()
        descriptor = ParameterDescriptor(
            name=CAMERAS_PARAMETER, type=ParameterType.PARAMETER_STRING_ARRAY,
            description='Camera names; each camera has topics <name>/image, '
                        '<name>/camera_info, <name>/depth/image, ... Empty: one camera with '
                        'un-namespaced topics (image, camera_info, depth/image, ...)',
            additional_constraints='string array of unique names (letters, digits, '
                                   f'underscores), at most {MAX_CAMERAS}; read-only: restart '
                                   'the node to change it',
            read_only=True, dynamic_typing=True)
        value = self.declare_parameter(CAMERAS_PARAMETER, [], descriptor).value
        try:
            names = validate_camera_names(plain_value(value) if value is not None else None)
        except ValueError as error:
            raise StartupError(f'invalid parameter: {error}') from None
        self._multi = bool(names)
        self._cameras = [_Camera(name) for name in names] if names else [_Camera('')]
        for camera in self._cameras:
            if not camera.name:
                continue
            name = f'{camera.name}.{FRAME_ID_SUFFIX}'
            descriptor = make_descriptor(
                name, f'frame_id of the outputs of camera {camera.name}; empty: the frame_id '
                'of its input images', ParameterType.PARAMETER_STRING)
            camera.frame_id = self._declare(name, '', descriptor)
            self._frame_params[name] = camera
        descriptor = make_descriptor(
            MAX_BATCH_PARAMETER, 'Most camera frames per encoder pass; 0: the newest frame of '
            'every camera in one pass. On a GPU batching is faster; on a small CPU a limit of '
            '1 or 2 can be (see scripts/bench_cameras.py). Frames that waited longest go first',
            ParameterType.PARAMETER_INTEGER, False, 0, MAX_CAMERAS)
        self._max_batch = self._declare(MAX_BATCH_PARAMETER, 0, descriptor)
        self.add_pre_set_parameters_callback(self._pre_set_parameters)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _configure(self) -> None:
        """
        Validate the parameters, load the model and create the publishers.

        :raises StartupError: invalid parameters
        :raises ModelLoadError: the model cannot be loaded
        """
        engine_values = {spec.name: self._value(spec.name) for spec in ENGINE_PARAMETERS}
        node_values = {spec.name: self._value(spec.name) for spec in NODE_PARAMETERS}
        try:
            config = DepthClipConfig.from_flat(engine_values)
            settings = NodeSettings().with_updates(node_values)
            for name, camera in self._frame_params.items():
                camera.frame_id = validate_frame_id(name, self._value(name))
        except ValueError as error:
            raise StartupError(f'invalid parameter: {error}') from None
        self._settings = settings

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

        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)
        for camera in self._cameras:
            for key, msg_type, topic in OUTPUT_TOPICS:
                camera.pubs[key] = self.create_publisher(msg_type, camera.topic(topic), out_qos)
        self._pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)

    def _activate(self) -> None:
        """Subscribe to the cameras, start the worker and the diagnostics."""
        with self._cond:
            self._stopping = False
        info_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                              reliability=ReliabilityPolicy.BEST_EFFORT)
        for camera in self._cameras:
            camera.info_sub = self.create_subscription(
                CameraInfo, camera.topic('camera_info'),
                lambda msg, camera=camera: self._on_camera_info(camera, msg), info_qos)
        self._subscribe_images(self._settings)
        self._restart_diagnostics()
        self._worker = threading.Thread(target=self._run, name='depthclip_worker', daemon=True)
        self._worker.start()
        topics = ', '.join(camera.image_topic for camera in self._cameras)
        self.get_logger().info(f'ready: subscribed to {topics}')

    def _deactivate(self) -> None:
        """Unsubscribe, stop the worker (after its current batch) and the diagnostics."""
        for camera in self._cameras:
            for attribute in ('image_sub', 'info_sub'):
                sub = getattr(camera, attribute)
                if sub is not None:
                    self.destroy_subscription(sub)
                    setattr(camera, attribute, None)
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        self.stop_worker()
        with self._cond:
            for camera in self._cameras:
                camera.slot = None

    def _cleanup(self) -> None:
        """Destroy the publishers and release the model."""
        for camera in self._cameras:
            for pub in camera.pubs.values():
                self.destroy_publisher(pub)
            camera.pubs = {}
        if self._pub_diag is not None:
            self.destroy_publisher(self._pub_diag)
            self._pub_diag = None
        self._engine = None
        self._settings = None

    def _value(self, name: str) -> Any:
        return plain_value(self.get_parameter(name).value)

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

    def _declare_engine_parameters(self) -> None:
        defaults = DepthClipConfig().to_flat()
        for spec in ENGINE_PARAMETERS:
            default = defaults[spec.name]
            descriptor = make_descriptor(spec.name, spec.description, parameter_type(default),
                                         spec.read_only, spec.min_value, spec.max_value,
                                         spec.choices)
            self._declare(spec.name, default, descriptor)

    def _declare_node_parameters(self) -> None:
        defaults = NodeSettings().to_flat()
        for spec in NODE_PARAMETERS:
            default = defaults[spec.name]
            descriptor = make_descriptor(spec.name, spec.description, parameter_type(default),
                                         False, spec.min_value, spec.max_value, spec.choices)
            self._declare(spec.name, default, descriptor)

    def _subscribe_images(self, settings: NodeSettings) -> None:
        reliability = (ReliabilityPolicy.RELIABLE if settings.qos_image_reliability == 'reliable'
                       else ReliabilityPolicy.BEST_EFFORT)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=settings.qos_image_depth,
                         reliability=reliability, durability=DurabilityPolicy.VOLATILE)
        for camera in self._cameras:
            if camera.image_sub is not None:
                self.destroy_subscription(camera.image_sub)
                camera.image_sub = None
            events = SubscriptionEventCallbacks(
                incompatible_qos=lambda event, camera=camera: self._on_incompatible_qos(
                    camera, event))
            if settings.input_transport == 'compressed':
                camera.image_sub = self.create_subscription(
                    CompressedImage, self._compressed_topic(camera),
                    lambda msg, camera=camera: self._on_image(camera, msg, True), qos,
                    event_callbacks=events)
            else:
                camera.image_sub = self.create_subscription(
                    Image, camera.topic('image'),
                    lambda msg, camera=camera: self._on_image(camera, msg, False), qos,
                    event_callbacks=events)
            camera.image_topic = camera.image_sub.topic_name
            camera.subscribed_at = time.monotonic()

    def _compressed_topic(self, camera: _Camera) -> str:
        """Return ``<resolved image topic>/compressed`` as image_transport does."""
        name = camera.topic('image/compressed')
        explicit = self.resolve_topic_name(name)
        if explicit != self.resolve_topic_name(name, only_expand=True):
            return explicit  # remapped on its own
        return self.resolve_topic_name(camera.topic('image')).rstrip('/') + '/compressed'

    def _restart_diagnostics(self) -> None:
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
        self._diag_timer = self.create_timer(self._settings.diagnostics_period,
                                             self._publish_diagnostics)

    # ---------------------------------------------------------------------------- public
    @property
    def engine(self) -> Optional[DepthClipEngine]:
        """Return the DepthCLIP engine: the model and its live settings (None unloaded)."""
        return self._engine

    @property
    def settings(self) -> Optional[NodeSettings]:
        """Return the node settings in force (None before the node is configured)."""
        return self._settings

    @property
    def converter_name(self) -> str:
        """Return which image converter runs: ``cv_bridge`` or ``image_conversion``."""
        return self._converter.name if self._converter is not None else ''

    @property
    def camera_names(self) -> List[str]:
        """Return the camera names (``['']`` for the single, un-namespaced camera)."""
        return [camera.name for camera in self._cameras]

    @property
    def image_topic(self) -> str:
        """Return the resolved image topic of the first camera."""
        return self._cameras[0].image_topic if self._cameras else ''

    @property
    def image_topics(self) -> Dict[str, str]:
        """Return camera name -> resolved image topic subscribed to."""
        return {camera.name: camera.image_topic for camera in self._cameras}

    @property
    def stats(self) -> Dict[str, int]:
        """Return the frame counters (received, processed, dropped, ...) of all cameras."""
        with self._stats_lock:
            total = dict.fromkeys(COUNTERS, 0)
            for camera in self._cameras:
                for key, value in camera.counts.items():
                    total[key] += value
            return total

    def camera_stats(self, name: str = '') -> Dict[str, int]:
        """Return a snapshot of the frame counters of camera ``name``."""
        camera = self._camera(name)
        with self._stats_lock:
            return dict(camera.counts)

    def last_problem(self, name: str = '') -> str:
        """Return the last warning about camera ``name``'s input (logged or throttled)."""
        camera = self._camera(name)
        with self._stats_lock:
            return camera.last_problem

    @property
    def batch_stats(self) -> Tuple[int, int]:
        """Return (encoder passes, frames they held): the mean batch size is their ratio."""
        with self._stats_lock:
            return self._batches, self._batched_frames

    def timings(self, name: Optional[str] = None) -> Dict[str, float]:
        """Return median and p95 of inference, latency and pipeline times in ms."""
        cameras = self._cameras if name is None else [self._camera(name)]
        series: Dict[str, List[float]] = {'inference_ms': [], 'latency_ms': [],
                                          'pipeline_ms': []}
        with self._stats_lock:
            for camera in cameras:
                series['inference_ms'] += camera.inference_ms
                series['latency_ms'] += camera.latency_ms
                series['pipeline_ms'] += camera.pipeline_ms
        out = {}
        for key, values in series.items():
            out[f'{key}_median'] = percentile(values, 50)
            out[f'{key}_p95'] = percentile(values, 95)
        return out

    def inject_fault(self, error: BaseException, count: int = 1) -> None:
        """
        Make the next ``count`` encoder passes raise ``error`` (fault injection for tests).

        The batch is handled as a real run-time fault would be: its frames are dropped and
        counted as errors, and the node goes on with the next frames.
        """
        with self._stats_lock:
            self._faults.extend([error] * count)

    def stop_worker(self, timeout: float = 30.0) -> None:
        """Stop the worker thread after its current batch and wait for it."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        worker = self._worker
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout)
        self._worker = None

    def _camera(self, name: str) -> _Camera:
        for camera in self._cameras:
            if camera.name == name:
                return camera
        raise KeyError(f'no camera named {name!r}; cameras: {self.camera_names}')

    # --------------------------------------------------------------------- log throttling
    def _warn(self, cameras: List[_Camera], kind: str, text: str, level: str = 'warning',
              period: float = WARN_PERIOD) -> None:
        """
        Log ``text`` at most once per ``period`` per (kind, cameras); count what is held back.

        Every camera remembers ``text`` as its last problem (diagnostics show it), logged or
        not.
        """
        names = tuple(camera.name for camera in cameras)
        key = (kind, names)
        now = time.monotonic()
        with self._stats_lock:
            for camera in cameras:
                camera.last_problem = text
            last, held = self._throttle.get(key, (None, 0))
            if last is not None and now - last < period:
                self._throttle[key] = (last, held + 1)
                return
            self._throttle[key] = (now, 0)
        if self._multi and names:
            text = f'camera {", ".join(names)}: {text}'
        if held:
            text += f' ({held} similar message(s) in the last {now - last:.0f} s not shown)'
        # One call site per severity: rclpy refuses a call site that changes severity.
        logger = self.get_logger()
        if level == 'error':
            logger.error(text)
        elif level == 'info':
            logger.info(text)
        else:
            logger.warning(text)

    # ------------------------------------------------------------------------- callbacks
    def _bump(self, camera: _Camera, name: str, amount: int = 1) -> None:
        with self._stats_lock:
            camera.counts[name] += amount

    def _on_incompatible_qos(self, camera: _Camera, event: Any) -> None:
        self._bump(camera, 'qos_incompatible')
        policy = getattr(event.last_policy_kind, 'name', event.last_policy_kind)
        self._warn([camera], 'qos_incompatible',
                   f'a publisher on {camera.image_topic} offers a QoS incompatible with this '
                   f'subscription (policy {policy}); qos.image_reliability is '
                   f'{self._settings.qos_image_reliability}: a best-effort publisher needs '
                   'qos.image_reliability: best_effort')

    def _on_camera_info(self, camera: _Camera, msg: CameraInfo) -> None:
        camera.camera_info = msg
        self._bump(camera, 'camera_info_received')

    def _on_image(self, camera: _Camera, msg: Any, compressed: bool) -> None:
        try:
            self._offer(camera, msg, compressed)
        except Exception as error:  # noqa: B902 - never let one message stop the executor
            self._bump(camera, 'errors')
            self.get_logger().error(f'image callback failed: {type(error).__name__}: '
                                    f'{one_line(error)}', throttle_duration_sec=WARN_PERIOD)

    def _offer(self, camera: _Camera, msg: Any, compressed: bool) -> None:
        now = time.monotonic()
        stamp = ros_msgs.stamp_to_ns(msg.header.stamp)
        previous, camera.last_stamp_ns = camera.last_stamp_ns, stamp
        if previous is not None and stamp < previous:
            self._bump(camera, 'stamp_backwards')
            self._warn([camera], 'stamp_backwards',
                       f'image stamp went backwards by {(previous - stamp) / 1e9:.3f} s on '
                       f'{camera.image_topic} (bag loop or clock reset?); processing it anyway')
        if not msg.header.frame_id and not camera.frame_id:
            self._bump(camera, 'empty_frame_id')
            self._warn([camera], 'empty_frame_id',
                       f'image on {camera.image_topic} has an empty frame_id; its outputs '
                       'have one too (set the camera driver frame_id'
                       + (f' or {camera.name}.{FRAME_ID_SUFFIX}' if camera.name else '') + ')')
        frame = _Frame(msg, compressed, camera.camera_info, now)
        with self._cond:
            with self._stats_lock:
                camera.counts['received'] += 1
                camera.last_received = now
                dropped = camera.slot is not None
                if dropped:
                    camera.counts['dropped'] += 1
            camera.slot = frame
            self._cond.notify()
        if dropped:
            self._warn([camera], 'dropped', 'images arrive faster than inference: stale '
                       'frames are dropped and the newest is processed (see the frames '
                       'dropped diagnostics)', level='info', period=DROP_LOG_PERIOD)

    # ---------------------------------------------------------------------------- worker
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and all(c.slot is None for c in self._cameras):
                    self._cond.wait()
                if self._stopping:
                    return
                pending = [camera for camera in self._cameras if camera.slot is not None]
                if 0 < self._max_batch < len(pending):
                    pending.sort(key=lambda camera: camera.slot.received)
                    pending = pending[:self._max_batch]
                batch = [(camera, camera.slot) for camera in pending]
                for camera in pending:
                    camera.slot = None
            try:
                self._process_batch(batch)
            except Exception as error:  # noqa: B902 - keep serving frames; count and report
                for camera, _ in batch:
                    self._bump(camera, 'errors')
                self._warn([camera for camera, _ in batch], 'error',
                           f'frame failed: {type(error).__name__}: {one_line(error)}',
                           level='error')

    def _predict(self, images: List[np.ndarray],
                 sizes: List[Tuple[int, int]]) -> List[Any]:
        """Run one encoder pass (or raise the next injected fault)."""
        with self._stats_lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            raise fault
        return self._engine.predict(images, sizes)

    def _convert(self, camera: _Camera, frame: _Frame) -> Optional[np.ndarray]:
        """Return the frame as RGB, or None after counting and reporting a rejection."""
        try:
            extra = 0
            if not frame.compressed:
                extra = ros_msgs.check_image_msg(frame.msg)
            rgb = self._converter.to_rgb(frame.msg, frame.compressed)
        except (ValueError, cv2.error) as error:  # ImageConversionError is a ValueError
            self._bump(camera, 'rejected')
            self._warn([camera], 'rejected',
                       f'rejected an image on {camera.image_topic}: {one_line(error)}')
            return None
        if extra:
            self._bump(camera, 'extra_data')
            self._warn([camera], 'extra_data',
                       f'image on {camera.image_topic} has {extra} bytes after its '
                       f'{frame.msg.height} rows of step {frame.msg.step}; they are ignored')
        return rgb

    def _process_batch(self, batch: List[Tuple[_Camera, _Frame]]) -> None:
        with self._frame_lock:
            settings = self._settings
            ready = []
            for camera, frame in batch:
                rgb = self._convert(camera, frame)
                if rgb is not None:
                    height, width = rgb.shape[:2]
                    ready.append((camera, frame, rgb,
                                  scaled_size(width, height, settings.output_scale)))
            if not ready:
                return
            start = time.perf_counter()
            try:
                predictions = self._predict([item[2] for item in ready],
                                            [(out_h, out_w) for *_, (out_w, out_h) in ready])
            except Exception as error:  # noqa: B902 - OOM, CUDA errors, ...: drop, go on
                self._inference_failed([item[0] for item in ready], error)
                return
            inference_ms = (time.perf_counter() - start) * 1000.0
            with self._stats_lock:
                self._batches += 1
                self._batched_frames += len(ready)
            config = self._engine.config
            for (camera, frame, rgb, out_size), prediction in zip(ready, predictions):
                try:
                    self._finish_frame(camera, frame, rgb, out_size, prediction, settings,
                                       config, inference_ms)
                except Exception as error:  # noqa: B902 - one camera's output failed
                    self._bump(camera, 'errors')
                    self._warn([camera], 'publish_error', 'publishing the outputs failed: '
                               f'{type(error).__name__}: {one_line(error)}', level='error')

    def _inference_failed(self, cameras: List[_Camera], error: BaseException) -> None:
        hint = ''
        if isinstance(error, OUT_OF_MEMORY_ERRORS):
            try:
                torch.cuda.empty_cache()  # a no-op unless CUDA is in use
            except Exception:  # noqa: B902 - a broken device: the error below says it
                pass
            hint = (' (CUDA cache freed; if this repeats, lower input.height/input.width, '
                    'set flip_tta false or serve fewer cameras per node)')
        for camera in cameras:
            self._bump(camera, 'errors')
        self._warn(cameras, 'inference_error',
                   f'inference failed, {len(cameras)} frame(s) dropped: '
                   f'{type(error).__name__}: {one_line(error)}{hint}', level='error')

    def _finish_frame(self, camera: _Camera, frame: _Frame, rgb: np.ndarray,
                      out_size: Tuple[int, int], prediction: Any, settings: NodeSettings,
                      config: DepthClipConfig, inference_ms: float) -> None:
        height, width = rgb.shape[:2]
        out_w, out_h = out_size
        intr, source_info = self._intrinsics(camera, frame.camera_info, width, height,
                                             settings)
        if (out_w, out_h) != (width, height):
            intr = intr.scaled(out_w, out_h)
        header = ros_msgs.header_with_frame(frame.msg.header, camera.frame_id)
        self._bump(camera, 'processed')  # before publishing: a listener never sees a stale count
        self._publish(camera, header, prediction, rgb, intr, source_info, settings, config)
        latency_ms = None
        stamp_ns = ros_msgs.stamp_to_ns(frame.msg.header.stamp)
        if stamp_ns > 0:
            latency_ms = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6
        with self._stats_lock:
            camera.inference_ms.append(inference_ms)
            camera.pipeline_ms.append((time.monotonic() - frame.received) * 1000.0)
            if latency_ms is not None:
                camera.latency_ms.append(latency_ms)

    def _intrinsics(self, camera: _Camera, info: Optional[CameraInfo], width: int,
                    height: int, settings: NodeSettings
                    ) -> Tuple[Intrinsics, Optional[CameraInfo]]:
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
            self._bump(camera, 'camera_info_rejected')
            self._warn([camera], 'camera_info',
                       f'{reason}; using camera.fov_deg={fov:g} intrinsics for this frame')
        elif not camera.warned_no_info:
            camera.warned_no_info = True
            topic = camera.info_sub.topic_name if camera.info_sub is not None else 'camera_info'
            self._warn([camera], 'no_camera_info',
                       f'no camera_info on {topic} yet: using intrinsics from '
                       f'camera.fov_deg={fov:g} (the point cloud scale is approximate)')
        return Intrinsics.from_fov(width, height, fov), None

    def _publish(self, camera: _Camera, header, prediction, rgb: np.ndarray, intr: Intrinsics,
                 source_info: Optional[CameraInfo], settings: NodeSettings,
                 config: DepthClipConfig) -> None:
        pubs = camera.pubs
        depth = prediction.depth
        if pubs['depth'].get_subscription_count() > 0:
            pubs['depth'].publish(ros_msgs.array_to_image_msg(depth, header, '32FC1'))
        if pubs['info'].get_subscription_count() > 0:
            pubs['info'].publish(ros_msgs.camera_info_msg(intr, header, source_info))
        if settings.publish_confidence and pubs['confidence'].get_subscription_count() > 0:
            pubs['confidence'].publish(
                ros_msgs.array_to_image_msg(prediction.confidence, header, '32FC1'))
        if settings.publish_colorized and pubs['colorized'].get_subscription_count() > 0:
            low, high = config.depth_range
            bgr = colorize_depth(depth, low, high)
            self._bump(camera, 'colorized_built')
            pubs['colorized'].publish(ros_msgs.array_to_image_msg(bgr, header, 'bgr8'))
        if settings.publish_points and pubs['points'].get_subscription_count() > 0:
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
            self._bump(camera, 'clouds_built')
            pubs['points'].publish(cloud)

    # ------------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        if self._pub_diag is None or self._engine is None:
            return
        statuses = [self._camera_status(camera) for camera in self._cameras]
        msg = DiagnosticArray(status=statuses)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._pub_diag.publish(msg)

    def _camera_status(self, camera: _Camera) -> DiagnosticStatus:
        with self._stats_lock:
            counts = dict(camera.counts)
            last_problem = camera.last_problem
            last_received = camera.last_received
            batches, batched = self._batches, self._batched_frames
        timings = self.timings(camera.name)
        last_counts, last_time = camera.last_diag
        now = time.monotonic()
        camera.last_diag = (counts, now)
        elapsed = max(now - last_time, 1e-6)
        rate = (counts['processed'] - last_counts['processed']) / elapsed
        idle = now - last_received if last_received is not None else 0.0

        def more(key):
            return counts[key] > last_counts[key]

        if more('errors'):
            level, message = DiagnosticStatus.ERROR, 'inference errors'
        elif more('rejected'):
            level, message = DiagnosticStatus.WARN, 'rejecting input images'
        elif counts['received'] == 0:
            level, message = DiagnosticStatus.WARN, f'waiting for images on {camera.image_topic}'
            publishers = self.count_publishers(camera.image_topic)
            if publishers and now - camera.subscribed_at > SILENT_PUBLISHER_S:
                message = (f'{publishers} publisher(s) on {camera.image_topic} but no image '
                           'received')
                hint = (RELIABLE_HINT if self._settings.qos_image_reliability == 'reliable'
                        else BEST_EFFORT_HINT)
                self._warn([camera], 'silent_publisher', f'{message} after '
                           f'{now - camera.subscribed_at:.0f} s: {hint}', period=60.0)
        elif idle > max(STALE_AFTER_S, 2 * self._settings.diagnostics_period):
            level, message = (DiagnosticStatus.WARN,
                              f'no images for {idle:.0f} s on {camera.image_topic}')
        elif more('camera_info_rejected'):
            level, message = DiagnosticStatus.WARN, 'camera_info unusable: FoV intrinsics'
        elif more('stamp_backwards') or more('empty_frame_id') or more('extra_data'):
            level, message = DiagnosticStatus.WARN, f'{rate:.1f} Hz, irregular input'
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
            ('incompatible QoS events', counts['qos_incompatible']),
            ('stamps going backwards', counts['stamp_backwards']),
            ('empty frame_id', counts['empty_frame_id']),
            ('extra image data', counts['extra_data']),
            ('last problem', last_problem or 'none'),
            ('output rate Hz', f'{rate:.2f}'),
            ('inference ms median', f'{timings["inference_ms_median"]:.1f}'),
            ('inference ms p95', f'{timings["inference_ms_p95"]:.1f}'),
            ('latency ms median', f'{timings["latency_ms_median"]:.1f}'),
            ('latency ms p95', f'{timings["latency_ms_p95"]:.1f}'),
            ('pipeline ms median', f'{timings["pipeline_ms_median"]:.1f}'),
            ('pipeline ms p95', f'{timings["pipeline_ms_p95"]:.1f}'),
            ('mean batch size', f'{batched / batches:.2f}' if batches else 'nan'),
            ('max batch size', self._max_batch or 'all cameras'),
            ('device', self._engine.device),
            ('precision', self._engine.precision),
            ('weights', self._engine.weights),
            ('model', config.model.name),
            ('input size', f'{config.input.width}x{config.input.height}'),
            ('input topic', camera.image_topic),
            ('image conversion', self.converter_name),
        ]
        name = f'{self.get_fully_qualified_name()}: depth'
        if camera.name:
            values.insert(0, ('camera', camera.name))
            values.append(('frame_id', camera.frame_id or '(from the input)'))
            name = f'{self.get_fully_qualified_name()}: {camera.name} depth'
        return DiagnosticStatus(level=level, name=name, message=message,
                                hardware_id=self._engine.device,
                                values=[KeyValue(key=k, value=str(v)) for k, v in values])

    # ------------------------------------------------------------------------- parameters
    def _pre_set_parameters(self, parameters: List[Parameter]) -> List[Parameter]:
        return [coerce_numeric(p, self._param_types[p.name]) if p.name in self._param_types
                else p for p in parameters]

    def _on_set_parameters(self, parameters: List[Parameter]) -> SetParametersResult:
        engine_updates: Dict[str, Any] = {}
        node_updates: Dict[str, Any] = {}
        other_updates: Dict[str, Any] = {}  # frame ids and max_batch_size
        for param in parameters:
            if param.name in READ_ONLY_PARAMETERS or param.name == CAMERAS_PARAMETER:
                return SetParametersResult(
                    successful=False,
                    reason=f'{param.name} is read-only: restart the node to change it')
            value = plain_value(param.value)
            if param.name == MAX_BATCH_PARAMETER:
                if isinstance(value, bool) or not isinstance(value, int) \
                        or not 0 <= value <= MAX_CAMERAS:
                    return SetParametersResult(
                        successful=False, reason=f'{MAX_BATCH_PARAMETER} must be 0 (no limit) '
                        f'to {MAX_CAMERAS}, got {value!r}')
                other_updates[param.name] = value
            elif param.name in ENGINE_PARAMETER_NAMES:
                engine_updates[param.name] = value
            elif param.name in NODE_PARAMETER_NAMES.values():
                node_updates[param.name] = value
            elif param.name in self._frame_params:
                try:
                    other_updates[param.name] = validate_frame_id(param.name, value)
                except ValueError as error:
                    return SetParametersResult(successful=False, reason=str(error))
        if not engine_updates and not node_updates and not other_updates:
            return SetParametersResult(successful=True)
        if self._engine is None:  # not configured (lifecycle): check against the others
            result = self._check_unconfigured(engine_updates, node_updates)
            if result.successful and MAX_BATCH_PARAMETER in other_updates:
                self._max_batch = other_updates[MAX_BATCH_PARAMETER]
            return result
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
            for name, value in other_updates.items():
                if name == MAX_BATCH_PARAMETER:
                    self._max_batch = value
                else:
                    self._frame_params[name].frame_id = value
        active = self._worker is not None
        if active and (old.input_transport, old.qos_image_reliability, old.qos_image_depth) != \
                (settings.input_transport, settings.qos_image_reliability,
                 settings.qos_image_depth):
            self._subscribe_images(settings)
            topics = ', '.join(camera.image_topic for camera in self._cameras)
            self.get_logger().info(f'now subscribed to {topics}')
        if active and old.diagnostics_period != settings.diagnostics_period:
            self._restart_diagnostics()
        changed = ', '.join(sorted({**engine_updates, **node_updates, **other_updates}))
        self.get_logger().info(f'parameters updated: {changed}')
        return SetParametersResult(successful=True)

    def _check_unconfigured(self, engine_updates: Dict[str, Any],
                            node_updates: Dict[str, Any]) -> SetParametersResult:
        """Validate changes made before the model is loaded against the other values."""
        try:
            if engine_updates:
                values = {spec.name: self._value(spec.name) for spec in ENGINE_PARAMETERS}
                DepthClipConfig.from_flat({**values, **engine_updates})
            if node_updates:
                values = {spec.name: self._value(spec.name) for spec in NODE_PARAMETERS}
                NodeSettings().with_updates({**values, **node_updates})
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)


# -------------------------------------------------------------------------------------------
# The node
# -------------------------------------------------------------------------------------------
class DepthClipNode(DepthClipCore, Node):
    """
    DepthCLIP as a ROS 2 node: one model serving one camera, or several (``cameras``).

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
        self._init_core()
        try:
            self._declare_parameters()
            self._configure()
            self._activate()
        except BaseException:
            self.destroy_node()
            raise

    def destroy_node(self) -> None:
        """Stop the worker, then destroy the node."""
        self.stop_worker()
        super().destroy_node()


# -------------------------------------------------------------------------------------------
# Entry point
# -------------------------------------------------------------------------------------------
def run_node(factory: Callable[[], Node], name: str, args: Optional[List[str]] = None) -> int:
    """
    Create a node with ``factory`` and spin it until Ctrl-C or SIGTERM.

    :param factory: builds the node (after ``rclpy.init``)
    :param name: logger name for a start-up failure
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
        node = factory()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spinning.set()
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ModelLoadError, StartupError) as error:
        rclpy.logging.get_logger(name).fatal(str(error))
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


def main(args: Optional[List[str]] = None) -> int:
    """
    Run the node until Ctrl-C or SIGTERM; return the process exit code.

    :param args: command line (``--ros-args ...``); ``sys.argv`` when ``None``
    :return: 0 after a clean shutdown, 1 when the node cannot start
    """
    return run_node(DepthClipNode, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
