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

"""The managed node: transitions driven over the lifecycle services, as Nav2 drives them."""

from types import SimpleNamespace

from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
import pytest
import rclpy
from rclpy.parameter import Parameter
from ros_helpers import (close_context, new_context, overrides, Probe, sample_image, Spinner,
                         wait_until)
from sensor_msgs.msg import Image

from depthclip_ros.ros.lifecycle_node import DepthClipLifecycleNode

NS = '/dc_lifecycle'
NODE = 'depthclip_node'
SETTINGS = {'diagnostics_period': 0.2, 'flip_tta': False, 'qos.image_reliability': 'reliable',
            'publish.points': False, 'publish.colorized': False, 'publish.confidence': False}


@pytest.fixture(scope='module')
def system(context, small_overrides):
    node = DepthClipLifecycleNode(
        namespace=NS, context=context,
        parameter_overrides=overrides(dict(small_overrides, **SETTINGS)))
    probe = Probe(namespace=NS, context=context)
    probe.subscribe('depth/image', Image)
    spinners = [Spinner(node, context=context).start(), Spinner(probe, context=context).start()]
    change = probe.create_client(ChangeState, f'{NS}/{NODE}/change_state')
    get = probe.create_client(GetState, f'{NS}/{NODE}/get_state')
    assert change.wait_for_service(timeout_sec=10.0) and get.wait_for_service(timeout_sec=10.0)
    rgb, _ = sample_image(160, 120)
    yield SimpleNamespace(node=node, probe=probe, change=change, get=get, rgb=rgb)
    for spinner in spinners:
        spinner.stop()
    probe.destroy_node()
    node.destroy_node()


def call(client, request):
    future = client.call_async(request)
    wait_until(future.done, timeout=60.0, what='the lifecycle service')
    return future.result()


def transition(system, transition_id):
    return call(system.change, ChangeState.Request(
        transition=Transition(id=transition_id))).success


def state(system):
    return call(system.get, GetState.Request()).current_state.id


def depth_comes_back_soon(system):
    """Publish the test image until its depth comes back (TimeoutError after 30 s)."""
    return system.probe.publish_until_output(lambda p: p.publish_rgb(system.rgb))['depth/image']


def depth_comes_back(system, timeout=4.0):
    header = system.probe.publish_rgb(system.rgb)
    try:
        system.probe.wait_for_stamp('depth/image', header, timeout=timeout)
        return True
    except TimeoutError:
        return False


def test_unconfigured_has_parameters_but_no_model_and_no_topics(system):
    node = system.node
    assert state(system) == State.PRIMARY_STATE_UNCONFIGURED
    assert node.engine is None
    assert node.count_publishers(f'{NS}/depth/image') == 0
    assert node.count_subscribers(f'{NS}/image') == 0
    assert node.get_parameter('input.height').value == 128
    # Live parameters can be set (and are checked) before the model is loaded.
    assert node.set_parameters([Parameter('temperature', value=0.2)])[0].successful
    result = node.set_parameters([Parameter('temperature', value=-1.0)])[0]
    assert not result.successful and 'temperature' in result.reason
    result = node.set_parameters([Parameter('model.name', value='RN101')])[0]
    assert not result.successful and 'read-only' in result.reason


def test_configure_loads_the_model_without_subscribing(system):
    node = system.node
    assert transition(system, Transition.TRANSITION_CONFIGURE)
    assert state(system) == State.PRIMARY_STATE_INACTIVE
    assert node.engine is not None and node.engine.config.temperature == 0.2
    wait_until(lambda: node.count_publishers(f'{NS}/depth/image') == 1)
    assert node.count_subscribers(f'{NS}/image') == 0
    assert not depth_comes_back(system, timeout=1.0)


def test_activate_processes_and_deactivate_stops(system):
    node, probe = system.node, system.probe
    assert transition(system, Transition.TRANSITION_ACTIVATE)
    assert state(system) == State.PRIMARY_STATE_ACTIVE
    probe.wait_for_subscribers(probe.image_pub)
    depth_comes_back_soon(system)  # depth while active
    assert transition(system, Transition.TRANSITION_DEACTIVATE)
    assert state(system) == State.PRIMARY_STATE_INACTIVE
    wait_until(lambda: node.count_subscribers(f'{NS}/image') == 0)
    received = node.stats['received']
    assert not depth_comes_back(system, timeout=1.0)
    assert node.stats['received'] == received
    # Live changes while inactive apply on the next activation.
    assert node.set_parameters([Parameter('output_scale', value=0.5)])[0].successful
    assert transition(system, Transition.TRANSITION_ACTIVATE)
    probe.wait_for_subscribers(probe.image_pub)
    assert depth_comes_back_soon(system).width == 80  # depth after reactivation
    assert node.set_parameters([Parameter('output_scale', value=1.0)])[0].successful


def test_cleanup_releases_the_model_and_configure_checks_parameters(system):
    node = system.node
    assert transition(system, Transition.TRANSITION_DEACTIVATE)
    assert transition(system, Transition.TRANSITION_CLEANUP)
    assert state(system) == State.PRIMARY_STATE_UNCONFIGURED
    assert node.engine is None
    wait_until(lambda: node.count_publishers(f'{NS}/depth/image') == 0)
    assert transition(system, Transition.TRANSITION_CONFIGURE)
    assert transition(system, Transition.TRANSITION_ACTIVATE)
    system.probe.wait_for_subscribers(system.probe.image_pub)
    depth_comes_back_soon(system)  # depth after cleanup


def test_shutdown_from_active(system):
    node = system.node
    assert transition(system, Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert state(system) == State.PRIMARY_STATE_FINALIZED
    assert node.engine is None and not node.worker_running
    wait_until(lambda: node.count_subscribers(f'{NS}/image') == 0)


def test_configure_fails_cleanly_with_a_bad_model(small_overrides, tmp_path):
    context = new_context()
    try:
        node = DepthClipLifecycleNode(
            'bad_lifecycle', namespace=NS, context=context,
            parameter_overrides=overrides(dict(small_overrides, **{
                'model.pretrained': str(tmp_path / 'missing.safetensors')})))
        try:
            assert node.trigger_configure() == \
                rclpy.lifecycle.TransitionCallbackReturn.FAILURE
            assert node.engine is None
            assert node.count_publishers(f'{NS}/depth/image') == 0
        finally:
            node.destroy_node()
    finally:
        close_context(context)
