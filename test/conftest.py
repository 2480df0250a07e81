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

"""Shared fixtures: local-only DDS, seeded random CLIP checkpoints, small configurations."""

import os

import pytest

from depthclip_ros.tools.dds_env import use_local_dds

# DDS traffic stays on this machine and in a domain of its own (the tests' range of domain
# ids, apart from the demo's, the benchmarks' and the soak's), whatever the caller set.
# (Set before any test module imports rclpy.)
use_local_dds('test')
# Never reach for a model hub from a test.
os.environ['HF_HUB_OFFLINE'] = '1'


@pytest.fixture(scope='session')
def rn50_checkpoint(tmp_path_factory):
    """Seeded random RN50 weights saved to a temporary checkpoint file (safetensors)."""
    from depthclip_ros.core.loading import save_random_checkpoint
    path = tmp_path_factory.mktemp('weights') / 'RN50-random-seed0.safetensors'
    save_random_checkpoint('RN50', str(path), seed=0)
    return str(path)


@pytest.fixture(scope='session')
def small_overrides(rn50_checkpoint):
    """
    Engine settings for fast tests: the random RN50 checkpoint at a small input size.

    fp32 explicitly: ``auto`` picks bf16 on CPUs with native bf16 and fp32 elsewhere, and
    tests must do the same arithmetic whichever CPU runs them (test_engine.py tests auto).
    """
    return {
        'model.pretrained': rn50_checkpoint,
        'model.device': 'cpu',
        'model.precision': 'fp32',
        'input.height': 128,
        'input.width': 160,
    }


@pytest.fixture(scope='module')
def context():
    """One rclpy context per test module, closed (entities destroyed) at its end."""
    from ros_helpers import close_context, new_context
    ctx = new_context()
    yield ctx
    close_context(ctx)
