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

"""``/diagnostics`` messages from the core's per-camera health summaries."""

from typing import Sequence, Tuple

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from depthclip_ros.core.scheduler import ERROR, Health, OK, WARN

#: Core health level -> DiagnosticStatus level.
LEVELS = {OK: DiagnosticStatus.OK, WARN: DiagnosticStatus.WARN, ERROR: DiagnosticStatus.ERROR}


def camera_status(health: Health, name: str, hardware_id: str,
                  extra: Sequence[Tuple[str, str]] = ()) -> DiagnosticStatus:
    """
    Return the ``DiagnosticStatus`` of one camera.

    :param health: the core's summary (level, message, values)
    :param name: the status name (``<node>: depth`` or ``<node>: <camera> depth``)
    :param hardware_id: the inference device
    :param extra: key values appended after the health values (device, model, ...)
    """
    values = list(health.values) + list(extra)
    return DiagnosticStatus(level=LEVELS[health.level], name=name, message=health.message,
                            hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=str(v)) for k, v in values])


def diagnostic_array(statuses: Sequence[DiagnosticStatus], stamp: Time) -> DiagnosticArray:
    """Return a ``DiagnosticArray`` of ``statuses`` stamped ``stamp``."""
    msg = DiagnosticArray(status=list(statuses))
    msg.header.stamp = stamp
    return msg
