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
Docstring style (PEP 257) over the whole package, as ``colcon test`` runs ament_pep257.

Without ament_pep257 (no ROS 2) pydocstyle runs with ament's convention: every check but
D100-D107, D203, D212 and D404. Folders starting with ``.`` or ``_`` (.venv, __pycache__)
and colcon's build, install and log folders are never checked.
"""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Output folders of colcon and builds; dot and underscore folders are skipped anyway.
EXCLUDED = ('build', 'install', 'log')

#: ament_pep257's "ament" convention: the pydocstyle checks it leaves out.
AMENT_IGNORE = ('D100', 'D101', 'D102', 'D103', 'D104', 'D105', 'D106', 'D107', 'D203',
                'D212', 'D404')


def python_files(root):
    """Return the .py files below root, skipping dot, underscore and build folders."""
    found = []
    for path, folders, files in os.walk(root):
        folders[:] = sorted(d for d in folders
                            if d[0] not in '._' and not (path == root and d in EXCLUDED))
        found += [os.path.join(path, f) for f in sorted(files) if f.endswith('.py')]
    return found


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257(monkeypatch):
    monkeypatch.chdir(ROOT)
    try:
        from ament_pep257.main import main
    except ImportError:
        main = None

    if main is not None:
        excludes = [os.path.join(ROOT, d) for d in EXCLUDED]
        rc = main(argv=['.', 'test', '--exclude', *excludes])
        assert rc == 0, 'Found code style errors / warnings'
        return

    pydocstyle = pytest.importorskip('pydocstyle')
    from pydocstyle.violations import Error

    errors = [str(e) for e in pydocstyle.check(python_files(ROOT), ignore=list(AMENT_IGNORE))
              if isinstance(e, (Error, SyntaxError))]
    assert not errors, 'Found docstring style errors:\n' + '\n'.join(errors)
