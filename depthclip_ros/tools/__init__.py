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
Offline commands of ``depthclip`` (predict, bench, eval, calibrate, bag, demo, ...).

``cli`` is only the registry: each command module adds its own subcommand with
``register(subparsers)`` (``predict``, ``bench_command``, ``checkpoint``, ``demo``,
``evaluation``, ``calibration``, ``bag``), and nothing imports ``cli``. The measurements of
``depthclip bench`` are in ``bench`` and ``node_bench``. Shared pieces: ``common`` (settings
from ``--params`` / ``--set``, argument types, images, JSON, indices, timing, weights
access), ``dds_env`` (the one local-only DDS environment), ``params_file`` (parameter files
for the node processes the tools start), ``process_tools`` (running the node),
``rosbag_io`` (reading bags) and ``datasets`` (frames with known depth).
"""
