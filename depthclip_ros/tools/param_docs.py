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
The parameter table of ``docs/parameters.md``, generated from the parameter descriptions.

``python -m depthclip_ros.tools.param_docs docs/parameters.md`` (the default path) rewrites
the table between the ``<!-- params:begin -->`` and ``<!-- params:end -->`` markers;
``test/test_docs.py`` fails when the page and the descriptions disagree. Engine and node
parameters all come from the one parameter table of :mod:`depthclip_ros.core.config`.
"""

import argparse
import os
import sys
from typing import Any, Iterable, List, Optional

from depthclip_ros.core.config import (ENGINE_PARAMETERS, find_share_file, load_params_file,
                                       NODE_PARAMETERS)

BEGIN = '<!-- params:begin -->'
END = '<!-- params:end -->'
#: The page that holds the table, relative to the repository root.
DEFAULT_PAGE = os.path.join('docs', 'parameters.md')


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, int):
        return 'int'
    if isinstance(value, float):
        return 'double'
    if isinstance(value, list):
        if value and all(isinstance(v, (int, float)) for v in value):
            return 'double[]'
        return 'string[]'
    return 'string'


def _range(spec) -> str:
    return spec.range_text()


def _default(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return f"'{value}'" if value == '' else value
    return str(value)


def parameter_rows(node_specs: Optional[Iterable[Any]] = None) -> List[str]:
    """Return the Markdown table rows (header included) of every parameter."""
    defaults = load_params_file(find_share_file('config', 'depthclip.yaml'))
    rows = ['| parameter | type | default | range | live | description |',
            '| --- | --- | --- | --- | --- | --- |']
    specs = list(ENGINE_PARAMETERS) + list(node_specs or [])
    for spec in specs:
        value = defaults.get(spec.name)
        live = 'no (read-only)' if getattr(spec, 'read_only', False) else 'yes'
        description = spec.description.replace('|', '/')
        rows.append(f'| `{spec.name}` | {_type_name(value)} | `{_default(value)}` | '
                    f'{_range(spec)} | {live} | {description} |')
    return rows


def node_parameter_specs() -> List[Any]:
    """Return the node's own parameter specs."""
    return list(NODE_PARAMETERS)


def render_table() -> str:
    """Return the whole generated block, markers included."""
    return '\n'.join([BEGIN] + parameter_rows(node_parameter_specs()) + [END])


def update_readme(path: str) -> bool:
    """Rewrite the table in ``path``; return whether anything changed."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + render_table() + text[end:]
    if new != text:
        with open(path, 'w', encoding='utf-8') as f:
            f.write(new)
    return new != text


def main(argv: Optional[List[str]] = None) -> int:
    """Update the page given on the command line (default: ./docs/parameters.md)."""
    parser = argparse.ArgumentParser(
        prog='python -m depthclip_ros.tools.param_docs',
        description='Rewrite the parameter table of a docs page from the parameter table.')
    parser.add_argument('page', nargs='?', default=os.path.join(os.getcwd(), DEFAULT_PAGE),
                        help=f'the page to update (default: ./{DEFAULT_PAGE})')
    path = parser.parse_args(argv).page
    try:
        changed = update_readme(path)
    except OSError as error:
        parser.exit(1, f'{parser.prog}: error: cannot update {path}: {error.strerror}\n')
    except ValueError:
        parser.exit(1, f'{parser.prog}: error: {path} has no {BEGIN} ... {END} block\n')
    print('updated' if changed else 'up to date', path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
