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

"""ament_python / pip package definition for depthclip_ros."""

from glob import glob
import os
import re

from setuptools import find_namespace_packages, setup

package_name = 'depthclip_ros'
here = os.path.dirname(os.path.abspath(__file__))


def read_version():
    """Return the one version string, kept in depthclip_ros/__init__.py."""
    with open(os.path.join(here, package_name, '__init__.py'), encoding='utf-8') as f:
        match = re.search(r"^__version__ = '([^']+)'", f.read(), re.M)
    return match.group(1)


def share(subdir, pattern='*'):
    """Return a data_files entry installing subdir/pattern to share/<package>/subdir."""
    return (os.path.join('share', package_name, subdir),
            sorted(p for p in glob(os.path.join(subdir, pattern)) if os.path.isfile(p)))


setup(
    name=package_name,
    version=read_version(),
    # Namespace packages too, so that the sample frames (depthclip_ros/core/data/sample, no
    # __init__.py) are package data of a package of their own, as current setuptools wants.
    packages=find_namespace_packages(include=[package_name, package_name + '.*'],
                                     exclude=['*.__pycache__']),
    package_data={package_name + '.core.data.sample': ['*.png']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        share('launch', '*.launch.py'),
        share('config', '*.yaml'),
        share('config', '*.xml'),
        share('rviz', '*.rviz'),
    ],
    python_requires='>=3.10',
    install_requires=[
        'setuptools',
        'numpy',
        'pyyaml',
        'torch',
        'opencv-python-headless',
        'open_clip_torch',
        'safetensors',
        'rosbags',
        'tqdm',
    ],
    extras_require={
        # The PyPI ROS 2 wheels, for machines without a ROS distribution.
        # Users of a ROS 2 distribution skip this extra: rosdep provides rclpy and the messages.
        'ros': [
            'ros-rclpy',
            'ros-sensor-msgs',
            'ros-std-msgs',
            'ros-diagnostic-msgs',
            'ros-visualization-msgs',
            'ros-rcl-interfaces',
            'ros-lifecycle-msgs',
            'ros-builtin-interfaces',
            'ros-ament-index-python',
            'ros-rmw-fastrtps-cpp',
            # ament's linters, which test_flake8.py and test_pep257.py use when present
            'ros-ament-flake8',
            'ros-ament-pep257',
        ],
        # The same wheels of ROS 2 Jazzy (rclpy 7.1), for the second half of `make test`.
        # They hold the same modules as the `ros` extra: never install both in one venv.
        'ros-jazzy': [
            'ros-jazzy-rclpy',
            'ros-jazzy-sensor-msgs',
            'ros-jazzy-std-msgs',
            'ros-jazzy-diagnostic-msgs',
            'ros-jazzy-visualization-msgs',
            'ros-jazzy-rcl-interfaces',
            'ros-jazzy-lifecycle-msgs',
            'ros-jazzy-builtin-interfaces',
            'ros-jazzy-ament-index-python',
            'ros-jazzy-rmw-fastrtps-cpp',
        ],
        # model.backend onnxruntime and `depthclip export onnx`. An extra, not a requirement:
        # the torch backend needs neither, and GPU machines install onnxruntime-gpu (or
        # JetPack's wheel) instead of onnxruntime, which would conflict with it.
        'onnx': [
            'onnx>=1.15',
            'onnxruntime>=1.17',
        ],
        'test': [
            'pytest',
            'flake8',
            'flake8-quotes',
            'flake8-import-order',
            'pydocstyle',
        ],
    },
    zip_safe=True,
    maintainer='depthclip_ros maintainers',
    maintainer_email='maintainers@depthclip-ros.invalid',
    description='Zero-shot monocular metric depth from CLIP and language prompts, for ROS 2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'depthclip = depthclip_ros.tools.cli:main',
            'depthclip_node = depthclip_ros.ros.runner:depthclip_node',
            'depthclip_lifecycle_node = depthclip_ros.ros.runner:depthclip_lifecycle_node',
            'camera_player = depthclip_ros.ros.runner:camera_player',
        ],
    },
)
