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
ROS 2 parameter files for the processes the tools start: dotted values to ``/**`` YAML.

A value given on a command line (``--set name=value`` or ``name:=value``) goes to the node in
a generated parameter file, never as ``-p name:=value``: rcl cannot parse every value there
(``-p model.pretrained:=`` is rejected), while a YAML file carries any string, list or number.
Types follow the parameter's default (:func:`reference_values`): an integer for a
floating-point parameter becomes a float (ROS 2 refuses an integer for a double), a number
for a string parameter becomes its text.
"""

import math
import os
import tempfile
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

import yaml

from depthclip_ros.core.files import short

#: Node parameters that have no entry in the default parameter file, with their defaults.
EXTRA_NODE_DEFAULTS: Dict[str, Any] = {'cameras': []}


def set_nested(tree: Dict[str, Any], name: str, value: Any) -> None:
    """Set ``tree['a']['b'] = value`` for ``name == 'a.b'`` (creating the mappings)."""
    parts = name.split('.')
    for part in parts[:-1]:
        child = tree.get(part)
        if not isinstance(child, dict):
            child = tree[part] = {}
        tree = child
    tree[parts[-1]] = value


def get_nested(tree: Any, name: str) -> Any:
    """Return ``tree['a']['b']`` for ``name == 'a.b'``."""
    for part in name.split('.'):
        tree = tree[part]
    return tree


def has_nested(tree: Any, name: str) -> bool:
    """Return whether ``tree['a']['b']`` exists for ``name == 'a.b'``."""
    for part in name.split('.'):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def ros_typed(value: Any, like: Any) -> Any:
    """
    Return ``value`` in the ROS 2 type of ``like`` (a default of the same parameter).

    Integers become floats where ``like`` is a float (or a list of floats); numbers become
    strings where ``like`` is a string (or a list of strings). Anything else is unchanged.
    """
    def fix(item: Any, kind: Any) -> Any:
        if isinstance(item, bool) or isinstance(kind, bool):
            return item
        if isinstance(kind, float) and isinstance(item, int):
            return float(item)
        if isinstance(kind, str) and isinstance(item, (int, float)):
            return str(item)
        return item
    if isinstance(like, list) and isinstance(value, list):
        return [fix(item, like[0]) for item in value] if like else value
    return fix(value, like)


def reference_values(params: Optional[str] = None) -> Dict[str, Any]:
    """
    Return every parameter the node knows, with its value from ``params`` or its default.

    The defaults of the parameter table (engine and node settings) and
    :data:`EXTRA_NODE_DEFAULTS`, then the installed ``config/depthclip.yaml``, then
    ``params``, later ones winning.

    :raises ValueError: the parameter file cannot be read
    """
    from depthclip_ros.core.config import (check_file_names, default_params_file,
                                           DepthClipConfig, load_params_file, NodeSettings)
    values: Dict[str, Any] = {**DepthClipConfig().to_flat(), **NodeSettings().to_flat(),
                              **EXTRA_NODE_DEFAULTS}
    values.update(load_params_file(default_params_file()))
    if params:
        from_file = load_params_file(params)
        check_file_names(from_file, params)
        values.update(from_file)
    return values


def parse_node_override(item: str) -> Tuple[str, Any]:
    """
    Parse ``name:=value`` (ROS syntax) or ``name=value``; the value is read as YAML.

    :raises ValueError: neither form, or an empty name
    """
    from depthclip_ros.core.config import parse_override
    if ':=' in item:
        name, _, text = item.partition(':=')
        item = f'{name}={text}'
    return parse_override(item)


def _type_name(like: Any) -> str:
    if isinstance(like, bool):
        return 'true or false'
    if isinstance(like, int):
        return 'an integer'
    if isinstance(like, float):
        return 'a number'
    if isinstance(like, list):
        return 'a list, e.g. [a, b]'
    return 'a string'


def _fits(value: Any, like: Any) -> bool:
    if isinstance(like, bool):
        return isinstance(value, bool)
    if isinstance(like, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(like, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            math.isfinite(value)
    if isinstance(like, list):
        return isinstance(value, list)
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def node_overrides(items: Iterable[str], reference: Mapping[str, Any],
                   option: str = '--set') -> Dict[str, Any]:
    """
    Parse and check command-line overrides of node parameters.

    Engine parameters are checked completely (ranges, choices, devices); the node's own
    parameters by name and type (the node checks their ranges when it starts).

    :param items: ``name:=value`` or ``name=value`` strings
    :param reference: known parameters with their defaults (:func:`reference_values`)
    :param option: the option name for messages
    :return: dotted name -> value in its ROS 2 type
    :raises ValueError: one line naming the option, the parameter and the problem
    """
    from depthclip_ros.core.config import (DepthClipConfig, engine_parameter_names,
                                           unknown_parameter_text)
    values: Dict[str, Any] = {}
    for item in items:
        try:
            name, value = parse_node_override(item)
        except ValueError as error:
            raise ValueError(f'{option} {short(item)}: {error}') from None
        if name not in reference:
            raise ValueError(f'{option} {short(item)}: '
                             f'{unknown_parameter_text(name, reference)}')
        like = reference[name]
        if not _fits(value, like):
            raise ValueError(f'{option} {short(item)}: {name} must be {_type_name(like)}, got '
                             f'{short(value)}')
        values[name] = ros_typed(value, like)
    engine_names = set(engine_parameter_names())
    engine = {k: v for k, v in dict(reference, **values).items() if k in engine_names}
    try:
        DepthClipConfig.from_flat(engine)  # the values together with the file's
    except ValueError as error:
        raise ValueError(f'{option}: {error}') from None
    return values


class _ParamsDumper(yaml.SafeDumper):
    """Block mappings, flow lists: the layout of config/depthclip.yaml."""


def _flow_list(dumper: yaml.SafeDumper, data: list):
    return dumper.represent_sequence('tag:yaml.org,2002:seq', data, flow_style=True)


_ParamsDumper.add_representer(list, _flow_list)


def dump_params(document: Mapping[str, Any], comment: str = '') -> str:
    """Return a parameter document as YAML text, with ``comment`` as ``#`` lines on top."""
    text = ''.join(f'# {line}\n' for line in comment.splitlines())
    return text + yaml.dump(dict(document), Dumper=_ParamsDumper, sort_keys=False,
                            default_flow_style=False, allow_unicode=True, width=99)


def params_document(values: Mapping[str, Any]) -> Dict[str, Any]:
    """Return ``{'/**': {'ros__parameters': nested values}}`` for dotted ``values``."""
    params: Dict[str, Any] = {}
    for name, value in values.items():
        set_nested(params, name, value)
    return {'/**': {'ros__parameters': params}}


def write_params_file(values: Mapping[str, Any], directory: Optional[str] = None,
                      prefix: str = 'depthclip-params-', comment: str = '') -> str:
    """
    Write dotted ``values`` as a new ROS 2 parameter file (``/**`` section).

    :param values: dotted name -> value, already in their ROS 2 types
    :param directory: where to create the file (default: the temporary directory)
    :param prefix: file name prefix
    :param comment: text for a comment at the top
    :return: the path of the new file (the caller removes it when done)
    """
    if directory:
        os.makedirs(directory, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=prefix, suffix='.yaml', dir=directory)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(dump_params(params_document(values), comment))
    return path
