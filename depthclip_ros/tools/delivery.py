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
What consumers of the node's outputs receive: exact-stamp pairs and per-subscriber counts.

:class:`ExactPairs` pairs two topics by identical header stamps as
``message_filters.TimeSynchronizer`` does (as depth_image_proc, rtabmap and nvblox pair
``depth/image`` with ``depth/camera_info``): each topic keeps at most ``queue_size`` unpaired
stamps (the oldest is dropped, never to be paired), and a stamp present on both topics is a
pair, completed when its second message arrives. :func:`delivery_summary` turns what each
subscriber received into counts against the frames the node published. Pure Python, no ROS.
"""

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from depthclip_ros.core.stats import percentile


class ExactPairs:
    """
    Exact-stamp pairing of two topics, as ``message_filters.TimeSynchronizer(queue_size)``.

    :ivar pairs: ``(stamp, first arrival, completion)`` per pair, in completion order
    """

    def __init__(self, queue_size: int = 10):
        if queue_size < 1:
            raise ValueError(f'queue_size must be at least 1, got {queue_size}')
        self.queue_size = queue_size
        self.queues: Tuple[Dict[int, float], Dict[int, float]] = ({}, {})
        self.pairs: List[Tuple[int, float, float]] = []
        self.dropped = [0, 0]

    def add(self, topic: int, stamp: int, arrival: float) -> None:
        """
        Add a message of topic 0 or 1 with header ``stamp`` (ns) that arrived at ``arrival``.

        A stamp seen again on the same topic replaces the earlier message, as in
        message_filters.
        """
        queue = self.queues[topic]
        queue[stamp] = arrival
        while len(queue) > self.queue_size:
            del queue[min(queue)]
            self.dropped[topic] += 1
        common = set(self.queues[0]) & set(self.queues[1])
        for both in sorted(common):
            first, second = self.queues[0].pop(both), self.queues[1].pop(both)
            self.pairs.append((both, min(first, second), max(first, second)))

    def paired_stamps(self) -> List[int]:
        """Return the stamps that were paired."""
        return [stamp for stamp, _, _ in self.pairs]

    def completion_delays(self) -> List[float]:
        """Return, per pair, the seconds from its first message to its second."""
        return [done - first for _, first, done in self.pairs]


def delivery_summary(published: Optional[int], received: Dict[str, Sequence[int]],
                     pairs: ExactPairs) -> Dict[str, object]:
    """
    Summarize a run: per subscriber, what it received of the frames the node published.

    :param published: frames the node published in the run (None: unknown; the union of the
        stamps any subscriber received is used)
    :param received: subscriber name -> stamps it received (in arrival order)
    :param pairs: the pairing of the run
    :return: ``published``, ``published_source``, ``subscribers`` (name -> received, unique,
        duplicates, percent), ``pairs``, ``unpaired``, pair completion delays
    """
    union = set()
    for stamps in received.values():
        union.update(stamps)
    source = 'node diagnostics (frames processed)'
    if published is None or published < len(union):
        source = ('stamps seen by any subscriber' if published is None else
                  f'stamps seen by any subscriber (the diagnostics said {published})')
        published = len(union)
    subscribers = {}
    for name, stamps in received.items():
        unique = len(set(stamps))
        subscribers[name] = {'received': unique, 'duplicates': len(stamps) - unique,
                             'percent': 100.0 * unique / published if published else None}
    delays = pairs.completion_delays()
    return {'published': published, 'published_source': source,
            'stamps_seen': len(union), 'subscribers': subscribers,
            'pairs': len(pairs.pairs), 'unpaired': published - len(set(pairs.paired_stamps())),
            'pair_delay_p50_s': percentile(delays, 50) if delays else None,
            'pair_delay_p95_s': percentile(delays, 95) if delays else None,
            'pair_delay_max_s': max(delays) if delays else None}


def format_delivery(summary: Dict[str, object]) -> Iterable[str]:
    """Return the report lines of :func:`delivery_summary`."""
    yield (f"delivery: {summary['published']} frames published "
           f"(from {summary['published_source']})")
    for name, counts in summary['subscribers'].items():
        percent = counts['percent']
        yield (f'  {name}: {counts["received"]} received'
               + (f' ({percent:.1f} %)' if percent is not None else '')
               + (f', {counts["duplicates"]} duplicates' if counts['duplicates'] else ''))
    delay = ('' if summary['pair_delay_max_s'] is None else
             f", completed within p50 {summary['pair_delay_p50_s'] * 1000:.0f} ms / p95 "
             f"{summary['pair_delay_p95_s'] * 1000:.0f} ms / max "
             f"{summary['pair_delay_max_s'] * 1000:.0f} ms")
    yield (f"  exact pairs depth/image + depth/camera_info: {summary['pairs']}, "
           f"{summary['unpaired']} published frames unpaired{delay}")
