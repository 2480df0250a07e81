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
The rclpy each part of ``make test`` names (conftest.py), on every distribution's wheels.

This module imports rclpy, so it runs in both parts (Kilted and Jazzy).
"""

import importlib.util
import os
import sys

import conftest


def test_the_rclpy_line_reads_a_ros_distribution_install(tmp_path, monkeypatch):
    """/opt/ros/<distro> has no wheel metadata for rclpy: its package.xml says the version."""
    prefix = tmp_path / 'opt' / 'ros' / 'jazzy'
    package = prefix / 'lib' / 'python3.12' / 'site-packages' / 'rclpy'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text('', encoding='utf-8')
    (prefix / 'share' / 'rclpy').mkdir(parents=True)
    (prefix / 'share' / 'rclpy' / 'package.xml').write_text(
        '<?xml version="1.0"?>\n<package format="3"><name>rclpy</name>'
        '<version>7.1.9</version></package>\n', encoding='utf-8')
    monkeypatch.setattr(sys, 'path', [str(package.parent)] + sys.path)
    monkeypatch.delitem(sys.modules, 'rclpy', raising=False)  # find_spec must look again
    monkeypatch.setattr(conftest.importlib.metadata, 'packages_distributions', lambda: {})
    assert conftest.rclpy_line() == f'rclpy 7.1.9 (ROS 2 Jazzy) from {package}'


def test_the_rclpy_line_names_the_wheel_this_run_uses():
    line = conftest.rclpy_line()
    if importlib.util.find_spec('rclpy') is None:
        assert line.startswith('rclpy: not installed')
        return
    import rclpy
    assert line.endswith(f'from {os.path.dirname(rclpy.__file__)}')
    version = line.split()[1]
    # a distribution the table knows (ros-jazzy-rclpy installs ros-rclpy at Jazzy's version)
    distro = conftest.RCLPY_DISTROS[int(version.split('.')[0])]
    assert f'(ROS 2 {distro})' in line
