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
(PointCloud2), every output with the input image's header. With ``grounding.queries`` set
also ``grounding/labels`` (mono8, one label per pixel), ``grounding/markers``
(MarkerArray, when visualization_msgs is installed), a ``label`` field in ``points`` and
per-query values in ``/diagnostics``. Several cameras on one model
(``cameras: [front, left]``): the same topics under each camera's name (``front/image``,
``front/depth/image``, ...; relative, so they follow the node namespace and remap one by
one), and optional per-camera output frame ids (``front.frame_id``).

This module is ROS glue only: :class:`DepthClipBinding` declares the parameters, subscribes
(choosing the image QoS), publishes and reports diagnostics; the work is done by the core it
holds (:class:`~depthclip_ros.core.engine.DepthClipEngine`,
:class:`~depthclip_ros.core.scheduler.Scheduler`,
:class:`~depthclip_ros.core.pipeline.DepthPipeline`). Image callbacks run in a callback group
of their own, so a parameter change that re-encodes prompts never stops frames from
arriving (with several executor threads, as the executables'
:class:`~depthclip_ros.ros.executor.CallbackThreads` has).
"""

import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
try:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.validate_full_topic_name import validate_full_topic_name
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depthclip_ros.core.config import (DepthClipConfig, ENGINE_PARAMETERS, NODE_PARAMETERS,
                                       NodeSettings, validate_frame_id)
from depthclip_ros.core.embeddings import EMBEDDINGS_PARAMETER
from depthclip_ros.core.engine import CancelledError, DepthClipEngine, ModelLoadError
from depthclip_ros.core.grounding import grounding_values, LABELS_ENCODING, marker_specs
from depthclip_ros.core.outputs import CameraModel, FrameOutputs, OutputRequest
from depthclip_ros.core.pipeline import DepthPipeline, FrameSink
from depthclip_ros.core.scale import Mounting
from depthclip_ros.core.scheduler import CameraState, Frame, Scheduler
from depthclip_ros.core.text import one_line
from depthclip_ros.ros import msgs
from depthclip_ros.ros.diagnostics import camera_status, diagnostic_array
from depthclip_ros.ros.floor_tf import check_floor_frame, FloorTf
from depthclip_ros.ros.node_api import DepthClipApi
from depthclip_ros.ros.parameters import (NodeParameters, StartupError,
                                          unknown_override_warnings)

__all__ = ['DepthClipBinding', 'DepthClipNode', 'ModelLoadError', 'NODE_NAME', 'StartupError']

NODE_NAME = 'depthclip_node'

#: (key, message type, relative topic) of each camera's outputs.
OUTPUT_TOPICS = (('depth', Image, 'depth/image'), ('info', CameraInfo, 'depth/camera_info'),
                 ('confidence', Image, 'depth/confidence'),
                 ('colorized', Image, 'depth/colorized'), ('points', PointCloud2, 'points'),
                 ('labels', Image, 'grounding/labels'))
#: The markers output, when visualization_msgs is installed (:data:`msgs.MarkerArray`).
MARKERS_TOPIC = 'grounding/markers'

#: Seconds between looks at the image publishers' QoS (``qos.image_reliability: auto``).
QOS_CHECK_PERIOD = 1.0


class DepthClipBinding(FrameSink):
    """
    Everything ROS of a DepthCLIP node, for a plain or a lifecycle rclpy node.

    Phases (the plain node runs them all at once, the lifecycle node in its transitions):
    :meth:`declare`, :meth:`configure` (validate, load the model, create the publishers),
    :meth:`activate` (subscribe, start the worker and diagnostics), :meth:`deactivate`,
    :meth:`cleanup`.
    """

    def __init__(self, node: Node, arguments: Sequence[str] = ()):
        self.node = node
        self.parameters = NodeParameters(node)
        #: The command line the node was started with (for unknown-parameter warnings).
        self.arguments = list(arguments)
        self.scheduler: Optional[Scheduler] = None
        self.pipeline: Optional[DepthPipeline] = None
        self.converter: Optional[msgs.RgbConverter] = None
        self._param_lock = threading.Lock()
        # Held by the timers (QoS check, diagnostics), a parameter change that resubscribes,
        # and the lifecycle transitions that destroy what the timers use.
        self._state_lock = threading.Lock()
        self._active = False
        self._input_group = MutuallyExclusiveCallbackGroup()
        # Timers apart from the parameter services: a prompt change being encoded stops
        # neither the diagnostics nor the QoS checks.
        self._timer_group = MutuallyExclusiveCallbackGroup()
        self._image_subs: Dict[str, Any] = {}
        self._info_subs: Dict[str, Any] = {}
        self._pubs: Dict[str, Dict[str, Any]] = {}
        #: camera name -> (reliability in force, why)
        self.reliability: Dict[str, Tuple[str, str]] = {}
        self._diag_pub = None
        self._timers: List[Any] = []
        self._floor_tf: Optional[FloorTf] = None
        #: Cameras whose last markers message showed markers (a DELETEALL clears them).
        self._markers_shown: Dict[str, bool] = {}

    @property
    def engine(self) -> Optional[DepthClipEngine]:
        """Return the DepthCLIP engine, or None while unconfigured."""
        return self.pipeline.engine if self.pipeline is not None else None

    # ------------------------------------------------------------------------------ phases
    def declare(self) -> None:
        """Declare every parameter and register the parameter callbacks."""
        try:
            names = self.parameters.declare()
        finally:  # also when a value is refused: a misspelt name may be why
            for warning in unknown_override_warnings(self.node, self.arguments):
                self.node.get_logger().warning(warning)
        self.scheduler = Scheduler(list(names) or [''], self._log)
        self._check_topics()  # before the model loads
        for parameter, camera in self.parameters.frame_id_parameters.items():
            self.scheduler.camera(camera).frame_id = self.parameters.value(parameter)
        # Pre- and post-set callbacks came after Humble: there integers for doubles are
        # refused for their type, and the bins of an embeddings file shown one timer later.
        if hasattr(self.node, 'add_pre_set_parameters_callback'):
            self.node.add_pre_set_parameters_callback(self.parameters.coerce)
        self.node.add_on_set_parameters_callback(self._on_set_parameters)
        if hasattr(self.node, 'add_post_set_parameters_callback'):
            self.node.add_post_set_parameters_callback(self._after_set_parameters)

    def configure(self) -> None:
        """
        Validate the parameters, load the model and create the publishers.

        :raises StartupError: invalid parameters
        :raises ModelLoadError: the model cannot be loaded
        """
        try:
            config = DepthClipConfig.from_flat(self.parameters.values(ENGINE_PARAMETERS))
            settings = NodeSettings.from_flat(self.parameters.values(NODE_PARAMETERS))
            check_floor_frame(settings.scale_floor_frame)
            for parameter, camera in self.parameters.frame_id_parameters.items():
                self.scheduler.camera(camera).frame_id = validate_frame_id(
                    parameter, self.parameters.value(parameter))
        except ValueError as error:
            raise StartupError(f'invalid parameter: {error}') from None
        try:
            engine = DepthClipEngine(config)
        except ValueError as error:  # a prompts.embeddings_file that does not fit
            raise StartupError(f'invalid parameter: {error}') from None
        logger = self.node.get_logger()
        logger.info(f'model {engine.weights} on {engine.device} ({engine.precision}), input '
                    f'{config.input.width}x{config.input.height}, feature_mode '
                    f'{config.feature_mode}')
        logger.info(f'precision {engine.precision}: {engine.precision_reason}')
        if engine.random_weights:
            logger.warning('RANDOM weights: the depth is meaningless (tests only)')
        if engine.state.adapted is not None:
            logger.info(f'class embeddings from {engine.state.embeddings_source}')
        self.converter = msgs.RgbConverter()
        logger.info(f'image conversion: {self.converter.name} ({self.converter.reason})')
        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)
        for camera in self.scheduler.cameras:
            self._pubs[camera.name] = {
                key: self.node.create_publisher(kind, self._topic(camera, topic), out_qos)
                for key, kind, topic in OUTPUT_TOPICS}
            if msgs.MarkerArray is not None:
                self._pubs[camera.name]['markers'] = self.node.create_publisher(
                    msgs.MarkerArray, self._topic(camera, MARKERS_TOPIC), out_qos)
        self._diag_pub = self.node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.pipeline = DepthPipeline(engine, self.scheduler, self, settings)
        self._update_floor_tf(settings)
        self._sync_head_parameters()
        self._say_if_markers_off()

    def activate(self) -> None:
        """Subscribe to the cameras, start the worker and the diagnostics."""
        # A few deep: frames are paired with the camera_info of their stamp.
        info_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                              reliability=ReliabilityPolicy.BEST_EFFORT)
        for camera in self.scheduler.cameras:
            sub = self.node.create_subscription(
                CameraInfo, self._topic(camera, 'camera_info'),
                lambda msg, camera=camera: self._on_camera_info(camera, msg), info_qos,
                callback_group=self._input_group)
            self._info_subs[camera.name] = sub
            camera.info_topic = sub.topic_name
        with self._state_lock:
            self._active = True
        self._subscribe_images(force=True)
        self._start_timers()
        self.pipeline.start()
        topics = ', '.join(camera.topic for camera in self.scheduler.cameras)
        self.node.get_logger().info(f'ready: subscribed to {topics}')

    def deactivate(self) -> None:
        """Unsubscribe, stop the worker (after its current batch) and the diagnostics."""
        with self._state_lock:
            self._active = False
            for subs in (self._image_subs, self._info_subs):
                for sub in subs.values():
                    self.node.destroy_subscription(sub)
                subs.clear()
            for timer in self._timers:
                self.node.destroy_timer(timer)
            self._timers = []
        if self.pipeline is not None:
            self.pipeline.stop()

    def cleanup(self) -> None:
        """Destroy the publishers and release the model."""
        with self._state_lock:
            for pubs in self._pubs.values():
                for pub in pubs.values():
                    self.node.destroy_publisher(pub)
            self._pubs = {}
            if self._diag_pub is not None:
                self.node.destroy_publisher(self._diag_pub)
                self._diag_pub = None
            if self.pipeline is not None:
                self.pipeline.engine.cancel()
            self.pipeline = None
        self._update_floor_tf(None)

    # --------------------------------------------------------------------------- helpers
    def _check_topics(self) -> None:
        """
        Check that every topic of every camera is a valid name once resolved.

        :raises StartupError: naming the camera and the topic (e.g. a name too long)
        """
        relative = ['image', 'image/compressed', 'camera_info', MARKERS_TOPIC] + [
            t for _, _, t in OUTPUT_TOPICS]
        for camera in self.scheduler.cameras:
            for topic in relative:
                try:
                    validate_full_topic_name(self.node.resolve_topic_name(
                        self._topic(camera, topic)))
                except Exception as error:  # noqa: B902 - rclpy's name exceptions
                    which = f'camera {camera.name}' if camera.name else 'the camera'
                    raise StartupError(f'invalid parameter: cameras: {which} has an invalid '
                                       f'topic {self._topic(camera, topic)}: '
                                       f'{one_line(error, 200)}') from None

    def _say_if_markers_off(self) -> None:
        """Log why there are no markers when grounding is on without visualization_msgs."""
        engine = self.engine
        if msgs.MARKERS_MISSING and engine is not None and engine.config.grounding.queries:
            self._log('warning', msgs.MARKERS_MISSING)

    def _topic(self, camera: CameraState, name: str) -> str:
        return f'{camera.name}/{name}' if camera.name else name

    def _log(self, level: str, text: str) -> None:
        # One call site per severity: rclpy refuses a call site that changes severity.
        logger = self.node.get_logger()
        if level == 'error':
            logger.error(text)
        elif level == 'info':
            logger.info(text)
        else:
            logger.warning(text)

    def _start_timers(self) -> None:
        with self._state_lock:  # activate() and a change of diagnostics_period
            if self._active:
                self._create_timers()

    def _create_timers(self) -> None:
        for timer in self._timers:
            self.node.destroy_timer(timer)
        self._timers = [
            self.node.create_timer(self.pipeline.settings.diagnostics_period,
                                   self._publish_diagnostics, self._timer_group),
            self.node.create_timer(QOS_CHECK_PERIOD, self._subscribe_images,
                                   self._timer_group)]

    # ------------------------------------------------------------------------ subscriptions
    def _image_topic(self, camera: CameraState, transport: str) -> str:
        """Return the resolved input topic: ``image``, or its ``/compressed`` sub-topic."""
        resolve = self.node.resolve_topic_name
        if transport != 'compressed':
            return resolve(self._topic(camera, 'image'))
        name = self._topic(camera, 'image/compressed')
        if resolve(name) != resolve(name, only_expand=True):
            return resolve(name)  # remapped on its own
        return resolve(self._topic(camera, 'image')).rstrip('/') + '/compressed'

    def _choose_reliability(self, topic: str, setting: str) -> Tuple[str, str]:
        """
        Return (reliability, why) for the image subscription on ``topic``.

        ``auto``: reliable when every publisher offers reliable (a best-effort subscription
        to a reliable publisher of big images loses them in Fast DDS's shared memory,
        ros2/rmw_fastrtps#739); best effort when any publisher is best effort (a reliable
        subscription would not connect to it) or there is none yet (best effort connects
        to any publisher that comes).
        """
        if setting != 'auto':
            return setting, f'qos.image_reliability: {setting}'
        publishers = self.node.get_publishers_info_by_topic(topic)
        if not publishers:
            return 'best_effort', 'auto: no publisher, best effort matches any'
        best_effort = sorted({p.node_name for p in publishers
                              if p.qos_profile.reliability != ReliabilityPolicy.RELIABLE})
        if best_effort:
            return 'best_effort', f'auto: {", ".join(best_effort)} publish(es) best effort'
        names = ', '.join(sorted({p.node_name for p in publishers}))
        return 'reliable', f'auto: every publisher ({names}) offers reliable'

    def _subscribe_images(self, force: bool = False) -> None:
        """(Re)create the image subscriptions whose topic or QoS choice changed."""
        with self._state_lock:  # the QoS timer and a parameter change
            self._resubscribe(force)

    def _resubscribe(self, force: bool) -> None:
        pipeline = self.pipeline
        if pipeline is None or not self._active:
            return  # inactive: activate() subscribes
        settings = pipeline.settings
        for camera in self.scheduler.cameras:
            topic = self._image_topic(camera, settings.input_transport)
            current = self.reliability.get(camera.name)
            choice = self._choose_reliability(topic, settings.qos_image_reliability)
            sub = self._image_subs.get(camera.name)
            if not force and sub is not None and current is not None \
                    and current[0] == choice[0] and camera.topic == topic:
                self.reliability[camera.name] = choice
                continue
            if sub is not None:
                self.node.destroy_subscription(sub)
            reliability = (ReliabilityPolicy.RELIABLE if choice[0] == 'reliable'
                           else ReliabilityPolicy.BEST_EFFORT)
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=settings.qos_image_depth,
                             reliability=reliability, durability=DurabilityPolicy.VOLATILE)
            compressed = settings.input_transport == 'compressed'
            events = SubscriptionEventCallbacks(
                incompatible_qos=lambda event, camera=camera: self._on_incompatible_qos(
                    camera, event))
            self._image_subs[camera.name] = self.node.create_subscription(
                CompressedImage if compressed else Image, topic,
                lambda msg, camera=camera, c=compressed: self._on_image(camera, msg, c), qos,
                event_callbacks=events, callback_group=self._input_group)
            self.reliability[camera.name] = choice
            camera.topic = topic
            camera.subscribed_at = time.monotonic()
            self.node.get_logger().info(f'image subscription {topic}: '
                                        f'{choice[0].replace("_", " ")} ({choice[1]})')

    def _on_incompatible_qos(self, camera: CameraState, event: Any) -> None:
        policy = getattr(event.last_policy_kind, 'name', event.last_policy_kind)
        pipeline = self.pipeline
        if pipeline is None:
            return  # cleaned up meanwhile
        self.scheduler.bump(camera, 'qos_incompatible')
        if pipeline.settings.qos_image_reliability == 'auto':
            # A best-effort publisher joined reliable ones: the next QoS check switches.
            self._log('info', f'a publisher on {camera.topic} offers another QoS (policy '
                              f'{policy}): re-choosing the image QoS')
            return
        self.scheduler.warn(
            [camera], 'qos_incompatible',
            f'a publisher on {camera.topic} offers a QoS incompatible with this subscription '
            f'(policy {policy}); the subscription is {self.reliability[camera.name][0]} '
            f'({self.reliability[camera.name][1]}): a best-effort publisher needs '
            'qos.image_reliability: best_effort or auto')

    def _on_camera_info(self, camera: CameraState, msg: CameraInfo) -> None:
        try:
            model = CameraModel.from_message(msg)
        except (TypeError, ValueError) as error:
            self.scheduler.bump(camera, 'camera_info_rejected')
            self.scheduler.warn([camera], 'camera_info', f'unreadable camera_info on '
                                f'{camera.info_topic}: {one_line(error)}')
            return
        self.scheduler.offer_info(camera, model, msgs.stamp_to_ns(msg.header.stamp))

    def _on_image(self, camera: CameraState, msg: Any, compressed: bool) -> None:
        try:
            expected = self.node.count_publishers(camera.info_topic) > 0
            self.scheduler.offer(camera, Frame(
                msg, compressed, None, msgs.stamp_to_ns(msg.header.stamp),
                msg.header.frame_id, time.monotonic(), expected))
        except Exception as error:  # noqa: B902 - never let one message stop the executor
            self.scheduler.bump(camera, 'errors')
            self._log('error', f'image callback failed: {type(error).__name__}: '
                               f'{one_line(error)}')

    # -------------------------------------------------------------------- the core's sink
    def decode(self, frame: Frame) -> Tuple[Any, int]:
        """Return the frame as RGB and the bytes after its rows (see :class:`FrameSink`)."""
        return self.converter.to_rgb(frame.message, frame.compressed)

    def request(self, camera: CameraState) -> OutputRequest:
        """Return which optional outputs have subscribers."""
        pubs = self._pubs[camera.name]
        return OutputRequest(*(pubs[k].get_subscription_count() > 0
                               for k in ('confidence', 'colorized', 'points')))

    def publish(self, camera: CameraState, frame: Frame, outputs: FrameOutputs) -> None:
        """Publish one frame's outputs, each with the input header (frame_id override)."""
        pubs = self._pubs[camera.name]
        header = msgs.header_with_frame(frame.message.header, camera.frame_id)
        if pubs['depth'].get_subscription_count() > 0:
            pubs['depth'].publish(msgs.array_to_image_msg(outputs.depth, header, '32FC1'))
        if pubs['info'].get_subscription_count() > 0:
            pubs['info'].publish(msgs.camera_info_msg(outputs.intrinsics, header,
                                                      outputs.camera))
        if outputs.confidence is not None:
            pubs['confidence'].publish(
                msgs.array_to_image_msg(outputs.confidence, header, '32FC1'))
        if outputs.colorized is not None:
            pubs['colorized'].publish(msgs.array_to_image_msg(outputs.colorized, header,
                                                              'bgr8'))
        if outputs.cloud is not None:
            pubs['points'].publish(msgs.cloud_msg(outputs.cloud, header))
        grounding = outputs.grounding
        if grounding is not None and pubs['labels'].get_subscription_count() > 0:
            pubs['labels'].publish(msgs.array_to_image_msg(grounding.labels, header,
                                                           LABELS_ENCODING))
        markers = pubs.get('markers')
        if markers is not None and markers.get_subscription_count() > 0:
            if grounding is not None:
                markers.publish(msgs.markers_msg(marker_specs(grounding), header))
                self._markers_shown[camera.name] = True
            elif self._markers_shown.pop(camera.name, False):  # grounding turned off
                markers.publish(msgs.markers_msg([], header))

    def now_ns(self) -> int:
        """Return the node clock (sim time when ``use_sim_time``)."""
        return self.node.get_clock().now().nanoseconds

    def mounting(self, camera: CameraState, frame: Frame) -> Optional[Mounting]:
        """Return the mounting from TF when ``scale.floor_frame`` is set (else None)."""
        floor_frame, floor_tf = self.pipeline.settings.scale_floor_frame, self._floor_tf
        if not floor_frame or floor_tf is None:
            return None
        try:
            return floor_tf.mounting(floor_frame, camera.frame_id or frame.frame_id,
                                     frame.stamp_ns)
        except ValueError as error:
            self.scheduler.warn([camera], 'floor_tf', f'{error}; using scale.camera_* for the '
                                'ground scale meanwhile')
            return None

    # -------------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        with self._state_lock:  # not while a transition destroys the publisher
            self._publish_diagnostics_now()

    def _publish_diagnostics_now(self) -> None:
        pipeline = self.pipeline
        if self._diag_pub is None or pipeline is None or not self._active:
            return
        engine, settings = pipeline.engine, pipeline.settings
        config = engine.config
        fqn = self.node.get_fully_qualified_name()
        statuses = []
        for camera in self.scheduler.cameras:
            reliability, why = self.reliability.get(camera.name, ('best_effort', ''))
            health = self.scheduler.health(camera, self.node.count_publishers(camera.topic),
                                           reliability, settings.diagnostics_period)
            extra = [
                ('max batch size', settings.max_batch_size or 'all cameras'),
                ('device', engine.device),
                ('backend', engine.backend_description),
                ('precision', engine.precision),
                ('precision choice', engine.precision_reason),
                ('weights', engine.weights),
                ('model', config.model.name),
                ('input size', f'{config.input.width}x{config.input.height}'),
                ('input topic', camera.topic),
                ('image QoS', f'{reliability} ({why})'),
                ('image conversion', self.converter.name),
                ('class embeddings', engine.state.embeddings_source),
            ] + pipeline.filters(camera.name).report(settings)
            if config.grounding.queries:
                extra += grounding_values(pipeline.last_grounding(camera.name),
                                          config.grounding.queries)
            name = f'{fqn}: depth'
            if camera.name:
                extra = [('camera', camera.name)] + extra + [
                    ('frame_id', camera.frame_id or '(from the input)')]
                name = f'{fqn}: {camera.name} depth'
            statuses.append(camera_status(health, name, engine.device, extra))
        self._diag_pub.publish(diagnostic_array(statuses, self.node.get_clock().now().to_msg()))

    # --------------------------------------------------------------------------- parameters
    def _on_set_parameters(self, parameters: List[Any]) -> SetParametersResult:
        """Validate a set of changes together and apply it between frames, or refuse it."""
        with self._param_lock:
            try:
                changed = self._apply(parameters)
            except (ValueError, CancelledError) as error:
                return SetParametersResult(successful=False, reason=str(error))
            except Exception as error:  # noqa: B902 - a parameter value never stops the node
                return SetParametersResult(successful=False, reason=f'refused ('
                                           f'{type(error).__name__}: {one_line(error)})')
        if changed:
            self.node.get_logger().info(f'parameters updated: {", ".join(changed)}')
            self._log_embeddings_change(changed)
            if 'grounding.queries' in changed:
                self._say_if_markers_off()
        return SetParametersResult(successful=True)

    def _log_embeddings_change(self, changed: List[str]) -> None:
        """Say where the class embeddings come from when that, or the unused prompts, change."""
        engine = self.engine
        if engine is None:
            return
        if EMBEDDINGS_PARAMETER in changed:
            self.node.get_logger().info(f'class embeddings from '
                                        f'{engine.state.embeddings_source}')
        elif engine.state.adapted is not None and any(
                name.startswith('prompts.') for name in changed):
            self.node.get_logger().info(
                f'prompts.* changed but {EMBEDDINGS_PARAMETER} is set: the class embeddings '
                'stay those of the file (the prompts apply once it is empty)')

    def _after_set_parameters(self, parameters: List[Parameter]) -> None:
        """After an accepted change of the embeddings file: show its bins and temperature."""
        if any(p.name == EMBEDDINGS_PARAMETER for p in parameters):
            self._sync_head_parameters()

    def _sync_after_this_set(self) -> None:
        """Without post-set callbacks (Humble): sync the head parameters one timer later."""
        timers: List[Any] = []

        def once():
            if timers:  # (a timer can fire before create_timer returns)
                self.node.destroy_timer(timers.pop())
                self._sync_head_parameters()
        timers.append(self.node.create_timer(0.0, once, self._timer_group))

    def _update_floor_tf(self, settings: Optional[NodeSettings]) -> None:
        """Listen to TF while ``scale.floor_frame`` is set (and tf2_ros is there), else not."""
        wanted = settings is not None and bool(settings.scale_floor_frame)
        if wanted and self._floor_tf is None:
            self._floor_tf = FloorTf(self.node)
        elif not wanted and self._floor_tf is not None:
            self._floor_tf.close()
            self._floor_tf = None

    def _sync_head_parameters(self) -> None:
        """
        Set ``depth_bins`` and ``temperature`` to the values in force when they differ.

        A file in ``prompts.embeddings_file`` brings its own; the parameters then say so.
        The change goes through the on-set callback like any other (it changes nothing
        there: the engine already uses these values).
        """
        engine = self.engine
        if engine is None:
            return
        config = engine.config
        updates = []
        for name, value in (('depth_bins', [float(b) for b in config.depth_bins]),
                            ('temperature', float(config.temperature))):
            if self.parameters.value(name) != value:
                updates.append(Parameter(name, value=value))
        if updates:
            result = self.node.set_parameters_atomically(updates)
            if not result.successful:
                self._log('warning', f'could not show the depth_bins/temperature of '
                                     f'{EMBEDDINGS_PARAMETER} in the parameters: {result.reason}')

    def _apply(self, parameters: List[Any]) -> List[str]:
        changes = self.parameters.sort(parameters)
        if not changes:
            return []
        pipeline = self.pipeline
        if pipeline is None:  # not configured (lifecycle): check against the others
            self.parameters.check_unconfigured(changes)
        else:
            old = pipeline.settings
            settings = old.with_updates(changes.node) if changes.node else None
            if settings is not None:
                check_floor_frame(settings.scale_floor_frame)
            state = pipeline.engine.prepare(changes.engine) if changes.engine else None
            pipeline.apply(settings, state)
        for parameter, value in changes.frame_ids.items():
            self.scheduler.camera(self.parameters.frame_id_parameters[parameter]).frame_id = value
        if pipeline is not None and pipeline.running and changes.node:
            new = pipeline.settings
            if (old.input_transport, old.qos_image_reliability, old.qos_image_depth) != (
                    new.input_transport, new.qos_image_reliability, new.qos_image_depth):
                self._subscribe_images(force=True)
            if old.diagnostics_period != new.diagnostics_period:
                self._start_timers()
        if pipeline is not None and changes.node:
            self._update_floor_tf(pipeline.settings)
        if EMBEDDINGS_PARAMETER in changes.engine and \
                not hasattr(self.node, 'add_post_set_parameters_callback'):
            self._sync_after_this_set()
        return changes.names()


def command_line(arguments: Optional[List[str]], kwargs: Dict[str, Any]) -> List[str]:
    """Return the process's command line (``arguments``) and the node's ``cli_args``."""
    cli = list(kwargs.get('cli_args') or [])
    if cli and cli[0] != '--ros-args':
        cli = ['--ros-args'] + cli
    return list(arguments or []) + cli


class DepthClipNode(DepthClipApi, Node):
    """
    DepthCLIP as a ROS 2 node: one model serving one camera, or several (``cameras``).

    :param node_name: node name (default ``depthclip_node``)
    :param arguments: the process's command line, to warn about parameters it sets that the
        node does not have (``temporal.alpah``); the executables pass it
    :param kwargs: passed to :class:`rclpy.node.Node` (``namespace``, ``context``,
        ``parameter_overrides``, ``cli_args``, ...)
    :raises ModelLoadError: the model cannot be loaded (one-line reason)
    :raises StartupError: invalid parameters (one-line reason)
    """

    def __init__(self, node_name: str = NODE_NAME, arguments: Optional[List[str]] = None,
                 **kwargs):
        kwargs['allow_undeclared_parameters'] = False
        kwargs['automatically_declare_parameters_from_overrides'] = False
        super().__init__(node_name, **kwargs)
        self.depthclip = DepthClipBinding(self, command_line(arguments, kwargs))
        try:
            self.depthclip.declare()
            self.depthclip.configure()
            self.depthclip.activate()
        except BaseException:
            self.destroy_node()
            raise

    def destroy_node(self) -> None:
        """Stop the worker, then destroy the node."""
        self.stop_worker()
        super().destroy_node()
