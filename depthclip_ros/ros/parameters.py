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
The node's ROS 2 parameters: descriptors from the one parameter table, declaration, changes.

A set of changes is sorted into engine, node and per-camera (frame_id) updates.

Ranges, choices, descriptions and read-only flags all come from
:data:`depthclip_ros.core.config.PARAMETERS`; nothing here repeats them. Values are
checked by the core's validation in the node's one on-set callback.
"""

import array
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType)
from rclpy.exceptions import InvalidParameterTypeException, ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from depthclip_ros.core.config import (DepthClipConfig, ENGINE_PARAMETERS, flatten_parameters,
                                       known_parameter_names, MAX_CAMERAS, NODE_PARAMETERS,
                                       NodeSettings, ParamSpec, SPECS, unknown_parameter_text,
                                       unknown_parameters, validate_camera_names,
                                       validate_frame_id)
from depthclip_ros.core.files import load_yaml, short

#: The read-only list of camera names; empty: one camera with un-namespaced topics.
CAMERAS_PARAMETER = 'cameras'
#: Per-camera parameter ``<camera>.frame_id``: the outputs' frame_id (empty: the input's).
FRAME_ID_SUFFIX = 'frame_id'


class StartupError(RuntimeError):
    """The node cannot start with its parameters (one clear line, no traceback)."""


def parameter_type(value: Any) -> int:
    """Return the ``rcl_interfaces/ParameterType`` of a default value."""
    if isinstance(value, bool):
        return ParameterType.PARAMETER_BOOL
    if isinstance(value, int):
        return ParameterType.PARAMETER_INTEGER
    if isinstance(value, float):
        return ParameterType.PARAMETER_DOUBLE
    if isinstance(value, str):
        return ParameterType.PARAMETER_STRING
    if isinstance(value, (list, tuple)):
        if not value or all(isinstance(v, str) for v in value):  # empty: grounding.queries
            return ParameterType.PARAMETER_STRING_ARRAY
        if value and all(isinstance(v, bool) for v in value):
            return ParameterType.PARAMETER_BOOL_ARRAY
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return ParameterType.PARAMETER_INTEGER_ARRAY
        return ParameterType.PARAMETER_DOUBLE_ARRAY
    raise ValueError(f'no ROS parameter type for {value!r}')


def make_descriptor(spec: ParamSpec, ptype: int) -> ParameterDescriptor:
    """Build the ``ParameterDescriptor`` of ``spec``: ranges, choices, read-only."""
    descriptor = ParameterDescriptor(name=spec.name, type=ptype, description=spec.description,
                                     read_only=spec.read_only)
    constraints = []
    if spec.choices:
        constraints.append('one of: ' + ', '.join(spec.choices))
    scalar = ptype in (ParameterType.PARAMETER_INTEGER, ParameterType.PARAMETER_DOUBLE)
    if scalar and spec.min_value is not None and spec.max_value is not None:
        if ptype == ParameterType.PARAMETER_INTEGER:
            descriptor.integer_range = [IntegerRange(from_value=int(spec.min_value),
                                                     to_value=int(spec.max_value), step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(spec.min_value), to_value=float(spec.max_value), step=0.0)]
        if spec.min_exclusive:
            constraints.append(f'range {spec.range_text()}')
    elif spec.range_text():
        constraints.append(f'range {spec.range_text()}' if not spec.choices else '')
    if spec.read_only:
        constraints.append('read-only: restart the node to change it')
    descriptor.additional_constraints = '; '.join(c for c in constraints if c)
    return descriptor


def coerce_numeric(param: Parameter, expected: int) -> Parameter:
    """
    Return ``param`` as a double (array) when an integer (array) was given for one.

    ``ros2 param set /depthclip_node depth_bins "[1, 2, 3]"`` sends integers; they are
    converted instead of being rejected for their type.
    """
    if expected == ParameterType.PARAMETER_DOUBLE \
            and param.type_ == Parameter.Type.INTEGER:
        return Parameter(param.name, Parameter.Type.DOUBLE, float(param.value))
    if expected == ParameterType.PARAMETER_DOUBLE_ARRAY \
            and param.type_ == Parameter.Type.INTEGER_ARRAY:
        return Parameter(param.name, Parameter.Type.DOUBLE_ARRAY,
                         [float(v) for v in param.value])
    return param


def plain_value(value: Any) -> Any:
    """Return parameter values as plain Python (arrays become lists)."""
    if isinstance(value, (array.array, tuple, np.ndarray)):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return value


def declare_parameter(node: Node, name: str, default: Any,
                      descriptor: ParameterDescriptor) -> Any:
    """
    Declare a parameter; accept integers given for a double (``-p temperature:=1``).

    An integer override of a double (array) parameter is taken as it is (dynamic typing),
    then set again as double(s), which the node's on-set callback checks as any change.

    :return: the parameter's value (plain Python)
    :raises StartupError: a value of the wrong type or out of range (one line)
    """
    if isinstance(default, (list, tuple)) and not default:
        return _declare_empty_string_array(node, name, descriptor)
    doubles = (ParameterType.PARAMETER_DOUBLE, ParameterType.PARAMETER_DOUBLE_ARRAY)
    try:
        declared = node.declare_parameter(name, default, descriptor)
        if declared.type_ == Parameter.Type.NOT_SET:
            raise StartupError(unset_text(name, default))
        return plain_value(declared.value)
    except StartupError:
        raise
    except InvalidParameterTypeException:
        if descriptor.type not in doubles:
            raise StartupError(f'parameter {name} must be of type '
                               f'{Parameter.Type(descriptor.type).name.lower()}') from None
    except Exception as error:  # noqa: B902 - rclpy's range/value exceptions
        raise StartupError(f'parameter {name}: {error}') from None
    dynamic = ParameterDescriptor(name=name, description=descriptor.description,
                                  additional_constraints=descriptor.additional_constraints,
                                  read_only=False, dynamic_typing=True)
    try:
        value = node.declare_parameter(name, default, dynamic).value
        param = coerce_numeric(Parameter(name, value=plain_value(value)), descriptor.type)
        result = node.set_parameters([param])[0]
    except Exception as error:  # noqa: B902 - rclpy's type/range/value exceptions
        raise StartupError(f'parameter {name}: {error}') from None
    if not result.successful:
        raise StartupError(f'invalid parameter: {result.reason}')
    if node.get_parameter_or(name).type_ == Parameter.Type.NOT_SET:
        raise StartupError(unset_text(name, default))
    return plain_value(node.get_parameter(name).value)


def _declare_empty_string_array(node: Node, name: str,
                                descriptor: ParameterDescriptor) -> List[str]:
    """
    Declare a string-array parameter whose default is empty (``grounding.queries``).

    rclpy types a plain ``[]`` as a byte array (which then refuses string lists), and a
    parameter file's ``[]`` leaves a parameter unset; declared typed, an unset value is
    set to an empty string array (before any on-set callback is registered).

    :raises StartupError: a value of another type (one line)
    """
    try:
        node.declare_parameter(name, Parameter.Type.STRING_ARRAY, descriptor)
        try:
            return plain_value(node.get_parameter(name).value)
        except ParameterUninitializedException:
            node.set_parameters([Parameter(name, Parameter.Type.STRING_ARRAY, [])])
            return []
    except InvalidParameterTypeException:
        raise StartupError(f'parameter {name} must be of type string_array') from None
    except Exception as error:  # noqa: B902 - rclpy's type/range/value exceptions
        raise StartupError(f'parameter {name}: {error}') from None


def unset_text(name: str, default: Any) -> str:
    """Return why a parameter given without a value (``[]``, ``~``) cannot start the node."""
    empty = isinstance(default, (list, tuple))
    return (f'parameter {name} has no value: ' + (
        'an empty list [] has no type in a ROS 2 parameter file (and this list must not be '
        'empty): list its elements, or leave it out for the default' if empty else
        'give one, or leave it out for the default') + f' ({short(default)})')


@dataclass
class Changes:
    """A set of parameter changes, sorted by what they change."""

    engine: Dict[str, Any] = field(default_factory=dict)
    node: Dict[str, Any] = field(default_factory=dict)
    frame_ids: Dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.engine or self.node or self.frame_ids)

    def names(self) -> List[str]:
        """Return every changed parameter name, sorted."""
        return sorted({**self.engine, **self.node, **self.frame_ids})


def override_names(arguments: Sequence[str], sections: Sequence[str]) -> List[Tuple[str, str]]:
    """
    Return ``(source, name)`` of every parameter a command line's ROS arguments set.

    ``-p name:=value`` / ``--param`` give ``('-p', name)``; ``--params-file FILE`` gives
    ``('parameter file FILE', name)`` for each name in its ``sections`` (``/**``, the node's
    name, ...). A file that cannot be read here is skipped (rcl has read or refused it).
    """
    found: List[Tuple[str, str]] = []
    inside = False
    i = 0
    while i < len(arguments):
        item = arguments[i]
        value = arguments[i + 1] if i + 1 < len(arguments) else None
        if item == '--ros-args':
            inside = True
        elif item == '--':
            inside = False
        elif inside and item in ('-p', '--param') and value is not None:
            found.append(('-p', value.split(':=', 1)[0]))
            i += 1
        elif inside and item == '--params-file' and value is not None:
            found += [(f'parameter file {value}', name) for name in _file_names(value, sections)]
            i += 1
        i += 1
    return found


def _file_names(path: str, sections: Sequence[str]) -> List[str]:
    try:
        document = load_yaml(path, f'parameter file {path}')
    except (ValueError, UnicodeDecodeError):
        return []
    names: List[str] = []
    if isinstance(document, dict):
        for section in sections:
            body = document.get(section)
            if isinstance(body, dict) and isinstance(body.get('ros__parameters'), dict):
                names += list(flatten_parameters(body['ros__parameters']))
    return names


def unknown_override_warnings(node: Node, arguments: Sequence[str]) -> List[str]:
    """
    Return one warning per parameter the command line sets that the node does not have.

    Only names under the node's own namespaces (``temporal.alpah``) or close to one of its
    parameters count (:func:`~depthclip_ros.core.config.unknown_parameters`); the warning
    names the file (or ``-p``), the name and the closest parameter. Call after declaring.
    """
    declared = sorted(set(node.list_parameters([], 0).names) | set(known_parameter_names()))
    fqn = node.get_fully_qualified_name()
    sections = ['/**', '**', node.get_name(), '/' + node.get_name(), fqn, fqn.lstrip('/')]
    warnings = []
    pairs = override_names(list(arguments), list(dict.fromkeys(sections)))
    unknown = set(unknown_parameters([name for _, name in pairs], declared))
    for source, name in dict.fromkeys(pairs):
        if name in unknown:
            warnings.append(f'{source}: {unknown_parameter_text(name, declared, False)}: '
                            'ignored')
    return warnings


class NodeParameters:
    """
    Declares a node's parameters from the parameter table and sorts changes to them.

    :param node: the rclpy node (plain or lifecycle)
    """

    def __init__(self, node: Node):
        self._node = node
        self._types: Dict[str, int] = {}
        #: ``<camera>.frame_id`` parameter -> camera name.
        self.frame_id_parameters: Dict[str, str] = {}

    def declare(self) -> Tuple[str, ...]:
        """
        Declare every parameter; return the camera names (empty: one un-namespaced camera).

        :raises StartupError: a value of the wrong type, or an invalid ``cameras`` list
        """
        defaults = {**DepthClipConfig().to_flat(), **NodeSettings().to_flat()}
        for spec in ENGINE_PARAMETERS + NODE_PARAMETERS:
            default = defaults[spec.name]
            self._declare(spec.name, default, make_descriptor(spec, parameter_type(default)))
        descriptor = ParameterDescriptor(
            name=CAMERAS_PARAMETER, type=ParameterType.PARAMETER_STRING_ARRAY,
            description='Camera names; each camera has topics <name>/image, '
                        '<name>/camera_info, <name>/depth/image, ... Empty: one camera with '
                        'un-namespaced topics (image, camera_info, depth/image, ...)',
            additional_constraints='string array of unique names (letters, digits, '
                                   f'underscores), at most {MAX_CAMERAS}; read-only: restart '
                                   'the node to change it',
            read_only=True, dynamic_typing=True)
        value = self._node.declare_parameter(CAMERAS_PARAMETER, [], descriptor).value
        try:
            names = validate_camera_names(plain_value(value) if value is not None else None)
        except ValueError as error:
            raise StartupError(f'invalid parameter: {error}') from None
        for camera in names:
            name = f'{camera}.{FRAME_ID_SUFFIX}'
            descriptor = ParameterDescriptor(
                name=name, type=ParameterType.PARAMETER_STRING,
                description=f'frame_id of the outputs of camera {camera}; empty: the frame_id '
                            'of its input images')
            self._declare(name, '', descriptor)
            self.frame_id_parameters[name] = camera
        return names

    def _declare(self, name: str, default: Any, descriptor: ParameterDescriptor) -> None:
        self._types[name] = descriptor.type
        declare_parameter(self._node, name, default, descriptor)

    def value(self, name: str) -> Any:
        """Return a parameter's value as plain Python."""
        return plain_value(self._node.get_parameter(name).value)

    def values(self, specs: Sequence[ParamSpec]) -> Dict[str, Any]:
        """Return the values of the parameters of ``specs``, by dotted name."""
        return {spec.name: self.value(spec.name) for spec in specs}

    def coerce(self, parameters: List[Parameter]) -> List[Parameter]:
        """Return ``parameters`` with integers given for doubles made doubles (pre-set)."""
        return [coerce_numeric(p, self._types[p.name]) if p.name in self._types else p
                for p in parameters]

    def sort(self, parameters: Sequence[Parameter]) -> Changes:
        """
        Sort changes into engine, node and frame_id updates.

        :raises ValueError: a read-only parameter, or an invalid frame_id (the reason)
        """
        changes = Changes()
        for param in parameters:
            spec: Optional[ParamSpec] = SPECS.get(param.name)
            if param.name == CAMERAS_PARAMETER or (spec is not None and spec.read_only):
                raise ValueError(f'{param.name} is read-only: restart the node to change it')
            value = plain_value(param.value)
            if spec is not None and spec.group == 'engine':
                changes.engine[param.name] = value
            elif spec is not None:
                changes.node[param.name] = value
            elif param.name in self.frame_id_parameters:
                changes.frame_ids[param.name] = validate_frame_id(param.name, value)
        return changes

    def check_unconfigured(self, changes: Changes) -> None:
        """
        Validate changes made before the model is loaded against the other values.

        :raises ValueError: the reason
        """
        if changes.engine:
            DepthClipConfig.from_flat({**self.values(ENGINE_PARAMETERS), **changes.engine})
        if changes.node:
            NodeSettings.from_flat({**self.values(NODE_PARAMETERS), **changes.node})
