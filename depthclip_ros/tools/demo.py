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
processes, listens to their topics from a node in this process for a bounded number of
depth frames, and writes what a person wants to look at:

- ``strip_NNN.png``: input | colorized depth (metric colour bar) | confidence, every
  ``--every`` frames;
- ``points.ply``: the last point cloud;
- one summary line: frames, frames/s, end-to-end latency, and the weights used.

With ``--cameras 2`` two players run (the sample room and its mirror image, with mirrored
intrinsics) into ONE node with ``cameras: [cam0, cam1]`` that batches both cameras into one
encoder pass; the files are ``cam0_strip_NNN.png``, ``cam1_strip_NNN.png``,
``cam0_points.ply``, ``cam1_points.ply``, with one summary line per camera. ``--frames``
counts the depth frames of each camera.

DDS traffic stays on this machine (shared-memory transport, localhost discovery, a domain
of its own), whatever the caller's environment says.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence

from depthclip_ros.tools.process_tools import stop_processes

NODE_READY_TIMEOUT_S = 180.0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``depthclip demo``."""
    parser = argparse.ArgumentParser(
        prog='depthclip demo',
        description='Run camera_player + depthclip_node as real ROS 2 nodes on the bundled '
                    'sample and save a PNG strip, a PLY point cloud and a summary.')
    parser.add_argument('--weights', default=None,
                        help='model.pretrained: an open_clip tag (default from the params '
                             'file: openai), a local checkpoint file, or "random" for seeded '
                             'random weights (smoke test: the depth is meaningless)')
    parser.add_argument('--params', default=None, help='params file (default: installed '
                                                       'config/depthclip.yaml)')
    parser.add_argument('--frames', type=int, default=8, help='depth frames to receive')
    parser.add_argument('--every', type=int, default=2, help='write a PNG strip every N frames')
    parser.add_argument('--rate', type=float, default=2.0, help='camera rate in Hz')
    parser.add_argument('--source', default='', help="camera_player source ('' = sample)")
    parser.add_argument('--output', '-o', default='out/demo', help='output folder')
    parser.add_argument('--device', default=None, help='model.device (auto|cpu|cuda|cuda:N)')
    parser.add_argument('--cameras', type=int, default=1, choices=(1, 2),
                        help='number of cameras: 2 runs the sample and its mirror image into '
                             'one node serving both (batched inference)')
    parser.add_argument('--set', dest='overrides', action='append', default=[],
                        metavar='NAME:=VALUE', help='extra node parameter (ROS syntax)')
    parser.add_argument('--timeout', type=float, default=600.0, help='give up after seconds')
    return parser


#: Node parameter for reliable image input. The demo, the node benchmark and the soak publish
#: images reliably; a best-effort subscription would lose images over ~0.5 MB in Fast DDS's
#: shared-memory transport (ros2/rmw_fastrtps#739).
RELIABLE_IMAGES = 'qos.image_reliability:=reliable'

#: The environment variables :func:`use_demo_environment` sets in this process.
DDS_VARIABLES = ('FASTDDS_BUILTIN_TRANSPORTS', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_DOMAIN_ID',
                 'RMW_IMPLEMENTATION')


def demo_environment(base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Return the environment for the demo's ROS processes: local-only DDS, own domain."""
    env = dict(os.environ if base is None else base)
    env['FASTDDS_BUILTIN_TRANSPORTS'] = 'SHM'
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['ROS_DOMAIN_ID'] = str(150 + os.getpid() % 50)
    env.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    env['PYTHONUNBUFFERED'] = '1'
    return env


def use_demo_environment() -> Dict[str, str]:
    """Put this process on :func:`demo_environment`'s local DDS too; return that environment."""
    env = demo_environment()
    os.environ.update({k: env[k] for k in DDS_VARIABLES})
    return env


def resolve_weights(weights: Optional[str], output: str) -> Optional[str]:
    """
    Turn ``--weights`` into a ``model.pretrained`` value.

    ``random`` writes (once) seeded random RN50 weights to a local checkpoint, so the demo
    still exercises the real loading path.
    """
    if weights is None:
        return None
    if weights == 'random':
        from depthclip_ros.core.loading import save_random_checkpoint
        cache = os.path.join(os.environ.get('XDG_CACHE_HOME',
                                            os.path.expanduser('~/.cache')), 'depthclip')
        path = os.path.join(cache, 'RN50-random-seed0.safetensors')
        if not os.path.isfile(path):
            print(f'demo: writing seeded RANDOM RN50 weights to {path}')
            save_random_checkpoint('RN50', path + '.tmp.safetensors', seed=0)
            os.replace(path + '.tmp.safetensors', path)
        return path
    if os.sep in weights and not os.path.isfile(weights):
        raise ValueError(f'--weights {weights}: no such file')
    return os.path.abspath(weights) if os.path.isfile(weights) else weights


def _ros_args(params: str, pretrained: Optional[str], device: Optional[str],
              overrides: Sequence[str]) -> List[str]:
    args = ['--ros-args', '--params-file', params]
    if pretrained is not None:
        args += ['-p', f'model.pretrained:={pretrained}']
    if device:
        args += ['-p', f'model.device:={device}']
    for item in overrides:
        args += ['-p', item]
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; return the exit code (0 on success, 1 with one clear message)."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    env = use_demo_environment()
    from depthclip_ros.core.config import default_params_file
    try:
        params = args.params or default_params_file()
        pretrained = resolve_weights(args.weights, args.output)
    except (ValueError, FileNotFoundError) as error:
        print(f'depthclip demo: error: {error}', file=sys.stderr)
        return 1
    if args.frames < 1 or args.every < 1:
        print('depthclip demo: error: --frames and --every must be >= 1', file=sys.stderr)
        return 1
    os.makedirs(args.output, exist_ok=True)
    streams = demo_streams(args.cameras)
    player_cmds = [_player_cmd(args, stream, index) for index, stream in enumerate(streams)]
    node_cmd = _node_cmd(args, params, pretrained)
    node_log = open(os.path.join(args.output, 'node.log'), 'w')
    node = subprocess.Popen(node_cmd, env=env, stdout=node_log, stderr=subprocess.STDOUT)
    players = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for cmd in player_cmds]
    try:
        code = _watch(args, streams, node, players, os.path.join(args.output, 'node.log'),
                      pretrained)
    except KeyboardInterrupt:
        code = 130
    finally:
        stop_processes(players + [node], timeout=20)
        node_log.close()
    return code


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


def _player_cmd(args: argparse.Namespace, stream: Dict[str, str], index: int) -> List[str]:
    cmd = [sys.executable, '-m', 'depthclip_ros.ros.runner', 'camera_player', '--ros-args',
           '-r', f'__node:=demo_camera{index or ""}', '-r', f'image:={stream["input"]}',
           '-r', f'camera_info:={stream["info"]}',
           '-p', f'rate:={args.rate}', '-p', 'loop:=true']
    if stream['name']:
        cmd += ['-p', f'frame_id:={stream["name"]}_optical_frame']
    if index % 2 == 1 and not args.source:
        folder, intr = write_mirrored_sample(os.path.join(args.output, 'mirrored_sample'))
        cmd += ['-p', f'source:={folder}']
        cmd += ['-p', f'fx:={intr.fx}', '-p', f'fy:={intr.fy}', '-p', f'cx:={intr.cx}',
                '-p', f'cy:={intr.cy}']
    elif args.source:
        cmd += ['-p', f'source:={args.source}']
    return cmd


def _node_cmd(args: argparse.Namespace, params: str, pretrained: Optional[str]) -> List[str]:
    defaults = ['cloud.color:=true', RELIABLE_IMAGES]  # the player publishes reliably
    cmd = [sys.executable, '-m', 'depthclip_ros.ros.runner', 'depthclip_node'] + _ros_args(
        params, pretrained, args.device, defaults + list(args.overrides))
    if args.cameras == 1:
        return cmd + [
            '-r', 'image:=/demo/camera/image', '-r', 'camera_info:=/demo/camera/camera_info',
            '-r', 'depth/image:=/demo/depth/image',
            '-r', 'depth/camera_info:=/demo/depth/camera_info',
            '-r', 'depth/confidence:=/demo/depth/confidence',
            '-r', 'depth/colorized:=/demo/depth/colorized', '-r', 'points:=/demo/points']
    names = ', '.join(f'cam{i}' for i in range(args.cameras))
    return cmd + ['-r', '__ns:=/demo', '-p', f'cameras:=[{names}]']


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


def _node_failure(log_path: str) -> str:
    with open(log_path, encoding='utf-8', errors='replace') as f:
        lines = [line.strip() for line in f if line.strip()]
    fatal = [line for line in lines if 'FATAL' in line or 'error' in line.lower()]
    return (fatal or lines or ['depthclip_node exited without a message'])[-1]


def _watch(args: argparse.Namespace, streams: List[Dict[str, str]],
           node_proc: subprocess.Popen, player_procs: List[subprocess.Popen], log_path: str,
           pretrained: Optional[str]) -> int:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init(args=[])
    listener = _DemoListener(args, streams)
    executor = SingleThreadedExecutor()
    executor.add_node(listener)
    start = time.monotonic()
    try:
        while listener.frames < args.frames:
            executor.spin_once(timeout_sec=0.2)
            if node_proc.poll() is not None:
                failure = _node_failure(log_path)
                if 'model.pretrained' in failure:
                    failure += (' | demo: pass --weights /path/to/RN50.pt (make demo '
                                'WEIGHTS=/path/to/RN50.pt), or --weights random for a smoke '
                                'test with seeded random weights')
                print(f'depthclip demo: error: depthclip_node stopped: {failure}',
                      file=sys.stderr)
                return 1
            stopped = [p for p in player_procs if p.poll() is not None]
            if stopped:
                print(f'depthclip demo: error: camera_player stopped (exit code '
                      f'{stopped[0].returncode})', file=sys.stderr)
                return 1
            if time.monotonic() - start > args.timeout:
                print(f'depthclip demo: error: no depth after {args.timeout:.0f} s '
                      f'(see {log_path})', file=sys.stderr)
                return 1
        return listener.finish(_weights_line(log_path, pretrained, args.weights == 'random'))
    finally:
        executor.shutdown()
        listener.destroy_node()
        rclpy.try_shutdown()


def _weights_line(log_path: str, pretrained: Optional[str], random: bool) -> str:
    note = ' (seeded RANDOM weights: the depth is meaningless)' if random else ''
    with open(log_path, encoding='utf-8', errors='replace') as f:
        for line in f:
            if ']: model ' in line:
                return line.strip().split(']: model ', 1)[-1][-200:] + note
    return f'model.pretrained={pretrained or "(params file)"}{note}'


class _Stream:
    """What the demo listener keeps of one camera: recent messages, counts, files written."""

    def __init__(self, config: Dict[str, str]):
        self.name = config['name']
        self.prefix = config['prefix']
        self.config = config
        self.frames = 0
        self.latencies_ms: List[float] = []
        self.first_ns: Optional[int] = None
        self.last_ns: Optional[int] = None
        self.inputs: Dict[int, object] = {}
        self.colorized: Dict[int, object] = {}
        self.confidence: Dict[int, object] = {}
        self.cloud = None
        self.strips: List[str] = []


def _make_listener_class():
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image, PointCloud2

    class DemoListener(Node):
        """Collects each camera's input, depth, colorized, confidence and points topics."""

        def __init__(self, args: argparse.Namespace, streams: List[Dict[str, str]]):
            super().__init__('depthclip_demo_listener')
            self.args = args
            self.streams = [_Stream(config) for config in streams]
            self.lock = threading.Lock()
            reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
            inputs = QoSProfile(depth=16, reliability=ReliabilityPolicy.RELIABLE)
            for stream in self.streams:
                out = stream.config['out']
                # Reliable (the player publishes reliably): a strip needs the input image
                # of exactly the stamp of a depth image.
                self.create_subscription(Image, stream.config['input'],
                                         lambda m, s=stream: self._keep(s.inputs, m),
                                         inputs)
                self.create_subscription(Image, f'{out}/depth/image',
                                         lambda m, s=stream: self.on_depth(s, m), reliable)
                self.create_subscription(Image, f'{out}/depth/colorized',
                                         lambda m, s=stream: self._keep(s.colorized, m),
                                         reliable)
                self.create_subscription(Image, f'{out}/depth/confidence',
                                         lambda m, s=stream: self._keep(s.confidence, m),
                                         reliable)
                self.create_subscription(PointCloud2, f'{out}/points',
                                         lambda m, s=stream: setattr(s, 'cloud', m), reliable)

        @property
        def frames(self) -> int:
            """Return the depth frames of the camera with the fewest so far."""
            return min(stream.frames for stream in self.streams)

        @staticmethod
        def _key(msg) -> int:
            return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec

        def _keep(self, store: Dict[int, Image], msg) -> None:
            store[self._key(msg)] = msg
            while len(store) > 16:
                store.pop(min(store))

        def on_depth(self, stream: _Stream, msg: Image) -> None:
            now = self.get_clock().now().nanoseconds
            stream.latencies_ms.append((now - self._key(msg)) / 1e6)
            stream.frames += 1
            stream.first_ns = stream.first_ns or now
            stream.last_ns = now
            if (stream.frames - 1) % self.args.every == 0:
                self.try_strip(stream, self._key(msg))

        def try_strip(self, stream: _Stream, key: int) -> None:
            # the other topics of this frame may arrive a moment later: retry on a timer
            timer_holder = {}

            def attempt():
                if self.write_strip(stream, key) or attempt.tries > 25:
                    timer_holder['t'].cancel()
                attempt.tries += 1
            attempt.tries = 0
            timer_holder['t'] = self.create_timer(0.2, attempt)

        def write_strip(self, stream: _Stream, key: int) -> bool:
            import cv2

            from depthclip_ros.core.colorize import add_colorbar, side_by_side
            from depthclip_ros.core.config import default_params_file, load_config
            from depthclip_ros.ros.msgs import image_msg_to_array, image_msg_to_rgb
            if key not in stream.inputs or key not in stream.colorized \
                    or key not in stream.confidence:
                return False
            rgb = image_msg_to_rgb(stream.inputs[key])
            colorized = image_msg_to_array(stream.colorized[key])
            conf = image_msg_to_array(stream.confidence[key])
            low, high = load_config(self.args.params or default_params_file()).depth_range
            colorized = add_colorbar(colorized, low, high)
            conf_bgr = cv2.cvtColor((conf.clip(0, 1) * 255).astype('uint8'),
                                    cv2.COLOR_GRAY2BGR)
            strip = side_by_side([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), colorized, conf_bgr],
                                 labels=['input', 'depth (m)', 'confidence'])
            path = os.path.join(self.args.output,
                                f'{stream.prefix}strip_{len(stream.strips):03d}.png')
            cv2.imwrite(path, strip)
            stream.strips.append(path)
            return True

        def finish(self, weights: str) -> int:
            from depthclip_ros.core.geometry import write_ply
            from depthclip_ros.ros.msgs import cloud_msg_to_array
            deadline = time.monotonic() + 5.0
            while any(not s.strips or s.cloud is None for s in self.streams) \
                    and time.monotonic() < deadline:
                rclpy_spin_once(self)
            print(f'weights: {weights}')
            ok = True
            for stream in self.streams:
                complete = set(stream.inputs) & set(stream.colorized) & set(stream.confidence)
                if not stream.strips and complete:
                    self.write_strip(stream, max(complete))
                ply = os.path.join(self.args.output, f'{stream.prefix}points.ply')
                count = 0
                if stream.cloud is not None:
                    count = write_ply(ply, cloud_msg_to_array(stream.cloud))
                elapsed = max((stream.last_ns - stream.first_ns) / 1e9, 1e-9)
                fps = (stream.frames - 1) / elapsed if stream.frames > 1 else float('nan')
                lat = sorted(stream.latencies_ms)
                p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
                label = f'{stream.name}: ' if stream.name else ''
                print(f'wrote {len(stream.strips)} PNG strip(s) '
                      f'({", ".join(stream.strips)}) and {ply} ({count} points)')
                print(f'demo: {label}{stream.frames} frames, {fps:.2f} frames/s, latency '
                      f'median {statistics.median(lat):.0f} ms, p95 {p95:.0f} ms')
                ok = ok and bool(stream.strips) and count > 0
            return 0 if ok else 1

    return DemoListener


def rclpy_spin_once(node) -> None:
    """Spin ``node`` once briefly."""
    import rclpy
    rclpy.spin_once(node, timeout_sec=0.1)


def _DemoListener(args, streams):  # noqa: N802 - factory standing in for the class
    return _make_listener_class()(args, streams)
