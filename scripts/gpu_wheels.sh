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

# Download, on a machine with PyPI, the wheels scripts/gpu_check.sh installs on a GPU machine
# that lacks them (no network there): binary wheels only, for the GPU machine's Python and
# platform, without dependencies (the list is complete; torch, torchvision and onnxruntime
# are the GPU machine's own).
#
#   scripts/gpu_wheels.sh [DIR]        # default .cache/gpu_wheels (about 25 MB)
#   GPU_PYTHON=3.12 GPU_PLATFORM=manylinux_2_28_x86_64 scripts/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.cache/gpu_wheels}
python=${GPU_PYTHON:-3.12}
platform=${GPU_PLATFORM:-manylinux_2_28_x86_64}
pip=${PIP:-pip}
mkdir -p "$dir"
# What the GPU machine is planned to lack (it has torch, onnxruntime, opencv, numpy,
# safetensors and timm); GPU_EXTRA adds more, e.g. GPU_EXTRA="numpy safetensors timm" (the
# device tool carries at most 64 MiB beside the tree: opencv alone is 50 MB).
packages=(pyyaml tqdm regex wcwidth ftfy open_clip_torch onnx ml_dtypes protobuf
          typing_extensions iniconfig pluggy packaging pygments pytest ${GPU_EXTRA:-})
# manylinux_2_28 also takes the older manylinux2014 / _2_17 wheels.
"$pip" download --only-binary=:all: --no-deps --python-version "$python" \
    --implementation cp --platform "$platform" --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d "$dir" "${packages[@]}"
echo "gpu_wheels: $(ls "$dir" | wc -l) wheels, $(du -sh "$dir" | cut -f1) in $dir"
