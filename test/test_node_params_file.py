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

"""Settings for the nodes the tools start: a generated parameter file that rcl reads as meant."""

import pytest
import yaml

from depthclip_ros.core.config import default_params_file, load_params_file
from depthclip_ros.tools.params_file import (node_overrides, parse_node_override, ros_typed,
                                             write_params_file)


def test_overrides_keep_their_types():
    reference = {'temperature': 0.1, 'depth_bins': [1.0, 2.0, 3.0, 4.0], 'input.height': 416,
                 'model.pretrained': 'openai', 'flip_tta': True, 'cameras': [],
                 'prompts.objects': ['object'], 'prompts.depth_classes': ['a', 'b', 'c', 'd']}
    assert ros_typed(1, 0.1) == 1.0 and isinstance(ros_typed(1, 0.1), float)
    assert ros_typed([1, 2], [1.0]) == [1.0, 2.0]
    assert ros_typed(123, 'openai') == '123'
    assert ros_typed(True, 0.1) is True and ros_typed(5, 416) == 5
    values = node_overrides(['model.pretrained=', 'temperature=1', 'depth_bins:=[1, 2, 3, 4]',
                             'input.height:=128', 'flip_tta=false', 'cameras:=[a, b]',
                             'prompts.objects=[thing]'], reference)
    assert values == {'model.pretrained': '', 'temperature': 1.0,
                      'depth_bins': [1.0, 2.0, 3.0, 4.0],
                      'input.height': 128, 'flip_tta': False, 'cameras': ['a', 'b'],
                      'prompts.objects': ['thing']}
    assert isinstance(values['temperature'], float)
    assert parse_node_override('a.b:=x=y') == ('a.b', 'x=y')
    for item, message in (('input.height=1.5', 'input.height must be an integer'),
                          ('flip_tta=1', 'flip_tta must be true or false'),
                          ('depth_bins=3', 'depth_bins must be a list'),
                          ('temperature=.inf', 'temperature must be a number'),
                          ('nope=1', "unknown parameter 'nope'"),
                          ('=1', 'must look like name=value')):
        with pytest.raises(ValueError, match=message):
            node_overrides([item], reference)


def test_rcl_reads_the_generated_file_where_a_ros_argument_fails(tmp_path):
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    reference = load_params_file(default_params_file())
    reference['cameras'] = []
    values = node_overrides(['model.pretrained=', 'temperature=1', 'depth_bins=[1, 2, 3, 4, 5, '
                             '6, 7]', 'cloud.stride=2', 'cameras:=[cam0, cam1]',
                             'prompts.objects=["a: b", "#c"]'], reference)
    path = write_params_file(values, str(tmp_path), comment='test')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    assert text.startswith('# test\n/**:\n  ros__parameters:\n')
    assert yaml.safe_load(text)['/**']['ros__parameters']['model']['pretrained'] == ''

    context = Context()
    rclpy.init(args=['--ros-args', '--params-file', path], context=context)
    try:
        node = rclpy.create_node('params_probe', context=context,
                                 automatically_declare_parameters_from_overrides=True)
        got = {p.name: p for p in node.get_parameters(list(values))}
        assert got['model.pretrained'].value == ''
        assert got['model.pretrained'].type_ == Parameter.Type.STRING
        assert got['temperature'].type_ == Parameter.Type.DOUBLE
        assert got['temperature'].value == 1.0
        assert got['depth_bins'].type_ == Parameter.Type.DOUBLE_ARRAY
        assert list(got['depth_bins'].value) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
        assert got['cloud.stride'].type_ == Parameter.Type.INTEGER
        assert list(got['cameras'].value) == ['cam0', 'cam1']
        assert list(got['prompts.objects'].value) == ['a: b', '#c']
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)

    # what the tools passed before: rcl cannot parse an empty value on the command line
    context = Context()
    with pytest.raises(Exception, match='parameter override'):
        rclpy.init(args=['--ros-args', '-p', 'model.pretrained:='], context=context)
    rclpy.try_shutdown(context=context)
