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

Starts ``camera_player`` (the bundled sample room) and ``depthclip_node`` as two real ROS 2
processes, listens to their topics from a third node in this process for a bounded number of
depth frames, and writes what a person wants to look at:

- ``strip_NNN.png``: input | colorized depth (metric colour bar) | confidence, every
  ``--every`` frames;
- ``points.ply``: the last point cloud;
- one summary line: frames, frames/s, end-to-end latency, and the weights used.

DDS traffic stays on this machine (shared-memory transport, localhost discovery, a domain
of its own), whatever the caller's environment says.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence

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
    parser.add_argument('--cameras', type=int, default=1, choices=(1,),
                        help='number of cameras (multi-camera: a later release)')
    parser.add_argument('--set', dest='overrides', action='append', default=[],
                        metavar='NAME:=VALUE', help='extra node parameter (ROS syntax)')
    parser.add_argument('--timeout', type=float, default=600.0, help='give up after seconds')
    return parser


def demo_environment(base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Return the environment for the demo's ROS processes: local-only DDS, own domain."""
    env = dict(os.environ if base is None else base)
    env['FASTDDS_BUILTIN_TRANSPORTS'] = 'SHM'
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['ROS_DOMAIN_ID'] = str(150 + os.getpid() % 50)
    env.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    env['PYTHONUNBUFFERED'] = '1'
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
        from depthclip_ros.loading import save_random_checkpoint
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
    env = demo_environment()
    os.environ.update({k: env[k] for k in ('FASTDDS_BUILTIN_TRANSPORTS',
                                           'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_DOMAIN_ID',
                                           'RMW_IMPLEMENTATION')})
    from depthclip_ros.config import default_params_file
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
    python = sys.executable
    player_cmd = [python, '-m', 'depthclip_ros.camera_player', '--ros-args',
                  '-r', '__node:=demo_camera', '-r', 'image:=/demo/camera/image',
                  '-r', 'camera_info:=/demo/camera/camera_info',
                  '-p', f'rate:={args.rate}', '-p', 'loop:=true']
    if args.source:
        player_cmd += ['-p', f'source:={args.source}']
    node_cmd = [python, '-m', 'depthclip_ros.depthclip_node'] + _ros_args(
        params, pretrained, args.device, args.overrides) + [
        '-r', 'image:=/demo/camera/image', '-r', 'camera_info:=/demo/camera/camera_info',
        '-r', 'depth/image:=/demo/depth/image',
        '-r', 'depth/camera_info:=/demo/depth/camera_info',
        '-r', 'depth/confidence:=/demo/depth/confidence',
        '-r', 'depth/colorized:=/demo/depth/colorized', '-r', 'points:=/demo/points',
        '-p', 'cloud.color:=true']
    node_log = open(os.path.join(args.output, 'node.log'), 'w')
    node = subprocess.Popen(node_cmd, env=env, stdout=node_log, stderr=subprocess.STDOUT)
    player = subprocess.Popen(player_cmd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        code = _watch(args, node, player, os.path.join(args.output, 'node.log'), pretrained)
    except KeyboardInterrupt:
        code = 130
    finally:
        for proc in (player, node):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in (player, node):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        node_log.close()
    return code


def _node_failure(log_path: str) -> str:
    with open(log_path, encoding='utf-8', errors='replace') as f:
        lines = [line.strip() for line in f if line.strip()]
    fatal = [line for line in lines if 'FATAL' in line or 'error' in line.lower()]
    return (fatal or lines or ['depthclip_node exited without a message'])[-1]


def _watch(args: argparse.Namespace, node_proc: subprocess.Popen,
           player_proc: subprocess.Popen, log_path: str, pretrained: Optional[str]) -> int:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init(args=[])
    listener = _DemoListener(args)
    executor = SingleThreadedExecutor()
    executor.add_node(listener)
    start = time.monotonic()
    try:
        while listener.frames < args.frames:
            executor.spin_once(timeout_sec=0.2)
            if node_proc.poll() is not None:
                print(f'depthclip demo: error: depthclip_node stopped: '
                      f'{_node_failure(log_path)}', file=sys.stderr)
                return 1
            if player_proc.poll() is not None:
                print(f'depthclip demo: error: camera_player stopped (exit code '
                      f'{player_proc.returncode})', file=sys.stderr)
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


def _make_listener_class():
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image, PointCloud2

    class DemoListener(Node):
        """Collects the demo's input, depth, colorized, confidence and points topics."""

        def __init__(self, args: argparse.Namespace):
            super().__init__('depthclip_demo_listener')
            self.args = args
            self.frames = 0
            self.latencies_ms: List[float] = []
            self.first_ns: Optional[int] = None
            self.last_ns: Optional[int] = None
            self.inputs: Dict[int, Image] = {}
            self.colorized: Dict[int, Image] = {}
            self.confidence: Dict[int, Image] = {}
            self.cloud: Optional[PointCloud2] = None
            self.strips: List[str] = []
            self.lock = threading.Lock()
            reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
            self.create_subscription(Image, '/demo/camera/image', self.on_input,
                                     qos_profile_sensor_data)
            self.create_subscription(Image, '/demo/depth/image', self.on_depth, reliable)
            self.create_subscription(Image, '/demo/depth/colorized',
                                     lambda m: self._keep(self.colorized, m), reliable)
            self.create_subscription(Image, '/demo/depth/confidence',
                                     lambda m: self._keep(self.confidence, m), reliable)
            self.create_subscription(PointCloud2, '/demo/points', self.on_cloud, reliable)

        @staticmethod
        def _key(msg) -> int:
            return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec

        def _keep(self, store: Dict[int, Image], msg) -> None:
            store[self._key(msg)] = msg
            while len(store) > 16:
                store.pop(min(store))

        def on_input(self, msg: Image) -> None:
            self._keep(self.inputs, msg)

        def on_cloud(self, msg: PointCloud2) -> None:
            self.cloud = msg

        def on_depth(self, msg: Image) -> None:
            now = self.get_clock().now().nanoseconds
            self.latencies_ms.append((now - self._key(msg)) / 1e6)
            self.frames += 1
            self.first_ns = self.first_ns or now
            self.last_ns = now
            if (self.frames - 1) % self.args.every == 0:
                self.try_strip(self._key(msg))

        def try_strip(self, key: int) -> None:
            # the other topics of this frame may arrive a moment later: retry on a timer
            timer_holder = {}

            def attempt():
                if self.write_strip(key) or attempt.tries > 25:
                    timer_holder['t'].cancel()
                attempt.tries += 1
            attempt.tries = 0
            timer_holder['t'] = self.create_timer(0.2, attempt)

        def write_strip(self, key: int) -> bool:
            import cv2

            from depthclip_ros.colorize import add_colorbar, side_by_side
            from depthclip_ros.config import load_config
            from depthclip_ros.ros_msgs import image_msg_to_array, image_msg_to_rgb
            if key not in self.inputs or key not in self.colorized or key not in self.confidence:
                return False
            rgb = image_msg_to_rgb(self.inputs[key])
            colorized = image_msg_to_array(self.colorized[key])
            conf = image_msg_to_array(self.confidence[key])
            from depthclip_ros.config import default_params_file
            low, high = load_config(self.args.params or default_params_file()).depth_range
            colorized = add_colorbar(colorized, low, high)
            conf_bgr = cv2.cvtColor((conf.clip(0, 1) * 255).astype('uint8'),
                                    cv2.COLOR_GRAY2BGR)
            strip = side_by_side([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), colorized, conf_bgr],
                                 labels=['input', 'depth (m)', 'confidence'])
            path = os.path.join(self.args.output, f'strip_{len(self.strips):03d}.png')
            cv2.imwrite(path, strip)
            self.strips.append(path)
            return True

        def finish(self, weights: str) -> int:
            from depthclip_ros.geometry import write_ply
            from depthclip_ros.ros_msgs import cloud_msg_to_array
            deadline = time.monotonic() + 5.0
            while (not self.strips or self.cloud is None) and time.monotonic() < deadline:
                rclpy_spin_once(self)
            if not self.strips:
                self.write_strip(max(self.colorized)) if self.colorized else None
            ply = os.path.join(self.args.output, 'points.ply')
            if self.cloud is not None:
                count = write_ply(ply, cloud_msg_to_array(self.cloud))
            else:
                count = 0
            elapsed = max((self.last_ns - self.first_ns) / 1e9, 1e-9)
            fps = (self.frames - 1) / elapsed if self.frames > 1 else float('nan')
            lat = sorted(self.latencies_ms)
            p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
            print(f'weights: {weights}')
            print(f'wrote {len(self.strips)} PNG strip(s) ({", ".join(self.strips)}) and '
                  f'{ply} ({count} points)')
            print(f'demo: {self.frames} frames, {fps:.2f} frames/s, latency median '
                  f'{statistics.median(lat):.0f} ms, p95 {p95:.0f} ms')
            return 0 if self.strips and count > 0 else 1

    return DemoListener


def rclpy_spin_once(node) -> None:
    """Spin ``node`` once briefly."""
    import rclpy
    rclpy.spin_once(node, timeout_sec=0.1)


def _DemoListener(args):  # noqa: N802 - factory standing in for the class
    return _make_listener_class()(args)
