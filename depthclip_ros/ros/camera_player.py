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
The ``camera_player`` demo node: a camera for machines that have none.

Publishes ``image`` (rgb8) and ``camera_info`` at ``rate`` Hz from the bundled sample
frames, an image folder, a video file or a V4L2 device (``/dev/videoN``).
"""

import glob
import os
import threading
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.sample import sample_frames, sample_intrinsics
from depthclip_ros.ros import msgs as ros_msgs
from depthclip_ros.ros.parameters import declare_parameter, parameter_type

NODE_NAME = 'camera_player'
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


class SourceError(RuntimeError):
    """The image source cannot be opened or read (one clear line)."""


class FolderSource:
    """Images from a sorted list of files."""

    def __init__(self, paths: List[str], description: str,
                 intrinsics: Optional[Intrinsics] = None):
        if not paths:
            raise SourceError(f'{description} has no .png or .jpg images')
        self.paths = paths
        self.description = f'{description} ({len(paths)} images)'
        self.intrinsics = intrinsics
        self.can_loop = True
        self._index = 0

    def read(self) -> Optional[np.ndarray]:
        """Return the next image as RGB uint8, or None at the end."""
        if self._index >= len(self.paths):
            return None
        path = self.paths[self._index]
        self._index += 1
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise SourceError(f'cannot read image {path}')
        return np.ascontiguousarray(bgr[:, :, ::-1])

    def rewind(self) -> None:
        """Start again from the first image."""
        self._index = 0

    def close(self) -> None:
        """Release nothing (files are read one by one)."""


class VideoSource:
    """Frames from ``cv2.VideoCapture`` (a video file or a camera device)."""

    def __init__(self, source: str):
        device = source.isdigit() or source.startswith('/dev/video')
        target = int(source) if source.isdigit() else source
        if not device and not os.path.isfile(source):
            raise SourceError(f'source {source!r} is not an image folder, a video file or '
                              '/dev/videoN')
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            raise SourceError(f'OpenCV cannot open {source!r}')
        self.description = f'{"device" if device else "video"} {source}'
        self.intrinsics = None
        self.can_loop = not device

    def read(self) -> Optional[np.ndarray]:
        """Return the next frame as RGB uint8, or None at the end."""
        ok, frame = self.capture.read()
        if not ok or frame is None:
            return None
        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        return np.ascontiguousarray(frame[:, :, 2::-1])

    def rewind(self) -> None:
        """Seek back to the first frame."""
        self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def close(self) -> None:
        """Release the capture."""
        self.capture.release()


def open_source(source: str):
    """
    Open ``source``: '' (bundled sample), an image folder, a video file or /dev/videoN.

    :raises SourceError: it cannot be opened
    """
    if not source:
        return FolderSource(sample_frames(), 'bundled sample frames', sample_intrinsics())
    if os.path.isdir(source):
        paths = sorted(p for p in glob.glob(os.path.join(source, '*'))
                       if p.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(p))
        return FolderSource(paths, f'folder {source}')
    return VideoSource(source)


def output_size(width: int, height: int, want_w: int, want_h: int) -> Tuple[int, int]:
    """Return the published size: the source's, or the requested one (aspect kept if one is 0)."""
    if want_w > 0 and want_h > 0:
        return want_w, want_h
    if want_w > 0:
        return want_w, max(1, int(round(height * want_w / width)))
    if want_h > 0:
        return max(1, int(round(width * want_h / height))), want_h
    return width, height


class CameraPlayer(Node):
    """
    Publish ``image`` + ``camera_info`` from a file source at a fixed rate.

    :param node_name: node name (default ``camera_player``)
    :param kwargs: passed to :class:`rclpy.node.Node`
    :raises SourceError: the source cannot be opened
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self.source = None
        try:
            self._setup()
        except BaseException:
            self.destroy_node()
            raise

    def _setup(self) -> None:
        self.source_param = self._param('source', '', 'Empty: the bundled sample frames; or '
                                        'an image folder, a video file, /dev/videoN')
        self.rate = self._param('rate', 10.0, 'Frames per second', 0.01, 1000.0)
        self.frame_id = self._param('frame_id', 'camera_color_optical_frame',
                                    'frame_id of the published headers')
        self.fov_deg = self._param('fov_deg', 60.0, 'Horizontal field of view (deg) for '
                                   'sources without intrinsics', 1.0, 179.0)
        self.overrides = {name: self._param(name, 0.0, f'{name} in pixels of the published '
                                            'image; 0 = derived', 0.0, 1e6)
                          for name in ('fx', 'fy', 'cx', 'cy')}
        self.loop = self._param('loop', True, 'Start again at the end of a file source')
        self.max_frames = self._param('max_frames', 0, 'Stop after this many frames (0: never)',
                                      0, 2 ** 31 - 1)
        self.width = self._param('width', 0, 'Published width (0: source width)', 0, 16384)
        self.height = self._param('height', 0, 'Published height (0: source height)', 0, 16384)

        self.source = open_source(self.source_param)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                         reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.create_publisher(Image, 'image', qos)
        self.info_pub = self.create_publisher(CameraInfo, 'camera_info', qos)
        self.published = 0
        self.finished = threading.Event()
        self._intrinsics: Dict[Tuple[int, int, int, int], Intrinsics] = {}
        self._timer = self.create_timer(1.0 / self.rate, self._tick)
        self.get_logger().info(f'publishing {self.source.description} on '
                               f'{self.image_pub.topic_name} at {self.rate:g} Hz')

    def _param(self, name, default, description, min_value=None, max_value=None):
        descriptor = ParameterDescriptor(description=description, read_only=True)
        if min_value is not None and isinstance(default, float):
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(min_value), to_value=float(max_value), step=0.0)]
        elif min_value is not None and isinstance(default, int) \
                and not isinstance(default, bool):
            descriptor.integer_range = [IntegerRange(from_value=int(min_value),
                                                     to_value=int(max_value), step=1)]
        descriptor.type = parameter_type(default)
        return declare_parameter(self, name, default, descriptor)

    def intrinsics(self, source_w: int, source_h: int, width: int, height: int) -> Intrinsics:
        """Return the intrinsics of a published width x height image of a source frame."""
        key = (source_w, source_h, width, height)
        intr = self._intrinsics.get(key)
        if intr is None:
            native = self.source.intrinsics
            if native is not None and (native.width, native.height) == (source_w, source_h):
                intr = native.scaled(width, height) if (width, height) != (source_w, source_h) \
                    else native
            else:
                intr = Intrinsics.from_fov(width, height, self.fov_deg)
            values = {name: getattr(intr, name) for name in ('fx', 'fy', 'cx', 'cy')}
            values.update({k: v for k, v in self.overrides.items() if v > 0.0})
            intr = Intrinsics(width=width, height=height, **values)
            self._intrinsics[key] = intr
        return intr

    def _tick(self) -> None:
        if self.finished.is_set():
            return
        try:
            rgb = self.source.read()
            if rgb is None and self.loop and self.source.can_loop and self.published > 0:
                self.source.rewind()
                rgb = self.source.read()
        except SourceError as error:
            self.get_logger().error(str(error))
            self.finish('source error')
            return
        if rgb is None:
            self.finish('end of the source')
            return
        source_h, source_w = rgb.shape[:2]
        width, height = output_size(source_w, source_h, self.width, self.height)
        if (width, height) != (source_w, source_h):
            shrink = width < source_w
            rgb = cv2.resize(rgb, (width, height),
                             interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)
        intr = self.intrinsics(source_w, source_h, width, height)
        self.image_pub.publish(ros_msgs.rgb_to_image_msg(rgb, header, 'rgb8'))
        self.info_pub.publish(ros_msgs.camera_info_msg(intr, header))
        self.published += 1
        if 0 < self.max_frames <= self.published:
            self.finish(f'published max_frames={self.max_frames}')

    def finish(self, why: str) -> None:
        """Stop publishing (the process then exits)."""
        if not self.finished.is_set():
            self._timer.cancel()
            self.finished.set()
            self.get_logger().info(f'done after {self.published} frames: {why}')

    def destroy_node(self) -> None:
        """Release the source, then destroy the node."""
        if self.source is not None:
            self.source.close()
        super().destroy_node()
