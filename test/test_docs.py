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

"""The README documents what the package really has."""

import glob
import os
import re

import pytest

from depthclip_ros.core.config import load_params_file
from depthclip_ros.tools.cli import build_parser
from depthclip_ros.tools.param_docs import (BEGIN, END, main as param_docs_main,
                                            node_parameter_specs, render_table)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme() -> str:
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
        return f.read()


def test_parameter_table_is_generated_from_the_descriptions():
    text = readme()
    block = text[text.index(BEGIN):text.index(END) + len(END)]
    assert block == render_table(), (
        'README parameter table is stale: run python -m depthclip_ros.tools.param_docs README.md')


def test_param_docs_updates_a_readme_and_fails_in_one_line(tmp_path, capsys):
    stale = tmp_path / 'README.md'
    stale.write_text(f'intro\n{BEGIN}\nold\n{END}\nend\n', encoding='utf-8')
    assert param_docs_main([str(stale)]) == 0
    assert stale.read_text(encoding='utf-8') == f'intro\n{render_table()}\nend\n'
    assert param_docs_main([str(stale)]) == 0
    assert 'up to date' in capsys.readouterr().out
    for path, words in ((tmp_path / 'missing.md', 'cannot update'),
                        (tmp_path / 'plain.md', 'has no')):
        if path.name == 'plain.md':
            path.write_text('no table here\n', encoding='utf-8')
        with pytest.raises(SystemExit) as stop:
            param_docs_main([str(path)])
        assert stop.value.code == 1
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1 and 'Traceback' not in err


def test_every_parameter_in_the_yaml_is_documented():
    names = set(load_params_file(os.path.join(REPO, 'config', 'depthclip.yaml')))
    documented = set(re.findall(r'^\| `([a-z_.]+)` \|', readme(), re.M))
    assert names <= documented, names - documented
    assert {spec.name for spec in node_parameter_specs()} <= documented


def test_quick_start_has_exactly_the_two_make_commands():
    text = readme()
    quick = text[text.index('## Quick start'):]
    block = re.search(r'```bash\n(.*?)```', quick, re.S).group(1).strip().splitlines()
    assert block == ['make demo', 'make test']
    with open(os.path.join(REPO, 'Makefile'), encoding='utf-8') as f:
        makefile = f.read()
    assert re.search(r'^demo:', makefile, re.M) and re.search(r'^test:', makefile, re.M)
    with open(os.path.join(REPO, '.ci', 'run'), encoding='utf-8') as f:
        assert 'make test' in f.read()


def test_every_launch_file_and_command_is_documented():
    text = readme()
    for path in glob.glob(os.path.join(REPO, 'launch', '*.launch.py')):
        assert os.path.basename(path) in text, os.path.basename(path)
    commands = build_parser()._subparsers._group_actions[0].choices
    for name in commands:
        assert f'depthclip {name}' in text, name
