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
Which frames get processed, and what happened to every camera's frames (ROS-free).

Each camera has a one-frame slot: a new frame replaces a waiting one (counted as dropped),
so a slow model processes the newest frame instead of a queue. :meth:`Scheduler.take_batch`
waits for frames and hands out the newest frame of every camera that has one (the ones
that waited longest first, at most ``max_batch``). The scheduler also keeps every camera's
counters and timings, throttles repeated warnings (one log line per kind and camera every
few seconds, the rest counted) and turns all of it into a health summary that the ROS layer
publishes as ``/diagnostics``.
"""

from collections import deque, OrderedDict
import contextlib
from dataclasses import dataclass, field
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

from depthclip_ros.core.stats import percentile

#: Timing samples kept per camera for the median and p95.
STATS_WINDOW = 200
#: Seconds between repeats of the same warning.
WARN_PERIOD = 5.0
#: Seconds between repeats of the "input faster than inference" note.
DROP_LOG_PERIOD = 60.0
#: A camera that sent nothing for this long is reported.
STALE_AFTER_S = 5.0
#: Seconds with a publisher on the image topic but no image before the node says why.
SILENT_PUBLISHER_S = 5.0
#: camera_info messages (and image stamps) remembered per camera for pairing by stamp.
INFO_CACHE = 32

#: Health levels (the values of diagnostic_msgs/DiagnosticStatus).
OK, WARN, ERROR = 0, 1, 2

#: Per-camera counters; their meaning is in the diagnostics keys of :meth:`Scheduler.health`.
COUNTERS = ('received', 'processed', 'dropped', 'rejected', 'errors', 'camera_info_received',
            'camera_info_rejected', 'clouds_built', 'colorized_built', 'stamp_backwards',
            'empty_frame_id', 'extra_data', 'qos_incompatible', 'camera_info_timeouts')

#: Why a best-effort subscription may receive nothing from a publisher on the same host.
BEST_EFFORT_HINT = (
    "best-effort images larger than about 0.5 MB are lost by Fast DDS's default "
    'shared-memory transport (ros2/rmw_fastrtps#739): if the camera publishes reliably (most '
    'drivers do), set qos.image_reliability: reliable (or auto); otherwise enlarge the Fast '
    'DDS shared-memory segment (see docs/troubleshooting.md)')
RELIABLE_HINT = ("check that the publisher's QoS matches qos.image_reliability: reliable "
                 '(a best-effort publisher does not connect to a reliable subscription) and '
                 'input_transport')

#: Logs one line: ``log(level, text)`` with level ``'info'``, ``'warning'`` or ``'error'``.
LogFunction = Callable[[str, str], None]


@dataclass
class Frame:
    """
    One received camera frame, waiting to be processed.

    :param message: the image as received (opaque here: the ROS layer decodes it)
    :param compressed: whether ``message`` is a compressed image
    :param camera: the camera model (:class:`depthclip_ros.core.outputs.CameraModel`) of
        the frame: :meth:`Scheduler.take_batch` sets the camera_info of the frame's stamp, or
        the newest, or None (none came in time); a value given here is kept
    :param stamp_ns: the header stamp in nanoseconds
    :param frame_id: the header frame_id
    :param received: ``time.monotonic()`` at arrival
    :param info_expected: whether the camera_info topic had a publisher at arrival (the
        frame then waits for a camera_info, see :meth:`Scheduler.take_batch`)
    """

    message: Any
    compressed: bool
    camera: Any
    stamp_ns: int
    frame_id: str
    received: float
    info_expected: bool = False


@dataclass
class CameraState:
    """One camera: its newest waiting frame, counters, timings and last problem."""

    name: str
    slot: Optional[Frame] = None
    counts: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    inference_ms: Deque[float] = field(default_factory=lambda: deque(maxlen=STATS_WINDOW))
    latency_ms: Deque[float] = field(default_factory=lambda: deque(maxlen=STATS_WINDOW))
    pipeline_ms: Deque[float] = field(default_factory=lambda: deque(maxlen=STATS_WINDOW))
    last_stamp_ns: Optional[int] = None
    last_received: Optional[float] = None
    last_problem: str = ''
    warned_no_info: bool = False
    #: camera_info models by stamp (oldest first) and image stamps, for pairing by stamp.
    infos: 'OrderedDict[int, Any]' = field(default_factory=OrderedDict)
    recent_stamps: Deque[int] = field(default_factory=lambda: deque(maxlen=INFO_CACHE))
    info_seen: bool = False
    latest_info: Any = None
    latest_info_stamp: Optional[int] = None
    #: The camera_info carries the stamps of the images: a frame waits for its own.
    info_paired: bool = False
    #: Since when the frame in the slot waits for a camera_info (None: it does not).
    info_wait_since: Optional[float] = None
    #: No camera_info came within camera.info_timeout (FoV intrinsics until one comes).
    info_timed_out: bool = False
    #: Where the last frame's intrinsics came from (set by the pipeline; diagnostics).
    intrinsics_origin: str = 'no frame yet'
    #: Input image and camera_info topics, for messages (set by the ROS layer).
    topic: str = ''
    info_topic: str = 'camera_info'
    #: frame_id of this camera's outputs; empty: the input's (``<camera>.frame_id``).
    frame_id: str = ''
    #: When the image subscription was (re)created, ``time.monotonic()``.
    subscribed_at: float = field(default_factory=time.monotonic)
    #: Counters at the last health summary, and when it was made.
    last_summary: Tuple[Dict[str, int], float] = field(
        default_factory=lambda: (dict.fromkeys(COUNTERS, 0), time.monotonic()))


@dataclass
class Health:
    """A camera's health: level (:data:`OK`, :data:`WARN`, :data:`ERROR`), message, values."""

    level: int
    message: str
    values: List[Tuple[str, str]]


class Scheduler:
    """
    Newest-frame slots, batch choice, counters, timings, throttled warnings and health.

    Thread-safe: callbacks call :meth:`offer`, one worker calls :meth:`take_batch`, anyone
    reads the counters.

    :param names: camera names (``['']`` for one un-namespaced camera)
    :param log: how to log a line (``log(level, text)``)
    :param clock: monotonic clock in seconds (tests may pass their own)
    """

    def __init__(self, names: Sequence[str], log: LogFunction,
                 clock: Callable[[], float] = time.monotonic):
        self.cameras = [CameraState(name) for name in names]
        self.multi = any(names)
        self._log = log
        self._clock = clock
        self._cond = threading.Condition()
        self._stats_lock = threading.Lock()
        self._stopping = False
        self._paused = 0
        self._throttle: Dict[Tuple[str, Tuple[str, ...]], Tuple[float, int]] = {}
        self._batches = 0
        self._batched_frames = 0

    # ------------------------------------------------------------------------------ cameras
    def camera(self, name: str) -> CameraState:
        """
        Return camera ``name``.

        :raises KeyError: no such camera
        """
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise KeyError(f'no camera named {name!r}; cameras: {[c.name for c in self.cameras]}')

    # ------------------------------------------------------------------------------- frames
    def offer(self, camera: CameraState, frame: Frame) -> None:
        """
        Put ``frame`` into ``camera``'s slot (replacing a waiting one) and wake the worker.

        Stamps that go backwards and empty frame_ids are counted and reported; the frame is
        kept either way (as depth_image_proc does).
        """
        previous, camera.last_stamp_ns = camera.last_stamp_ns, frame.stamp_ns
        if previous is not None and frame.stamp_ns < previous:
            self.bump(camera, 'stamp_backwards')
            self.warn([camera], 'stamp_backwards',
                      f'image stamp went backwards by {(previous - frame.stamp_ns) / 1e9:.3f} s '
                      f'on {camera.topic} (bag loop or clock reset?); processing it anyway')
        if not frame.frame_id and not camera.frame_id:
            self.bump(camera, 'empty_frame_id')
            self.warn([camera], 'empty_frame_id',
                      f'image on {camera.topic} has an empty frame_id; its outputs have one too '
                      '(set the camera driver frame_id'
                      + (f' or {camera.name}.frame_id' if camera.name else '') + ')')
        with self._cond:
            with self._stats_lock:
                camera.counts['received'] += 1
                camera.last_received = frame.received
                dropped = camera.slot is not None
                if dropped:
                    camera.counts['dropped'] += 1
            camera.slot = frame
            camera.recent_stamps.append(frame.stamp_ns)
            if frame.stamp_ns in camera.infos:
                camera.info_paired = True
            self._cond.notify()
        if dropped:
            self.warn([camera], 'dropped', 'images arrive faster than inference: stale frames '
                      'are dropped and the newest is processed (see the frames dropped '
                      'diagnostics)', level='info', period=DROP_LOG_PERIOD)

    def offer_info(self, camera: CameraState, model: Any, stamp_ns: int) -> None:
        """
        Keep a camera_info (its camera model) for the frames of ``camera``; wake the worker.

        Frames are paired with the camera_info of their stamp when there is one, else with
        the newest (see :meth:`take_batch`).
        """
        with self._cond:
            camera.infos[stamp_ns] = model
            camera.infos.move_to_end(stamp_ns)
            while len(camera.infos) > INFO_CACHE:
                camera.infos.popitem(last=False)
            camera.latest_info, camera.latest_info_stamp = model, stamp_ns
            camera.info_seen = True
            if stamp_ns in camera.recent_stamps:
                camera.info_paired = True
            recovered, camera.info_timed_out = camera.info_timed_out, False
            self._cond.notify()
        self.bump(camera, 'camera_info_received')
        if recovered:
            self.warn([camera], 'camera_info_late', f'camera_info arrived on '
                      f'{camera.info_topic}: using its intrinsics from now on', level='info')

    def take_batch(self, max_batch: Callable[[], int] = lambda: 0,
                   info_timeout: Callable[[], float] = lambda: 0.0
                   ) -> Optional[List[Tuple[CameraState, Frame]]]:
        """
        Wait for frames; return the newest frame of every camera that has one ready.

        A frame whose camera_info topic has a publisher (``Frame.info_expected``) is ready
        once a camera_info came, at most ``info_timeout()`` seconds after it began to wait
        (then it goes with ``camera`` None: FoV intrinsics, said once in the log). When the
        camera's camera_info carries its images' stamps, a frame also waits (as long) for
        the one of its own stamp, unless a newer one came. Meanwhile it stays in its slot: a
        newer frame replaces it as always. Every frame handed out has ``camera`` set: the
        camera_info of its stamp, else the newest, else None.

        :param max_batch: returns the most frames per batch when the frames are taken (the
            ones that waited longest go first; 0: no limit)
        :param info_timeout: returns the longest wait for a camera_info, in seconds
        :return: ``[(camera, frame), ...]``, or None once :meth:`stop` was called
        """
        notes: List[Tuple[CameraState, str, str]] = []
        try:
            with self._cond:
                while True:
                    if self._stopping:
                        return None
                    wait = None
                    if not self._paused:
                        now, timeout = self._clock(), info_timeout()
                        pending = []
                        for camera in self.cameras:
                            if camera.slot is None:
                                continue
                            due = self._info_due(camera, camera.slot, now, timeout, notes)
                            if due is None:
                                pending.append(camera)
                            else:
                                wait = due - now if wait is None else min(wait, due - now)
                        if pending:
                            break
                    self._cond.wait(None if wait is None else max(wait, 0.0))
                limit = max_batch()
                if 0 < limit < len(pending):
                    pending.sort(key=lambda camera: camera.slot.received)
                    pending = pending[:limit]
                batch = []
                for camera in pending:
                    frame, camera.slot = camera.slot, None
                    camera.info_wait_since = None
                    if frame.camera is None:
                        frame.camera = camera.infos.get(frame.stamp_ns, camera.latest_info)
                    batch.append((camera, frame))
            return batch
        finally:
            for camera, kind, text in notes:
                self.warn([camera], kind, text)

    @staticmethod
    def _pairs_by_stamp(camera: CameraState) -> bool:
        """
        Return whether ``camera`` sends a camera_info with the stamp of (nearly) every image.

        It matched lately (and has not missed one since) and 90 % of the recent images up to
        the newest camera_info have one of their stamp: a camera_info sent with every tenth
        image only never makes frames wait.
        """
        if not camera.info_paired or camera.latest_info_stamp is None:
            return False
        stamps = [s for s in camera.recent_stamps if s <= camera.latest_info_stamp]
        matched = sum(1 for s in stamps if s in camera.infos)
        return bool(stamps) and matched >= 0.9 * len(stamps)

    def _info_due(self, camera: CameraState, frame: Frame, now: float, timeout: float,
                  notes: List[Tuple[CameraState, str, str]]) -> Optional[float]:
        """Return when ``frame`` stops waiting for a camera_info, or None: it is ready."""
        if frame.camera is not None or frame.stamp_ns in camera.infos or timeout <= 0.0:
            return None
        if not camera.info_seen:
            if not frame.info_expected or camera.info_timed_out:
                return None
        elif not self._pairs_by_stamp(camera) or \
                (camera.latest_info_stamp or 0) > frame.stamp_ns:
            return None
        if camera.info_wait_since is None:
            camera.info_wait_since = frame.received
        deadline = camera.info_wait_since + timeout
        if now < deadline:
            return deadline
        if not camera.info_seen:
            camera.info_timed_out = True
            with self._stats_lock:
                camera.counts['camera_info_timeouts'] += 1
            notes.append((camera, 'camera_info_timeout',
                          f'no camera_info on {camera.info_topic} within camera.info_timeout='
                          f'{timeout:g} s although it has a publisher: using intrinsics from '
                          'camera.fov_deg until one arrives (the point cloud scale is '
                          'approximate)'))
        else:
            camera.info_paired = False
            notes.append((camera, 'camera_info_unpaired',
                          f'no camera_info with the stamp of the image on {camera.topic} '
                          f'within {timeout:g} s: using the newest camera_info (frames wait '
                          'for their own again once one matches)'))
        return None

    def count_batch(self, frames: int) -> None:
        """Count one encoder pass over ``frames`` frames (for the mean batch size)."""
        with self._stats_lock:
            self._batches += 1
            self._batched_frames += frames

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the worker before its next batch; frames wait in their slots meanwhile."""
        with self._cond:
            self._paused += 1
        try:
            yield
        finally:
            with self._cond:
                self._paused -= 1
                self._cond.notify_all()

    def stop(self) -> None:
        """Make :meth:`take_batch` return None (now and from now on) and drop waiting frames."""
        with self._cond:
            self._stopping = True
            for camera in self.cameras:
                camera.slot = None
                camera.info_wait_since = None
            self._cond.notify_all()

    def start(self) -> None:
        """Accept frames again after :meth:`stop` (lifecycle re-activation)."""
        with self._cond:
            self._stopping = False

    # --------------------------------------------------------------------- counters, timings
    def bump(self, camera: CameraState, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name`` of ``camera``."""
        with self._stats_lock:
            camera.counts[name] += amount

    def record(self, camera: CameraState, inference_ms: float, pipeline_ms: float,
               latency_ms: Optional[float]) -> None:
        """Keep one processed frame's timings (a bounded window per camera)."""
        with self._stats_lock:
            camera.inference_ms.append(inference_ms)
            camera.pipeline_ms.append(pipeline_ms)
            if latency_ms is not None:
                camera.latency_ms.append(latency_ms)

    def totals(self) -> Dict[str, int]:
        """Return the counters summed over all cameras."""
        with self._stats_lock:
            total = dict.fromkeys(COUNTERS, 0)
            for camera in self.cameras:
                for key, value in camera.counts.items():
                    total[key] += value
            return total

    def counts(self, name: str = '') -> Dict[str, int]:
        """Return a snapshot of camera ``name``'s counters."""
        camera = self.camera(name)
        with self._stats_lock:
            return dict(camera.counts)

    def problem(self, name: str = '') -> str:
        """Return the last warning about camera ``name``'s input (logged or throttled)."""
        camera = self.camera(name)
        with self._stats_lock:
            return camera.last_problem

    @property
    def batch_stats(self) -> Tuple[int, int]:
        """Return (encoder passes, frames they held): the mean batch size is their ratio."""
        with self._stats_lock:
            return self._batches, self._batched_frames

    def timings(self, name: Optional[str] = None) -> Dict[str, float]:
        """Return median and p95 of inference, latency and pipeline times in ms."""
        cameras = self.cameras if name is None else [self.camera(name)]
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

    # ---------------------------------------------------------------------------- warnings
    def warn(self, cameras: Sequence[CameraState], kind: str, text: str,
             level: str = 'warning', period: float = WARN_PERIOD) -> None:
        """
        Log ``text`` at most once per ``period`` per (kind, cameras); count what is held back.

        Every camera remembers ``text`` as its last problem (the health summary shows it),
        logged or not.
        """
        names = tuple(camera.name for camera in cameras)
        key = (kind, names)
        now = self._clock()
        with self._stats_lock:
            for camera in cameras:
                camera.last_problem = text
            last, held = self._throttle.get(key, (None, 0))
            if last is not None and now - last < period:
                self._throttle[key] = (last, held + 1)
                return
            self._throttle[key] = (now, 0)
        if self.multi and names:
            text = f'camera {", ".join(names)}: {text}'
        if held:
            text += f' ({held} similar message(s) in the last {now - last:.0f} s not shown)'
        self._log(level, text)

    # ------------------------------------------------------------------------------ health
    def health(self, camera: CameraState, publishers: int, reliability: str,
               diagnostics_period: float) -> Health:
        """
        Summarize ``camera`` since the last summary: level, message and key values.

        :param publishers: publishers on the camera's image topic now
        :param reliability: the image subscription's reliability in force
            (``reliable`` or ``best_effort``), for the hint when nothing arrives
        :param diagnostics_period: seconds between summaries (a camera is stale after
            ``max(STALE_AFTER_S, 2 * period)`` without a frame)
        """
        with self._stats_lock:
            counts = dict(camera.counts)
            last_problem = camera.last_problem
            last_received = camera.last_received
            batches, batched = self._batches, self._batched_frames
        timings = self.timings(camera.name)
        last_counts, last_time = camera.last_summary
        now = self._clock()
        camera.last_summary = (counts, now)
        rate = (counts['processed'] - last_counts['processed']) / max(now - last_time, 1e-6)
        idle = now - last_received if last_received is not None else 0.0

        def more(key):
            return counts[key] > last_counts[key]

        if more('errors'):
            level, message = ERROR, 'inference errors'
        elif more('rejected'):
            level, message = WARN, 'rejecting input images'
        elif counts['received'] == 0:
            level, message = WARN, f'waiting for images on {camera.topic}'
            if publishers and now - camera.subscribed_at > SILENT_PUBLISHER_S:
                message = f'{publishers} publisher(s) on {camera.topic} but no image received'
                hint = RELIABLE_HINT if reliability == 'reliable' else BEST_EFFORT_HINT
                self.warn([camera], 'silent_publisher', f'{message} after '
                          f'{now - camera.subscribed_at:.0f} s: {hint}', period=60.0)
        elif idle > max(STALE_AFTER_S, 2 * diagnostics_period):
            level, message = WARN, f'no images for {idle:.0f} s on {camera.topic}'
        elif more('camera_info_timeouts'):
            level, message = WARN, 'no camera_info in time: FoV intrinsics'
        elif more('camera_info_rejected'):
            level, message = WARN, 'camera_info (partly) unusable'
        elif more('stamp_backwards') or more('empty_frame_id') or more('extra_data'):
            level, message = WARN, f'{rate:.1f} Hz, irregular input'
        else:
            level, message = OK, f'{rate:.1f} Hz'
        values = [
            ('frames received', counts['received']),
            ('frames processed', counts['processed']),
            ('frames dropped', counts['dropped']),
            ('frames rejected', counts['rejected']),
            ('errors', counts['errors']),
            ('camera_info rejected', counts['camera_info_rejected']),
            ('camera_info timeouts', counts['camera_info_timeouts']),
            ('intrinsics from', camera.intrinsics_origin),
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
        ]
        return Health(level, message, [(k, str(v)) for k, v in values])
