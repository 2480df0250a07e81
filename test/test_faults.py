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
Faults: failed model loads, run-time device errors, safe loading, comings and goings.

Failed model loads run as real processes; cameras and subscribers come and go over DDS.

Run-time CUDA faults are exercised on the CPU with a test double the tests install on the
node's engine (:func:`failing_encoder`): the next encoder passes raise what a GPU would.
"""

import pickle
import threading
import time
from types import SimpleNamespace

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import pytest
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import qos_profile_sensor_data
from ros_helpers import (finish_process, kill_process, overrides, Probe, sample_image, Spinner,
                         start_process, wait_until)
from sensor_msgs.msg import Image
import torch

from depthclip_ros.ros.node import DepthClipNode

NS = '/dc_faults'
NODE = 'depthclip_node'
SETTINGS = {'diagnostics_period': 0.2, 'flip_tta': False, 'qos.image_reliability': 'reliable',
            'publish.points': False, 'publish.colorized': False, 'publish.confidence': False}


class _Exploit:
    """Unpickling this object creates a file: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


# -------------------------------------------------------------------------------------------
# model load failures: real node processes (started first, they load in the background)
# -------------------------------------------------------------------------------------------
@pytest.fixture(scope='module', autouse=True)
def bad_models(small_overrides, rn50_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp('bad_models')
    corrupt = folder / 'corrupt.safetensors'
    corrupt.write_bytes(b'\x00not a checkpoint' * 64)
    evil = folder / 'evil.pt'
    marker = folder / 'pwned'
    with open(evil, 'wb') as f:
        pickle.dump({'visual.conv1.weight': _Exploit(str(marker))}, f)
    base = dict(small_overrides)
    cases = {
        'corrupt': (dict(base, **{'model.pretrained': str(corrupt)}), 'cannot read checkpoint'),
        'other_architecture': (dict(base, **{'model.name': 'RN101'}), 'does not fit'),
        'malicious_pickle': (dict(base, **{'model.pretrained': str(evil)}),
                             'cannot read checkpoint'),
    }
    procs = {name: start_process('depthclip_node', f'/dc_fault_{name}',
                                 *[f'{k}:={v}' for k, v in params.items()])
             for name, (params, _) in cases.items()}
    yield SimpleNamespace(procs=procs, cases=cases, marker=marker)
    for proc in procs.values():
        kill_process(proc)


# -------------------------------------------------------------------------------------------
# a node in this process
# -------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def system(context, small_overrides):
    node = DepthClipNode(namespace=NS, context=context,
                         parameter_overrides=overrides(dict(small_overrides, **SETTINGS)))
    probe = Probe(namespace=NS, context=context)
    probe.subscribe('depth/image', Image)
    probe.subscribe('/diagnostics', DiagnosticArray)
    spinners = [Spinner(node, context=context).start(), Spinner(probe, context=context).start()]
    rgb, intr = sample_image(160, 120)
    wait_until(lambda: node.count_subscribers(f'{NS}/depth/image') > 0)
    probe.wait_for_subscribers(probe.image_pub)
    yield SimpleNamespace(node=node, probe=probe, rgb=rgb, context=context, spinners=spinners)
    for spinner in spinners:
        spinner.stop()
    probe.destroy_node()
    node.destroy_node()


def roundtrip(system, probe=None, timeout=30.0):
    """Publish the test image until its depth comes back; return the depth message."""
    probe = probe or system.probe
    return probe.publish_until_output(lambda p: p.publish_rgb(system.rgb),
                                      timeout=timeout)['depth/image']


def failing_encoder(monkeypatch, node, error, count=1):
    """Make the node's next ``count`` encoder passes raise ``error``, then run as before."""
    engine = node.engine
    predict = engine.predict
    left = [count]
    lock = threading.Lock()

    def faulty(*args, **kwargs):
        with lock:
            failing = left[0] > 0
            left[0] -= failing
        if failing:
            raise error
        return predict(*args, **kwargs)

    monkeypatch.setattr(engine, 'predict', faulty)


def latest_status(probe, node):
    for msg in reversed(probe.received('/diagnostics')):
        for status in msg.status:
            if status.name.startswith(node.get_fully_qualified_name()):
                return status
    return None


@pytest.mark.parametrize('error,words', [
    (torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB'),
     'OutOfMemoryError: CUDA out of memory'),
    (RuntimeError('CUDA error: device-side assert triggered'),
     'RuntimeError: CUDA error: device-side assert triggered'),
    (RuntimeError('CUDA error: an illegal memory access was encountered'),
     'illegal memory access'),
])
def test_device_error_drops_the_frame_and_the_node_goes_on(system, monkeypatch, error, words):
    node, probe = system.node, system.probe
    emptied = []
    monkeypatch.setattr(torch.cuda, 'empty_cache', lambda: emptied.append(True))
    roundtrip(system)
    before = node.stats
    failing_encoder(monkeypatch, node, error)
    header = probe.publish_rgb(system.rgb)
    wait_until(lambda: node.stats['errors'] > before['errors'], what='the error counted')
    assert words in node.last_problem(), node.last_problem()
    assert 'frame(s) dropped' in node.last_problem()
    assert node.stats['processed'] == before['processed']
    assert bool(emptied) == isinstance(error, torch.cuda.OutOfMemoryError)
    status = wait_until(lambda: (s := latest_status(probe, node)) is not None
                        and s.level == DiagnosticStatus.ERROR and s, what='ERROR diagnostics')
    assert status.message == 'inference errors'
    depth = roundtrip(system)  # the next frame is processed normally
    assert depth.header.stamp != header.stamp
    assert all(m.header.stamp != header.stamp for m in probe.received('depth/image'))
    assert all(spinner.error is None for spinner in system.spinners)
    wait_until(lambda: (s := latest_status(probe, node)) is not None
               and s.level != DiagnosticStatus.ERROR, what='diagnostics to recover')


def test_repeated_device_errors_never_stop_the_node(system, monkeypatch):
    node = system.node
    before = node.stats
    failing_encoder(monkeypatch, node, RuntimeError('CUDA error: unspecified launch failure'),
                    count=5)
    for _ in range(5):
        errors = node.stats['errors']
        system.probe.publish_rgb(system.rgb)
        wait_until(lambda e=errors: node.stats['errors'] > e, what='an error')
    assert node.stats['errors'] - before['errors'] == 5
    roundtrip(system)


def test_subscribers_coming_and_going(system):
    node, probe = system.node, system.probe
    roundtrip(system)
    probe.unsubscribe('depth/image')
    wait_until(lambda: node.count_subscribers(f'{NS}/depth/image') == 0)
    before = node.stats['processed']
    probe.publish_rgb(system.rgb)
    wait_until(lambda: node.stats['processed'] > before, what='processing without listeners')
    for _ in range(3):  # listeners come and go
        probe.subscribe('depth/image', Image)
        wait_until(lambda: node.count_subscribers(f'{NS}/depth/image') == 1)
        roundtrip(system)
        probe.unsubscribe('depth/image')
        wait_until(lambda: node.count_subscribers(f'{NS}/depth/image') == 0)
    late = Probe('late_listener', namespace=NS, context=system.context)
    late.subscribe('depth/image', Image)
    spinner = Spinner(late, context=system.context).start()
    try:
        probe.subscribe('depth/image', Image)
        wait_until(lambda: node.count_subscribers(f'{NS}/depth/image') == 2)
        header = probe.publish_rgb(system.rgb)
        late.wait_for_stamp('depth/image', header, timeout=30.0)
    finally:
        spinner.stop()
        late.destroy_node()


def test_camera_that_stops_and_restarts(system):
    node = system.node
    roundtrip(system)
    camera = Probe('camera_a', namespace=NS, context=system.context)
    camera.subscribe('depth/image', Image)
    spinner = Spinner(camera, context=system.context).start()
    try:
        camera.wait_for_subscribers(camera.image_pub)
        roundtrip(system, camera)
    finally:
        spinner.stop()
        camera.destroy_node()  # the camera driver stops
    wait_until(lambda: node.count_publishers(f'{NS}/image') == 1)
    time.sleep(0.5)
    restarted = Probe('camera_b', namespace=NS, context=system.context)
    restarted._seconds = 10  # a restarted driver; its clock may even start earlier
    restarted.subscribe('depth/image', Image)
    spinner = Spinner(restarted, context=system.context).start()
    try:
        restarted.wait_for_subscribers(restarted.image_pub)
        depth = roundtrip(system, restarted)
        assert depth.header.stamp.sec < 1000
    finally:
        spinner.stop()
        restarted.destroy_node()
    roundtrip(system)


def test_model_pretrained_cannot_change_at_run_time(system):
    node, probe = system.node, system.probe
    client = AsyncParameterClient(probe, f'{NS}/{NODE}')
    assert client.wait_for_services(timeout_sec=10.0)
    old = node.get_parameter('model.pretrained').value
    for value in ('openai', '/tmp/other.safetensors', ''):
        future = client.set_parameters([Parameter('model.pretrained', value=value)])
        wait_until(future.done, timeout=15.0, what='the parameter service')
        result = future.result().results[0]
        assert not result.successful and 'read-only' in result.reason, result.reason
    future = client.get_parameters(['model.pretrained'])
    wait_until(future.done, timeout=15.0, what='the parameter service')
    assert future.result().values[0].string_value == old
    assert node.engine.weights.endswith(old)
    roundtrip(system)


# -------------------------------------------------------------------------------------------
# (last: the processes have loaded in the background meanwhile)
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize('case', ['corrupt', 'other_architecture', 'malicious_pickle'])
def test_model_load_failure_exits_1_with_one_line(bad_models, case):
    proc = bad_models.procs[case]
    output = finish_process(proc, 120)
    assert proc.returncode == 1, output
    assert 'Traceback' not in output, output
    fatal = [line for line in output.splitlines() if 'FATAL' in line]
    assert len(fatal) == 1, output
    assert bad_models.cases[case][1] in fatal[0], fatal[0]
    if case == 'malicious_pickle':
        assert not bad_models.marker.exists()  # the pickle was never run


def test_silent_publisher_and_incompatible_qos_are_explained(context, small_overrides):
    """A publisher whose images never arrive, and one whose QoS cannot match, are explained."""
    ns = '/dc_silent'
    settings = dict(small_overrides, **SETTINGS)
    settings['qos.image_reliability'] = 'best_effort'
    node = DepthClipNode(namespace=ns, context=context, parameter_overrides=overrides(settings))
    probe = Probe('silent_camera', namespace=ns, context=context)  # reliable, never publishes
    probe.subscribe_rosout()
    probe.subscribe('/diagnostics', DiagnosticArray)
    spinners = [Spinner(node, context=context).start(), Spinner(probe, context=context).start()]
    try:
        probe.wait_for_subscribers(probe.image_pub)
        status = wait_until(
            lambda: (s := latest_status(probe, node)) is not None
            and 'but no image received' in s.message and s, timeout=30.0,
            what='the silent-publisher diagnostics')
        assert status.level == DiagnosticStatus.WARN
        assert status.message == f'1 publisher(s) on {ns}/image but no image received'
        line = wait_until(lambda: probe.log_lines(NODE, 'but no image received'),
                          what='the silent-publisher log line')[0]
        assert 'rmw_fastrtps#739' in line and 'qos.image_reliability: reliable' in line
        assert node.stats['received'] == 0 and node.stats['qos_incompatible'] == 0

        # A reliable subscription and a best-effort publisher cannot connect: said at once.
        result = node.set_parameters([Parameter('qos.image_reliability', value='reliable')])
        assert result[0].successful, result[0].reason
        best_effort = probe.create_publisher(Image, 'image', qos_profile_sensor_data)
        wait_until(lambda: node.stats['qos_incompatible'] > 0, what='the incompatible QoS event')
        assert 'offers a QoS incompatible' in node.last_problem()
        assert 'RELIABILITY' in node.last_problem(), node.last_problem()
        # The counter is set before the line travels over /rosout: wait for the line too.
        line = wait_until(lambda: probe.log_lines(NODE, 'offers a QoS incompatible'),
                          what='the incompatible QoS log line')[0]
        assert 'RELIABILITY' in line, line
        # The reliable publisher still connects: its frames are processed.
        rgb = sample_image(160, 120)[0]
        wait_until(lambda: probe.publish_rgb(rgb) and node.stats['processed'] > 0, period=0.5,
                   what='a frame after the QoS change')
        probe.destroy_publisher(best_effort)
    finally:
        for spinner in spinners:
            spinner.stop()
        probe.destroy_node()
        node.destroy_node()
