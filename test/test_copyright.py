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
Copyright and license notices, as ``colcon test`` checks them with ament_copyright.

ament_copyright is not on PyPI: without it the same rules are checked here. Every Python
file of the package (depthclip_ros/, launch/, test/, setup.py, ...; not .venv or other
folders starting with ``.`` or ``_``, not build, install or log) starts with the project's
Apache-2.0 header, after an optional shebang line. The repository's LICENSE is the
Apache License 2.0 and, as ament_copyright also wants at a repository root, a
CONTRIBUTING.md puts contributions under that license.
"""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Output folders of colcon and builds; dot and underscore folders are skipped anyway.
EXCLUDED = ('build', 'install', 'log')

#: The header every Python file starts with (the copyright line allows other years).
HEADER = [
    r'# Copyright 20\d\d(-20\d\d)? The depthclip_ros Authors',
    '#',
    '# Licensed under the Apache License, Version 2.0 (the "License");',
    '# you may not use this file except in compliance with the License.',
    '# You may obtain a copy of the License at',
    '#',
    '#     http://www.apache.org/licenses/LICENSE-2.0',
    '#',
    '# Unless required by applicable law or agreed to in writing, software',
    '# distributed under the License is distributed on an "AS IS" BASIS,',
    '# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.',
    '# See the License for the specific language governing permissions and',
    '# limitations under the License.',
]


def python_files(root):
    """Return the .py files below root, skipping dot, underscore and build folders."""
    found = []
    for path, folders, files in os.walk(root):
        folders[:] = sorted(d for d in folders
                            if d[0] not in '._' and not (path == root and d in EXCLUDED))
        found += [os.path.join(path, f) for f in sorted(files) if f.endswith('.py')]
    return found


def header_problem(path):
    """Return why ``path`` does not start with the header, or None when it does."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    if lines and lines[0].startswith('#!'):
        lines = lines[1:]
    if len(lines) < len(HEADER):
        return 'too short for the copyright header'
    if not re.fullmatch(HEADER[0], lines[0]):
        return f'line 1 is {lines[0]!r}, not "# Copyright <year> The depthclip_ros Authors"'
    for number, (expected, line) in enumerate(zip(HEADER[1:], lines[1:]), start=2):
        if line != expected:
            return f'header line {number} is {line!r}, expected {expected!r}'
    return None


def _ament_copyright_main():
    try:
        from ament_copyright.main import main
    except ImportError:
        return None
    return main


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright(monkeypatch):
    monkeypatch.chdir(ROOT)
    main = _ament_copyright_main()
    if main is not None:
        rc = main(argv=['.', 'test'])
        assert rc == 0, 'Found errors'
        return

    files = python_files(ROOT)
    assert os.path.join(ROOT, 'setup.py') in files
    problems = []
    for path in files:
        problem = header_problem(path)
        if problem:
            problems.append(f'{os.path.relpath(path, ROOT)}: {problem}')
    assert not problems, 'Files without the Apache-2.0 header:\n' + '\n'.join(problems)


@pytest.mark.copyright
@pytest.mark.linter
def test_license_files():
    if _ament_copyright_main() is not None:
        pytest.skip('test_copyright ran ament_copyright, which checks these files')
    with open(os.path.join(ROOT, 'LICENSE'), encoding='utf-8') as f:
        license_text = f.read()
    assert 'Apache License' in license_text and 'Version 2.0' in license_text
    if os.path.exists(os.path.join(ROOT, '.git')):
        contributing = os.path.join(ROOT, 'CONTRIBUTING.md')
        assert os.path.isfile(contributing), (
            'CONTRIBUTING.md is missing: ament_copyright requires it at a repository root')
        with open(contributing, encoding='utf-8') as f:
            assert 'Apache 2 License' in f.read(), (
                'CONTRIBUTING.md must put contributions under the Apache 2 License')
