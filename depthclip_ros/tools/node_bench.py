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
``depthclip bench --node``: the node end to end, against the engine alone.

1. The engine's own predict throughput is measured in this process (median over repeats,
   same image size and settings as the node will use), then the engine is released.
2. ``depthclip_node`` is started as a separate process; this process publishes Image +
   CameraInfo faster than the engine can keep up with (``--rate``, default 2 x the engine's
   frame rate) for ``--duration`` seconds and subscribes, as consumers do, to every output
   reliably (``depth/image``, ``depth/camera_info``, ``depth/confidence``,
   ``depth/colorized``, ``points``; keep last 10) and with SensorDataQoS (best effort) to
   ``depth/image`` and ``points``, as Nav2's observation buffers do.
3. Reported: node frames/s vs engine frames/s (the ratio), end-to-end latency (input stamp to
   receipt) median and p95 per time window (flat = no queue builds up), the time to build
   and pack a point cloud + depth message for a 640 x 480 frame at stride 4, and delivery:
   frames the node published (its diagnostics' ``frames processed`` over the run) against
   what each subscriber received, and exact-stamp pairs of ``depth/image`` +
   ``depth/camera_info`` (:class:`~depthclip_ros.tools.delivery.ExactPairs`, as
   message_filters pairs them) with the time each pair took to complete. After the input
   stops the run waits until nothing has arrived for 5 s, so late re-sends count.
   With ``--param-period``, ``ros2 param set``'s path (a ``temperature`` set over the
   parameter service) is timed under that load.

DDS stays on this machine, in a domain id of its own (:mod:`depthclip_ros.tools.dds_env`).
``--transports default`` leaves ``FASTDDS_BUILTIN_TRANSPORTS`` unset with discovery on
localhost (rmw_fastrtps then gives every participant shared memory + UDPv4 to localhost);
``--transports shm`` sets ``FASTDDS_BUILTIN_TRANSPORTS=SHM`` and leaves the discovery range
alone, because rmw_fastrtps replaces the built-in transports (and so ignores that variable)
when ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``: shared memory only, no UDP socket, so
nothing can leave the machine either. The report shows each process's real transports (UDP
sockets, shared-memory segment sizes, from /proc). The node chooses its Fast DDS profile as
it does for users (``--node-profile auto``: none is set, so the package's); this process,
the consumer, runs with none (``--consumer-profile none``) or the package's. The node gets
``--params`` (default: the installed ``config/depthclip.yaml``) and, in a generated
parameter file, the ``--set`` values and reliable image input (publisher and the node's
``qos.image_reliability``, keep last 1).
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from depthclip_ros.core.stats import percentile
from depthclip_ros.tools.common import (CommandError, median_ms, offline_unless_hub_reachable,
                                        params_path)
from depthclip_ros.tools.dds_env import use_local_dds
from depthclip_ros.tools.delivery import delivery_summary, ExactPairs, format_delivery
from depthclip_ros.tools.params_file import node_overrides, reference_values, write_params_file
from depthclip_ros.tools.process_tools import (dds_transports, last_error_line, node_command,
                                               RELIABLE_IMAGES, stop_processes)

#: Outputs subscribed reliably, as depth consumers do (message_filters' default depth 10).
RELIABLE_OUTPUTS = ('depth/image', 'depth/camera_info', 'depth/confidence', 'depth/colorized',
                    'points')
#: Outputs also subscribed with SensorDataQoS (best effort), as Nav2's costmap layers do.
BEST_EFFORT_OUTPUTS = ('depth/image', 'points')
#: A Fast DDS profiles file of the user's that changes nothing (a participant profile nobody
#: uses: Fast DDS refuses a file without any profile).
EMPTY_PROFILE = ('<?xml version="1.0" encoding="UTF-8" ?>\n'
                 '<dds xmlns="http://www.eprosima.com"><profiles>'
                 '<participant profile_name="depthclip_bench_unused"><rtps/></participant>'
                 '</profiles></dds>\n')
#: Seconds without any message after the input stops before the run ends.
QUIET_S = 5.0


def engine_fps(params: str, values: Mapping[str, Any], size, repeats: int) -> Dict[str, Any]:
    """
    Measure the engine's predict rate for one camera frame of ``size`` (h, w).

    :param params: the parameter file
    :param values: dotted overrides (engine parameters are used, others ignored)
    """
    from depthclip_ros.core.config import engine_parameter_names, load_config
    from depthclip_ros.core.engine import DepthClipEngine
    names = set(engine_parameter_names())
    config = load_config(params).with_updates({k: v for k, v in values.items() if k in names})
    engine = DepthClipEngine(config)
    frame = np.random.default_rng(0).integers(0, 256, size=(size[0], size[1], 3),
                                              dtype=np.uint8)
    ms = median_ms(lambda: engine.predict([frame]), repeats, lambda: None)
    return {'engine_predict_ms': ms, 'engine_fps': 1000.0 / ms, 'device': engine.device,
            'weights': engine.weights}


def packing_ms(size=(480, 640), stride: int = 4, repeats: int = 50) -> Dict[str, float]:
    """Time building the point cloud and packing the depth + cloud messages of one frame."""
    from std_msgs.msg import Header

    from depthclip_ros.core.geometry import depth_to_points, Intrinsics, pack_cloud
    from depthclip_ros.ros.msgs import array_to_image_msg, cloud_msg
    h, w = size
    depth = np.random.default_rng(1).uniform(1.0, 3.0, size=(h, w)).astype(np.float32)
    rgb = np.random.default_rng(2).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    intr = Intrinsics.from_fov(w, h, 60.0)
    header = Header(frame_id='camera_color_optical_frame')
    cloud_times, total_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        points = depth_to_points(depth, intr, stride=stride, min_range=0.1, max_range=10.0,
                                 rgb=rgb)
        cloud_msg(pack_cloud(points), header)
        middle = time.perf_counter()
        array_to_image_msg(depth, header, '32FC1')
        end = time.perf_counter()
        cloud_times.append((middle - start) * 1000.0)
        total_times.append((end - start) * 1000.0)
    return {'cloud_pack_ms': statistics.median(cloud_times),
            'cloud_and_depth_pack_ms': statistics.median(total_times)}


def run_node_bench(args: argparse.Namespace) -> Dict[str, Any]:
    """
    Run the node benchmark; see the module docstring.

    :raises ValueError: a bad ``--params`` file or ``--set`` value (before anything starts)
    :raises CommandError: the node stopped or delivered no depth
    """
    params = params_path(args)
    values = node_overrides(args.overrides, reference_values(params))
    if 'model.pretrained' in values:
        offline_unless_hub_reachable(str(values['model.pretrained']))  # the node inherits it
    workdir = tempfile.mkdtemp(prefix='depthclip-nodebench-')
    env, dds = _bench_dds(getattr(args, 'transports', 'default'),
                          getattr(args, 'consumer_profile', 'none'),
                          getattr(args, 'node_profile', 'auto'), workdir)
    size = args.size
    notes = []
    if 'model.pretrained' not in values:
        from depthclip_ros.core.loading import save_random_checkpoint
        path = os.path.join(workdir, 'RN50-random.safetensors')
        save_random_checkpoint('RN50', path, seed=0)
        values['model.pretrained'] = path
        notes.append('seeded RANDOM RN50 weights (timing only)')
    result: Dict[str, Any] = {'size': f'{size[0]}x{size[1]}', 'duration_s': args.duration,
                              'dds': dds, 'load_average_start': os.getloadavg()}
    result.update(engine_fps(params, values, size, args.repeats))
    rate = args.rate if args.rate > 0 else 2.0 * result['engine_fps']
    result['publish_rate_hz'] = rate
    result.update(packing_ms())
    node_values = dict(RELIABLE_IMAGES, **values)  # this process publishes reliably
    settings = write_params_file(node_values, workdir, comment='depthclip bench --node')
    result.update(_run_node([params, settings], size, rate, args.duration, env, workdir,
                            getattr(args, 'param_period', 0.0)))
    result['throughput_ratio'] = result['node_fps'] / result['engine_fps']
    result['load_average_end'] = os.getloadavg()
    result['notes'] = notes
    return result


def _bench_dds(transports: str, consumer_profile: str, node_profile: str,
               workdir: str) -> tuple:
    """
    Set this process's DDS environment and return (the node's environment, a description).

    Both stay local and in the bench's own domain id; see the module docstring for
    ``transports``. No profile of the caller's reaches either process: the bench measures
    what the node does by itself.
    """
    from depthclip_ros.core.dds_profile import package_profile, PROFILE_VARIABLES
    env = use_local_dds('node_bench')
    changes: Dict[str, Any] = {name: None for name in PROFILE_VARIABLES}
    if transports == 'shm':
        changes['FASTDDS_BUILTIN_TRANSPORTS'] = 'SHM'
        changes['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'SUBNET'  # LOCALHOST would add UDP again
    else:
        changes['FASTDDS_BUILTIN_TRANSPORTS'] = None
    node_env = dict(env)
    for name, value in changes.items():
        for target in (node_env, os.environ):
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
    if node_profile == 'none':
        empty = os.path.join(workdir, 'empty_fastdds_profile.xml')
        with open(empty, 'w', encoding='utf-8') as f:
            f.write(EMPTY_PROFILE)
        node_env.update({name: empty for name in PROFILE_VARIABLES})
    profile = package_profile()
    if consumer_profile == 'package':
        if profile is None:
            raise CommandError('--consumer-profile package: config/fastdds_large_images.xml '
                               'is not installed')
        os.environ.update({name: profile for name in PROFILE_VARIABLES})
    return node_env, {'transports': transports, 'consumer_profile': consumer_profile,
                      'node_profile': node_profile,
                      'FASTDDS_BUILTIN_TRANSPORTS': os.environ.get('FASTDDS_BUILTIN_TRANSPORTS'),
                      'ROS_AUTOMATIC_DISCOVERY_RANGE':
                          os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE'),
                      'ROS_DOMAIN_ID': os.environ.get('ROS_DOMAIN_ID')}


def _run_node(params_files: List[str], size, rate: float, duration: float,
              env: Dict[str, str], workdir: str, param_period: float = 0.0) -> Dict[str, Any]:
    from diagnostic_msgs.msg import DiagnosticArray
    from rcl_interfaces.srv import SetParameters
    import rclpy
    from rclpy.parameter import Parameter
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, qos_profile_sensor_data, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import Header

    from depthclip_ros.core.geometry import Intrinsics
    from depthclip_ros.ros.msgs import camera_info_msg, rgb_to_image_msg, stamp_to_ns

    cmd = node_command(params_files, ['-r', '__ns:=/bench'])
    log = open(os.path.join(workdir, 'node.log'), 'w')
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    rclpy.init(args=[])
    node = rclpy.create_node('depthclip_node_bench')
    latest = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, '/bench/image', latest)
    info_pub = node.create_publisher(CameraInfo, '/bench/camera_info', latest)
    received: List[tuple] = []
    stamps: Dict[str, List[int]] = {}
    pairs = [ExactPairs()]
    last_message = [time.monotonic()]
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    types = {'depth/camera_info': CameraInfo, 'points': PointCloud2}

    def subscribe(topic, qos, name):
        stamps[name] = []

        def callback(msg):
            now = time.monotonic()
            last_message[0] = now
            stamp = stamp_to_ns(msg.header.stamp)
            stamps[name].append(stamp)
            if name == 'depth/image (reliable)':
                received.append((now, (node.get_clock().now().nanoseconds - stamp) / 1e6))
            if qos is reliable and topic in ('depth/image', 'depth/camera_info'):
                pairs[0].add(0 if topic == 'depth/image' else 1, stamp, now)
        node.create_subscription(types.get(topic, Image), f'/bench/{topic}', callback, qos)

    for topic in RELIABLE_OUTPUTS:
        subscribe(topic, reliable, f'{topic} (reliable)')
    for topic in BEST_EFFORT_OUTPUTS:
        subscribe(topic, qos_profile_sensor_data, f'{topic} (SensorDataQoS)')
    processed: List[tuple] = []  # (arrival, frames processed) from the node's diagnostics

    def on_diagnostics(msg):
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if 'depthclip_node' in status.name and 'frames processed' in values:
                processed.append((time.monotonic(), int(values['frames processed'])))
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, reliable)
    param_client = node.create_client(SetParameters, '/bench/depthclip_node/set_parameters')
    param_ms: List[float] = []
    frame = np.random.default_rng(3).integers(0, 256, size=(size[0], size[1], 3),
                                              dtype=np.uint8)
    intr = Intrinsics.from_fov(size[1], size[0], 60.0)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    published = [0]
    header = Header(frame_id='camera_color_optical_frame')
    image_msg = rgb_to_image_msg(frame, header)  # built once: the bench measures the node
    info_msg = camera_info_msg(intr, header)

    def publish():
        stamp = node.get_clock().now().to_msg()
        image_msg.header.stamp = stamp
        info_msg.header.stamp = stamp
        image_pub.publish(image_msg)
        info_pub.publish(info_msg)
        published[0] += 1

    def spin_until_quiet(quiet: float, limit: float) -> None:
        end = time.monotonic() + limit
        while time.monotonic() - last_message[0] < quiet and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)

    def processed_after(moment: float) -> Optional[int]:
        """Frames processed in the first diagnostics received after ``moment``."""
        end = time.monotonic() + 10.0
        while time.monotonic() < end:
            later = [count for t, count in processed if t > moment]
            if later:
                return later[0]
            executor.spin_once(timeout_sec=0.1)
        return None

    transports: Dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 300.0
        warm = node.create_timer(0.5, publish)
        while not received and time.monotonic() < deadline:  # model load + first frame
            executor.spin_once(timeout_sec=0.1)
            if proc.poll() is not None:
                log.flush()
                raise CommandError(f'depthclip_node stopped (exit code {proc.returncode}): '
                                   f'{last_error_line(log.name)} (log: {log.name})')
        if not received:
            raise CommandError(f'no depth from depthclip_node in 300 s (log: {log.name})')
        node.destroy_timer(warm)
        spin_until_quiet(3.0, 60.0)  # let the warm-up frames drain
        processed_start = processed_after(time.monotonic())
        received.clear()
        for values in stamps.values():
            values.clear()
        pairs[0] = ExactPairs()
        published[0] = 0
        timer = node.create_timer(1.0 / rate, publish)
        start = time.monotonic()
        pending, next_call = None, start + param_period
        while time.monotonic() - start < duration:
            executor.spin_once(timeout_sec=0.005 if pending is not None else 0.05)
            now = time.monotonic()
            if not transports and now - start > min(5.0, duration / 2):
                transports = {'node': dds_transports(proc.pid), 'consumer': dds_transports()}
            if pending is not None and pending[0].done():
                param_ms.append((now - pending[1]) * 1000.0)
                pending = None
            if param_period > 0.0 and pending is None and now >= next_call:
                # ros2 param set's path: the parameter service, while the node infers
                value = 0.1 if len(param_ms) % 2 else 0.11
                request = SetParameters.Request(parameters=[
                    Parameter('temperature', value=value).to_parameter_msg()])
                pending = (param_client.call_async(request), now)
                next_call = now + param_period
        node.destroy_timer(timer)
        stopped = time.monotonic()
        spin_until_quiet(QUIET_S, 60.0)  # late re-sends of reliable samples count
        processed_end = processed_after(time.monotonic())
        tail_s = time.monotonic() - stopped
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        stop_processes([proc], timeout=20)
        log.close()
    window = max(10.0, duration / 6.0)
    windows = []
    for k in range(int(duration // window)):
        lat = [ms for t, ms in received if start + k * window <= t < start + (k + 1) * window]
        if lat:
            windows.append({'t0_s': k * window, 'frames': len(lat),
                            'latency_p50_ms': percentile(lat, 50),
                            'latency_p95_ms': percentile(lat, 95)})
    latencies = [ms for _, ms in received]
    span = received[-1][0] - received[0][0] if len(received) > 1 else float('nan')
    node_published = (processed_end - processed_start
                      if processed_start is not None and processed_end is not None else None)
    delivery = delivery_summary(node_published, stamps, pairs[0])
    delivery['tail_s'] = tail_s
    return {'published': published[0], 'node_frames': len(received),
            'node_fps': (len(received) - 1) / span if len(received) > 1 else 0.0,
            'node_dropped_or_skipped': published[0] - len(received),
            'clouds_received': len(set(stamps['points (reliable)'])),
            'latency_p50_ms': percentile(latencies, 50) if latencies else None,
            'latency_p95_ms': percentile(latencies, 95) if latencies else None,
            'windows': windows, 'param_set_calls': len(param_ms),
            'param_set_p50_ms': percentile(param_ms, 50) if param_ms else None,
            'param_set_p95_ms': percentile(param_ms, 95) if param_ms else None,
            'param_set_max_ms': max(param_ms) if param_ms else None,
            'delivery': delivery, 'transports_in_use': transports,
            'node_profile_line': _profile_line(log.name)}


def _profile_line(log_path: str) -> Optional[str]:
    """Return the node's 'Fast DDS profile: ...' log line (without the logger prefix)."""
    try:
        with open(log_path, encoding='utf-8', errors='replace') as f:
            for line in f:
                if 'Fast DDS profile:' in line:
                    return line[line.index('Fast DDS profile:'):].strip()
    except OSError:
        pass
    return None


def format_node_report(result: Dict[str, Any]) -> str:
    """Return a human-readable summary of a node benchmark."""
    lines = [
        f"engine predict {result['engine_predict_ms']:.0f} ms/frame = "
        f"{result['engine_fps']:.2f} frames/s ({result['device']}, {result['weights']})",
        f"node: {result['node_frames']} depth frames in {result['duration_s']:.0f} s at "
        f"{result['publish_rate_hz']:.2f} Hz input = {result['node_fps']:.2f} frames/s "
        f"= {result['throughput_ratio']:.2f} x engine; "
        + (f"latency p50 {result['latency_p50_ms']:.0f} ms, p95 "
           f"{result['latency_p95_ms']:.0f} ms" if result['latency_p50_ms'] is not None
           else 'no depth frame in that time (a longer --duration?)'),
        'latency per window (s: frames, p50, p95 ms): ' + '; '.join(
            f"{w['t0_s']:.0f}: {w['frames']}, {w['latency_p50_ms']:.0f}, "
            f"{w['latency_p95_ms']:.0f}" for w in result['windows']),
        ('parameter set while inferring (temperature over the service, '
         f"{result.get('param_set_calls', 0)} calls): p50 {result['param_set_p50_ms']:.1f} ms, "
         f"p95 {result['param_set_p95_ms']:.1f} ms, max {result['param_set_max_ms']:.1f} ms"
         if result.get('param_set_calls') else 'parameter set latency: not measured'),
        f"point cloud + packing 640x480 stride 4: {result['cloud_pack_ms']:.2f} ms "
        f"(+ depth message {result['cloud_and_depth_pack_ms']:.2f} ms total)",
    ]
    if 'delivery' in result:
        lines += list(format_delivery(result['delivery']))
        dds = result.get('dds', {})
        lines.append(f"DDS: transports {dds.get('transports')} (FASTDDS_BUILTIN_TRANSPORTS="
                     f"{dds.get('FASTDDS_BUILTIN_TRANSPORTS')}, discovery "
                     f"{dds.get('ROS_AUTOMATIC_DISCOVERY_RANGE')}), consumer profile "
                     f"{dds.get('consumer_profile')}; node: {result.get('node_profile_line')}")
        for name, seen in result.get('transports_in_use', {}).items():
            segments = ', '.join(f'{size / 2 ** 20:.2f} MiB' for size in seen['shm_segments'])
            lines.append(f"  {name} process: {seen['udp_sockets']} UDP sockets, shared-memory "
                         f'segments mapped (its own and its writers\') {segments or "none"}')
        lines.append('load average (1/5/15 min) at start {} and end {}'.format(
            *('/'.join(f'{x:.2f}' for x in result[key])
              for key in ('load_average_start', 'load_average_end'))))
    lines += [f'note: {note}' for note in result['notes']]
    return '\n'.join(lines)
