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

"""The README and the docs/ pages document what the package really has."""

import argparse
import ast
import glob
import os
import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

from depthclip_ros import launch_common
from depthclip_ros.core.config import ENGINE_PARAMETERS, load_params_file, NODE_PARAMETERS
from depthclip_ros.tools.cli import build_parser
from depthclip_ros.tools.param_docs import (BEGIN, DEFAULT_PAGE, END, main as param_docs_main,
                                            node_parameter_specs, render_table)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The README's longest length: a page a user reads in five minutes.
README_MAX_LINES = 250


def read(path: str) -> str:
    with open(os.path.join(REPO, path), encoding='utf-8') as f:
        return f.read()


def readme() -> str:
    return read('README.md')


def doc_pages():
    """Return the README and every docs/ page, relative to the repository root."""
    pages = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, 'docs', '*.md')))
    return ['README.md'] + pages


def all_docs() -> str:
    """Return the README and every docs/ page, one text."""
    return '\n'.join(read(page) for page in doc_pages())


def parameters_page() -> str:
    return read(DEFAULT_PAGE)


def test_parameter_table_is_generated_from_the_descriptions():
    text = parameters_page()
    block = text[text.index(BEGIN):text.index(END) + len(END)]
    assert block == render_table(), (
        f'{DEFAULT_PAGE} parameter table is stale: '
        f'run python -m depthclip_ros.tools.param_docs {DEFAULT_PAGE}')
    for page in doc_pages():  # one table, in one place
        if page != DEFAULT_PAGE:
            assert BEGIN not in read(page) and END not in read(page), page


def test_param_docs_updates_the_parameters_page_by_default(tmp_path, monkeypatch, capsys):
    (tmp_path / 'docs').mkdir()
    page = tmp_path / DEFAULT_PAGE
    page.write_text(f'intro\n{BEGIN}\nold\n{END}\nend\n', encoding='utf-8')
    monkeypatch.chdir(tmp_path)
    assert param_docs_main([]) == 0
    assert page.read_text(encoding='utf-8') == f'intro\n{render_table()}\nend\n'
    assert capsys.readouterr().out.startswith('updated')


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
    documented = set(re.findall(r'^\| `([a-z_.]+)` \|', parameters_page(), re.M))
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
    text = all_docs()
    for path in glob.glob(os.path.join(REPO, 'launch', '*.launch.py')):
        assert os.path.basename(path) in text, os.path.basename(path)
    commands = build_parser()._subparsers._group_actions[0].choices
    for name in commands:
        assert f'depthclip {name}' in text, name


# ------------------------------------------ the ROS-distro install recipe, command by command
DISTRO_HEADING = '## With a ROS 2 distribution'
#: The words an inline code span of the section starts with when it is a command.
COMMAND_WORDS = ('ros2 ', 'colcon ', 'python -m colcon ', 'python3 -m ', 'pip ', 'rosdep ',
                 'source ', 'touch ', 'git ')
#: ROS 2 distributions the package claims.
DISTROS = ('humble', 'jazzy', 'kilted')
PYTORCH_INDEX = 'https://download.pytorch.org/whl/'


def distro_section() -> str:
    text = readme()
    start = text.index(DISTRO_HEADING)
    end = text.find('\n## ', start + 1)
    return text[start:end if end > 0 else len(text)]


def bash_blocks(text):
    return re.findall(r'```bash\n(.*?)```', text, re.S)


def block_commands(block):
    """Return the commands of a bash block: continuation lines joined, comments dropped."""
    joined = block.replace('\\\n', ' ')
    commands = []
    for line in joined.splitlines():
        for part in line.split('&&'):
            part = part.split(' #', 1)[0].strip()
            if part and not part.startswith('#'):
                commands.append(' '.join(part.split()))
    return commands


def inline_commands(text):
    """Return the inline code spans (outside bash blocks) that are commands."""
    prose = re.sub(r'```.*?```', '', text, flags=re.S)
    spans = (' '.join(span.split()) for span in re.findall(r'`([^`]+)`', prose))
    return [span for span in spans if span.startswith(COMMAND_WORDS)]


def package_name():
    return ElementTree.parse(os.path.join(REPO, 'package.xml')).getroot().findtext('name')


def package_keys():
    root = ElementTree.parse(os.path.join(REPO, 'package.xml')).getroot()
    return {e.text.strip() for tag in ('depend', 'exec_depend', 'test_depend')
            for e in root.iter(tag)}


def setup_keywords():
    with open(os.path.join(REPO, 'setup.py'), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    call = next(n for n in ast.walk(tree)
                if isinstance(n, ast.Call) and getattr(n.func, 'id', None) == 'setup')
    return {k.arg: k.value for k in call.keywords}


def pip_names():
    """Every pip requirement of setup.py (install_requires and the extras), and torchvision."""
    keywords = setup_keywords()
    names = list(ast.literal_eval(keywords['install_requires']))
    for extra in ast.literal_eval(keywords['extras_require']).values():
        names += extra
    # torchvision: open_clip_torch's requirement, installed beside torch from the same index
    return {re.split(r'[<>=!~; \[]', n, maxsplit=1)[0] for n in names} | {'torchvision'}


def console_scripts():
    entry_points = ast.literal_eval(setup_keywords()['entry_points'])
    return {line.split('=')[0].strip() for line in entry_points['console_scripts']}


def parameter_names():
    return {spec.name for spec in ENGINE_PARAMETERS + NODE_PARAMETERS}


class CommandError(Exception):
    """A documented command that does not fit the package."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises CommandError instead of printing and exiting."""

    def error(self, message):
        raise CommandError(f'{self.prog}: {message}')


def _parse(parser_args, words):
    parser = _Parser(prog=' '.join(words), add_help=False)
    for names, kwargs in parser_args:
        parser.add_argument(*names, **kwargs)
    args, unknown = parser.parse_known_args(words)
    if unknown:
        raise CommandError(f'{" ".join(words)}: unrecognized {unknown}')
    return args


def launch_arguments(launch_name):
    """Return the arguments a launch file takes: a camera launch file takes the core's too."""
    declared = {a.name: a for a in launch_common.declared_arguments(launch_name)}
    if launch_common.LAUNCH_FILES[launch_name].drivers:  # it includes camera.launch.py
        for argument in launch_common.declared_arguments('camera'):
            declared.setdefault(argument.name, argument)
    return declared


def _check_ros2(words):
    if words[:2] == ['ros2', 'launch']:
        if words[2] != package_name():
            raise CommandError(f'package {words[2]}')
        launch_file = words[3]
        if not os.path.isfile(os.path.join(REPO, 'launch', launch_file)):
            raise CommandError(f'no launch/{launch_file}')
        declared = launch_arguments(launch_file[:-len('.launch.py')])
        for word in words[4:]:
            name, _, value = word.partition(':=')
            if name not in declared or not value:
                raise CommandError(f'{launch_file} does not declare {name!r}')
            if declared[name].choices and value not in declared[name].choices:
                raise CommandError(f'{name}:={value} not in {declared[name].choices}')
    elif words[:2] == ['ros2', 'run']:
        if words[2] != package_name() or words[3] not in console_scripts():
            raise CommandError(f'no executable {words[2]} {words[3]}')
        rest = words[4:]
        if rest:
            if rest[0] != '--ros-args':
                raise CommandError(f'{rest[0]}: --ros-args expected')
            for flag, value in zip(rest[1::2], rest[2::2]):
                if flag == '--params-file' or (flag == '-r' and ':=' in value):
                    continue
                if flag != '-p' or value.partition(':=')[0] not in parameter_names():
                    raise CommandError(f'{flag} {value}')
    elif words[:3] == ['ros2', 'param', 'set']:
        if len(words) != 6 or words[4] not in parameter_names():
            raise CommandError(f'parameter {words[4:5]}')
    else:
        raise CommandError(' '.join(words[:2]))


def _check_colcon(words):
    verb = words[1]
    if verb in ('build', 'test'):
        args = _parse([(('--packages-select',), {'nargs': '+', 'required': True})], words[2:])
        if args.packages_select != [package_name()]:
            raise CommandError(f'--packages-select {args.packages_select}')
    elif verb == 'test-result':
        _parse([(('--verbose',), {'action': 'store_true'})], words[2:])
    else:
        raise CommandError(f'colcon {verb}')


def check_command(command, state):
    """
    Check one documented command against the package; raise CommandError if it does not fit.

    :param command: the command line
    :param state: what earlier commands made (the venv's folder)
    """
    if command.startswith('git clone '):  # git clone <this repository> FOLDER
        if command.split()[-1] != package_name():
            raise CommandError(f'{command}: clone into {package_name()}')
        return
    words = shlex.split(command)
    if words[:3] == ['python', '-m', 'colcon']:
        words = words[2:]
    tool = words[0]
    if tool == 'source':
        path = words[1]
        distro = re.fullmatch(r'/opt/ros/([a-z]+)/setup\.bash', path)
        ok = (distro and distro.group(1) in DISTROS) or \
            path in ('install/setup.bash', '~/ros2_ws/install/setup.bash') or \
            path == f'{state.get("venv")}/bin/activate'
        if not ok:
            raise CommandError(f'source {path}')
    elif tool in ('mkdir', 'cd'):
        return
    elif words[:3] == ['python3', '-m', 'venv']:
        args = _parse([(('--system-site-packages',), {'action': 'store_true'}),
                       (('folder',), {})], words[3:])
        if not args.system_site_packages:
            raise CommandError('the venv must see rclpy: --system-site-packages')
        state['venv'] = args.folder
    elif tool == 'touch':
        if words[1:] != [f'{state.get("venv")}/COLCON_IGNORE']:
            raise CommandError(command)
    elif tool == 'rosdep':
        args = _parse([(('verb',), {'choices': ['install']}),
                       (('--from-paths',), {'required': True}),
                       (('--ignore-src',), {'action': 'store_true'}),
                       (('-y',), {'action': 'store_true'}),
                       (('--skip-keys',), {'default': ''})], words[1:])
        unknown = set(args.skip_keys.split()) - package_keys()
        if unknown:
            raise CommandError(f'--skip-keys: not in package.xml: {sorted(unknown)}')
    elif tool == 'pip':
        args = _parse([(('verb',), {'choices': ['install']}),
                       (('--index-url',), {}),
                       (('packages',), {'nargs': '+'})], words[1:])
        unknown = set(args.packages) - pip_names()
        if unknown:
            raise CommandError(f'pip install: not a requirement of setup.py: {sorted(unknown)}')
        if args.index_url is not None and not args.index_url.startswith(PYTORCH_INDEX):
            raise CommandError(f'--index-url {args.index_url}')
    elif tool == 'colcon':
        _check_colcon(words)
    elif tool == 'ros2':
        _check_ros2(words)
    else:
        raise CommandError(f'{tool}: not a command the docs test knows')


def test_the_distro_section_is_the_venv_recipe():
    section = distro_section()
    blocks = bash_blocks(section)
    assert blocks, 'no bash block'
    commands = block_commands(blocks[0])
    # the venv that sees the distribution's rclpy, kept out of colcon's way, colcon run from it
    for expected in ('python3 -m venv --system-site-packages venv', 'touch venv/COLCON_IGNORE',
                     'source venv/bin/activate',
                     'python -m colcon build --packages-select depthclip_ros'):
        assert expected in commands, expected
    assert commands.index('source venv/bin/activate') < min(
        i for i, c in enumerate(commands) if c.startswith(('pip ', 'python -m colcon')))
    assert not [c for c in commands if c.startswith('sudo pip') or '--break-system' in c]
    for words in ('PEP 668', 'externally-managed-environment', 'PIP_BREAK_SYSTEM_PACKAGES',
                  'CPU', 'GPU', 'NumPy 2', 'cv_bridge'):
        assert words in section, words


def test_every_command_of_the_distro_section_fits_the_package():
    section = distro_section()
    state = {}
    commands = [c for block in bash_blocks(section) for c in block_commands(block)]
    commands += inline_commands(section)
    assert len(commands) > 15
    errors = []
    for command in commands:
        try:
            check_command(command, state)
        except CommandError as error:
            errors.append(str(error))
    assert not errors, errors


def test_the_distros_page_commands_fit_the_package():
    with open(os.path.join(REPO, 'docs', 'distros.md'), encoding='utf-8') as f:
        text = f.read()
    state = {}
    for block in bash_blocks(text):
        for command in block_commands(block):
            check_command(command, state)


@pytest.mark.skipif(shutil.which('bash') is None, reason='no bash here')
def test_the_bash_blocks_of_the_install_docs_parse():
    with open(os.path.join(REPO, 'docs', 'distros.md'), encoding='utf-8') as f:
        blocks = bash_blocks(distro_section()) + bash_blocks(f.read())
    for block in blocks:
        proc = subprocess.run(['bash', '-n'], input=block, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize('command, words', [
    ('ros2 launch depthclip_ros camera.launch.py imag:=/x', 'does not declare'),
    ('ros2 launch depthclip_ros nope.launch.py', 'no launch/'),
    ('ros2 launch depthclip_ros demo.launch.py image', 'does not declare'),
    ('ros2 run depthclip_ros depthclip_nod', 'no executable'),
    ('ros2 run depthclip_ros depthclip_node --ros-args -p model.pretraine:=x', 'model.pretr'),
    ('ros2 run depthclip_ros depthclip_node --ros-args --params-file a.yaml -p x:=1', '-p x:=1'),
    ('ros2 launch depthclip_ros realsense.launch.py use_rvz:=true', 'does not declare'),
    ('ros2 launch depthclip_ros cameras.launch.py rviz_config:=a.rviz', 'does not declare'),
    ('python -m colcon build --packages-select depthclip', '--packages-select'),
    ('colcon build --symlink-install-typo --packages-select depthclip_ros', 'unrecognized'),
    ('rosdep install --from-paths src -y --skip-keys "python3-torch python3-torchx"', 'torchx'),
    ('pip install open-clip', 'not a requirement'),
    ('pip install torch --index-url https://example.invalid/simple', '--index-url'),
    ('source /opt/ros/rolling-typo/setup.bash', 'source'),
    ('touch venv/COLCON_IGNORE', 'touch'),
    ('python3 -m venv venv', 'system-site-packages'),
    ('sudo pip install open_clip_torch', 'not a command'),
])
def test_the_command_check_catches_what_does_not_fit(command, words):
    with pytest.raises(CommandError, match=re.escape(words)):
        check_command(command, {})


# ------------------------------------------------------------- the README and the docs pages
def heading_anchors(text):
    """Return the anchors GitHub gives the headings of a Markdown text."""
    prose = re.sub(r'```.*?```', '', text, flags=re.S)
    anchors = set()
    for heading in re.findall(r'^#+ (.+)$', prose, re.M):
        slug = re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')
        anchors.add(slug)
    return anchors


def relative_links(text):
    """Return the (target, anchor) of every relative Markdown link outside code blocks."""
    prose = re.sub(r'```.*?```', '', text, flags=re.S)
    prose = re.sub(r'`[^`]*`', '', prose)
    links = []
    for target in re.findall(r'\]\(([^)\s]+)\)', prose):
        if re.match(r'[a-z]+:', target):
            continue
        path, _, anchor = target.partition('#')
        links.append((path, anchor))
    return links


def test_the_readme_is_read_in_five_minutes():
    lines = readme().splitlines()
    assert len(lines) <= README_MAX_LINES, len(lines)
    for heading in ('## Quick start', '## With a ROS 2 distribution', "## The node's topics",
                    '## Where to go next'):
        assert any(line.startswith(heading) for line in lines), heading


def test_the_readme_links_every_docs_page():
    linked = {os.path.normpath(path) for path, _ in relative_links(readme())}
    for page in doc_pages()[1:]:
        assert page in linked, page


def test_every_relative_link_between_the_pages_resolves():
    errors = []
    for page in doc_pages():
        for path, anchor in relative_links(read(page)):
            target = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if not os.path.exists(os.path.join(REPO, target)):
                errors.append(f'{page}: {path}: no such file')
            elif anchor and target.endswith('.md') and anchor not in heading_anchors(read(target)):
                errors.append(f'{page}: {path}#{anchor}: no such heading')
    assert not errors, errors


def test_no_page_sends_the_reader_to_a_readme_section_that_moved():
    """A "see the README, <section>" reference names a page, not the README."""
    readme_headings = {h.strip() for h in re.findall(r'^## (.+)$', readme(), re.M)}
    for page in doc_pages():
        for section in re.findall(r'README(?:\.md)?, "([^"]+)"', read(page)):
            assert any(h.startswith(section) for h in readme_headings), (page, section)


#: The commands of the docs that test_docs checks against the package, wherever they are.
PACKAGE_COMMANDS = ('ros2 launch depthclip_ros ', 'ros2 run depthclip_ros ', 'ros2 param set ')
#: A misspelt parameter the docs show being refused.
MISSPELT_EXAMPLES = {'temporal.alpah'}


def page_commands(text):
    """Return the commands of a page: its bash blocks' and its inline code spans'."""
    commands = [c for block in bash_blocks(text) for c in block_commands(block)]
    prose = re.sub(r'```.*?```', '', text, flags=re.S)
    return commands + [' '.join(span.split()) for span in re.findall(r'`([^`]+)`', prose)]


def test_every_package_command_of_every_page_fits_the_package():
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)
    errors, checked = [], 0
    for page in doc_pages():
        for command in page_commands(read(page)):
            if '<' in command or command.strip() == 'ros2 param set':  # a placeholder, a name
                continue
            if command.startswith(PACKAGE_COMMANDS):
                checked += 1
                command = re.sub(r'\$\([^)]*\)', 'PREFIX', command)  # $(ros2 pkg prefix ...)
                try:
                    check_command(command, {})
                except CommandError as error:
                    errors.append(f'{page}: {error}')
            elif command.startswith('depthclip ') and not command.startswith('depthclip -'):
                checked += 1
                if command.split()[1] not in subcommands:
                    errors.append(f'{page}: {command}: no such depthclip command')
            for name in re.findall(r'--set ([a-z_.]+):?=', command):
                if name != 'name' and name not in parameter_names():
                    errors.append(f'{page}: {command}: --set {name}: no such parameter')
    assert checked > 50, checked
    assert not errors, errors


def test_every_parameter_named_in_the_docs_exists():
    names = parameter_names()
    groups = {name.split('.')[0] for name in names if '.' in name}
    errors = []
    for page in doc_pages():
        text = read(page)
        for span in re.findall(r'`([^`\n]+)`', text):
            for word in re.findall(r'\b([a-z_]+\.[a-z_.]*[a-z_])\b', span):
                if word.split('.')[0] not in groups or word in names:
                    continue
                if word.endswith(('.py', '.yaml')) or word.endswith('.*'):
                    continue  # a file (camera.launch.py, temporal.py), a group
                if word in MISSPELT_EXAMPLES and 'did you mean' in text:
                    continue
                errors.append(f'{page}: {word}')
    assert not errors, errors
