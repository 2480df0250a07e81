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
``depthclip demo``: the ROS 2 demo without a ROS distribution (PyPI ROS wheels suffice).

Starts ``camera_player`` (the bundled sample room) and ``depthclip_node`` as real ROS 2
processes, listens to their topics from a node in this process for exactly ``--frames`` depth
frames (earlier ones, before every topic has delivered a message, and later ones are
ignored), and writes what a person wants to look at:

- ``strip_NNN.png``: input | colorized depth (metric colour bar) | confidence, every
  ``--every`` frames (a due frame whose images never all come, as right after start-up
  while the node still discovers the listener, gives way to the next frame that has them,
  counted or not: the camera and the node go on after the goal);
- ``points.ply``: the point cloud of the last counted frame (or the next one, if that
  frame's never comes);
- one summary line: frames, frames/s (depth frames per second of the camera's stamps),
  end-to-end latency (receipt minus stamp), and the weights used;
- with ``--query door --query chair`` (``make demo QUERIES="door chair"``; or
  ``grounding.queries`` in the parameters): ``overlay_NNN.png`` beside each strip, the
  input with each found query's mask outline and ``door 2.3 m``, and one line per query.
  The overlay is drawn from what the node published (``grounding/labels``, ``depth/image``
  and ``depth/camera_info`` of that frame): the same median 3D points the node computes.

With ``--cameras 2`` two players run (the sample room and its mirror image, with mirrored
intrinsics) into ONE node with ``cameras: [cam0, cam1]`` that batches both cameras into one
encoder pass; the files are ``cam0_strip_NNN.png``, ``cam1_strip_NNN.png``,
``cam0_points.ply``, ``cam1_points.ply``, with one summary line per camera. ``--frames``
counts the depth frames of each camera.

Settings reach the node in parameter files (``--params``, then the generated
``node_params.yaml`` in the output folder with ``--weights``, ``--device`` and ``--set``),
never as ``-p`` arguments that rcl cannot parse for every value.

Weights that cannot be obtained: the node never falls back to random weights; the demo does.
When ``model.pretrained`` is an open_clip tag, the demo first checks, for at most 3 s, that
the model hub can be reached (:func:`~depthclip_ros.tools.common.offline_unless_hub_reachable`).
If not, the node starts with ``HF_HUB_OFFLINE=1``: it loads a cached copy at once, or stops at
once with its ``model.pretrained`` error (without the check, the hub client's retries take
about 50 s to fail on a machine without network). On that error the demo says so in one line
naming ``make demo WEIGHTS=/path/to/RN50.pt``, restarts the node on seeded random weights and
marks every output: a banner across each PNG strip (:data:`RANDOM_BANNER`), the summary line
and the PLY header. ``--weights random`` (``make demo WEIGHTS=random``) is marked the same way.

DDS traffic stays on this machine (:mod:`depthclip_ros.tools.dds_env`: shared-memory
transport, localhost discovery, a domain of its own), whatever the caller's environment says.
"""

import argparse
from dataclasses import dataclass
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple, Union

from depthclip_ros.core.config import is_checkpoint_path
from depthclip_ros.core.stats import percentile
from depthclip_ros.core.text import one_line
from depthclip_ros.tools.common import (cached_random_checkpoint, int_at_least, number_in,
                                        offline_unless_hub_reachable, params_path)
from depthclip_ros.tools.dds_env import use_local_dds
from depthclip_ros.tools.params_file import (dump_params, node_overrides, params_document,
                                             reference_values)
from depthclip_ros.tools.process_tools import (last_error_line, node_command, RELIABLE_IMAGES,
                                               stop_processes)

#: The mark on every output of a demo that runs on random weights.
RANDOM_BANNER = 'RANDOM WEIGHTS: pipeline check only, depth is meaningless'

#: What the node's start-up error says when a pretrained tag can be neither downloaded nor
#: found in the cache (:func:`depthclip_ros.core.loading.load_clip`).
UNOBTAINABLE = 'cannot obtain'

#: Seconds the demo waits, after the last counted frame, for that frame's other outputs.
OUTPUT_WAIT_S = 30.0

#: Input images kept to pair with depth frames (the node's latency may be several frames).
KEPT_INPUTS = 64


def register(subparsers) -> None:
    """Add ``depthclip demo`` to the ``depthclip`` command."""
    parser = subparsers.add_parser(
        'demo', help='run the ROS 2 demo (camera player + node)',
        description='Run camera_player + depthclip_node as real ROS 2 nodes on the bundled '
                    'sample and save PNG strips, a PLY point cloud and a summary.')
    parser.add_argument('--weights', default=None,
                        help='model.pretrained: an open_clip tag (default from the params '
                             'file: openai), a local checkpoint file, or "random" for seeded '
                             'random weights (smoke test: the depth is meaningless)')
    parser.add_argument('--params', default=None, metavar='FILE',
                        help='params file (default: installed config/depthclip.yaml)')
    parser.add_argument('--frames', type=int_at_least(1), default=8,
                        help='depth frames to receive (per camera)')
    parser.add_argument('--every', type=int_at_least(1), default=2,
                        help='write a PNG strip every N frames')
    parser.add_argument('--rate', type=number_in(0.01, 1000.0), default=2.0,
                        help='camera rate in Hz')
    parser.add_argument('--source', default='', help="camera_player source ('' = sample)")
    parser.add_argument('--output', '-o', default='out/demo', help='output folder')
    parser.add_argument('--device', default=None, help='model.device (auto|cpu|cuda|cuda:N)')
    parser.add_argument('--cameras', type=int, default=1, choices=(1, 2),
                        help='number of cameras: 2 runs the sample and its mirror image into '
                             'one node serving both (batched inference)')
    parser.add_argument('--query', action='append', default=[], metavar='WORDS',
                        help='something to find (grounding.queries; repeatable): writes an '
                             'overlay PNG beside each strip')
    parser.add_argument('--set', dest='overrides', action='append', default=[],
                        metavar='NAME:=VALUE', help='extra node parameter (ROS syntax; '
                                                    'NAME=VALUE works too)')
    parser.add_argument('--timeout', type=number_in(0.0, low_open=True), default=600.0,
                        help='give up after seconds')
    parser.set_defaults(run=run_demo)


# -------------------------------------------------------------------------------------------
# What the node gets
# -------------------------------------------------------------------------------------------
@dataclass
class DemoPlan:
    """The node's parameters and what the demo knows about its weights."""

    params: str
    values: Dict[str, Any]
    model_name: str
    pretrained: str
    random: bool
    depth_range: Tuple[float, float] = (1.0, 3.0)
    #: ``grounding.queries`` of the node (empty: no grounding, no overlay).
    queries: Tuple[str, ...] = ()

    @property
    def is_tag(self) -> bool:
        """Return whether ``model.pretrained`` is an open_clip tag (not a file, not empty)."""
        return bool(self.pretrained) and not is_checkpoint_path(self.pretrained)


def plan_demo(args: argparse.Namespace) -> DemoPlan:
    """
    Check the arguments and build the node's parameters (before anything starts).

    Precedence: the demo's defaults (colour cloud, reliable images), then ``--device`` and
    ``--weights``, then ``--set``.

    :raises ValueError: one line naming the argument
    """
    from depthclip_ros.core.config import engine_parameter_names, load_config
    params = params_path(args)
    reference = reference_values(params)
    user = node_overrides(args.overrides, reference)
    name = str(user.get('model.name', reference.get('model.name', 'RN50')))
    values: Dict[str, Any] = {'cloud.color': True}
    values.update(RELIABLE_IMAGES)  # the players publish reliably
    if args.device is not None:
        values.update(node_overrides([f'model.device={args.device}'], reference, '--device'))
    if args.weights is not None:
        values['model.pretrained'] = resolve_weights(args.weights, name)
    if args.query:
        values['grounding.queries'] = list(args.query)
    values.update(user)
    if args.cameras > 1:
        values['cameras'] = [f'cam{i}' for i in range(args.cameras)]
    engine_names = set(engine_parameter_names())
    config = load_config(params).with_updates(
        {k: v for k, v in values.items() if k in engine_names})
    pretrained = config.model.pretrained
    return DemoPlan(params=params, values=values, model_name=name, pretrained=pretrained,
                    random=args.weights == 'random' or not pretrained.strip(),
                    depth_range=config.depth_range, queries=config.grounding.queries)


def resolve_weights(weights: str, name: str = 'RN50') -> str:
    """
    Turn ``--weights`` into a ``model.pretrained`` value.

    ``random`` writes (once) seeded random weights to a local checkpoint, so the demo still
    exercises the real loading path.

    :raises ValueError: a path that names no file
    """
    if weights == 'random':
        return cached_random_checkpoint(name, announce='demo: ')
    if os.path.isdir(weights):
        raise ValueError(f'--weights {weights} is a directory; give the checkpoint file')
    if os.sep in weights and not os.path.isfile(weights):
        raise ValueError(f'--weights {weights}: no such file')
    return os.path.abspath(weights) if os.path.isfile(weights) else weights


# -------------------------------------------------------------------------------------------
# Processes
# -------------------------------------------------------------------------------------------
def demo_streams(cameras: int) -> List[Dict[str, str]]:
    """
    Return the topics and file prefix of each demo camera.

    One camera keeps the historical topics (``/demo/camera/image`` in, ``/demo/depth/...``
    out); with several, camera ``camN`` has ``/demo/camN/image`` in and
    ``/demo/camN/depth/...`` out (the node runs in ``/demo`` with ``cameras: [cam0, ...]``).
    """
    if cameras == 1:
        return [{'name': '', 'input': '/demo/camera/image', 'info': '/demo/camera/camera_info',
                 'out': '/demo', 'prefix': ''}]
    return [{'name': f'cam{i}', 'input': f'/demo/cam{i}/image',
             'info': f'/demo/cam{i}/camera_info', 'out': f'/demo/cam{i}',
             'prefix': f'cam{i}_'} for i in range(cameras)]


def _write_params(path: str, values: Dict[str, Any], comment: str) -> str:
    with open(path, 'w', encoding='utf-8') as f:
        f.write(dump_params(params_document(values), comment))
    return path


def _player_cmd(args: argparse.Namespace, stream: Dict[str, str], index: int) -> List[str]:
    values: Dict[str, Any] = {'rate': float(args.rate), 'loop': True}
    if stream['name']:
        values['frame_id'] = f'{stream["name"]}_optical_frame'
    if index % 2 == 1 and not args.source:
        folder, intr = write_mirrored_sample(os.path.join(args.output, 'mirrored_sample'))
        values.update({'source': folder, 'fx': float(intr.fx), 'fy': float(intr.fy),
                       'cx': float(intr.cx), 'cy': float(intr.cy)})
    elif args.source:
        values['source'] = args.source
    params = _write_params(os.path.join(args.output, f'player{index}_params.yaml'), values,
                           'written by depthclip demo for camera_player')
    return [sys.executable, '-m', 'depthclip_ros.ros.runner', 'camera_player', '--ros-args',
            '--params-file', params, '-r', f'__node:=demo_camera{index or ""}',
            '-r', f'image:={stream["input"]}', '-r', f'camera_info:={stream["info"]}']


def _node_cmd(args: argparse.Namespace, plan: DemoPlan) -> List[str]:
    settings = _write_params(os.path.join(args.output, 'node_params.yaml'), plan.values,
                             'written by depthclip demo: applied after ' + plan.params)
    if args.cameras == 1:
        remaps = ['-r', 'image:=/demo/camera/image',
                  '-r', 'camera_info:=/demo/camera/camera_info',
                  '-r', 'depth/image:=/demo/depth/image',
                  '-r', 'depth/camera_info:=/demo/depth/camera_info',
                  '-r', 'depth/confidence:=/demo/depth/confidence',
                  '-r', 'depth/colorized:=/demo/depth/colorized', '-r', 'points:=/demo/points',
                  '-r', 'grounding/labels:=/demo/grounding/labels',
                  '-r', 'grounding/markers:=/demo/grounding/markers']
    else:
        remaps = ['-r', '__ns:=/demo']
    return node_command([plan.params, settings], remaps)


def write_mirrored_sample(folder: str):
    """
    Write the bundled sample frames mirrored left-right into ``folder`` (once).

    :return: (folder, intrinsics of the mirrored frames: ``cx' = width - 1 - cx``)
    """
    import cv2

    from depthclip_ros.core.geometry import Intrinsics
    from depthclip_ros.core.sample import sample_frames, sample_intrinsics
    os.makedirs(folder, exist_ok=True)
    for path in sample_frames():
        target = os.path.join(folder, os.path.basename(path))
        if not os.path.isfile(target):
            cv2.imwrite(target, cv2.flip(cv2.imread(path, cv2.IMREAD_COLOR), 1))
    intr = sample_intrinsics()
    return folder, Intrinsics(fx=intr.fx, fy=intr.fy, cx=intr.width - 1 - intr.cx, cy=intr.cy,
                              width=intr.width, height=intr.height)


class _NodeProcess:
    """One run of ``depthclip_node`` with its log file."""

    def __init__(self, cmd: List[str], env: Dict[str, str], log_path: str):
        self.log_path = log_path
        self.log = open(log_path, 'a')
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        stop_processes([self.proc], timeout=20)
        self.log.close()


# -------------------------------------------------------------------------------------------
# The command
# -------------------------------------------------------------------------------------------
def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; return the exit code (0 on success, 1 with one clear message)."""
    try:
        plan = plan_demo(args)
        os.makedirs(args.output, exist_ok=True)
    except (ValueError, OSError) as error:
        print(f'depthclip demo: error: {one_line(error)}', file=sys.stderr)
        return 1
    offline_unless_hub_reachable(plan.pretrained)  # the node: cache only if unreachable
    env = use_local_dds('demo')
    env['PYTHONUNBUFFERED'] = '1'
    streams = demo_streams(args.cameras)
    player_logs = [os.path.join(args.output, f'player{i}.log') for i in range(len(streams))]
    players = []
    for index, stream in enumerate(streams):
        with open(player_logs[index], 'w') as log:
            players.append(subprocess.Popen(_player_cmd(args, stream, index), env=env,
                                            stdout=log, stderr=subprocess.STDOUT))
    node_log = os.path.join(args.output, 'node.log')
    open(node_log, 'w').close()
    node: Optional[_NodeProcess] = None

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    rclpy.init(args=[])
    listener = _make_listener_class()(args, streams, plan.depth_range, plan.queries)
    listener.random = plan.random
    executor = SingleThreadedExecutor()
    executor.add_node(listener)
    try:
        node = _NodeProcess(_node_cmd(args, plan), env, node_log)
        outcome = _watch(args, executor, listener, node, players, player_logs)
        if isinstance(outcome, str) and plan.is_tag and UNOBTAINABLE in outcome:
            node.stop()
            print(f'demo: the {plan.pretrained!r} weights of {plan.model_name} cannot be '
                  'obtained (offline and not cached): running the same pipeline on seeded '
                  f'RANDOM weights, a pipeline check only; for real depth: make demo '
                  f'WEIGHTS=/path/to/{plan.model_name}.pt', flush=True)
            plan.values['model.pretrained'] = cached_random_checkpoint(plan.model_name,
                                                                       announce='demo: ')
            plan.pretrained = plan.values['model.pretrained']
            plan.random = listener.random = True
            node = _NodeProcess(_node_cmd(args, plan), env, node_log)
            outcome = _watch(args, executor, listener, node, players, player_logs)
        if isinstance(outcome, str):
            print(f'depthclip demo: error: depthclip_node stopped: {outcome}', file=sys.stderr)
            return 1
        if outcome != 0:
            return outcome
        return listener.finish(executor, _weights_line(node_log, plan))
    except KeyboardInterrupt:
        return 130
    finally:
        executor.shutdown()
        listener.destroy_node()
        rclpy.try_shutdown()
        stop_processes(players, timeout=20)
        if node is not None:
            node.stop()


def _watch(args: argparse.Namespace, executor, listener, node: _NodeProcess,
           players: List[subprocess.Popen], player_logs: List[str]) -> Union[int, str]:
    """
    Spin until every camera has ``--frames`` depth frames.

    :return: 0 when they have; the node's error line when it stopped; 1 after printing why
        the demo cannot go on (a player stopped, the time ran out)
    """
    start = time.monotonic()
    while listener.frames < args.frames:
        executor.spin_once(timeout_sec=0.2)
        if node.proc.poll() is not None:
            node.log.flush()
            failure = last_error_line(node.log_path, 'exited without a message')
            if 'model.pretrained' in failure and UNOBTAINABLE not in failure:
                failure += (' | demo: pass --weights /path/to/RN50.pt (make demo '
                            'WEIGHTS=/path/to/RN50.pt), or --weights random for a smoke test '
                            'with seeded random weights')
            return failure
        for index, player in enumerate(players):
            if player.poll() is not None:
                print(f'depthclip demo: error: camera_player stopped (exit code '
                      f'{player.returncode}): {last_error_line(player_logs[index])}',
                      file=sys.stderr)
                return 1
        if time.monotonic() - start > args.timeout:
            print(f'depthclip demo: error: no depth after {args.timeout:.0f} s '
                  f'(see {node.log_path})', file=sys.stderr)
            return 1
    return 0


def _weights_line(log_path: str, plan: DemoPlan) -> str:
    note = f' ({RANDOM_BANNER})' if plan.random else ''
    found = None
    with open(log_path, encoding='utf-8', errors='replace') as f:
        for line in f:
            if ']: model ' in line:
                found = line.strip().split(']: model ', 1)[-1][:200]
    return (found or f'model.pretrained={plan.pretrained or "(empty)"}') + note


# -------------------------------------------------------------------------------------------
# Marking outputs of random weights
# -------------------------------------------------------------------------------------------
def add_banner(image, text: str = RANDOM_BANNER):
    """
    Return a BGR image with a red band across its top that carries ``text`` in white.

    :param image: (H, W, 3) uint8 BGR
    :return: (H + band, W, 3) uint8 BGR
    """
    import cv2
    import numpy as np
    width = image.shape[1]
    font = cv2.FONT_HERSHEY_SIMPLEX
    (text_w, text_h), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = max(0.4, min(1.6, 0.9 * width / text_w))
    thickness = max(1, int(round(2 * scale)))
    (text_w, text_h), baseline = cv2.getTextSize(text, font, scale, thickness)
    band_h = text_h + baseline + 2 * max(6, text_h // 2)
    band = np.zeros((band_h, width, 3), np.uint8)
    band[:] = (0, 0, 200)  # red in BGR
    origin = (max(0, (width - text_w) // 2), (band_h + text_h) // 2)
    cv2.putText(band, text, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return np.vstack([band, image])


def add_ply_comment(path: str, text: str) -> None:
    """Add ``comment <text>`` to the header of a PLY file, after its ``format`` line."""
    with open(path, 'rb') as f:
        data = f.read()
    end = data.index(b'end_header\n')
    lines = data[:end].split(b'\n')
    at = next(i for i, line in enumerate(lines) if line.startswith(b'format ')) + 1
    lines.insert(at, b'comment ' + text.encode('ascii'))
    with open(path, 'wb') as f:
        f.write(b'\n'.join(lines) + data[end:])


# -------------------------------------------------------------------------------------------
# The listener
# -------------------------------------------------------------------------------------------
class _Stream:
    """What the demo listener keeps of one camera: recent messages, counts, files written."""

    def __init__(self, config: Dict[str, str]):
        self.name = config['name']
        self.prefix = config['prefix']
        self.config = config
        self.frames = 0
        self.counted: List[int] = []
        self.latencies_ms: List[float] = []
        self.inputs: Dict[int, object] = {}
        self.colorized: Dict[int, object] = {}
        self.confidence: Dict[int, object] = {}
        self.clouds: Dict[int, object] = {}
        #: with grounding: the labels, depth images and depth camera_info by stamp
        self.labels: Dict[int, object] = {}
        self.depths: Dict[int, object] = {}
        self.infos: Dict[int, object] = {}
        self.pending: List[int] = []
        self.strips: List[str] = []
        self.overlays: List[str] = []
        #: depth frames not counted: before every topic of the camera had delivered
        self.warm_up = 0


def frame_ready(stream: _Stream, key: int) -> bool:
    """Whether the input, colorized and confidence images of frame ``key`` are all here."""
    return key in stream.inputs and key in stream.colorized and key in stream.confidence


def frame_settled(stream: _Stream, key: int) -> bool:
    """
    Whether the images of frame ``key`` are all here, or one never will be.

    Each topic is reliable and in stamp order: once a later frame's image arrived on a
    topic, this frame's never will (the node had not matched that subscription yet when it
    published this frame, as right after start-up, or a listener starved of CPU for longer
    than the outputs' history let the writer replace it).
    """
    return all(key in store or any(other > key for other in store)
               for store in (stream.inputs, stream.colorized, stream.confidence))


def strip_choices(stream: _Stream) -> Tuple[Dict[int, int], bool]:
    """
    Return ``{due frame: frame whose images make its strip}`` and whether all are decided.

    A due frame makes its own strip; one whose images will never all come gives way to the
    next frame that has them all, counted or not (the camera and the node go on after the
    goal, so one always comes). Undecided: a frame that may still complete, or no later
    frame with every image yet.
    """
    choices: Dict[int, int] = {}
    decided = True
    for key in stream.pending:
        later = sorted(other for other in stream.inputs if other > key)
        for candidate in [key] + later:
            if candidate in choices.values():
                continue
            if frame_ready(stream, candidate):
                choices[key] = candidate
                break
            if not frame_settled(stream, candidate):
                break
        decided = decided and key in choices
    return choices, decided


def cloud_key(stream: _Stream) -> Optional[int]:
    """Return the frame of the cloud to save: the last counted one, or the next that came."""
    if not stream.counted:
        return None
    last = stream.counted[-1]
    if last in stream.clouds:
        return last
    later = [key for key in stream.clouds if key > last]
    # the last counted frame's cloud will never come once a later one did: take that one
    return min(later) if later else None


def _make_listener_class():
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    class DemoListener(Node):
        """Collects each camera's input, depth, colorized, confidence and points topics."""

        def __init__(self, args: argparse.Namespace, streams: List[Dict[str, str]],
                     depth_range: Tuple[float, float], queries: Tuple[str, ...] = ()):
            super().__init__('depthclip_demo_listener')
            self.args = args
            self.depth_range = depth_range
            self.queries = tuple(queries)
            self.streams = [_Stream(config) for config in streams]
            self.random = False  # True: every output is marked RANDOM_BANNER
            reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
            inputs = QoSProfile(depth=16, reliability=ReliabilityPolicy.RELIABLE)
            for stream in self.streams:
                out = stream.config['out']
                # Reliable (the player publishes reliably): a strip needs the input image
                # of exactly the stamp of a depth image.
                self.create_subscription(
                    Image, stream.config['input'],
                    lambda m, s=stream: self._keep(s, s.inputs, m, KEPT_INPUTS), inputs)
                self.create_subscription(Image, f'{out}/depth/image',
                                         lambda m, s=stream: self.on_depth(s, m), reliable)
                self.create_subscription(Image, f'{out}/depth/colorized',
                                         lambda m, s=stream: self._keep(s, s.colorized, m),
                                         reliable)
                self.create_subscription(Image, f'{out}/depth/confidence',
                                         lambda m, s=stream: self._keep(s, s.confidence, m),
                                         reliable)
                self.create_subscription(PointCloud2, f'{out}/points',
                                         lambda m, s=stream: self._keep(s, s.clouds, m),
                                         reliable)
                if self.queries:
                    for topic, kind, store in (('grounding/labels', Image, stream.labels),
                                               ('depth/camera_info', CameraInfo, stream.infos)):
                        self.create_subscription(
                            kind, f'{out}/{topic}',
                            lambda m, s=stream, store=store: self._keep(s, store, m), reliable)

        @property
        def frames(self) -> int:
            """Return the counted depth frames of the camera with the fewest so far."""
            return min(stream.frames for stream in self.streams)

        @staticmethod
        def _key(msg) -> int:
            return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec

        def _keep(self, stream: _Stream, store: Dict[int, Any], msg, size: int = 16) -> None:
            """Keep ``msg`` by stamp: the newest ``size``, and those of strips still to write."""
            store[self._key(msg)] = msg
            keep = set(stream.pending) | set(strip_choices(stream)[0].values())
            if stream.counted:
                keep.add(stream.counted[-1])
            for key in sorted(store)[:max(0, len(store) - size)]:
                if key not in keep:
                    store.pop(key)

        def on_depth(self, stream: _Stream, msg) -> None:
            if stream.frames >= self.args.frames:
                return  # the goal is reached: later frames are not counted
            if self.queries:
                self._keep(stream, stream.depths, msg)
            if not (stream.inputs and stream.colorized and stream.confidence and
                    stream.clouds and (not self.queries or stream.labels and stream.infos)):
                # The node (or the player) has not matched every topic of this listener
                # yet: this frame's other images may never come. Count from the first
                # frame after every topic has delivered (each topic is reliable and in
                # stamp order, so later frames bring all their images).
                stream.warm_up += 1
                return
            now = self.get_clock().now().nanoseconds
            key = self._key(msg)
            stream.latencies_ms.append((now - key) / 1e6)
            stream.frames += 1
            stream.counted.append(key)
            if (stream.frames - 1) % self.args.every == 0:
                stream.pending.append(key)  # written by finish(): counting stays light

        def write_strip(self, stream: _Stream, key: int) -> bool:
            import cv2

            from depthclip_ros.core.colorize import add_colorbar, side_by_side
            from depthclip_ros.ros.msgs import image_msg_to_array, image_msg_to_rgb
            if not frame_ready(stream, key):
                return False
            rgb = image_msg_to_rgb(stream.inputs[key])
            colorized = image_msg_to_array(stream.colorized[key])
            conf = image_msg_to_array(stream.confidence[key])
            low, high = self.depth_range
            colorized = add_colorbar(colorized, low, high)
            conf_bgr = cv2.cvtColor((conf.clip(0, 1) * 255).astype('uint8'),
                                    cv2.COLOR_GRAY2BGR)
            strip = side_by_side([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), colorized, conf_bgr],
                                 labels=['input', 'depth (m)', 'confidence'])
            self.save(stream, strip, 'strip', len(stream.strips), stream.strips)
            if self.queries:
                self.write_overlay(stream, key, rgb)
            return True

        def save(self, stream: _Stream, image, kind: str, index: int, into: list) -> str:
            """Write ``<prefix><kind>_<index>.png`` (with the random-weights banner); list it."""
            import cv2
            if self.random:
                image = add_banner(image)
            path = os.path.join(self.args.output, f'{stream.prefix}{kind}_{index:03d}.png')
            cv2.imwrite(path, image)
            into.append(path)
            return path

        def write_overlay(self, stream: _Stream, key: int, rgb) -> None:
            """Write the frame's query masks and distances over its input; print them."""
            from depthclip_ros.core.grounding import draw_overlay, grounding_from_labels
            from depthclip_ros.ros.msgs import image_msg_to_array, intrinsics_from_camera_info
            if key not in stream.labels or key not in stream.depths or key not in stream.infos:
                print(f'demo: {stream.prefix}frame {key}: no grounding/labels, depth and '
                      'camera_info of this stamp came: no overlay for it')
                return
            grounding = grounding_from_labels(
                self.queries, image_msg_to_array(stream.labels[key]),
                image_msg_to_array(stream.depths[key]),
                intrinsics_from_camera_info(stream.infos[key]))
            path = self.save(stream, draw_overlay(rgb, grounding), 'overlay',
                             len(stream.strips) - 1, stream.overlays)
            for result in grounding.results:  # (the scores are not in the labels)
                if result.found:
                    x, y, z = result.point
                    answer = (f'{result.distance:.2f} m at ({x:.2f}, {y:.2f}, {z:.2f}) m in '
                              f'the optical frame ({result.pixels} px)')
                else:
                    answer = 'not found'
                print(f'grounding: {stream.prefix}{os.path.basename(path)}: {result.query}: '
                      f'{answer}')

        def _complete(self) -> bool:
            return all(self._stream_complete(s) for s in self.streams)

        def _stream_complete(self, stream: _Stream) -> bool:
            choices, decided = strip_choices(stream)
            if cloud_key(stream) is None or not decided:
                return False
            # with queries: the overlay needs the labels and camera_info of those frames
            return not self.queries or all(key in stream.labels and key in stream.infos
                                           for key in choices.values())

        def finish(self, executor, weights: str) -> int:
            """Write the remaining files and print the summary; return the exit code."""
            from depthclip_ros.core.geometry import write_ply
            from depthclip_ros.ros.msgs import cloud_msg_to_array
            random = self.random
            deadline = time.monotonic() + OUTPUT_WAIT_S
            while not self._complete() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
            print(f'weights: {weights}')
            ok = True
            for stream in self.streams:
                for key in strip_choices(stream)[0].values():
                    self.write_strip(stream, key)
                if not stream.strips:  # out of time: any frame with every image
                    ready = [key for key in stream.inputs if frame_ready(stream, key)]
                    if ready:
                        self.write_strip(stream, max(ready))
                ply = os.path.join(self.args.output, f'{stream.prefix}points.ply')
                count = 0
                cloud = cloud_key(stream)
                if cloud is None and stream.clouds:  # out of time: the newest cloud
                    cloud = max(stream.clouds)
                if cloud is not None:
                    count = write_ply(ply, cloud_msg_to_array(stream.clouds[cloud]))
                    if random:
                        add_ply_comment(ply, RANDOM_BANNER)
                # the output rate over the inputs' stamps: DDS start-up jitter in the receipt
                # times (a late first sample) does not count
                span = (stream.counted[-1] - stream.counted[0]) / 1e9 if stream.counted else 0
                fps = (stream.frames - 1) / span if stream.frames > 1 and span > 0 \
                    else float('nan')
                label = f'{stream.name}: ' if stream.name else ''
                mark = f'; {RANDOM_BANNER}' if random else ''
                print(f'wrote {len(stream.strips)} PNG strip(s) '
                      f'({", ".join(stream.strips)}) and {ply} ({count} points)')
                if self.queries:
                    print(f'wrote {len(stream.overlays)} grounding overlay(s) '
                          f'({", ".join(stream.overlays)}) for {", ".join(self.queries)}')
                print(f'demo: {label}{stream.frames} frames, {fps:.2f} frames/s, latency '
                      f'median {percentile(stream.latencies_ms, 50):.0f} ms, p95 '
                      f'{percentile(stream.latencies_ms, 95):.0f} ms{mark}')
                ok = ok and bool(stream.strips) and count > 0
            return 0 if ok else 1

    return DemoListener
