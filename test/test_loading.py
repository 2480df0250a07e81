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

"""Model loading: local checkpoints, safe unpickling, clear errors offline."""

import os
import pickle

import pytest
import torch

from depthclip_ros.core.config import DepthClipConfig
from depthclip_ros.core.engine import DepthClipEngine
from depthclip_ros.core.loading import load_clip, ModelLoadError, read_state_dict


def model_config(**values):
    return DepthClipConfig.from_flat(dict({'model.device': 'cpu'}, **values)).model


class _Exploit:
    """Unpickling this object would create a file (what a malicious checkpoint does)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_malicious_pickle_is_never_run(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pt'
    with open(path, 'wb') as f:
        pickle.dump({'visual.conv1.weight': _Exploit(str(marker))}, f)
    torch.save({'state_dict': {'x': _Exploit(str(marker))}}, tmp_path / 'evil2.pt')
    for p in (path, tmp_path / 'evil2.pt'):
        with pytest.raises(ModelLoadError, match='cannot read checkpoint .* safely'):
            read_state_dict(str(p))
        with pytest.raises(ModelLoadError):
            load_clip(model_config(**{'model.pretrained': str(p)}))
    assert not marker.exists()


def test_corrupt_and_truncated_checkpoints(tmp_path, rn50_checkpoint):
    corrupt = tmp_path / 'corrupt.safetensors'
    corrupt.write_bytes(b'\x00garbage' * 100)
    truncated = tmp_path / 'truncated.safetensors'
    with open(rn50_checkpoint, 'rb') as f:
        truncated.write_bytes(f.read(4096))
    for p in (corrupt, truncated):
        with pytest.raises(ModelLoadError, match='cannot read checkpoint'):
            load_clip(model_config(**{'model.pretrained': str(p)}))


def test_checkpoint_of_another_architecture(rn50_checkpoint):
    with pytest.raises(ModelLoadError, match='does not fit'):
        load_clip(model_config(**{'model.name': 'RN101', 'model.pretrained': rn50_checkpoint}))


def test_missing_checkpoint_and_empty_state_dict(tmp_path):
    with pytest.raises(ModelLoadError, match='does not exist'):
        load_clip(model_config(**{'model.pretrained': str(tmp_path / 'nope.pt')}))
    empty = tmp_path / 'empty.pt'
    torch.save({}, empty)
    with pytest.raises(ModelLoadError, match='no state dict'):
        load_clip(model_config(**{'model.pretrained': str(empty)}))


def test_state_dict_prefixes_are_handled(tmp_path, rn50_checkpoint):
    state = read_state_dict(rn50_checkpoint)
    wrapped = tmp_path / 'wrapped.pt'
    torch.save({'state_dict': {'module.' + k: v for k, v in state.items()}, 'epoch': 3},
               wrapped)
    loaded = load_clip(model_config(**{'model.pretrained': str(wrapped)}))
    assert torch.equal(loaded.model.visual.conv1.weight, state['visual.conv1.weight'])
    assert loaded.weights == f'RN50 {wrapped}'
    assert not loaded.random_weights


def test_offline_tag_gives_one_clear_error(tmp_path, monkeypatch):
    """No network, no cache: the error names model.pretrained and what to put there."""
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('HF_HOME', str(tmp_path / 'hf'))
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    with pytest.raises(ModelLoadError) as info:
        DepthClipEngine(DepthClipConfig.from_flat({'model.device': 'cpu'}))
    message = str(info.value)
    assert '\n' not in message
    assert "'openai' weights of RN50" in message
    assert 'model.pretrained' in message and 'local checkpoint' in message


def test_unknown_names_and_tags():
    with pytest.raises(ModelLoadError, match='not an open_clip architecture'):
        load_clip(model_config(**{'model.name': 'ResNet9000'}))
    with pytest.raises(ModelLoadError, match='neither a file nor a pretrained tag'):
        load_clip(model_config(**{'model.pretrained': 'no_such_tag'}))


def test_random_weights_are_labelled(caplog):
    loaded = load_clip(model_config(**{'model.pretrained': ''}))
    assert loaded.random_weights and 'RANDOM' in loaded.weights
    assert any('RANDOM weights' in r.getMessage() for r in caplog.records)


def test_torch_checkpoint_from_disk_roundtrip(tmp_path, rn50_checkpoint):
    state = read_state_dict(rn50_checkpoint)
    path = tmp_path / 'plain.pth'
    torch.save(state, path)
    assert os.path.getsize(path) > 0
    again = read_state_dict(str(path))
    assert set(again) == set(state)
    assert all(torch.equal(again[k], state[k]) for k in list(state)[:20])
