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
Reading rosbag2 recordings (sqlite3 or MCAP) with the pure-Python ``rosbags`` library.

Opening bags, the ROS 2 type store, decoding image and depth messages, building messages
of any type (the grounding markers), and pairing the image and depth topics of a recording:
what ``depthclip bag``, ``depthclip calibrate`` and the dataset readers share. No ROS
installation needed.
"""

import bisect
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from depthclip_ros.core.grounding import MARKER_NAMESPACE, MarkerSpec
from depthclip_ros.core.image_conversion import decode_compressed, image_to_rgb
from depthclip_ros.tools.common import evenly

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
CLOUD = 'sensor_msgs/msg/PointCloud2'
IMAGE_TYPES = (IMAGE, COMPRESSED)
MARKER = 'visualization_msgs/msg/Marker'
MARKER_ARRAY = 'visualization_msgs/msg/MarkerArray'
#: visualization_msgs/Marker's type and action constants.
SPHERE, TEXT_VIEW_FACING, ADD, DELETEALL = 2, 9, 0, 3

#: rosbags' primitive type names -> NumPy dtypes (sequences and arrays of them).
_PRIMITIVES = {'bool': np.bool_, 'byte': np.uint8, 'char': np.uint8, 'int8': np.int8,
               'uint8': np.uint8, 'int16': np.int16, 'uint16': np.uint16, 'int32': np.int32,
               'uint32': np.uint32, 'int64': np.int64, 'uint64': np.uint64,
               'float32': np.float32, 'float64': np.float64}

#: One image/depth pair: a name for messages, RGB uint8, depth in metres (NaN: unknown).
Pair = Tuple[str, np.ndarray, np.ndarray]


def rosbags_api():
    """Import rosbags, or explain how to install it."""
    try:
        from rosbags.rosbag2 import Reader, StoragePlugin, Writer
        from rosbags.typesys import get_typestore, Stores
    except ImportError:
        raise ValueError('bag support needs the rosbags package: pip install rosbags') from None
    return Reader, Writer, StoragePlugin, get_typestore, Stores


def make_typestore():
    """Return a rosbags typestore of the newest ROS 2 distribution rosbags knows."""
    _, _, _, get_typestore, stores = rosbags_api()
    for name in ('LATEST', 'ROS2_KILTED', 'ROS2_JAZZY', 'ROS2_HUMBLE'):
        if hasattr(stores, name):
            return get_typestore(getattr(stores, name))
    raise ValueError('rosbags has no ROS 2 type store')  # pragma: no cover


def default_message(typestore, msgtype: str, **values):
    """
    Return a message of ``msgtype``: ``values``, and every other field at its default.

    Defaults are zero, empty or false. Built from the type store's field definitions, so
    a message of many fields (a ``Marker`` of Jazzy or Kilted has textures and mesh files)
    needs only the ones that matter.
    """
    fields = {}
    for name, (node, spec) in typestore.fielddefs[msgtype][1]:
        if name in values:
            continue
        kind = getattr(node, 'name', node)
        if kind == 'BASE':
            base = spec[0]
            fields[name] = '' if base == 'string' else False if base == 'bool' else \
                _PRIMITIVES[base](0).item()
        elif kind == 'NAME':
            fields[name] = default_message(typestore, spec)
        else:  # ARRAY (fixed size) or SEQUENCE
            (element_node, element), size = spec
            element_kind = getattr(element_node, 'name', element_node)
            if element_kind == 'BASE' and element[0] in _PRIMITIVES:
                fields[name] = np.zeros(size if kind == 'ARRAY' else 0,
                                        dtype=_PRIMITIVES[element[0]])
            elif kind == 'ARRAY':
                fields[name] = [default_message(typestore, element) if element_kind == 'NAME'
                                else '' for _ in range(size)]
            else:
                fields[name] = []
    fields.update(values)
    return typestore.types[msgtype](**fields)


def markers_message(typestore, specs: Sequence[MarkerSpec], header: Any):
    """
    Return a ``MarkerArray``: a ``DELETEALL`` of the grounding namespace, then ``specs``.

    The same markers as the node's (:func:`depthclip_ros.ros.msgs.markers_msg`).
    """
    types = typestore.types

    def marker(**values):
        return default_message(typestore, MARKER, header=header, ns=MARKER_NAMESPACE, **values)

    markers = [marker(id=0, action=DELETEALL)]
    for spec in specs:
        x, y, z = (float(v) for v in spec.position)
        pose = default_message(
            typestore, 'geometry_msgs/msg/Pose',
            position=types['geometry_msgs/msg/Point'](x=x, y=y, z=z),
            orientation=types['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0))
        sx, sy, sz = (float(v) for v in spec.scale)
        r, g, b, a = (float(v) for v in spec.rgba)
        markers.append(marker(
            id=spec.marker_id, type=SPHERE if spec.kind == 'sphere' else TEXT_VIEW_FACING,
            action=ADD, pose=pose, scale=types['geometry_msgs/msg/Vector3'](x=sx, y=sy, z=sz),
            color=types['std_msgs/msg/ColorRGBA'](r=r, g=g, b=b, a=a), text=spec.text))
    return types[MARKER_ARRAY](markers=markers)


def open_reader(path: str):
    """
    Open a rosbag2 for reading: a bag directory, or a single ``.db3`` / ``.mcap`` file.

    :raises FileNotFoundError: the path does not exist
    :raises ValueError: not a readable bag
    """
    reader_cls = rosbags_api()[0]
    if not os.path.exists(path):
        raise FileNotFoundError(f'bag {path} does not exist')
    try:
        reader = reader_cls(path)
        reader.open()
    except FileNotFoundError as error:
        raise ValueError(f'{path} is not a rosbag2 ({error})') from None
    except Exception as error:  # noqa: B902 - rosbags raises its own error types
        raise ValueError(f'cannot read bag {path}: {error}') from None
    return reader


def bag_storage(path: str) -> str:
    """Return the storage format of a bag: ``sqlite3`` or ``mcap``."""
    if os.path.isfile(path):
        return 'mcap' if path.endswith('.mcap') else 'sqlite3'
    from depthclip_ros.core.files import load_yaml
    metadata = os.path.join(path, 'metadata.yaml')
    try:
        info = load_yaml(metadata, metadata)['rosbag2_bagfile_information']
        return str(info['storage_identifier'])
    except (ValueError, KeyError, TypeError):
        names = os.listdir(path)
        return 'mcap' if any(n.endswith('.mcap') for n in names) else 'sqlite3'


def is_depth_topic(topic: str) -> bool:
    """Return whether a topic name says it carries depth images (a name part with ``depth``)."""
    return any('depth' in part.lower() for part in topic.split('/'))


def stamp_ns(header) -> int:
    """Return a message header's stamp in nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def decode_image_msg(msg, msgtype: str) -> np.ndarray:
    """
    Decode a deserialized ``Image`` or ``CompressedImage`` into RGB uint8.

    :raises depthclip_ros.core.image_conversion.ImageConversionError: unsupported or malformed
    """
    if msgtype == COMPRESSED:
        return decode_compressed(msg.format, msg.data)
    return image_to_rgb(msg.height, msg.width, msg.encoding, bool(msg.is_bigendian), msg.step,
                        msg.data)


def depth_msg_to_metres(msg) -> np.ndarray:
    """
    Read a depth ``Image`` (32FC1 metres, or 16UC1 / mono16 millimetres) as float32 metres.

    Zero and non-finite depths become NaN.

    :raises ValueError: another encoding, or data shorter than height x step
    """
    encodings = {'32FC1': ('f4', 1.0), '16UC1': ('u2', 1e-3), 'mono16': ('u2', 1e-3)}
    if msg.encoding not in encodings:
        raise ValueError(f'depth image encoding must be 32FC1 (m) or 16UC1 (mm), got '
                         f'{msg.encoding!r}')
    kind, factor = encodings[msg.encoding]
    dtype = np.dtype(('>' if msg.is_bigendian else '<') + kind)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8)
    if h < 1 or w < 1 or step < w * dtype.itemsize or data.size < h * step:
        raise ValueError(f'malformed depth image: {w}x{h}, step {step}, {data.size} bytes')
    rows = data[:h * step].reshape(h, step)[:, :w * dtype.itemsize]
    depth = np.ascontiguousarray(rows).view(dtype).reshape(h, w).astype(np.float32)
    depth *= np.float32(factor)
    depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    return depth


def pick_topic(topic_types: Dict[str, str], wanted: Optional[str], kinds: Sequence[str],
               depth: bool, what: str) -> str:
    """
    Return ``wanted`` when it is a topic of one of ``kinds``, else the one candidate by name.

    :raises ValueError: ``wanted`` is not such a topic, or not exactly one candidate
    """
    if wanted:
        if topic_types.get(wanted) not in kinds:
            raise ValueError(f'{what} topic {wanted} is not a {" or ".join(kinds)} topic of the '
                             'bag')
        return wanted
    candidates = sorted(t for t, k in topic_types.items()
                        if k in kinds and is_depth_topic(t) == depth)
    if depth:
        candidates = [t for t in candidates if not t.endswith(('/confidence', '/colorized'))]
    if len(candidates) != 1:
        option = '--depth-topic' if depth else '--image-topic'
        raise ValueError(f'choose the {what} topic with {option}; candidates: '
                         f'{", ".join(candidates) or "none"}')
    return candidates[0]


def image_depth_pairs(path: str, image_topic: Optional[str] = None,
                      depth_topic: Optional[str] = None, frames: int = 0,
                      max_dt: float = 0.02) -> Tuple[int, Iterator[Pair]]:
    """
    Pair the image and registered depth messages of a bag (for calibration and adaptation).

    Messages are paired by header stamp (the bag timestamp when the stamp is zero): each
    image with the nearest depth within ``max_dt`` seconds; ``frames`` evenly spaced pairs
    (0: all) are used. Topics not given are found by name (one image topic, one depth topic).

    :return: the number of pairs, and an iterator of ``(name, rgb uint8, depth metres)``
        with NaN where the depth is unknown
    :raises ValueError: topics missing or ambiguous, or no pair
    """
    if not max_dt >= 0.0:
        raise ValueError(f'max_dt must be >= 0 seconds, got {max_dt}')
    typestore = make_typestore()
    reader = open_reader(path)
    try:
        topic_types = {c.topic: c.msgtype for c in reader.connections}
        image_topic = pick_topic(topic_types, image_topic, IMAGE_TYPES, False, 'image')
        depth_topic = pick_topic(topic_types, depth_topic, (IMAGE,), True, 'depth')
        if depth_topic == image_topic:
            raise ValueError(f'{image_topic} cannot be both the image and the depth topic')
        conns = [c for c in reader.connections if c.topic in (image_topic, depth_topic)]
        stamps: Dict[str, List[int]] = {image_topic: [], depth_topic: []}
        for conn, timestamp, raw in reader.messages(connections=conns):
            header = typestore.deserialize_cdr(raw, conn.msgtype).header
            stamps[conn.topic].append(stamp_ns(header) or timestamp)
    finally:
        reader.close()
    order = sorted(range(len(stamps[depth_topic])), key=lambda i: stamps[depth_topic][i])
    depth_sorted = [stamps[depth_topic][i] for i in order]
    pairs = []
    limit = int(round(max_dt * 1e9))
    for index, stamp in enumerate(stamps[image_topic]):
        k = bisect.bisect_left(depth_sorted, stamp)
        near = [j for j in (k - 1, k) if 0 <= j < len(depth_sorted)]
        if not near:
            continue
        best = min(near, key=lambda j: abs(depth_sorted[j] - stamp))
        if abs(depth_sorted[best] - stamp) <= limit:
            pairs.append((index, order[best]))
    if not pairs:
        raise ValueError(f'no {image_topic} message has a {depth_topic} message within '
                         f'{max_dt:g} s')
    chosen = [pairs[i] for i in evenly(len(pairs), frames)]

    def generate():
        want_image = {i: n for n, (i, _) in enumerate(chosen)}
        want_depth: Dict[int, List[int]] = {}
        for n, (_, d) in enumerate(chosen):
            want_depth.setdefault(d, []).append(n)
        images: Dict[int, Tuple[str, np.ndarray]] = {}
        depths: Dict[int, np.ndarray] = {}
        counters = {image_topic: 0, depth_topic: 0}
        inner = open_reader(path)
        try:
            conns = [c for c in inner.connections if c.topic in (image_topic, depth_topic)]
            for conn, timestamp, raw in inner.messages(connections=conns):
                index = counters[conn.topic]
                counters[conn.topic] += 1
                ready = []
                if conn.topic == image_topic and index in want_image:
                    msg = typestore.deserialize_cdr(raw, conn.msgtype)
                    n = want_image[index]
                    images[n] = (f'{image_topic}@{stamp_ns(msg.header) or timestamp}',
                                 decode_image_msg(msg, conn.msgtype))
                    ready.append(n)
                if conn.topic == depth_topic and index in want_depth:
                    depth = depth_msg_to_metres(typestore.deserialize_cdr(raw, IMAGE))
                    for n in want_depth[index]:
                        depths[n] = depth
                        ready.append(n)
                for n in ready:
                    if n in images and n in depths:
                        name, rgb = images.pop(n)
                        yield name, rgb, depths.pop(n)
        finally:
            inner.close()
    return len(chosen), generate()


def bag_images(path: str, image_topic: Optional[str] = None,
               frames: int = 0) -> Tuple[int, Iterator[Tuple[str, np.ndarray]]]:
    """
    Read the images of one camera topic of a bag as RGB (e.g. int8 calibration frames).

    :param image_topic: an ``Image`` or ``CompressedImage`` topic (default: the one image
        topic that is not depth, found by name)
    :param frames: use this many evenly spaced messages (0: all)
    :return: the number of images, and an iterator of ``(name, rgb uint8)``
    :raises ValueError: the topic is missing or ambiguous, or has no message
    """
    reader = open_reader(path)
    try:
        topic_types = {c.topic: c.msgtype for c in reader.connections}
        image_topic = pick_topic(topic_types, image_topic, IMAGE_TYPES, False, 'image')
        count = sum(c.msgcount for c in reader.connections if c.topic == image_topic)
    finally:
        reader.close()
    if count == 0:
        raise ValueError(f'{image_topic} has no message in {path}')
    wanted = set(evenly(count, frames))
    typestore = make_typestore()

    def generate():
        inner = open_reader(path)
        try:
            conns = [c for c in inner.connections if c.topic == image_topic]
            for index, (conn, timestamp, raw) in enumerate(inner.messages(connections=conns)):
                if index in wanted:
                    msg = typestore.deserialize_cdr(raw, conn.msgtype)
                    yield (f'{image_topic}@{stamp_ns(msg.header) or timestamp}',
                           decode_image_msg(msg, conn.msgtype))
        finally:
            inner.close()
    return len(wanted), generate()
