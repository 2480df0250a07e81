#!/usr/bin/env python3
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
Soak and overload test: N cameras at R Hz into one depthclip_node process for a long time.

Starts ``depthclip_node`` (``cameras: [cam0, cam1, ...]``) as a separate process, publishes
640x480 rgb8 images and camera_info for every camera at ``--rate`` Hz from this process
(the bundled sample frames; camera i>0 plays them mirrored), listens to every output, and
every ``--interval`` seconds records the node's resident memory and thread count (from
/proc), its frame counters (from /diagnostics) and the end-to-end latency of the depth
images received in that interval (receipt time minus image stamp).

Memory is sampled every second: one sample is at the mercy of where the allocator is in a
round of large transient tensors (it swings by several percent), so each interval reports
the median, min and max RSS, and "flat" compares the median of the last interval with the
median of the first (within ``--rss-tolerance``); a least-squares slope over all samples
shows any trend, and the slope after the first ``--settle`` seconds (allocator warm-up) must
stay under ``--max-trend`` MiB per hour. The report also says whether the thread count
stayed constant and how latency percentiles moved per interval. Exit code 0 when the node
was still running at the end and memory and threads were flat; 1 otherwise.

DDS stays on this machine (shared memory, localhost discovery, a domain id of its own),
whatever the caller's environment says. Example (the full 10 minutes, paper input size)::

    python scripts/soak.py --duration 600 --json out/soak.json
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Sequence

from depthclip_ros.core.stats import percentile
from depthclip_ros.tools.dds_env import use_local_dds

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACE = '/soak'


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser."""
    parser = argparse.ArgumentParser(
        description='Soak/overload test of one multi-camera depthclip_node process.')
    parser.add_argument('--duration', type=float, default=600.0,
                        help='seconds of load after the first depth image (default 600)')
    parser.add_argument('--interval', type=float, default=60.0,
                        help='seconds per report row (default 60)')
    parser.add_argument('--cameras', type=int, default=2, help='number of cameras (2)')
    parser.add_argument('--rate', type=float, default=30.0, help='Hz per camera (30)')
    parser.add_argument('--weights', default=None,
                        help='model.pretrained (default: a seeded random RN50 checkpoint '
                             'written to a temporary folder)')
    parser.add_argument('--device', default='cpu', help='model.device (default cpu)')
    parser.add_argument('--height', type=int, default=416, help='input.height (paper: 416)')
    parser.add_argument('--width', type=int, default=544, help='input.width (paper: 544)')
    parser.add_argument('--params', default=None,
                        help='params file (default: the installed config/depthclip.yaml)')
    parser.add_argument('--set', dest='overrides', action='append', default=[],
                        metavar='NAME:=VALUE', help='extra node parameter (ROS syntax)')
    parser.add_argument('--depth-only', action='store_true',
                        help='listen to depth/image only (the node then skips the cloud, '
                             'colorized and confidence outputs)')
    parser.add_argument('--rss-tolerance', type=float, default=0.05,
                        help='largest relative RSS change end vs first interval (0.05)')
    parser.add_argument('--settle', type=float, default=300.0,
                        help='seconds left out of the RSS trend (allocator warm-up; 300)')
    parser.add_argument('--max-trend', type=float, default=20.0,
                        help='largest RSS trend after --settle, MiB per hour (20)')
    parser.add_argument('--startup-timeout', type=float, default=300.0,
                        help='seconds to wait for the first depth image')
    parser.add_argument('--json', metavar='FILE', default=None,
                        help='also write the report as JSON to FILE')
    parser.add_argument('--log', metavar='FILE', default=None,
                        help="the node's output (default: a temporary file)")
    return parser


def node_command(args: argparse.Namespace, weights: str, params: str, workdir: str) -> List[str]:
    """
    Return the command line of the node process; its settings go in a parameter file.

    :raises ValueError: a bad ``--set`` value (one line naming it)
    """
    from depthclip_ros.tools.params_file import (node_overrides, reference_values,
                                                 write_params_file)
    from depthclip_ros.tools import process_tools
    values = {'cameras': [f'cam{i}' for i in range(args.cameras)],
              'model.pretrained': weights, 'model.device': args.device,
              'input.height': args.height, 'input.width': args.width, 'cloud.color': True}
    values.update(process_tools.RELIABLE_IMAGES)  # the publishers below are reliable
    values.update(node_overrides(args.overrides, reference_values(params)))
    settings = write_params_file(values, workdir, comment='written by scripts/soak.py')
    return process_tools.node_command([params, settings], ['-r', f'__ns:={NAMESPACE}'])


class SoakClient:
    """Publishes the cameras and listens to the node's outputs and diagnostics."""

    def __init__(self, args: argparse.Namespace):
        from diagnostic_msgs.msg import DiagnosticArray
        import numpy as np
        from rclpy.node import Node
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2
        from std_msgs.msg import Header

        from depthclip_ros.core.geometry import Intrinsics
        from depthclip_ros.core.sample import (load_sample_rgb, SAMPLE_FRAME_COUNT,
                                               sample_intrinsics)
        from depthclip_ros.ros import msgs as ros_msgs

        self.args = args
        self.node = Node('soak_client', namespace=NAMESPACE)
        self.lock = threading.Lock()
        self.latencies: List[float] = []
        self.received = [0] * args.cameras
        self.published = 0
        self.diagnostics: Dict[str, Dict[str, str]] = {}
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                         reliability=ReliabilityPolicy.RELIABLE)
        self.frames = []  # per camera: [(image msg, info msg)] for each sample frame
        intr = sample_intrinsics()
        for camera in range(args.cameras):
            mirrored = camera % 2 == 1
            cam_intr = Intrinsics(fx=intr.fx, fy=intr.fy, cx=intr.width - 1 - intr.cx,
                                  cy=intr.cy, width=intr.width, height=intr.height) \
                if mirrored else intr
            frames = []
            for index in range(SAMPLE_FRAME_COUNT):
                rgb = load_sample_rgb(index)
                if mirrored:
                    rgb = np.ascontiguousarray(rgb[:, ::-1])
                header = Header(frame_id=f'cam{camera}_optical_frame')
                frames.append((ros_msgs.rgb_to_image_msg(rgb, header, 'rgb8'),
                               ros_msgs.camera_info_msg(cam_intr, header)))
            self.frames.append(frames)
        self.image_pubs = [self.node.create_publisher(Image, f'cam{i}/image', qos)
                           for i in range(args.cameras)]
        self.info_pubs = [self.node.create_publisher(CameraInfo, f'cam{i}/camera_info', qos)
                          for i in range(args.cameras)]
        outputs = [('depth/image', Image)]
        if not args.depth_only:
            outputs += [('depth/camera_info', CameraInfo), ('depth/confidence', Image),
                        ('depth/colorized', Image), ('points', PointCloud2)]
        for camera in range(args.cameras):
            for topic, msg_type in outputs:
                callback = self._on_depth if topic == 'depth/image' else self._ignore
                self.node.create_subscription(
                    msg_type, f'cam{camera}/{topic}',
                    lambda msg, c=camera, cb=callback: cb(c, msg), qos)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics,
                                      10)
        self.tick = 0
        self.timer = self.node.create_timer(1.0 / args.rate, self._publish)

    def _publish(self) -> None:
        stamp = self.node.get_clock().now().to_msg()
        index = self.tick % len(self.frames[0])
        self.tick += 1
        for camera, (image_pub, info_pub) in enumerate(zip(self.image_pubs, self.info_pubs)):
            image, info = self.frames[camera][index]
            image.header.stamp = stamp
            info.header.stamp = stamp
            image_pub.publish(image)
            info_pub.publish(info)
            self.published += 1

    def _ignore(self, camera: int, msg) -> None:
        pass

    def _on_depth(self, camera: int, msg) -> None:
        now = self.node.get_clock().now().nanoseconds
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.latencies.append((now - stamp) / 1e6)
            self.received[camera] += 1

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith(f'{NAMESPACE}/depthclip_node: '):
                camera = status.name.split(': ', 1)[1].split()[0]
                values = {kv.key: kv.value for kv in status.values}
                values['level'] = str(int.from_bytes(status.level, 'little')
                                      if isinstance(status.level, bytes) else status.level)
                values['message'] = status.message
                with self.lock:
                    self.diagnostics[camera] = values

    def take_latencies(self) -> List[float]:
        """Return and forget the latencies received since the last call."""
        with self.lock:
            values, self.latencies = self.latencies, []
        return values

    def counters(self) -> Dict[str, int]:
        """Return the node's frame counters summed over the cameras (from /diagnostics)."""
        keys = ('frames received', 'frames processed', 'frames dropped', 'frames rejected',
                'errors')
        with self.lock:
            statuses = list(self.diagnostics.values())
        return {key: sum(int(s.get(key, 0)) for s in statuses) for key in keys}


def run(argv: Optional[Sequence[str]] = None) -> int:
    """Run the soak test; return the exit code."""
    args = build_parser().parse_args(argv)
    if args.cameras < 1 or args.rate <= 0 or args.duration <= 0 or args.interval <= 0:
        print('soak: --cameras, --rate, --duration and --interval must be positive',
              file=sys.stderr)
        return 2
    use_local_dds('soak')  # before rclpy is imported
    # SIGTERM ends the soak as Ctrl-C does: through the cleanup that stops the node.
    signal.signal(signal.SIGTERM, _end_on_signal)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from depthclip_ros.core.config import default_params_file
    from depthclip_ros.core.loading import save_random_checkpoint
    from depthclip_ros.tools.process_tools import proc_status, stop_processes

    workdir = tempfile.mkdtemp(prefix='depthclip_soak_')
    params = args.params or default_params_file()
    try:
        cmd = node_command(args, args.weights or '', params, workdir)  # checks --set early
    except ValueError as error:
        print(f'soak: error: {error}', file=sys.stderr)
        return 2
    weights = args.weights
    if not weights:
        weights = os.path.join(workdir, 'RN50-random-seed0.safetensors')
        print(f'soak: writing seeded random RN50 weights to {weights}', flush=True)
        save_random_checkpoint('RN50', weights, seed=0)
    log_path = args.log or os.path.join(workdir, 'node.log')
    log = open(log_path, 'w')
    cmd = node_command(args, weights, params, workdir)
    node_proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                 env=dict(os.environ, PYTHONUNBUFFERED='1'))
    print(f'soak: node pid {node_proc.pid}, log {log_path}', flush=True)
    print(f'soak: {args.cameras} camera(s) x {args.rate:g} Hz of 640x480 rgb8, input '
          f'{args.width}x{args.height}, device {args.device}, {args.duration:g} s',
          flush=True)

    rclpy.init(args=[])
    client = SoakClient(args)
    executor = SingleThreadedExecutor()
    executor.add_node(client.node)
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: _spin(executor, stop), daemon=True)
    spinner.start()
    rows: List[Dict[str, float]] = []
    report: Dict[str, object] = {}
    code = 1
    try:
        start_wait = time.monotonic()
        while not any(client.received):
            if node_proc.poll() is not None:
                print(f'soak: the node exited with {node_proc.returncode}; see {log_path}',
                      file=sys.stderr)
                return 1
            if time.monotonic() - start_wait > args.startup_timeout:
                print('soak: no depth image within --startup-timeout', file=sys.stderr)
                return 1
            time.sleep(0.2)
        startup_s = time.monotonic() - start_wait
        first = proc_status(node_proc.pid)
        client.take_latencies()
        begin = time.monotonic()
        print(f'soak: first depth after {startup_s:.1f} s; RSS {first["VmRSS"] / 1024:.1f} MiB, '
              f'{first["Threads"]} threads', flush=True)
        print(f'{"t (s)":>6} {"RSS MiB":>8} {"min-max":>11} {"threads":>7} {"outputs":>7} '
              f'{"lat p50":>8} '
              f'{"lat p95":>8} {"received":>9} {"processed":>9} {"dropped":>8} '
              f'{"errors":>6}', flush=True)
        next_row = begin + args.interval
        outputs_before = 0
        rss_samples: List[float] = []
        all_samples: List[tuple] = []
        next_sample = begin
        while True:
            now = time.monotonic()
            if now >= next_sample and node_proc.poll() is None:
                rss = proc_status(node_proc.pid)['VmRSS'] / 1024.0
                rss_samples.append(rss)
                all_samples.append((now - begin, rss))
                next_sample += 1.0
            if node_proc.poll() is not None:
                print(f'soak: the node died (exit code {node_proc.returncode}); see {log_path}',
                      file=sys.stderr)
                break
            if now >= next_row:
                status = proc_status(node_proc.pid)
                latencies = client.take_latencies()
                counters = client.counters()
                outputs = sum(client.received)
                row = {'t_s': round(now - begin, 1),
                       'rss_mib': statistics.median(rss_samples or [status['VmRSS'] / 1024.0]),
                       'rss_min_mib': min(rss_samples, default=float('nan')),
                       'rss_max_mib': max(rss_samples, default=float('nan')),
                       'threads': status['Threads'], 'outputs': outputs - outputs_before,
                       'published': client.published,
                       'latency_p50_ms': percentile(latencies, 50),
                       'latency_p95_ms': percentile(latencies, 95), **counters}
                outputs_before = outputs
                rss_samples = []
                rows.append(row)
                spread = f'{row["rss_min_mib"]:.0f}-{row["rss_max_mib"]:.0f}'
                print(f'{row["t_s"]:>6.0f} {row["rss_mib"]:>8.1f} {spread:>11} '
                      f'{row["threads"]:>7} {row["outputs"]:>7} {row["latency_p50_ms"]:>8.0f} '
                      f'{row["latency_p95_ms"]:>8.0f} {row["frames received"]:>9} '
                      f'{row["frames processed"]:>9} {row["frames dropped"]:>8} '
                      f'{row["errors"]:>6}', flush=True)
                next_row += args.interval
                if now - begin >= args.duration - 1e-6:
                    break
            time.sleep(min(0.5, max(0.0, next_row - time.monotonic())))
        alive = node_proc.poll() is None
        report = summarize(args, rows, first, startup_s, alive, client, weights)
        report['rss_slope_mib_per_10min'] = slope(all_samples) * 600.0
        settled = [(t, v) for t, v in all_samples if t >= args.settle]
        trend = slope(settled) * 3600.0 if len(settled) > 60 else float('nan')
        report['settle_s'] = args.settle
        report['rss_trend_after_settle_mib_per_hour'] = trend
        report['rss_trend_ok'] = bool(trend == trend and abs(trend) < args.max_trend)
        if trend == trend:  # a trend was measured: it is part of the verdict
            report['ok'] = bool(report['ok'] and report['rss_trend_ok'])
        code = 0 if report['ok'] else 1
    finally:
        stop.set()
        spinner.join(timeout=10.0)
        executor.shutdown()
        client.node.destroy_node()
        rclpy.try_shutdown()
        stop_processes([node_proc], timeout=60)
        log.close()
    report['node_exit_code'] = node_proc.returncode
    print_summary(report)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
    return code


def slope(samples: List[tuple]) -> float:
    """Return the least-squares slope of (t, value) samples (value per second)."""
    if len(samples) < 2:
        return float('nan')
    mean_t = statistics.fmean(t for t, _ in samples)
    mean_v = statistics.fmean(v for _, v in samples)
    den = sum((t - mean_t) ** 2 for t, _ in samples)
    return sum((t - mean_t) * (v - mean_v) for t, v in samples) / den if den else 0.0


def _end_on_signal(signum, frame) -> None:
    signal.signal(signum, signal.SIG_IGN)  # a second one does not cut the cleanup short
    sys.exit(128 + signum)


def _spin(executor, stop: threading.Event) -> None:
    from rclpy.executors import ExternalShutdownException
    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass


def summarize(args: argparse.Namespace, rows: List[Dict[str, float]], first: Dict[str, int],
              startup_s: float, alive: bool, client: SoakClient,
              weights: str) -> Dict[str, object]:
    """Return the report: per-interval rows and the flatness verdicts."""
    report: Dict[str, object] = {
        'cameras': args.cameras, 'rate_hz': args.rate, 'input': f'{args.width}x{args.height}',
        'device': args.device, 'weights': weights, 'duration_s': args.duration,
        'interval_s': args.interval, 'startup_s': round(startup_s, 1),
        'published': client.published, 'rows': rows, 'node_alive_at_end': alive,
        'rss_at_first_output_mib': first['VmRSS'] / 1024.0,
        'threads_at_first_output': first['Threads'],
    }
    if not rows:
        report['ok'] = False
        return report
    start, end = rows[0], rows[-1]
    change = (end['rss_mib'] - start['rss_mib']) / start['rss_mib']
    threads = sorted({row['threads'] for row in rows})
    p50 = [row['latency_p50_ms'] for row in rows]
    finished = [v for v in p50 if v == v]  # not NaN
    report.update({
        'rss_start_mib': start['rss_mib'], 'rss_end_mib': end['rss_mib'],
        'rss_change': change, 'rss_flat': abs(change) <= args.rss_tolerance,
        'threads_seen': threads, 'threads_flat': len(threads) == 1,
        'latency_p50_first_last_ms': [finished[0], finished[-1]] if finished else [],
        'latency_p50_median_ms': statistics.median(finished) if finished else float('nan'),
        'frames_received': end['frames received'], 'frames_processed': end['frames processed'],
        'frames_dropped': end['frames dropped'], 'frames_rejected': end['frames rejected'],
        'errors': end['errors'],
    })
    report['ok'] = bool(alive and report['rss_flat'] and report['threads_flat'])
    return report


def print_summary(report: Dict[str, object]) -> None:
    """Print the verdict lines."""
    if 'rss_start_mib' not in report:
        print('soak: no complete interval: no verdict')
        return
    print(f'soak: RSS median first/last interval {report["rss_start_mib"]:.1f} -> '
          f'{report["rss_end_mib"]:.1f} MiB ({100 * report["rss_change"]:+.2f} %, flat: '
          f'{report["rss_flat"]}), trend {report.get("rss_slope_mib_per_10min", 0.0):+.1f} '
          f'MiB per 10 min '
          f'({report.get("rss_trend_after_settle_mib_per_hour", float("nan")):+.1f} MiB per '
          f'hour after the first {report.get("settle_s", 0):.0f} s); threads '
          f'{report["threads_seen"]} (flat: {report["threads_flat"]})')
    print(f'soak: frames received {report["frames_received"]}, processed '
          f'{report["frames_processed"]}, dropped {report["frames_dropped"]}, rejected '
          f'{report["frames_rejected"]}, errors {report["errors"]}; node alive at the end: '
          f'{report["node_alive_at_end"]}, exit code {report.get("node_exit_code")}')
    print(f'soak: latency p50 first/last interval {report["latency_p50_first_last_ms"]} ms; '
          f'verdict: {"OK" if report["ok"] else "FAILED"}')


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the soak test from the command line."""
    return run(argv)


if __name__ == '__main__':
    sys.exit(main())
