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

# DDS traffic stays on this machine and in a domain of its own, whatever the caller set.
# (Set before any test module imports rclpy.)
os.environ['FASTDDS_BUILTIN_TRANSPORTS'] = 'SHM'
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ['ROS_DOMAIN_ID'] = str(100 + os.getpid() % 100)
os.environ.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
# Never reach for a model hub from a test.
os.environ['HF_HUB_OFFLINE'] = '1'

import pytest  # noqa: E402


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
