#!/usr/bin/env bash
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

# The GPU check: on a machine with an NVIDIA GPU and no network, run the CUDA tests and
# `depthclip bench --json` on cuda (fp32 / fp16, batch 1, 2 and 8, torch and onnxruntime
# CUDA / TensorRT where present) and write one JSON file ($OUT/gpu_check.json, or
# gpu_check.json in the repository).
#
#   scripts/gpu_wheels.sh              # here, with PyPI: wheels for what the GPU machine lacks
#   scripts/gpu_check.sh               # there: installs the missing wheels beside the tree
#   scripts/gpu_check.sh --device cpu --quick   # the dry run (a test runs it)
#
# Needs Python >= 3.10 with torch (CUDA build) on the GPU machine; open_clip, ftfy, onnx,
# pytest and the rest come from .cache/gpu_wheels into .cache/gpu_site (never into the
# machine's Python). Options: scripts/gpu_check.sh --help. PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" scripts/gpu_check.py "$@"
