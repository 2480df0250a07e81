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
Print the ground-scale table of docs/navigation.md: the live scale on saturated ray-cast rooms.

The construction is :mod:`depthclip_ros.tools.ground_bench` (rooms with walls and boxes,
cameras 0.2 to 2.5 m up, pitched 0 to 45 deg, rolled +-5 deg; predictions = depth / k with
6 % per-patch and 2 % per-pixel errors, clamped to the default bins [1, 3] m with k such
that the given share of the floor saturates; optionally compressed towards the bins' mean,
or saturated softly by a softmax over the bins). Each cell: the worst scale error over the
seeds that fit (scale / k - 1), the largest pitch correction (deg) at the end (for the
100-frame column: at any frame), and how many seeds held or had a scale note. Seeded:
the same table on every machine. No ROS needed::

    python scripts/bench_ground_scale.py            # 3 seeds, about 1.5 minutes on 2 cores
"""

import argparse
import math
import sys
from typing import List, Optional

from depthclip_ros.tools.ground_bench import run_table, VARIANTS


def cell(row) -> str:
    """Return one cell: error, final correction, held and noted seeds."""
    error = 'held' if math.isnan(row['error']) else f'{100.0 * row["error"]:+.1f} %'
    extra = ''
    if row['holding']:
        extra += f' h{row["holding"]}'
    if row['notes']:
        extra += f' n{row["notes"]}'
    if row['variant'] == 'right x100':  # the largest correction at any frame
        return f'{error} max {row["largest_correction"]:.1f}°{extra}'
    return f'{error} {row["correction"]:+.1f}°{extra}'


def main(argv: Optional[List[str]] = None) -> int:
    """Run the table and print it as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--seeds', type=int, default=3, help='noise seeds per case (default 3)')
    args = parser.parse_args(argv)
    rows = run_table(args.seeds)
    names = [name for name, _, _ in VARIANTS]
    print('| camera (h m, pitch°, roll°) | floor saturated | clutter | '
          + ' | '.join(names) + ' |')
    print('|' + '---|' * (3 + len(names)))
    for start in range(0, len(rows), len(names)):
        case = rows[start]['case']
        print(f'| {case.height:g}, {case.pitch_deg:g}, {case.roll_deg:+g} | '
              f'{case.saturated:.0%} | {"≥ 40 %" if case.cluttered else "2 boxes"} | '
              + ' | '.join(cell(row) for row in rows[start:start + len(names)]) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
