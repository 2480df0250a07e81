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
Every setting of depthclip_ros: one parameter table, the engine and node settings, files.

Every parameter has a dotted name (``model.name``, ``prompts.depth_classes``, ``cloud.stride``,
...) and exactly one :class:`ParamSpec` in :data:`PARAMETERS`: its description, range or
choices and whether it is read-only. The ROS node builds its parameter descriptors from that
table, the parameter table of docs/parameters.md is generated from it, and the validation
below checks values against it, so a range is written once. Defaults live in the dataclasses
(:class:`DepthClipConfig` for the engine, :class:`NodeSettings` for the outputs, the image
subscription and diagnostics), which ``config/depthclip.yaml`` repeats (a test checks it).

The command line overrides parameters with ``--set name=value`` and parameter files nest on
the dots under ``/**: ros__parameters:`` like every ROS 2 parameter file. This module never
imports rclpy.
"""

from dataclasses import dataclass, field, fields, replace
import difflib
import math
import os
import re
import string
import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import yaml

from depthclip_ros.core.files import load_yaml, short

#: Backbones whose ``layer4`` output paper mode can read (2 x the text width).
PAPER_MODE_BACKBONES = ('RN50',)

FEATURE_MODES = ('paper', 'projected')
DEVICES_HELP = 'auto, cpu, cuda or cuda:N'
PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')
NORMALIZATIONS = ('imagenet', 'clip')
QUICK_GELU = ('auto', 'true', 'false')
TRANSPORTS = ('raw', 'compressed')
RELIABILITIES = ('auto', 'best_effort', 'reliable')
SCALE_MODES = ('fixed', 'ground')
BACKENDS = ('auto', 'torch', 'onnxruntime')

#: Input sizes are bounded so that a typo cannot ask the encoder for gigabytes.
MIN_INPUT_SIDE = 64
MAX_INPUT_SIDE = 2048

#: Prompt sizes are bounded so that a prompt change is encoded in a few seconds at most.
MAX_TEMPLATES = 16
MAX_OBJECTS = 16
MAX_DEPTH_CLASSES = 32
#: Most prompts (depth classes x objects x templates) that one change may ask to encode.
MAX_PROMPTS = 128
#: Longest template, object or depth class word, in characters (CLIP reads 77 tokens).
MAX_PROMPT_CHARS = 200

#: Physical bounds of a depth bin, metres (float32 stays exact and finite far beyond them).
MIN_BIN_M = 0.01
MAX_BIN_M = 1000.0
#: Two class embeddings closer than this (cosine) are (nearly) the same depth class.
MAX_CLASS_COSINE = 0.999

#: Grounding (open-vocabulary queries): most queries and background words.
MAX_QUERIES = 16
MAX_BACKGROUND = 32

#: Most cameras one node serves (the ``cameras`` parameter).
MAX_CAMERAS = 16
#: A camera name: a ROS name token (its topics are ``<name>/image``, ...).
CAMERA_NAME_PATTERN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
#: Longest camera name (its topics, ``<namespace>/<name>/depth/camera_info``, must stay within
#: the middleware's limit on topic names).
MAX_CAMERA_NAME_CHARS = 64


@dataclass(frozen=True)
class ModelConfig:
    """Which CLIP model to load, from where, and how to run it (all read-only at run time)."""

    name: str = 'RN50'
    pretrained: str = 'openai'
    device: str = 'auto'
    precision: str = 'auto'
    quick_gelu: str = 'auto'
    backend: str = 'auto'
    onnx_file: str = ''
    onnx_providers: Tuple[str, ...] = ('auto',)


@dataclass(frozen=True)
class InputConfig:
    """Network input size and normalization (read-only at run time)."""

    height: int = 416
    width: int = 544
    normalization: str = 'imagenet'


@dataclass(frozen=True)
class PromptConfig:
    """Prompt templates, objects and depth classes; one class embedding per depth class."""

    templates: Tuple[str, ...] = ('This {} is {}',)
    objects: Tuple[str, ...] = ('object',)
    depth_classes: Tuple[str, ...] = (
        'giant', 'extremely close', 'close', 'not in distance', 'a little remote', 'far',
        'unseen')
    embeddings_file: str = ''


@dataclass(frozen=True)
class GroundingConfig:
    """Open-vocabulary queries answered from the depth pass (empty ``queries``: off)."""

    queries: Tuple[str, ...] = ()
    templates: Tuple[str, ...] = ('a photo of a {}.',)
    background: Tuple[str, ...] = ('floor', 'wall', 'ceiling')
    threshold: float = 0.5


# -------------------------------------------------------------------------------------------
# The parameter table
# -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParamSpec:
    """
    Description, range and mutability of one parameter: the one place they are written.

    ``min_value`` / ``max_value`` bound numbers (and every element of a number list),
    inclusively unless ``min_exclusive``; ``choices`` lists the values a string may take.
    ``group`` is ``engine`` (:class:`DepthClipConfig`) or ``node`` (:class:`NodeSettings`).
    """

    name: str
    description: str
    read_only: bool = False
    min_value: Optional[float] = None
    max_value: Optional[float] = None
    choices: Tuple[str, ...] = ()
    min_exclusive: bool = False
    group: str = 'engine'

    def range_text(self) -> str:
        """Return the range as text: ``a / b`` for choices, ``[0, 1]``, ``(0, 1]``, ``[1, ]``."""
        if self.choices:
            return ' / '.join(self.choices)
        if self.min_value is None and self.max_value is None:
            return ''
        low = '' if self.min_value is None else f'{self.min_value:g}'
        high = '' if self.max_value is None else f'{self.max_value:g}'
        return f'{"(" if self.min_exclusive else "["}{low}, {high}]'

    def check(self, value: Any) -> None:
        """
        Check ``value`` (already of the parameter's type) against the range or the choices.

        :raises ValueError: naming the parameter, its range and the value
        """
        if self.choices:
            if value not in self.choices:
                raise ValueError(f'{self.name} must be one of {"|".join(self.choices)}, got '
                                 f'{short(value)}')
            return
        if self.min_value is None and self.max_value is None:
            return
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            low_ok = self.min_value is None or (
                item > self.min_value if self.min_exclusive else item >= self.min_value)
            high_ok = self.max_value is None or item <= self.max_value
            if not (math.isfinite(item) and low_ok and high_ok):
                raise ValueError(f'{self.name} must be in {self.range_text()}, got '
                                 f'{short(_plain(value))}')


def _node(name: str, description: str, *args, **kwargs) -> ParamSpec:
    return ParamSpec(name, description, *args, group='node', **kwargs)


#: Every parameter of the engine and the node, in the order of config/depthclip.yaml.
PARAMETERS: Tuple[ParamSpec, ...] = (
    ParamSpec('model.name', 'open_clip architecture (RN50, RN101, RN50x4, ViT-B-16, ...)', True),
    ParamSpec('model.pretrained',
              'open_clip pretrained tag (openai, laion2b_s34b_b79k, ...), or a local checkpoint '
              'file (.pt/.bin/.safetensors); empty = random weights (tests/benchmarks only)',
              True),
    ParamSpec('model.device', f'Inference device: {DEVICES_HELP} (auto: cuda when available)',
              True),
    ParamSpec('model.precision',
              'Precision of the image encoder (the text encoder is always fp32); auto: fp16 on '
              'CUDA, bf16 on a CPU with native bf16 when it is within 0.05 m p99 of fp32 on the '
              'sample frames, else fp32', True, choices=PRECISIONS),
    ParamSpec('model.quick_gelu',
              'auto/true/false: QuickGELU text activation (auto: as the pretrained tag says; '
              'true for local RN* and OpenAI checkpoints)', True, choices=QUICK_GELU),
    ParamSpec('model.backend',
              'Image encoder backend: auto (the fastest within 0.05 m p99 of torch fp32 on the '
              'sample frames: torch fp32/bf16, onnxruntime fp32/int8 exported once into a '
              'cache; TensorRT fp16 on CUDA), torch, or onnxruntime running model.onnx_file '
              '(from `depthclip export onnx`; there model.precision auto/fp16 turn on TensorRT '
              'fp16, bf16 is torch only); text encoder and head run in torch', True,
              choices=BACKENDS),
    ParamSpec('model.onnx_file',
              'onnxruntime: the exported image encoder (.onnx, fp32 or int8), made for this '
              'model.name, model.pretrained, feature_mode and input size', True),
    ParamSpec('model.onnx_providers',
              'onnxruntime: execution providers, first preferred (TensorrtExecutionProvider, '
              'CUDAExecutionProvider, CPUExecutionProvider); [auto]: the best available for '
              'model.device', True),
    ParamSpec('input.height', 'Network input height in pixels (multiple of 32)', True,
              MIN_INPUT_SIDE, MAX_INPUT_SIDE),
    ParamSpec('input.width', 'Network input width in pixels (multiple of 32)', True,
              MIN_INPUT_SIDE, MAX_INPUT_SIDE),
    ParamSpec('input.normalization',
              'imagenet (the paper) or clip (CLIP mean/std) input normalization', True,
              choices=NORMALIZATIONS),
    ParamSpec('feature_mode',
              'paper (RN50 layer4, exact reference) or projected (MaskCLIP value path, any '
              'backbone)', True, choices=FEATURE_MODES),
    ParamSpec('prompts.templates',
              f'Prompt templates with two {{}} slots: object, depth class (at most '
              f'{MAX_TEMPLATES})'),
    ParamSpec('prompts.objects',
              f'Objects filled into the first slot; embeddings are averaged (at most '
              f'{MAX_OBJECTS})'),
    ParamSpec('prompts.depth_classes',
              f'Depth class words, nearest first; one per depth bin (2 to {MAX_DEPTH_CLASSES}; '
              f'classes x objects x templates at most {MAX_PROMPTS} prompts)'),
    ParamSpec('prompts.embeddings_file',
              'Class embeddings learned by depthclip adapt (.npz); empty: from the prompts. '
              'When set, prompts.* do not drive the class embeddings, and depth_bins and '
              'temperature come from the file unless set after it'),
    ParamSpec('depth_bins', 'Metric depth (m) of each depth class, strictly increasing', False,
              MIN_BIN_M, MAX_BIN_M),
    ParamSpec('temperature', 'Softmax temperature over depth classes', False, 0.001, 100.0),
    ParamSpec('flip_tta', 'Average with the horizontally flipped image (paper: true)'),
    ParamSpec('smoothing_sigma', 'Gaussian smoothing of the output depth in pixels (0 = off)',
              False, 0.0, 50.0),
    ParamSpec('depth_scale', 'Scale factor applied to every depth bin (see depthclip calibrate)',
              False, 0.01, 100.0),
    ParamSpec('grounding.queries',
              f'Things to find, e.g. [door, chair] (at most {MAX_QUERIES}): a mask, 3D point and '
              'distance each, from the depth pass; empty: off'),
    ParamSpec('grounding.templates',
              f'Query prompt templates with one {{}} slot (at most {MAX_TEMPLATES}); embeddings '
              'are averaged'),
    ParamSpec('grounding.background',
              f'Words that are not the queries (1 to {MAX_BACKGROUND}); each patch is scored '
              'against queries + background'),
    ParamSpec('grounding.threshold',
              'Least query probability (softmax over queries + background) of a mask pixel',
              False, 0.0, 1.0),
    _node('input_transport', 'raw: subscribe image (sensor_msgs/Image); compressed: '
          'image/compressed (sensor_msgs/CompressedImage, jpeg or png)', choices=TRANSPORTS),
    _node('output_scale', 'Output resolution relative to the input image: 1/N (1, 0.5, '
          '0.3333, 0.25, 0.2, ...; other values are refused), so that the depth size divides '
          'the input size exactly on both axes (rtabmap pairs depth with RGB by an integer '
          'factor). When N does not divide both sides of an image, the nearest larger 1/N '
          'that does is used (logged)', False, 0.0, 1.0, min_exclusive=True),
    _node('camera.fov_deg', 'Horizontal field of view (deg) used when no valid camera_info '
          'is there: nobody publishes one, or none came within camera.info_timeout', False,
          1.0, 179.0),
    _node('camera.info_timeout', 'While the camera_info topic has a publisher, seconds a frame '
          'waits for the first camera_info (then camera.fov_deg intrinsics, said in the log '
          'and diagnostics) or, when the camera stamps its camera_info like its images, for '
          'the one of its own stamp (then the newest); 0: never wait', False, 0.0, 60.0),
    _node('camera.rectify', 'true: rectify a distorted input (plumb_bob, rational_polynomial, '
          'equidistant) into its P before inference and publish depth/camera_info with D = 0 '
          'and K = P; an already rectified input (D = 0) uses P. false: the image as it is, '
          'K and D copied, P = K with a zero fourth column'),
    _node('depth.min_confidence', 'depth/image pixels with lower confidence are NaN (REP 118 '
          'invalid; the cloud and colorized depth follow); 0: off, every pixel valid', False,
          0.0, 1.0),
    _node('cloud.stride', 'One point per stride x stride depth pixels', False, 1, 64),
    _node('cloud.min_range', 'Points nearer than this (m) are invalid', False, 0.0, 1000.0),
    _node('cloud.max_range', 'Points farther than this (m) are invalid', False, 0.0, 1000.0),
    _node('cloud.min_confidence', 'Points with lower confidence are invalid', False, 0.0, 1.0),
    _node('cloud.organized', 'true: image-shaped cloud with NaN for invalid points; false: '
          'valid points only'),
    _node('cloud.color', 'Add an rgb field from the input image'),
    _node('qos.image_reliability',
          'Reliability of the image subscription; auto: reliable when every publisher of the '
          'image topic offers reliable, else best effort (re-checked as publishers come and '
          'go)', choices=RELIABILITIES),
    _node('qos.image_depth', 'History depth of the image subscription', False, 1, 1000),
    _node('publish.confidence', 'Publish depth/confidence'),
    _node('publish.colorized', 'Publish depth/colorized'),
    _node('publish.points', 'Publish points'),
    _node('diagnostics_period', 'Seconds between /diagnostics messages', False, 0.05, 3600.0),
    _node('temporal.enable', 'Filter the class probabilities over time, per camera (steady '
          'depth; off: every frame on its own, as the paper)'),
    _node('temporal.alpha', 'Weight of the newest frame in the temporal filter (1: no '
          'filtering); lower is steadier and slower', False, 0.0, 1.0, min_exclusive=True),
    _node('temporal.reset_threshold', 'Scene change (mean total variation distance between '
          'the new and the filtered class probabilities, 0 to 1) above which the history is '
          'dropped', False, 0.0, 1.0),
    _node('temporal.max_gap', 'Seconds between image stamps after which the history is '
          'dropped (it is also dropped when stamps go backwards)', False, 0.0, 3600.0,
          min_exclusive=True),
    _node('scale.mode', 'fixed: the bins times depth_scale; ground: fit the scale live to the '
          'floor seen by a camera at a known height and tilt', choices=SCALE_MODES),
    _node('scale.camera_height', 'ground: height of the optical centre above the floor (m)',
          False, 0.0, 100.0, min_exclusive=True),
    _node('scale.camera_pitch_deg', 'ground: downward tilt of the optical axis below the '
          'horizontal (deg)', False, -89.0, 89.0),
    _node('scale.camera_roll_deg', 'ground: rotation about the optical axis, positive when '
          'the right side of the image is lower (deg)', False, -89.0, 89.0),
    _node('scale.min', 'ground: smallest accepted scale (times the bins)', False, 0.01, 100.0),
    _node('scale.max', 'ground: largest accepted scale (times the bins)', False, 0.01, 100.0),
    _node('scale.smoothing', 'ground: share of the previous scale kept at each frame, in log '
          'space (0: follow every fit at once)', False, 0.0, 0.999),
    _node('scale.min_inliers', 'ground: fraction of the image that must be floor to fit; '
          'with less the last scale is held', False, 0.0, 1.0),
    _node('scale.refine_pitch', 'ground: learn a pitch correction from the floor when it '
          'clearly disagrees with scale.camera_pitch_deg (false: trust it always)'),
    _node('scale.floor_frame', 'ground: a TF frame on the floor (z up); when set, height and '
          'tilt come from TF to the image frame_id instead (needs tf2_ros: a ROS 2 '
          'distribution); empty: use scale.camera_*'),
    _node('max_batch_size', 'Most camera frames per encoder pass; 0: the newest frame of '
          'every camera in one pass. On a GPU batching is faster; on a small CPU a limit of 1 '
          'or 2 can be (see scripts/bench_cameras.py). Frames that waited longest go first',
          False, 0, MAX_CAMERAS),
)

#: The engine's parameters (:class:`DepthClipConfig`).
ENGINE_PARAMETERS: Tuple[ParamSpec, ...] = tuple(s for s in PARAMETERS if s.group == 'engine')
#: The node's own parameters (:class:`NodeSettings`).
NODE_PARAMETERS: Tuple[ParamSpec, ...] = tuple(s for s in PARAMETERS if s.group == 'node')
#: Dotted name -> spec.
SPECS: Dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}


def engine_parameter_names() -> List[str]:
    """Return the dotted names of all engine parameters, in declaration order."""
    return [spec.name for spec in ENGINE_PARAMETERS]


def read_only_names() -> List[str]:
    """Return the dotted names of the parameters fixed once the model is loaded."""
    return [spec.name for spec in PARAMETERS if spec.read_only]


def check_ranges(values: Mapping[str, Any]) -> None:
    """
    Check each value against its :class:`ParamSpec` range or choices.

    :param values: dotted name -> value (names without a spec are ignored)
    :raises ValueError: the first value outside its range, naming the parameter
    """
    for name, value in values.items():
        spec = SPECS.get(name)
        if spec is not None:
            spec.check(value)


# -------------------------------------------------------------------------------------------
# Settings
# -------------------------------------------------------------------------------------------
class _Flat:
    """Dotted-name access shared by the settings dataclasses."""

    def to_flat(self) -> Dict[str, Any]:
        """
        Return the settings as a flat dict keyed by dotted parameter names.

        :return: ``{'model.name': 'RN50', ..., 'depth_bins': [...], ...}`` (lists, not tuples)
        """
        flat = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if hasattr(value, '__dataclass_fields__'):
                for sub in fields(value):
                    flat[f'{f.name}.{sub.name}'] = _plain(getattr(value, sub.name))
            else:
                flat[self._dotted(f.name)] = _plain(value)
        return flat

    @staticmethod
    def _dotted(field_name: str) -> str:
        return field_name

    @classmethod
    def from_flat(cls, values: Mapping[str, Any], base=None):
        """
        Build validated settings from dotted names.

        :param values: dotted name -> value; names not listed keep ``base``'s values
        :param base: settings to start from (the defaults when ``None``)
        :raises ValueError: unknown name, wrong type or invalid value (the message says which)
        """
        base = base if base is not None else cls()
        current = base.to_flat()
        groups: Dict[str, Dict[str, Any]] = {}
        top: Dict[str, Any] = {}
        for name, raw in values.items():
            if name not in current:
                raise ValueError(unknown_parameter_text(name, current))
            value = _coerce(name, raw, base._typed(name))
            attribute = base._attribute(name)
            if attribute is None:
                group, key = name.split('.', 1)
                groups.setdefault(group, {})[key] = value
            else:
                top[attribute] = value
        for group, updates in groups.items():
            top[group] = replace(getattr(base, group), **updates)
        settings = replace(base, **top)
        settings.validate()
        return settings

    def with_updates(self, values: Mapping[str, Any]):
        """Return new validated settings with ``values`` (dotted names) applied."""
        return type(self).from_flat(values, base=self)

    def _attribute(self, name: str) -> Optional[str]:
        """Return the field holding ``name``, or None when it is in a nested group."""
        return name if '.' not in name else None

    def _typed(self, name: str) -> Any:
        return getattr_dotted(self, name)

    def validate(self) -> None:  # pragma: no cover - overridden
        """Check every setting (see the subclasses)."""


@dataclass(frozen=True)
class DepthClipConfig(_Flat):
    """
    Every engine setting, with the DepthCLIP paper's defaults (indoor, NYU Depth v2).

    Build one with :meth:`from_flat` or :func:`load_config`; both validate. Instances are
    immutable: :meth:`with_updates` returns a new, validated configuration.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    input: InputConfig = field(default_factory=InputConfig)
    prompts: PromptConfig = field(default_factory=PromptConfig)
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    depth_bins: Tuple[float, ...] = (1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00)
    temperature: float = 0.1
    flip_tta: bool = True
    feature_mode: str = 'paper'
    smoothing_sigma: float = 0.0
    depth_scale: float = 1.0

    def validate(self) -> None:
        """
        Check every setting and the rules between them.

        :raises ValueError: with a message naming the parameter and the reason
        """
        m, i, p = self.model, self.input, self.prompts
        if not m.name.strip():
            raise ValueError('model.name must not be empty (e.g. RN50, ViT-B-16)')
        _check_device(m.device)
        for name, side in (('input.height', i.height), ('input.width', i.width)):
            if not MIN_INPUT_SIDE <= side <= MAX_INPUT_SIDE:
                raise ValueError(f'{name} must be between {MIN_INPUT_SIDE} and '
                                 f'{MAX_INPUT_SIDE} pixels, got {side}')
            if side % 32:
                raise ValueError(f'{name} must be a multiple of 32 (the encoder stride), '
                                 f'got {side}')
        _check_prompts(p)
        check_grounding(self.grounding)
        bins = self.depth_bins
        if len(bins) < 2:
            raise ValueError(f'depth_bins needs at least 2 values, got {len(bins)}')
        if not p.embeddings_file and len(bins) != len(p.depth_classes):
            raise ValueError(
                f'depth_bins has {len(bins)} values but prompts.depth_classes has '
                f'{len(p.depth_classes)}; they must match one to one')
        check_depth_bins(bins)
        if not (math.isfinite(self.temperature) and 0.0 < self.temperature):
            raise ValueError(f'temperature must be > 0, got {self.temperature}')
        check_ranges(self.to_flat())

    @property
    def metric_bins(self) -> Tuple[float, ...]:
        """Depth bins in metres after ``depth_scale``."""
        return tuple(b * self.depth_scale for b in self.depth_bins)

    @property
    def depth_range(self) -> Tuple[float, float]:
        """Smallest and largest depth the head can output, in metres."""
        bins = self.metric_bins
        return bins[0], bins[-1]

    def text_key(self) -> Tuple:
        """Key of everything the class embeddings depend on (prompts only)."""
        return (self.prompts.templates, self.prompts.objects, self.prompts.depth_classes)


@dataclass(frozen=True)
class NodeSettings(_Flat):
    """
    The node's own settings; field ``a_b`` is parameter ``a.b``.

    Outputs, image subscription, diagnostics, batching, the temporal filter (``temporal.*``)
    and the metric scale (``scale.*``). Immutable and validated, like
    :class:`DepthClipConfig`. ``depthclip bag`` and ``depthclip predict`` read the same
    settings, with the same defaults, from the same parameter file (what only a live node
    can do, e.g. ``scale.floor_frame``, is noted there).
    """

    input_transport: str = 'raw'
    output_scale: float = 1.0
    camera_fov_deg: float = 60.0
    camera_info_timeout: float = 2.0
    camera_rectify: bool = True
    depth_min_confidence: float = 0.0
    cloud_stride: int = 4
    cloud_min_range: float = 0.1
    cloud_max_range: float = 10.0
    cloud_min_confidence: float = 0.0
    cloud_organized: bool = True
    cloud_color: bool = False
    qos_image_reliability: str = 'auto'
    qos_image_depth: int = 1
    publish_confidence: bool = True
    publish_colorized: bool = True
    publish_points: bool = True
    diagnostics_period: float = 1.0
    temporal_enable: bool = False
    temporal_alpha: float = 0.2
    temporal_reset_threshold: float = 0.05
    temporal_max_gap: float = 1.0
    scale_mode: str = 'fixed'
    scale_camera_height: float = 1.0
    scale_camera_pitch_deg: float = 0.0
    scale_camera_roll_deg: float = 0.0
    scale_min: float = 0.1
    scale_max: float = 10.0
    scale_smoothing: float = 0.8
    scale_min_inliers: float = 0.05
    scale_refine_pitch: bool = True
    scale_floor_frame: str = ''
    max_batch_size: int = 0

    @property
    def temporal(self) -> 'TemporalSettings':
        """Return the ``temporal.*`` settings."""
        return self._group(TemporalSettings, 'temporal_')

    @property
    def scale(self) -> 'ScaleSettings':
        """Return the ``scale.*`` settings."""
        return self._group(ScaleSettings, 'scale_')

    def _group(self, view: type, prefix: str) -> Any:
        """Return ``view`` filled from the fields named ``prefix`` + each of its fields."""
        return view(**{f.name: getattr(self, prefix + f.name) for f in fields(view)})

    @staticmethod
    def _dotted(field_name: str) -> str:
        return _NODE_FIELD_NAMES[field_name]

    def _attribute(self, name: str) -> Optional[str]:
        return name.replace('.', '_')

    def _typed(self, name: str) -> Any:
        return getattr(self, name.replace('.', '_'))

    def validate(self) -> None:
        """
        Check every setting against the parameter table and the rules between them.

        :raises ValueError: naming the parameter and the reason
        """
        check_ranges(self.to_flat())
        output_divisor(self.output_scale)
        lo, hi = self.cloud_min_range, self.cloud_max_range
        if not lo < hi:
            raise ValueError(f'need 0 <= cloud.min_range < cloud.max_range, got {lo} and {hi}')
        if not self.scale_min < self.scale_max:
            raise ValueError(f'need scale.min < scale.max, got {self.scale_min} and '
                             f'{self.scale_max}')
        validate_frame_id('scale.floor_frame', self.scale_floor_frame)


@dataclass(frozen=True)
class TemporalSettings:
    """
    The ``temporal.*`` settings (see :mod:`depthclip_ros.core.temporal`).

    A view of :class:`NodeSettings` (:attr:`NodeSettings.temporal`), with its defaults.
    """

    enable: bool = NodeSettings.temporal_enable
    alpha: float = NodeSettings.temporal_alpha
    reset_threshold: float = NodeSettings.temporal_reset_threshold
    max_gap: float = NodeSettings.temporal_max_gap


@dataclass(frozen=True)
class ScaleSettings:
    """
    The ``scale.*`` settings (see :mod:`depthclip_ros.core.scale`).

    A view of :class:`NodeSettings` (:attr:`NodeSettings.scale`), with its defaults.
    """

    mode: str = NodeSettings.scale_mode
    camera_height: float = NodeSettings.scale_camera_height
    camera_pitch_deg: float = NodeSettings.scale_camera_pitch_deg
    camera_roll_deg: float = NodeSettings.scale_camera_roll_deg
    min: float = NodeSettings.scale_min
    max: float = NodeSettings.scale_max
    smoothing: float = NodeSettings.scale_smoothing
    min_inliers: float = NodeSettings.scale_min_inliers
    refine_pitch: bool = NodeSettings.scale_refine_pitch
    floor_frame: str = NodeSettings.scale_floor_frame


#: NodeSettings field -> dotted parameter name.
_NODE_FIELD_NAMES: Dict[str, str] = {spec.name.replace('.', '_'): spec.name
                                     for spec in NODE_PARAMETERS}


def output_divisor(scale: float) -> int:
    """
    Return N for ``output_scale`` 1/N (within 0.1 %, so 0.333 is 1/3).

    :raises ValueError: the scale is not 1/N for an integer N, naming the nearest ones
    """
    if not (math.isfinite(scale) and 0.0 < scale <= 1.0):
        raise ValueError(f'output_scale must be in (0, 1], got {scale!r}')
    n = max(1, int(round(1.0 / scale)))
    if abs(scale * n - 1.0) <= 1e-3:
        return n
    low = max(1, int(math.floor(1.0 / scale)))
    raise ValueError(
        f'output_scale must be 1/N for an integer N (1, 0.5, 0.3333, 0.25, ...) so that the '
        f'depth size divides the input size on both axes, got {scale:g}; nearest: '
        f'{1.0 / low:.4g} (1/{low}) or {1.0 / (low + 1):.4g} (1/{low + 1})')


def check_depth_bins(bins: Iterable[float], where: str = '') -> None:
    """
    Check metric depth bins: finite, within the physical bounds, strictly increasing.

    :param where: prefix of the message (e.g. the file they come from)
    :raises ValueError: saying which rule the bins break
    """
    bins = list(bins)
    prefix = f'{where}: ' if where else ''
    if any(not math.isfinite(b) or not MIN_BIN_M <= b <= MAX_BIN_M for b in bins):
        raise ValueError(f'{prefix}depth_bins must be finite and positive, between '
                         f'{MIN_BIN_M:g} and {MAX_BIN_M:g} m, got {bins}')
    if any(b2 <= b1 for b1, b2 in zip(bins, bins[1:])):
        raise ValueError(f'{prefix}depth_bins must be strictly increasing, got {bins}')


def is_checkpoint_path(value: str) -> bool:
    """
    Return whether ``model.pretrained`` names a checkpoint file rather than a hub tag.

    A file: a path with a directory separator, an existing path, or a checkpoint extension.
    """
    return os.sep in value or os.path.exists(value) or \
        value.endswith(('.pt', '.pth', '.bin', '.safetensors'))


def _check_list(name: str, items: Sequence[str], low: int, high: int, least: str) -> None:
    """Check one prompt list: ``low``..``high`` entries, none empty or over CLIP's length."""
    if len(items) < low:
        raise ValueError(f'{name} must list {least}')
    if len(items) > high:
        raise ValueError(f'{name} lists {len(items)} entries; at most {high}')
    if any(not item.strip() for item in items):
        raise ValueError(f'{name} must not contain empty strings')
    for item in items:
        if len(item) > MAX_PROMPT_CHARS:
            raise ValueError(f'{name}: an entry of {len(item)} characters is longer than '
                             f'{MAX_PROMPT_CHARS} (CLIP reads 77 tokens per prompt)')


def _check_prompts(p: PromptConfig) -> None:
    """Check the prompt lists: sizes, lengths and the two plain slots of every template."""
    limits = (('prompts.templates', p.templates, 1, MAX_TEMPLATES, 'at least one template'),
              ('prompts.objects', p.objects, 1, MAX_OBJECTS, 'at least one entry'),
              ('prompts.depth_classes', p.depth_classes, 2, MAX_DEPTH_CLASSES,
               'at least 2 entries'))
    for name, items, low, high, least in limits:
        _check_list(name, items, low, high, least)
    count = len(p.templates) * len(p.objects) * len(p.depth_classes)
    if count > MAX_PROMPTS:
        raise ValueError(f'prompts: {len(p.depth_classes)} depth classes x {len(p.objects)} '
                         f'objects x {len(p.templates)} templates = {count} prompts; at most '
                         f'{MAX_PROMPTS}')
    for template in p.templates:
        if _count_slots(template) != 2:
            raise ValueError(
                f'prompts.templates: {template!r} must have exactly 2 empty "{{}}" slots '
                '(each template needs exactly 2: object first, then depth class, with no '
                'name, conversion or format spec inside the braces), e.g. "This {} is {}"')


def _words(text: str) -> str:
    """Return ``text`` as compared for distinctness: lower case, single spaces."""
    return ' '.join(text.lower().split())


def check_grounding(g: GroundingConfig) -> None:
    """
    Check the grounding lists with the rules of the depth prompts.

    Sizes, entry lengths, one plain ``{}`` slot per template, no entry twice (case and
    spacing ignored) and no query in the background, at most :data:`MAX_PROMPTS` prompts.
    Whether every prompt fits the text encoder and no two read the same is checked when
    they are encoded (:mod:`depthclip_ros.core.grounding`).

    :raises ValueError: naming the parameter and the rule
    """
    limits = (('grounding.queries', g.queries, 0, MAX_QUERIES, ''),
              ('grounding.templates', g.templates, 1, MAX_TEMPLATES,
               'at least one template, e.g. "a photo of a {}."'),
              ('grounding.background', g.background, 1, MAX_BACKGROUND,
               'at least one entry (things that are not the queries, e.g. floor, wall): '
               'without one, every patch belongs to some query'))
    for name, items, low, high, least in limits:
        _check_list(name, items, low, high, least)
        seen = [_words(item) for item in items]
        twice = sorted({item for item in seen if seen.count(item) > 1})
        if twice:
            raise ValueError(f'{name}: {", ".join(twice)} listed more than once')
    both = sorted({_words(q) for q in g.queries} & {_words(b) for b in g.background})
    if both:
        raise ValueError(f'grounding.queries: {", ".join(both)} is also in '
                         'grounding.background (a query cannot be background): remove it '
                         'from one of them')
    count = (len(g.queries) + len(g.background)) * len(g.templates)
    if g.queries and count > MAX_PROMPTS:
        raise ValueError(f'grounding: ({len(g.queries)} queries + {len(g.background)} '
                         f'background) x {len(g.templates)} templates = {count} prompts; at '
                         f'most {MAX_PROMPTS}')
    for template in g.templates:
        if _count_slots(template) != 1:
            raise ValueError(f'grounding.templates: {template!r} must have exactly 1 empty '
                             '"{}" slot (the query), e.g. "a photo of a {}."')


# -------------------------------------------------------------------------------------------
# Camera names and frame ids
# -------------------------------------------------------------------------------------------
def validate_camera_names(names: Any) -> Tuple[str, ...]:
    """
    Check the ``cameras`` parameter: unique ROS name tokens, at most ``MAX_CAMERAS``.

    :param names: the parameter value (``None`` or an empty list: one un-namespaced camera)
    :return: the names as a tuple (empty for the single-camera mode)
    :raises ValueError: naming the bad entry
    """
    if names is None:
        return ()
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise ValueError(f'cameras must be a list of camera names, e.g. [front, left], got '
                         f'{short(names)}')
    names = tuple(names)
    if len(names) > MAX_CAMERAS:
        raise ValueError(f'cameras lists {len(names)} cameras; at most {MAX_CAMERAS}')
    for name in names:
        if not isinstance(name, str) or not CAMERA_NAME_PATTERN.fullmatch(name):
            raise ValueError(f'cameras: {short(name)} is not a valid camera name (letters, digits '
                             'and underscores, not starting with a digit)')
        if len(name) > MAX_CAMERA_NAME_CHARS:
            raise ValueError(f'cameras: a name of {len(name)} characters ({short(name)}) is '
                             f'longer than {MAX_CAMERA_NAME_CHARS}')
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f'cameras: {", ".join(duplicates)} listed more than once')
    return names


def validate_frame_id(name: str, value: Any) -> str:
    """
    Check a frame_id override: empty (keep the input's) or a tf2-valid frame name.

    :raises ValueError: naming the parameter and the reason
    """
    if not isinstance(value, str):
        raise ValueError(f'{name} must be a string, got {short(value)}')
    if value.startswith('/'):
        raise ValueError(f'{name} must not start with "/" (tf2 frame ids never do), got '
                         f'{short(value)}')
    if value != value.strip() or any(c.isspace() for c in value):
        raise ValueError(f'{name} must not contain white space, got {short(value)}')
    return value


# -------------------------------------------------------------------------------------------
# Parameter files
# -------------------------------------------------------------------------------------------
def flatten_parameters(tree: Mapping[str, Any], prefix: str = '') -> Dict[str, Any]:
    """
    Flatten nested parameter mappings into dotted names, as ROS 2 does.

    :param tree: e.g. ``{'model': {'name': 'RN50'}, 'temperature': 0.1}``
    :param prefix: prefix for the keys of this level
    :return: e.g. ``{'model.name': 'RN50', 'temperature': 0.1}``
    """
    flat = {}
    for key, value in tree.items():
        name = f'{prefix}{key}'
        if isinstance(value, Mapping):
            flat.update(flatten_parameters(value, prefix=name + '.'))
        else:
            flat[name] = value
    return flat


def load_params_file(path: str, node_name: Optional[str] = None) -> Dict[str, Any]:
    """
    Read a ROS 2 parameter YAML file into dotted names.

    Sections ``/**`` (any node) and, when given, ``node_name`` / ``/node_name`` apply, in
    that order, as in ROS 2.

    :param path: the YAML file
    :param node_name: node whose own section also applies
    :raises ValueError: the file is not a ROS 2 parameter file
    """
    document = load_yaml(path, f'parameter file {path}')
    if not isinstance(document, Mapping):
        raise ValueError(f'parameter file {path} must map node names to ros__parameters')
    sections = ['/**', '**']
    if node_name:
        bare = node_name.lstrip('/')
        sections += [bare, '/' + bare]
    flat: Dict[str, Any] = {}
    found = False
    for section in sections:
        body = document.get(section)
        if body is None:
            continue
        if not isinstance(body, Mapping) or 'ros__parameters' not in body:
            raise ValueError(f'parameter file {path}: section {section!r} has no ros__parameters')
        found = True
        flat.update(flatten_parameters(body['ros__parameters'] or {}))
    if not found:
        raise ValueError(f'parameter file {path} has no "/**: ros__parameters:" section')
    return flat


#: Node parameters in neither table: the camera list, and ROS's own.
OTHER_NODE_PARAMETERS = ('cameras', 'use_sim_time')


def known_parameter_names(cameras: Iterable[str] = ()) -> List[str]:
    """Return every parameter the node declares (with ``<camera>.frame_id`` of ``cameras``)."""
    names = set(engine_parameter_names()) | {spec.name for spec in NODE_PARAMETERS}
    names |= set(OTHER_NODE_PARAMETERS)
    names |= {f'{camera}.frame_id' for camera in cameras if isinstance(camera, str)}
    return sorted(names)


def closest_parameter(name: str, known: Iterable[str]) -> str:
    """Return the known parameter name closest to ``name`` (difflib), or ``''``."""
    found = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return found[0] if found else ''


def unknown_parameter_text(name: str, known: Iterable[str], list_known: bool = True) -> str:
    """Return ``unknown parameter 'x' (did you mean y?); known: ...``."""
    known = sorted(known)
    closest = closest_parameter(name, known)
    text = f'unknown parameter {short(name)}'
    if closest:
        text += f' (did you mean {closest}?)'
    if list_known:
        text += f'; known: {", ".join(known)}'
    return text


def unknown_parameters(names: Iterable[str], known: Iterable[str]) -> List[str]:
    """
    Return the names that look meant for this package but are none of its parameters.

    A name counts when it lies under one of the package's namespaces (``temporal.alpah``,
    ``model.nmae``) or, without a namespace, is close to a parameter (``temperatur``);
    other names (another node's, ROS's own ``qos_overrides.*``) are left alone.
    """
    known = set(known)
    namespaces = {n.split('.', 1)[0] for n in known if '.' in n}
    top = [n for n in known if '.' not in n]
    found = []
    for name in names:
        name = str(name)
        if name in known:
            continue
        if '.' in name:
            if name.split('.', 1)[0] in namespaces:
                found.append(name)
        elif difflib.get_close_matches(name, top, n=1, cutoff=0.8):
            found.append(name)
    return found


def check_file_names(values: Mapping[str, Any], path: str) -> None:
    """
    Refuse names of a parameter file that :func:`unknown_parameters` finds.

    :raises ValueError: ``parameter file X: unknown parameter 'temporal.alpah' (did you mean
        temporal.alpha?)`` for the first one
    """
    cameras = values.get('cameras')
    known = known_parameter_names(cameras if isinstance(cameras, list) else ())
    unknown = unknown_parameters(values, known)
    if unknown:
        raise ValueError(f'parameter file {path}: '
                         f'{unknown_parameter_text(unknown[0], known, list_known=False)}')


def split_engine_parameters(values: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Split dotted parameters into (engine parameters, everything else)."""
    names = set(engine_parameter_names())
    engine = {k: v for k, v in values.items() if k in names}
    other = {k: v for k, v in values.items() if k not in names}
    return engine, other


def load_config(path: Optional[str] = None, overrides: Iterable[str] = (),
                node_name: Optional[str] = None) -> DepthClipConfig:
    """
    Build the engine configuration from a parameter file and ``name=value`` overrides.

    Parameters in the file that are not engine parameters (the node's own) are ignored here;
    names under the package's namespaces that are no parameter at all are refused.

    :param path: parameter file; ``None`` for the built-in defaults
    :param overrides: ``'name=value'`` strings; values are parsed as YAML
    :param node_name: node whose own section of the file also applies
    :raises ValueError: unreadable file, unknown name or invalid value
    """
    values: Dict[str, Any] = {}
    if path is not None:
        from_file = load_params_file(path, node_name)
        check_file_names(from_file, path)
        values, _ = split_engine_parameters(from_file)
    for item in overrides:
        name, value = parse_override(item)
        values[name] = value
    return DepthClipConfig.from_flat(values)


def load_settings(path: Optional[str] = None, overrides: Iterable[str] = (),
                  node_name: Optional[str] = None) -> Tuple[DepthClipConfig, NodeSettings]:
    """
    Build the engine configuration and the node settings from a file and overrides.

    The same parameter file the node reads (``/**`` and its own section), so offline tools
    produce what the node would publish. Names that are neither (``cameras``,
    ``<camera>.frame_id``, ``use_sim_time``, ...) are ignored in the file and refused as
    overrides; a misspelt name under the package's namespaces (``temporal.alpah``) is refused
    in the file too (:func:`unknown_parameters`).

    :raises ValueError: unreadable file, unknown name or invalid value
    """
    values: Dict[str, Any] = load_params_file(path, node_name) if path is not None else {}
    if path is not None:
        check_file_names(values, path)
    node_names = set(NodeSettings().to_flat())
    engine_names = set(engine_parameter_names())
    for item in overrides:
        name, value = parse_override(item)
        if name not in engine_names and name not in node_names:
            raise ValueError(unknown_parameter_text(name, engine_names | node_names))
        values[name] = value
    engine = {k: v for k, v in values.items() if k in engine_names}
    node = {k: v for k, v in values.items() if k in node_names}
    return DepthClipConfig.from_flat(engine), NodeSettings.from_flat(node)


def parse_override(item: str) -> Tuple[str, Any]:
    """
    Parse ``'name=value'`` with the value read as YAML (``[1, 2]``, ``true``, ``0.5``).

    :raises ValueError: no ``=`` or an empty name
    """
    name, sep, text = item.partition('=')
    name = name.strip()
    if not sep or not name:
        raise ValueError(f'override {short(item)} must look like name=value, e.g. temperature=0.2')
    try:
        value = yaml.safe_load(text) if text.strip() else ''
    except yaml.YAMLError:
        value = text
    return name, value


def default_params_file() -> str:
    """Return the path of the installed ``config/depthclip.yaml``."""
    return find_share_file('config', 'depthclip.yaml')


def find_share_file(*parts: str) -> str:
    """
    Find a file installed under ``share/depthclip_ros`` (colcon or pip) or in a source tree.

    :raises FileNotFoundError: the file is in none of those places
    """
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(get_package_share_directory('depthclip_ros'))
    except Exception:  # noqa: B902 - no ament index, or package not in it
        pass
    candidates.append(os.path.join(sys.prefix, 'share', 'depthclip_ros'))
    here = os.path.dirname(os.path.abspath(__file__))  # <source tree>/depthclip_ros/core
    candidates.append(os.path.dirname(os.path.dirname(here)))
    for root in candidates:
        path = os.path.join(root, *parts)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f'{os.path.join(*parts)} not found in {", ".join(candidates)}')


# -------------------------------------------------------------------------------------------
# helpers
# -------------------------------------------------------------------------------------------
def getattr_dotted(obj: Any, name: str) -> Any:
    """Return ``obj.a.b`` for ``name == 'a.b'``."""
    for part in name.split('.'):
        obj = getattr(obj, part)
    return obj


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _coerce(name: str, raw: Any, current: Any) -> Any:
    """Convert ``raw`` to the type of the current value of parameter ``name``."""
    if isinstance(current, bool):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ('true', 'false'):
            return raw.lower() == 'true'
        raise ValueError(f'{name} must be true or false, got {short(raw)}')
    if isinstance(current, int):
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) \
                or not math.isfinite(raw) or raw != int(raw):
            raise ValueError(f'{name} must be an integer, got {short(raw)}')
        return int(raw)
    if isinstance(current, float):
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ValueError(f'{name} must be a number, got {short(raw)}')
        return float(raw)
    if isinstance(current, str):
        if raw is None:
            return ''
        if not isinstance(raw, str):
            if name in ('model.quick_gelu',) and isinstance(raw, bool):
                return 'true' if raw else 'false'
            raise ValueError(f'{name} must be a string, got {short(raw)}')
        return raw
    if isinstance(current, tuple):
        if isinstance(raw, (str, bytes)) or not isinstance(raw, (list, tuple)):
            raise ValueError(f'{name} must be a list, got {short(raw)}')
        if current and isinstance(current[0], float):
            out = []
            for item in raw:
                if isinstance(item, bool) or not isinstance(item, (int, float)):
                    raise ValueError(f'{name} must be a list of numbers, got {short(list(raw))}')
                out.append(float(item))
            return tuple(out)
        if any(not isinstance(item, str) for item in raw):
            raise ValueError(f'{name} must be a list of strings, got {short(list(raw))}')
        return tuple(raw)
    raise ValueError(f'{name}: unsupported type {type(current).__name__}')


def _check_device(device: str) -> None:
    if device in ('auto', 'cpu', 'cuda'):
        return
    if device.startswith('cuda:') and device[5:].isdigit():
        return
    raise ValueError(f'model.device must be {DEVICES_HELP}, got {short(device)}')


def _count_slots(template: str) -> int:
    """Return the number of plain ``{}`` slots, or -1 if any field is not a plain ``{}``."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return -1
    slots = 0
    for _, field_name, format_spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name != '' or format_spec or conversion:
            return -1
        slots += 1
    return slots
