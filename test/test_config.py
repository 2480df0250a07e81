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

"""Configuration: defaults, validation messages, parameter files and overrides."""

import os

import pytest

from depthclip_ros.core.config import (default_params_file, DepthClipConfig,
                                       engine_parameter_names, ENGINE_PARAMETERS,
                                       flatten_parameters, load_config, load_params_file,
                                       parse_override)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_defaults_are_the_papers():
    cfg = DepthClipConfig()
    assert cfg.model.name == 'RN50' and cfg.model.pretrained == 'openai'
    assert (cfg.input.height, cfg.input.width) == (416, 544)
    assert cfg.input.normalization == 'imagenet'
    assert cfg.prompts.templates == ('This {} is {}',)
    assert cfg.prompts.objects == ('object',)
    assert cfg.prompts.depth_classes == ('giant', 'extremely close', 'close',
                                         'not in distance', 'a little remote', 'far', 'unseen')
    assert cfg.depth_bins == (1.0, 1.5, 2.0, 2.25, 2.5, 2.75, 3.0)
    assert cfg.temperature == 0.1 and cfg.flip_tta is True and cfg.feature_mode == 'paper'
    cfg.validate()


def test_shipped_yaml_equals_dataclass_defaults():
    path = os.path.join(REPO, 'config', 'depthclip.yaml')
    assert load_config(path) == DepthClipConfig()
    assert os.path.samefile(default_params_file(), path) or load_config(
        default_params_file()) == DepthClipConfig()


def test_every_engine_parameter_has_a_spec_and_is_in_the_yaml():
    flat = DepthClipConfig().to_flat()
    assert set(engine_parameter_names()) == set(flat)
    in_file = load_params_file(os.path.join(REPO, 'config', 'depthclip.yaml'))
    for spec in ENGINE_PARAMETERS:
        assert spec.description
        assert spec.name in in_file, spec.name
        if spec.name.startswith(('model.', 'input.')) or spec.name == 'feature_mode':
            assert spec.read_only, spec.name


@pytest.mark.parametrize('name, value, message', [
    ('depth_bins', [1.0, 2.0], 'depth_bins has 2 values but prompts.depth_classes has 7'),
    ('depth_bins', [1, 2, 3, 3, 4, 5, 6], 'strictly increasing'),
    ('depth_bins', [-1, 2, 3, 4, 5, 6, 7], 'finite and positive'),
    ('depth_bins', [1, 2, 3, 4, 5, 6, float('nan')], 'finite and positive'),
    ('depth_bins', 'far', 'must be a list'),
    ('temperature', 0.0, 'temperature must be > 0'),
    ('temperature', -1.0, 'temperature must be > 0'),
    ('temperature', 'hot', 'temperature must be a number'),
    ('prompts.templates', ['This {} is'], 'needs exactly 2'),
    ('prompts.templates', ['{} {} {}'], 'needs exactly 2'),
    ('prompts.templates', ['This {obj} is {}'], 'needs exactly 2'),
    ('prompts.templates', [], 'at least one template'),
    ('prompts.objects', [], 'prompts.objects must list at least one'),
    ('prompts.objects', [''], 'must not contain empty strings'),
    ('input.height', 400, 'multiple of 32'),
    ('input.width', 32, 'between 64 and 2048'),
    ('input.width', 4096, 'between 64 and 2048'),
    ('input.height', 416.5, 'must be an integer'),
    ('input.normalization', 'none', 'imagenet|clip'),
    ('model.device', 'gpu', 'auto, cpu, cuda or cuda:N'),
    ('model.precision', 'fp8', 'auto|fp32|fp16|bf16'),
    ('feature_mode', 'magic', 'paper|projected'),
    ('flip_tta', 'maybe', 'true or false'),
    ('smoothing_sigma', -1.0, 'smoothing_sigma'),
    ('depth_scale', 0.0, 'depth_scale'),
    ('no_such_parameter', 1, "unknown parameter 'no_such_parameter'"),
])
def test_validation_messages(name, value, message):
    with pytest.raises(ValueError, match=message.replace('|', r'\|')):
        DepthClipConfig.from_flat({name: value})


def test_bins_and_classes_checked_together():
    classes = ['near', 'mid', 'far']
    cfg = DepthClipConfig().with_updates({'prompts.depth_classes': classes,
                                          'depth_bins': [1, 5, 10]})
    assert cfg.depth_bins == (1.0, 5.0, 10.0)
    assert cfg.depth_range == (1.0, 10.0)
    with pytest.raises(ValueError):
        cfg.with_updates({'prompts.depth_classes': ['near', 'far']})


def test_flatten_and_params_file(tmp_path):
    assert flatten_parameters({'a': {'b': {'c': 1}}, 'd': 2}) == {'a.b.c': 1, 'd': 2}
    path = tmp_path / 'p.yaml'
    path.write_text(
        '/**:\n  ros__parameters:\n    temperature: 0.2\n    model:\n      name: RN101\n'
        '    feature_mode: projected\n    cloud:\n      stride: 8\n'
        'depthclip_node:\n  ros__parameters:\n    temperature: 0.3\n')
    flat = load_params_file(str(path))
    assert flat['model.name'] == 'RN101' and flat['cloud.stride'] == 8
    assert load_params_file(str(path), node_name='depthclip_node')['temperature'] == 0.3
    cfg = load_config(str(path))  # node parameters (cloud.*) are not engine settings
    assert cfg.temperature == 0.2 and cfg.model.name == 'RN101'


@pytest.mark.parametrize('text, message', [
    ('temperature: [', 'not valid YAML'),
    ('- 1\n- 2\n', 'must map node names'),
    ('other_node:\n  ros__parameters: {}\n', 'no "/\\*\\*: ros__parameters:" section'),
    ('/**:\n  parameters: {}\n', 'has no ros__parameters'),
])
def test_bad_params_files(tmp_path, text, message):
    path = tmp_path / 'bad.yaml'
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_params_file(str(path))


def test_missing_params_file(tmp_path):
    with pytest.raises(ValueError, match='parameter file .*nope.yaml does not exist'):
        load_params_file(str(tmp_path / 'nope.yaml'))


def test_overrides_parse_as_yaml():
    assert parse_override('depth_bins=[1, 2]') == ('depth_bins', [1, 2])
    assert parse_override('flip_tta=false') == ('flip_tta', False)
    assert parse_override('model.pretrained=') == ('model.pretrained', '')
    assert parse_override('model.pretrained=/a/b c.pt') == ('model.pretrained', '/a/b c.pt')
    with pytest.raises(ValueError, match='name=value'):
        parse_override('temperature')
    cfg = load_config(None, ['temperature=0.5', 'prompts.objects=[thing, stuff]',
                             'model.pretrained='])
    assert cfg.temperature == 0.5
    assert cfg.prompts.objects == ('thing', 'stuff')
    assert cfg.model.pretrained == ''


def test_config_is_immutable_and_roundtrips():
    cfg = DepthClipConfig()
    with pytest.raises(Exception):
        cfg.temperature = 3.0  # frozen dataclass
    assert DepthClipConfig.from_flat(cfg.to_flat()) == cfg
    assert cfg.with_updates({'depth_scale': 2.0}).metric_bins[-1] == 6.0
