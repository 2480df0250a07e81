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
The camera's mounting over the floor from TF (``scale.floor_frame``), when tf2_ros is there.

``scale.floor_frame`` names a frame on the floor with z up (``base_footprint``, ``odom``,
...). The transform from it to an image's frame_id (an optical frame, REP 103) gives the
optical centre's height (its z in the floor frame) and the floor's downward direction in
the optical frame, from which the core's ground-scale fit works. tf2_ros comes with a ROS 2
distribution; without it (the PyPI wheels) the parameter is refused with that reason.
"""

from typing import Optional

from depthclip_ros.core.scale import Mounting

#: Seconds to wait for a transform at the image's stamp (the worker must not stall).
LOOKUP_TIMEOUT_S = 0.05


def tf2_available() -> bool:
    """Return whether tf2_ros can be imported here."""
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return False
    return True


def check_floor_frame(frame: str) -> None:
    """
    Refuse a non-empty ``scale.floor_frame`` where tf2_ros is missing.

    :raises ValueError: naming the parameter and what to use instead
    """
    if frame and not tf2_available():
        raise ValueError('scale.floor_frame needs tf2_ros, which is not installed here (it '
                         'comes with a ROS 2 distribution); set scale.camera_height, '
                         'scale.camera_pitch_deg and scale.camera_roll_deg instead')


class FloorTf:
    """Looks the camera's mounting up in TF for each frame (one listener per node)."""

    def __init__(self, node):
        from tf2_ros import Buffer, TransformListener
        self._buffer = Buffer()
        # No spin thread of its own: the node's executor serves the TF subscriptions (a
        # listener with spin_thread=True would move the whole node onto its executor).
        self._listener = TransformListener(self._buffer, node)

    def close(self) -> None:
        """Stop listening (the subscriptions are destroyed)."""
        self._listener.unregister()

    def mounting(self, floor_frame: str, frame_id: str, stamp_ns: int) -> Optional[Mounting]:
        """
        Return the mounting at ``stamp_ns``; the latest one when that time is not there yet.

        :raises ValueError: no transform between the two frames (the reason)
        """
        from rclpy.duration import Duration
        from rclpy.time import Time
        import tf2_ros
        try:
            transform = self._buffer.lookup_transform(
                floor_frame, frame_id, Time(nanoseconds=stamp_ns),
                timeout=Duration(seconds=LOOKUP_TIMEOUT_S))
        except tf2_ros.ExtrapolationException:
            try:
                transform = self._buffer.lookup_transform(floor_frame, frame_id, Time())
            except tf2_ros.TransformException as error:
                raise ValueError(f'no TF from {floor_frame} to {frame_id}: {error}') from None
        except tf2_ros.TransformException as error:
            raise ValueError(f'no TF from {floor_frame} to {frame_id}: {error}') from None
        t = transform.transform
        return Mounting.from_quaternion(t.translation.z, (t.rotation.x, t.rotation.y,
                                                          t.rotation.z, t.rotation.w))
