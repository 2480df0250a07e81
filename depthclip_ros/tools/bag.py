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
``depthclip bag IN OUT``: run DepthCLIP on the image topics of a rosbag2, offline.

Uses the pure-Python ``rosbags`` library (no ROS installation): reads sqlite3 or MCAP bags
(a bag directory, or a single ``.db3`` / ``.mcap`` file) and writes a new bag directory, in
the input's storage format unless ``--storage`` says otherwise, holding every original
message plus, for each processed image topic ``<ns>/image...``:

* ``<ns>/depth/image`` (``sensor_msgs/Image`` 32FC1, metres), ``<ns>/depth/confidence``
  (32FC1 in [0, 1]), ``<ns>/depth/colorized`` (bgr8, fixed scale over the bin range),
  ``<ns>/depth/camera_info`` and ``<ns>/points`` (``PointCloud2``), as the node publishes
  them; every one stamped with the source frame's header and written at the source
  message's bag timestamp.
* with ``grounding.queries`` set, also ``<ns>/grounding/labels`` (mono8, one label per
  pixel: 0 none, i the i-th query), ``<ns>/grounding/markers``
  (``visualization_msgs/MarkerArray``: a sphere and a ``door 2.3 m`` text per found query,
  after a ``DELETEALL``) and a ``label`` field in ``<ns>/points``, as the node publishes them.

``<ns>`` is the image topic without a trailing ``/compressed`` and without its last name
when that starts with ``image`` (``/cam/image_raw/compressed`` -> ``/cam``). Intrinsics come
from ``<ns>/camera_info`` in the bag (the latest one before the frame, or the first one for
frames before it), else from ``camera.fov_deg`` of the parameters.

The outputs are computed by the node's own output path
(:func:`depthclip_ros.core.outputs.compute_outputs`) with the node's settings: the same
parameter file, table and defaults (``cloud.*``, ``publish.*``, ``output_scale``,
``camera.fov_deg``, ``temporal.*``, ``scale.*``), so a recording gives offline what the node
gives live. Each image topic has its own temporal filter and ground scale, in stamp order.

By default every ``Image`` / ``CompressedImage`` topic is processed except depth images (a
name with ``depth`` in it); when a camera has both a raw and a compressed topic, the raw one.

Frames are predicted in batches; the messages of a batch window are written in timestamp
order once the batch is done, so the output is ordered. On Ctrl-C (``KeyboardInterrupt``)
the frames finished so far and every message before them stay in the output, the writer is
closed (metadata written) and the output is a valid, shorter bag. An existing OUT is never
overwritten; the bag is written under a temporary name next to OUT and renamed when done, so
a run that fails leaves nothing in the way of the next. A message of an image or
camera_info topic that cannot be read (truncated, or of another type) or decoded is skipped
with a warning naming the topic, its index and the reason; every good frame comes out and
the summary counts the skipped ones.
"""

import argparse
from dataclasses import dataclass, field
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from depthclip_ros.core.config import NodeSettings
from depthclip_ros.core.filters import CameraFilters
from depthclip_ros.core.grounding import LABELS_ENCODING, marker_specs
from depthclip_ros.core.outputs import (camera_info_fields, CameraModel, choose_intrinsics,
                                        compute_outputs, FrameOutputs, scaled_sizes)
from depthclip_ros.core.text import one_line
from depthclip_ros.tools.common import (add_config_args, int_at_least, load_settings,
                                        offline_unless_hub_reachable)
from depthclip_ros.tools.rosbag_io import (bag_storage, CAMERA_INFO, CLOUD, decode_image_msg,
                                           IMAGE, IMAGE_TYPES, is_depth_topic, make_typestore,
                                           MARKER_ARRAY, markers_message, open_reader,
                                           rosbags_api, stamp_ns)

__all__ = [
    'BagResult', 'grounding_topics', 'make_typestore', 'namespace_of', 'output_topics',
    'process_bag', 'register', 'select_image_topics',
]

STORAGES = ('sqlite3', 'mcap')


@dataclass
class BagResult:
    """What :func:`process_bag` did."""

    output: str
    storage: str
    image_topics: List[str]
    frames: int = 0
    #: Messages of the image and camera_info topics that could not be read or decoded (their
    #: originals are copied; the image ones have no outputs), in all and by topic.
    skipped: int = 0
    skipped_by_topic: Dict[str, int] = field(default_factory=dict)
    messages: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    counts: Dict[str, int] = field(default_factory=dict)


# -------------------------------------------------------------------------------------------
# Topics
# -------------------------------------------------------------------------------------------
def namespace_of(topic: str) -> str:
    """
    Return the camera namespace of an image topic.

    ``/cam/image_raw`` and ``/cam/image_raw/compressed`` give ``/cam``; ``/image`` gives
    ``''``; a topic whose last name does not start with ``image`` is its own namespace.
    """
    name = topic.rstrip('/')
    if name.endswith('/compressed'):
        name = name[:-len('/compressed')]
    parent, _, last = name.rpartition('/')
    return parent if last.startswith('image') else name


def output_topics(image_topic: str) -> Dict[str, str]:
    """Return the output topics of an image topic: depth, confidence, colorized, info, points."""
    ns = namespace_of(image_topic)
    return {'depth': f'{ns}/depth/image', 'confidence': f'{ns}/depth/confidence',
            'colorized': f'{ns}/depth/colorized', 'info': f'{ns}/depth/camera_info',
            'points': f'{ns}/points'}


def grounding_topics(image_topic: str) -> Dict[str, str]:
    """Return the grounding topics of an image topic: labels, markers."""
    ns = namespace_of(image_topic)
    return {'labels': f'{ns}/grounding/labels', 'markers': f'{ns}/grounding/markers'}


def select_image_topics(topics: Dict[str, str], wanted: Optional[Sequence[str]] = None,
                        ) -> List[str]:
    """
    Choose the image topics to process.

    :param topics: topic name -> message type of every topic in the bag
    :param wanted: explicit topics (``--image-topic``); ``None``: every image topic except
        depth images, preferring the raw topic of a camera that has both
    :return: the topics, sorted
    :raises ValueError: an unknown or non-image topic, two topics of one namespace, no image
        topic, or an output topic that is already in the bag
    """
    images = sorted(t for t, kind in topics.items() if kind in IMAGE_TYPES)
    if wanted:
        chosen = []
        for topic in wanted:
            if topic not in topics:
                raise ValueError(f'topic {topic} is not in the bag; image topics: '
                                 f'{", ".join(images) or "none"}')
            if topics[topic] not in IMAGE_TYPES:
                raise ValueError(f'topic {topic} is a {topics[topic]}, not an Image or '
                                 'CompressedImage')
            if topic not in chosen:
                chosen.append(topic)
    else:
        candidates = [t for t in images if not is_depth_topic(t)]
        by_ns: Dict[str, str] = {}
        for topic in candidates:
            ns = namespace_of(topic)
            if ns not in by_ns or topics[topic] == IMAGE and topics[by_ns[ns]] != IMAGE:
                by_ns[ns] = topic
        chosen = sorted(by_ns.values())
        if not chosen:
            raise ValueError('the bag has no image topic (sensor_msgs/Image or '
                             'CompressedImage) to process')
    seen: Dict[str, str] = {}
    for topic in chosen:
        ns = namespace_of(topic)
        if ns in seen:
            raise ValueError(f'{seen[ns]} and {topic} would write the same output topics; '
                             'choose one with --image-topic')
        seen[ns] = topic
        for out in output_topics(topic).values():
            if out in topics:
                raise ValueError(f'the bag already has {out} (processed before?); choose '
                                 'other image topics')
    return sorted(chosen)


# -------------------------------------------------------------------------------------------
# Processing
# -------------------------------------------------------------------------------------------
@dataclass
class _Frame:
    timestamp: int
    topic: str
    header: Any
    rgb: np.ndarray


class _MessageFactory:
    """Serialize one frame's output arrays as the node's messages."""

    def __init__(self, typestore):
        self.store = typestore
        types = typestore.types
        self.Image = types[IMAGE]
        self.CameraInfo = types[CAMERA_INFO]
        self.PointCloud2 = types[CLOUD]
        self.PointField = types['sensor_msgs/msg/PointField']
        self.Roi = types['sensor_msgs/msg/RegionOfInterest']

    def image(self, header, array: np.ndarray, encoding: str) -> bytes:
        array = np.ascontiguousarray(array)
        h, w = array.shape[:2]
        msg = self.Image(header=header, height=h, width=w, encoding=encoding,
                         is_bigendian=0, step=int(array.strides[0]),
                         data=array.reshape(-1).view(np.uint8))
        return self.store.serialize_cdr(msg, IMAGE)

    def camera_info(self, header, outputs: FrameOutputs) -> bytes:
        fields = camera_info_fields(outputs.intrinsics, outputs.camera)
        msg = self.CameraInfo(
            header=header, height=fields['height'], width=fields['width'],
            distortion_model=fields['distortion_model'],
            d=np.asarray(fields['d'], dtype=np.float64),
            k=np.asarray(fields['k'], dtype=np.float64),
            r=np.asarray(fields['r'], dtype=np.float64),
            p=np.asarray(fields['p'], dtype=np.float64), binning_x=0, binning_y=0,
            roi=self.Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
        return self.store.serialize_cdr(msg, CAMERA_INFO)

    def cloud(self, header, packed: Dict[str, Any]) -> bytes:
        fields = [self.PointField(name=n, offset=o, datatype=t, count=c)
                  for n, o, t, c in packed['fields']]
        msg = self.PointCloud2(
            header=header, height=packed['height'], width=packed['width'], fields=fields,
            is_bigendian=False, point_step=packed['point_step'], row_step=packed['row_step'],
            data=np.frombuffer(packed['data'], dtype=np.uint8),
            is_dense=bool(packed['is_dense']))
        return self.store.serialize_cdr(msg, CLOUD)

    def markers(self, header, outputs: FrameOutputs) -> bytes:
        msg = markers_message(self.store, marker_specs(outputs.grounding), header)
        return self.store.serialize_cdr(msg, MARKER_ARRAY)


def _copy_connection(writer, conn, typestore, added: Dict[Tuple, Any]):
    """Add an input connection to the writer (once per topic, type and serialization)."""
    key = (conn.topic, conn.msgtype, conn.ext.serialization_format)
    if key in added:
        return added[key]
    msgdef = conn.msgdef.data if conn.msgdef is not None else ''
    digest = conn.digest or ''
    known = conn.msgtype in typestore.fielddefs
    if (not msgdef or not digest) and known:
        msgdef, _ = typestore.generate_msgdef(conn.msgtype, ros_version=2)
        digest = typestore.hash_rihs01(conn.msgtype)
    elif not digest:
        digest = 'RIHS01_' + '0' * 64  # an old bag's custom type without a stored hash
    out = writer.add_connection(conn.topic, conn.msgtype, msgdef=msgdef, rihs01=digest,
                                serialization_format=conn.ext.serialization_format,
                                offered_qos_profiles=conn.ext.offered_qos_profiles)
    added[key] = out
    return out


#: Warning lines per topic about skipped messages (the rest are counted in the summary).
MAX_SKIP_WARNINGS = 10


def _skip(result: BagResult, topic: str, index: int, error: BaseException,
          what: str = 'frame') -> None:
    """Count a message that cannot be read or decoded, and warn about the first ones."""
    result.skipped += 1
    count = result.skipped_by_topic[topic] = result.skipped_by_topic.get(topic, 0) + 1
    if count <= MAX_SKIP_WARNINGS:
        more = ' (further ones are only counted)' if count == MAX_SKIP_WARNINGS else ''
        print(f'warning: {topic} message {index} skipped, the {what} cannot be read: '
              f'{one_line(error, 200)}{more}', file=sys.stderr)


def _read(typestore, raw, msgtype: str):
    """Deserialize a message; any failure (truncated, another type) becomes ValueError."""
    try:
        return typestore.deserialize_cdr(raw, msgtype)
    except Exception as error:  # noqa: B902 - rosbags' SerdeError, struct/index errors
        raise _Unreadable(f'not a valid {msgtype} ({one_line(error, 150)})') from None


class _Unreadable(ValueError):
    """A message that does not deserialize as its connection's type."""


def process_bag(in_path: str, out_path: str, engine, image_topics: Optional[Sequence[str]] = None,
                batch: int = 4, storage: Optional[str] = None,
                settings: Optional[NodeSettings] = None, progress: bool = True) -> BagResult:
    """
    Copy a bag and add DepthCLIP's outputs for every frame of the chosen image topics.

    :param in_path: input bag (directory, ``.db3`` or ``.mcap``)
    :param out_path: output bag directory; must not exist
    :param engine: a :class:`depthclip_ros.core.engine.DepthClipEngine`
    :param image_topics: topics to process (default: see :func:`select_image_topics`)
    :param batch: frames per ``engine.predict`` call
    :param storage: ``sqlite3`` or ``mcap`` (default: the input's)
    :param settings: the node settings (outputs, temporal filter, ground scale; default:
        :class:`~depthclip_ros.core.config.NodeSettings`, the node's defaults)
    :param progress: show a tqdm progress bar (on a terminal)
    :return: what was written; ``interrupted`` when a KeyboardInterrupt stopped it (the
        output is then a valid bag with the frames finished before it)
    :raises ValueError: bad arguments, unreadable input, existing output

    A message of an image or camera_info topic that cannot be deserialized (truncated, or
    of another type) or decoded is skipped, counted (:attr:`BagResult.skipped`) and warned
    about naming the topic, its index on the topic and the reason; every other frame comes
    out. The bag is written under a temporary name next to ``out_path`` and renamed at the
    end: a run that fails leaves nothing at ``out_path``.
    """
    from tqdm import tqdm

    _, writer_cls, storage_plugin, _, _ = rosbags_api()
    if batch < 1:
        raise ValueError('batch must be >= 1')
    if os.path.lexists(out_path):
        raise ValueError(f'{out_path} exists already; not overwriting it')
    settings = settings or NodeSettings()
    storage = storage or bag_storage(in_path)
    if storage not in STORAGES:
        raise ValueError(f'storage must be one of {"|".join(STORAGES)}, got {storage!r}')
    typestore = make_typestore()
    factory = _MessageFactory(typestore)
    reader = open_reader(in_path)
    try:
        topic_types = {c.topic: c.msgtype for c in reader.connections}
        selected = select_image_topics(topic_types, image_topics)
        result = BagResult(output=out_path, storage=storage, image_topics=selected)
        grounding = engine.state.grounding is not None
        for topic in selected if grounding else ():
            for name in grounding_topics(topic).values():
                if name in topic_types:
                    raise ValueError(f'the bag already has {name} (processed before?); '
                                     'choose other image topics')
        namespaces = {t: namespace_of(t) for t in selected}
        info_topics = {f'{ns}/camera_info': ns for ns in namespaces.values()}
        info_conns = {c.id: info_topics[c.topic] for c in reader.connections
                      if c.msgtype == CAMERA_INFO and c.topic in info_topics}
        last_info: Dict[str, Any] = {}
        for conn in reader.connections:  # the first camera_info serves earlier frames too
            if conn.id in info_conns and info_conns[conn.id] not in last_info:
                for _, _, raw in reader.messages(connections=[conn]):
                    try:
                        last_info[info_conns[conn.id]] = _read(typestore, raw, CAMERA_INFO)
                        break
                    except ValueError:
                        continue  # warned about in the main pass
        total = sum(c.msgcount for c in reader.connections if c.topic in selected)

        staging = tempfile.mkdtemp(prefix='.depthclip-bag-',
                                   dir=os.path.dirname(os.path.abspath(out_path)))
        staged = os.path.join(staging, os.path.basename(os.path.abspath(out_path)))
        writer = writer_cls(staged, version=9,
                            storage_plugin=getattr(storage_plugin, storage.upper()))
        try:
            writer.open()
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        start = time.perf_counter()
        done = False
        try:
            added: Dict[Tuple, Any] = {}
            out_conn = {c.id: _copy_connection(writer, c, typestore, added)
                        for c in reader.connections}
            derived: Dict[str, Dict[str, Any]] = {}
            for topic in selected:
                source = next(c for c in reader.connections if c.topic == topic)
                qos = source.ext.offered_qos_profiles
                kinds = {'depth': IMAGE, 'confidence': IMAGE, 'colorized': IMAGE,
                         'info': CAMERA_INFO, 'points': CLOUD}
                wanted = {'depth', 'info'} | {k for k in ('confidence', 'colorized', 'points')
                                              if getattr(settings, f'publish_{k}')}
                names = dict(output_topics(topic))
                if grounding:
                    names.update(grounding_topics(topic))
                    kinds.update(labels=IMAGE, markers=MARKER_ARRAY)
                    wanted |= {'labels', 'markers'}
                derived[topic] = {
                    kind: writer.add_connection(name, kinds[kind], typestore=typestore,
                                                offered_qos_profiles=qos)
                    for kind, name in names.items() if kind in wanted}
            bar = tqdm(total=total, unit='frame', desc='depthclip bag',
                       disable=None if progress else True)
            pending: List[Tuple[int, int, Any, bytes]] = []
            frames: List[_Frame] = []
            filters = {topic: CameraFilters() for topic in selected}
            indices: Dict[str, int] = {}
            try:
                for conn, timestamp, raw in reader.messages():
                    index = indices[conn.topic] = indices.get(conn.topic, -1) + 1
                    if conn.id in info_conns:
                        try:
                            last_info[info_conns[conn.id]] = _read(typestore, raw, CAMERA_INFO)
                        except ValueError as error:
                            _skip(result, conn.topic, index, error, 'camera_info')
                    if conn.topic in derived:
                        try:
                            msg = _read(typestore, raw, conn.msgtype)
                            rgb = decode_image_msg(msg, conn.msgtype)
                        except ValueError as error:
                            _skip(result, conn.topic, index, error)
                            bar.update(1)
                        else:
                            frames.append(_Frame(timestamp, conn.topic, msg.header, rgb))
                    entry = (timestamp, len(pending), out_conn[conn.id], raw)
                    if frames:
                        pending.append(entry)
                    else:
                        writer.write(entry[2], timestamp, raw)
                        result.messages += 1
                    if len(frames) >= batch:
                        _flush(engine, factory, frames, pending, derived, last_info, writer,
                               result, namespaces, settings, filters)
                        bar.update(len(frames))
                        frames, pending = [], []
                if frames:
                    _flush(engine, factory, frames, pending, derived, last_info, writer,
                           result, namespaces, settings, filters)
                    bar.update(len(frames))
            except KeyboardInterrupt:
                result.interrupted = True
            finally:
                bar.close()
            done = True
        finally:
            try:
                writer.close()
                if done:  # complete (or interrupted and valid): put it in place
                    os.rename(staged, out_path)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            result.seconds = time.perf_counter() - start
            result.counts = {c.topic: writer.counts.get(c.id, 0) for c in writer.connections}
    finally:
        reader.close()
    return result


def _flush(engine, factory: _MessageFactory, frames: List[_Frame], pending: List, derived,
           last_info: Dict[str, Any], writer, result: BagResult, namespaces: Dict[str, str],
           settings: NodeSettings, filters: Dict[str, CameraFilters]) -> None:
    """Predict a batch, then write its window of messages and the outputs in time order."""
    state = engine.state
    images = [f.rgb for f in frames]
    steps = []
    for f in frames:
        info = last_info.get(namespaces[f.topic])
        steps.append(filters[f.topic].step(stamp_ns(f.header) or f.timestamp, settings,
                                           f.rgb.shape[:2],
                                           tuple(info.k) if info is not None else None))
    predictions = engine.predict(images, scaled_sizes(images, settings.output_scale),
                                 state=state, steps=steps)
    out = list(pending)
    seq = len(out)
    for frame, prediction in zip(frames, predictions):
        conns = derived[frame.topic]
        info = last_info.get(namespaces[frame.topic])
        camera = CameraModel.from_message(info) if info is not None else None
        height, width = frame.rgb.shape[:2]
        choice = choose_intrinsics(camera, width, height, settings.camera_fov_deg)
        depth, depth_range = filters[frame.topic].scaled(prediction.depth, choice.intrinsics,
                                                         settings, state)
        outputs = compute_outputs(depth, prediction.confidence, frame.rgb, choice, settings,
                                  depth_range, masks=prediction.grounding)
        header = frame.header
        built = {'depth': factory.image(header, outputs.depth, '32FC1'),
                 'info': factory.camera_info(header, outputs)}
        if 'confidence' in conns and outputs.confidence is not None:
            built['confidence'] = factory.image(header, outputs.confidence, '32FC1')
        if 'colorized' in conns and outputs.colorized is not None:
            built['colorized'] = factory.image(header, outputs.colorized, 'bgr8')
        if 'points' in conns and outputs.cloud is not None:
            built['points'] = factory.cloud(header, outputs.cloud)
        if 'labels' in conns and outputs.grounding is not None:
            built['labels'] = factory.image(header, outputs.grounding.labels, LABELS_ENCODING)
            built['markers'] = factory.markers(header, outputs)
        for kind, data in built.items():
            # after the source message: same timestamp, later sequence number
            out.append((frame.timestamp, seq, conns[kind], data))
            seq += 1
    out.sort(key=lambda item: (item[0], item[1]))
    for timestamp, _, conn, data in out:
        writer.write(conn, timestamp, data)
    result.messages += len(out)
    result.frames += len(frames)


# -------------------------------------------------------------------------------------------
# Command
# -------------------------------------------------------------------------------------------
def run_bag(args: argparse.Namespace) -> int:
    """Run ``depthclip bag``."""
    from depthclip_ros.core.engine import DepthClipEngine

    if os.path.lexists(args.output):
        raise ValueError(f'{args.output} exists already; not overwriting it')
    if not os.path.exists(args.input):
        raise FileNotFoundError(f'bag {args.input} does not exist')
    config, settings = load_settings(args)
    reader = open_reader(args.input)  # a bad bag or topic fails before the model loads
    try:
        select_image_topics({c.topic: c.msgtype for c in reader.connections}, args.image_topic)
    finally:
        reader.close()
    offline_unless_hub_reachable(config.model.pretrained)
    engine = DepthClipEngine(config)
    print(f'weights: {engine.weights} on {engine.device} ({engine.precision})')
    if engine.random_weights:
        print('WARNING: RANDOM weights: the depth written is meaningless', file=sys.stderr)
    result = process_bag(args.input, args.output, engine, args.image_topic, args.batch,
                         args.storage, settings, progress=not args.no_progress)
    rate = result.frames / max(result.seconds, 1e-9)
    print(f'{result.frames} frames of {", ".join(result.image_topics)} in '
          f'{result.seconds:.1f} s ({rate:.2f} frames/s); {result.messages} messages')
    if result.skipped:
        by_topic = ', '.join(f'{n} on {t}' for t, n in sorted(result.skipped_by_topic.items()))
        print(f'warning: skipped {result.skipped} message(s) that could not be read or decoded '
              f'({by_topic}): copied as they are, no depth for them', file=sys.stderr)
    if result.interrupted:
        print(f'interrupted: {result.output} is a valid {result.storage} bag with the '
              f'{result.frames} frames finished before the interrupt (and every message '
              'before them)', file=sys.stderr)
        return 130
    print(f'wrote {result.output} ({result.storage})')
    return 0


def register(subparsers) -> None:
    """Add ``depthclip bag`` to the ``depthclip`` command."""
    p = subparsers.add_parser(
        'bag', help='run DepthCLIP on the image topics of a rosbag2 (no ROS needed)',
        description='Copy a rosbag2 (sqlite3 or MCAP) and add depth, confidence, colorized '
                    'depth, camera_info and a point cloud for every frame of its image '
                    'topics; with grounding.queries set (--set grounding.queries=[door]) '
                    'also grounding/labels and grounding/markers.')
    p.add_argument('input', metavar='IN', help='input bag: directory, .db3 or .mcap')
    p.add_argument('output', metavar='OUT', help='output bag directory (must not exist)')
    p.add_argument('--image-topic', action='append', metavar='TOPIC',
                   help='image topic to process (repeatable; default: every image topic '
                        'except depth images)')
    p.add_argument('--storage', choices=STORAGES,
                   help="output storage (default: the input's)")
    p.add_argument('--batch', type=int_at_least(1), default=4, help='frames per encoder pass')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_config_args(p)
    p.set_defaults(run=run_bag)
