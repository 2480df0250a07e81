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
Camera lists for one multi-camera ``depthclip_node`` (``launch/cameras.launch.py``).

A cameras file (YAML) lists the cameras one node serves::

    cameras:
      - name: front                         # the node's topics: front/image, front/depth/...
        image: /front/color/image_raw       # the driver's colour image
        camera_info: /front/color/camera_info
        frame_id: front_optical_frame       # optional; empty/absent: the images' frame_id

This module reads and checks such a file and turns it into the node's parameters and
remappings. It imports neither rclpy nor launch.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from depthclip_ros.core.config import (CAMERA_NAME_PATTERN, MAX_CAMERA_NAME_CHARS, MAX_CAMERAS,
                                       validate_frame_id)
from depthclip_ros.core.files import load_yaml, short

_KEYS = ('name', 'image', 'camera_info', 'frame_id')


@dataclass(frozen=True)
class CameraSpec:
    """One camera of a multi-camera node: its name, input topics and output frame."""

    name: str
    image: str
    camera_info: str
    frame_id: str = ''


def parse_cameras(document: Any, source: str = 'cameras file') -> List[CameraSpec]:
    """
    Check a parsed cameras document (``{'cameras': [{name, image, camera_info}, ...]}``).

    :param document: what ``yaml.safe_load`` returned
    :param source: where it came from, for the error messages
    :raises ValueError: naming the camera and the problem
    """
    if not isinstance(document, dict) or not isinstance(document.get('cameras'), list):
        raise ValueError(f'{source} must have a "cameras:" list of cameras')
    entries = document['cameras']
    if not entries:
        raise ValueError(f'{source} lists no cameras')
    if len(entries) > MAX_CAMERAS:
        raise ValueError(f'{source} lists {len(entries)} cameras; one node serves at most '
                         f'{MAX_CAMERAS}')
    cameras: List[CameraSpec] = []
    for index, entry in enumerate(entries):
        where = f'{source}: camera {index + 1}'
        if not isinstance(entry, dict):
            raise ValueError(f'{where} must be a mapping with name, image and camera_info')
        unknown = sorted(set(entry) - set(_KEYS))
        if unknown:
            raise ValueError(f'{where}: unknown key(s) {", ".join(map(str, unknown))}; '
                             f'known: {", ".join(_KEYS)}')
        name = entry.get('name')
        if not isinstance(name, str) or not CAMERA_NAME_PATTERN.fullmatch(name):
            raise ValueError(f'{where}: name {short(name)} must be letters, digits and '
                             'underscores, not starting with a digit')
        if len(name) > MAX_CAMERA_NAME_CHARS:
            raise ValueError(f'{where}: name of {len(name)} characters ({short(name)}) is longer '
                             f'than {MAX_CAMERA_NAME_CHARS}')
        where = f'{source}: camera {name}'
        values = {}
        for key in ('image', 'camera_info'):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip() or ' ' in value.strip():
                raise ValueError(f'{where}: {key} must name a topic, got {short(value)}')
            values[key] = value.strip()
        frame_id = validate_frame_id(f'{where}: frame_id', entry.get('frame_id') or '')
        cameras.append(CameraSpec(name=name, frame_id=frame_id, **values))
    names = [camera.name for camera in cameras]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f'{source}: camera name(s) {", ".join(duplicates)} used more than once')
    return cameras


def load_cameras_file(path: str) -> List[CameraSpec]:
    """
    Read and check a cameras YAML file.

    :raises ValueError: unreadable file, or a problem in it (one clear line)
    """
    try:
        document = load_yaml(path, f'cameras file {path}')
    except UnicodeDecodeError:
        raise ValueError(f'cameras file {path} is not a text (YAML) file') from None
    return parse_cameras(document, f'cameras file {path}')


def node_parameters(cameras: List[CameraSpec]) -> Dict[str, Any]:
    """Return the node parameters for these cameras: ``cameras`` and ``<name>.frame_id``."""
    values: Dict[str, Any] = {'cameras': [camera.name for camera in cameras]}
    for camera in cameras:
        if camera.frame_id:
            values[f'{camera.name}.frame_id'] = camera.frame_id
    return values


def node_remappings(cameras: List[CameraSpec]) -> List[Tuple[str, str]]:
    """Return the remappings of each camera's input topics onto the driver's topics."""
    remappings = []
    for camera in cameras:
        image = camera.image.rstrip('/')
        remappings += [(f'{camera.name}/image', image),
                       (f'{camera.name}/image/compressed', image + '/compressed'),
                       (f'{camera.name}/camera_info', camera.camera_info)]
    return remappings
