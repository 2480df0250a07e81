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
Parameter values that used to break the node, over the real parameter service.

Each is refused with a reason, the old values stay, the node stays up and frames keep
flowing: a template with a format spec (MemoryError in ``str.format``), a prompt that does not
fit CLIP's 77 tokens (the depth word cut off, every class the same), classes whose prompts
read the same, bins that overflow float32, and thousands of classes (minutes of text
encoding). A valid prompt change is encoded outside any lock the worker needs: frames are
processed while it runs (the encoder is held at a gate here, so the test does not depend on
how fast this machine encodes), and Ctrl-C ends a node process in the middle of one.
"""

import math
import signal
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_helpers import (finish_process, kill_process, overrides, Probe, process_output,
                         sample_image, Spinner, start_process, wait_until)
from sensor_msgs.msg import Image

from depthclip_ros.core import engine as engine_module
from depthclip_ros.ros import msgs
from depthclip_ros.ros.node import DepthClipNode
from depthclip_ros.ros.parameters import plain_value

NS = '/dc_param_safety'
SETTINGS = {'diagnostics_period': 0.2, 'flip_tta': False, 'qos.image_reliability': 'reliable',
            'publish.points': False, 'publish.colorized': False, 'publish.confidence': False}
CLASSES = ['giant', 'extremely close', 'close', 'not in distance', 'a little remote', 'far',
           'unseen']


@pytest.fixture(scope='module')
def system(context, small_overrides):
    node = DepthClipNode(namespace=NS, context=context,
                         parameter_overrides=overrides(dict(small_overrides, **SETTINGS)))
    probe = Probe(namespace=NS, context=context)
    probe.subscribe('depth/image', Image)
    spinners = [Spinner(node, context=context, threads=3).start(),
                Spinner(probe, context=context).start()]
    client = AsyncParameterClient(probe, f'{NS}/depthclip_node')
    assert client.wait_for_services(timeout_sec=10.0)
    probe.wait_for_subscribers(probe.image_pub)
    yield SimpleNamespace(node=node, probe=probe, client=client, rgb=sample_image(160, 120)[0])
    for spinner in spinners:
        spinner.stop()
    probe.destroy_node()
    node.destroy_node()


def roundtrip(system, timeout=30.0):
    """Publish the test image until its depth comes back; return the depth array."""
    out = system.probe.publish_until_output(lambda p: p.publish_rgb(system.rgb),
                                            timeout=timeout)
    return msgs.image_msg_to_array(out['depth/image'])


def call(future, timeout=60.0):
    wait_until(future.done, timeout=timeout, what='the parameter service')
    return future.result()


#: name -> (values set together, words of the reason)
BREAKERS = {
    'format_spec_template': ({'prompts.templates': ['{:>1000000000000000} is {}']},
                             'exactly 2 empty'),
    'megabyte_object': ({'prompts.objects': ['x' * 1_000_000]}, 'longer than 200'),
    'prompt_over_77_tokens': ({'prompts.objects': [', ' * 90]}, 'does not fit the context'),
    'two_classes_read_the_same': (
        {'prompts.depth_classes': CLASSES[:6] + [CLASSES[0]]}, 'nearly) identical'),
    'bins_overflowing_float32': ({'depth_bins': [1e39 * (i + 1) for i in range(7)]},
                                 'between 0.01 and 1000'),
    'infinite_bins': ({'depth_bins': [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, math.inf]},
                      'finite'),
    'five_thousand_classes': ({'prompts.depth_classes': [f'class {i}' for i in range(5000)],
                               'depth_bins': [1.0 + i * 0.001 for i in range(5000)]},
                              'at most 32'),
    'temperature_underflow': ({'temperature': 1e-300}, 'temperature'),
}


@pytest.mark.parametrize('case', sorted(BREAKERS))
def test_breaking_values_are_refused_over_the_service(system, case):
    node, client = system.node, system.client
    values, words = BREAKERS[case]
    before = {name: plain_value(node.get_parameter(name).value) for name in values}
    config = node.engine.config
    roundtrip(system)
    result = call(client.set_parameters_atomically(
        [Parameter(name, value=value) for name, value in values.items()]))
    assert not result.result.successful, case
    assert words in result.result.reason, (case, result.result.reason)
    assert node.engine.config == config
    for name, value in before.items():
        assert plain_value(node.get_parameter(name).value) == value, name
    depth = roundtrip(system)  # the node is up and frames flow
    assert np.isfinite(depth).all()
    assert len(np.unique(depth)) > 1  # not a silently constant depth


def test_prompt_encoding_runs_beside_the_frames(system, monkeypatch):
    """While new class embeddings are computed, frames are processed with the old ones."""
    node, client = system.node, system.client
    gate, entered = threading.Event(), threading.Event()
    real = engine_module.class_embeddings

    def held(*args, **kwargs):
        entered.set()
        assert gate.wait(60.0), 'the test never opened the gate'
        return real(*args, **kwargs)
    monkeypatch.setattr(engine_module, 'class_embeddings', held)
    count = node.engine.text_computations
    old = roundtrip(system)
    future = client.set_parameters([Parameter('prompts.objects', value=['object', 'thing'])])
    try:
        assert entered.wait(30.0), 'the prompt change never started'
        processed = node.stats['processed']
        during = roundtrip(system)  # a frame made while the encoder is busy
        assert node.stats['processed'] > processed
        np.testing.assert_allclose(during, old, atol=1e-5)  # still the old prompts
        assert not future.done()
    finally:
        gate.set()
    assert call(future).results[0].successful
    assert node.engine.text_computations == count + 1
    assert node.engine.config.prompts.objects == ('object', 'thing')
    assert np.isfinite(roundtrip(system)).all()
    call(client.set_parameters([Parameter('prompts.objects', value=['object'])]))


def test_ctrl_c_during_a_prompt_change_exits_cleanly(system, small_overrides):
    probe = system.probe
    params = dict(small_overrides, **SETTINGS)
    proc = start_process('depthclip_node', '/dc_param_sigint',
                         *[f'{k}:={v}' for k, v in params.items()])
    try:
        wait_until(lambda: proc.poll() is not None
                   or probe.count_publishers('/dc_param_sigint/depth/image') > 0,
                   timeout=120.0, period=0.1, what='the node process')
        assert proc.poll() is None, process_output(proc)
        client = AsyncParameterClient(probe, '/dc_param_sigint/depthclip_node')
        assert client.wait_for_services(timeout_sec=20.0)
        classes = [f'depth class number {i}' for i in range(32)]
        templates = ['This {} is {}', 'A photo of a {} that is {}', 'The {} looks {}',
                     'There is a {} which is {}']
        client.set_parameters_atomically([
            Parameter('prompts.depth_classes', value=classes),
            Parameter('prompts.templates', value=templates),
            Parameter('depth_bins', value=[1.0 + 0.1 * i for i in range(32)])])
        time.sleep(1.0)  # the request is on its way; the outcome is the same either way
        proc.send_signal(signal.SIGINT)
        output = finish_process(proc, 60)
        assert proc.returncode == 0, output
        assert 'Traceback' not in output, output
    finally:
        kill_process(proc)
