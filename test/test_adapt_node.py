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

"""``prompts.embeddings_file`` in depthclip_node over DDS: live, bins shown, bad files refused."""

from types import SimpleNamespace

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from ros_helpers import overrides, Probe, sample_image, Spinner, wait_until
from sensor_msgs.msg import Image

from depthclip_ros.core.config import DepthClipConfig
from depthclip_ros.core.embeddings import AdaptedEmbeddings, save_embeddings
from depthclip_ros.ros import msgs
from depthclip_ros.ros.node import DepthClipNode, StartupError
from depthclip_ros.ros.parameters import plain_value

NS = '/dc_adapt_node'
SETTINGS = {'diagnostics_period': 0.2, 'flip_tta': False, 'qos.image_reliability': 'reliable',
            'publish.points': False, 'publish.colorized': False, 'publish.confidence': False}
FILE_BINS = (4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
PROMPT_BINS = list(DepthClipConfig().depth_bins)


def _file(path, embeddings, **changes):
    values = dict(embeddings=embeddings, depth_bins=FILE_BINS, temperature=0.05,
                  model_name='RN50', feature_mode='paper', input_size=(128, 160),
                  weights='RN50 test', frames=12, metric_names=('abs_rel',),
                  heldout_before=(0.3,), heldout_after=(0.2,))
    values.update(changes)
    save_embeddings(str(path), AdaptedEmbeddings(**values))
    return str(path)


def _raw(path, **arrays):
    with open(path, 'wb') as f:
        np.savez(f, **arrays)
    return str(path)


@pytest.fixture(scope='module')
def system(context, small_overrides, tmp_path_factory):
    node = DepthClipNode(namespace=NS, context=context,
                         parameter_overrides=overrides(dict(small_overrides, **SETTINGS)))
    probe = Probe(namespace=NS, context=context)
    probe.subscribe('depth/image', Image)
    probe.subscribe('/diagnostics', DiagnosticArray)
    probe.subscribe_rosout()
    spinners = [Spinner(node, context=context, threads=3).start(),
                Spinner(probe, context=context).start()]
    client = AsyncParameterClient(probe, f'{NS}/depthclip_node')
    assert client.wait_for_services(timeout_sec=10.0)
    probe.wait_for_subscribers(probe.image_pub)
    # the prompts' embeddings, in another order: a valid file for this model
    text = node.engine.state.text.numpy()
    folder = tmp_path_factory.mktemp('embeddings')
    good = _file(folder / 'good.npz', text[::-1].copy())
    arrays = dict(np.load(good, allow_pickle=False))
    nan = arrays['embeddings'].copy()
    nan[0, 0] = np.nan
    bad = {
        'wrong width': (_file(folder / 'narrow.npz', _unit(7, 512)), 'width 512'),
        'NaN': (_raw(folder / 'nan.npz', **dict(arrays, embeddings=nan)), 'NaN'),
        'pickle inside': (_raw(folder / 'pickle.npz', **dict(
            arrays, depth_classes=np.array([object()], dtype=object))), 'pickled'),
        'other model': (_file(folder / 'vit.npz', text, model_name='ViT-B-16'),
                        'made for model.name ViT-B-16'),
        'gigabyte member': (_gigabyte_member(good, folder / 'huge.npz'),
                            'declares a 262144x1024 float32 array of 1073741824 bytes'),
        'dev zero': ('/dev/zero', 'not a regular file (a character device)'),
        'fifo': (_fifo(folder / 'fifo.npz'), 'not a regular file (a FIFO'),
    }
    yield SimpleNamespace(node=node, probe=probe, client=client, good=good, bad=bad,
                          folder=folder, text=text.copy(), rgb=sample_image(160, 120)[0])
    for spinner in spinners:
        spinner.stop()
    probe.destroy_node()
    node.destroy_node()


def _gigabyte_member(good, path):
    """Copy ``good`` with an embeddings header that declares 1 GiB (and no data)."""
    import io
    import zipfile
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {'descr': '<f4', 'fortran_order': False,
                                                  'shape': (1 << 18, 1024)})
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, 'w') as out:
        for info in src.infolist():
            out.writestr(info.filename, header.getvalue() if info.filename == 'embeddings.npy'
                         else src.read(info))
    return str(path)


def _fifo(path):
    import os
    os.mkfifo(path)
    return str(path)


def _unit(k, c):
    rows = np.random.default_rng(1).normal(size=(k, c))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def call(future, timeout=60.0):
    wait_until(future.done, timeout=timeout, what='the parameter service')
    return future.result()


def remote_set(system, **values):
    """Set parameters (dots written as __) over the parameter service, atomically."""
    params = [Parameter(name.replace('__', '.'), value=value) for name, value in values.items()]
    return call(system.client.set_parameters_atomically(params)).result


def remote_get(system, *names):
    values = call(system.client.get_parameters(list(names))).values
    return [plain_value(parameter_value_to_python(value)) for value in values]


def roundtrip(system, timeout=30.0):
    out = system.probe.publish_until_output(lambda p: p.publish_rgb(system.rgb),
                                            timeout=timeout)
    return msgs.image_msg_to_array(out['depth/image'])


@pytest.fixture
def back_to_prompts(system):
    yield
    result = remote_set(system, prompts__embeddings_file='', depth_bins=PROMPT_BINS,
                        temperature=0.1)
    assert result.successful, result.reason


def test_a_file_set_live_over_dds_drives_the_depth(system, back_to_prompts):
    node, probe = system.node, system.probe
    before = roundtrip(system)
    assert before.max() <= 3.0 + 1e-4
    result = remote_set(system, prompts__embeddings_file=system.good)
    assert result.successful, result.reason
    state = node.engine.state
    assert state.adapted is not None and state.adapted.path == system.good
    np.testing.assert_array_equal(state.text.numpy(), system.text[::-1])
    # depth_bins and temperature come from the file, and the parameters say so
    assert node.engine.config.depth_bins == FILE_BINS
    assert node.engine.config.temperature == 0.05
    assert remote_get(system, 'depth_bins', 'temperature') == [list(FILE_BINS), 0.05]
    depth = roundtrip(system)
    assert depth.min() >= FILE_BINS[0] - 1e-4 and depth.max() <= FILE_BINS[-1] + 1e-4
    # the log and the diagnostics say where the class embeddings come from
    line = wait_until(lambda: probe.log_lines('depthclip_node', 'class embeddings from'),
                      what='the log line')[-1]
    assert system.good in line and 'prompts.* do not drive' in line

    def diagnostic():
        for array in probe.received('/diagnostics'):
            for status in array.status:
                values = {kv.key: kv.value for kv in status.values}
                if system.good in values.get('class embeddings', ''):
                    return values['class embeddings']
        return None
    assert 'held-out AbsRel 0.300 -> 0.200' in wait_until(diagnostic, what='diagnostics')
    # prompts changes are taken but do not change the class embeddings while a file is set
    result = remote_set(system, prompts__objects=['object', 'thing'])
    assert result.successful, result.reason
    assert node.engine.state.text is state.text
    wait_until(lambda: probe.log_lines('depthclip_node', 'the class embeddings stay'),
               what='the prompts note')
    # bins set later win; clearing the file brings the prompts back, with the bins in force
    assert remote_set(system, depth_bins=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]).successful
    assert remote_set(system, prompts__embeddings_file='', prompts__objects=['object']
                      ).successful
    assert node.engine.state.adapted is None
    np.testing.assert_array_equal(node.engine.state.text.numpy(), system.text)
    assert node.engine.config.depth_bins == (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)


def test_bins_set_with_the_file_win(system, back_to_prompts):
    result = remote_set(system, prompts__embeddings_file=system.good,
                        depth_bins=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    assert result.successful, result.reason
    config = system.node.engine.config
    assert config.depth_bins == (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)
    assert config.temperature == 0.05  # not set with it: the file's
    assert remote_get(system, 'depth_bins', 'temperature') == [
        [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], 0.05]


@pytest.mark.parametrize('case', ['wrong width', 'NaN', 'pickle inside', 'other model',
                                  'gigabyte member', 'dev zero', 'fifo'])
def test_bad_files_are_refused_and_the_old_state_kept(system, case):
    node = system.node
    path, words = system.bad[case]
    state = node.engine.state
    result = remote_set(system, prompts__embeddings_file=path)
    assert not result.successful and words in result.reason, (case, result.reason)
    assert node.engine.state is state
    assert remote_get(system, 'prompts.embeddings_file', 'depth_bins') == ['', PROMPT_BINS]
    assert np.isfinite(roundtrip(system)).all()


def test_a_file_given_at_start_sets_the_bins(context, small_overrides, system):
    params = dict(small_overrides, **SETTINGS)
    params['prompts.embeddings_file'] = system.good
    node = DepthClipNode(node_name='depthclip_start', namespace=NS + '_start', context=context,
                         parameter_overrides=overrides(params))
    try:
        assert node.engine.state.adapted is not None
        assert list(node.get_parameter('depth_bins').value) == list(FILE_BINS)
        assert node.get_parameter('temperature').value == 0.05
    finally:
        node.destroy_node()
    params['prompts.embeddings_file'] = system.bad['other model'][0]
    with pytest.raises(StartupError, match='made for model.name ViT-B-16'):
        DepthClipNode(node_name='depthclip_bad', namespace=NS + '_bad', context=context,
                      parameter_overrides=overrides(params))
