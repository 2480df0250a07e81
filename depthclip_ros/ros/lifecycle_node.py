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
``depthclip_lifecycle_node``: the DepthCLIP node as a managed (lifecycle) node.

Same parameters, topics and behaviour as ``depthclip_node``, driven by the ROS 2 lifecycle
(e.g. Nav2's lifecycle_manager) instead of starting at once:

- *unconfigured*: parameters declared (and settable); no model, no topics;
- ``configure``: validate the parameters, load the model, create the publishers (fails,
  back to unconfigured, with one logged line when the parameters or the model are bad);
- ``activate``: subscribe to the cameras, start the worker and ``/diagnostics``;
- ``deactivate``: unsubscribe and stop after the current batch (nothing is published);
- ``cleanup``: destroy the publishers and release the model;
- ``shutdown`` (from any state): all of the above.
"""

from typing import List, Optional

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from depthclip_ros.ros.node import (command_line, DepthClipBinding, ModelLoadError, NODE_NAME,
                                    StartupError)
from depthclip_ros.ros.node_api import DepthClipApi


class DepthClipLifecycleNode(DepthClipApi, LifecycleNode):
    """
    DepthCLIP as a managed node; see the module documentation for the transitions.

    :param node_name: node name (default ``depthclip_node``)
    :param arguments: the process's command line (see :class:`DepthClipNode`)
    :param kwargs: passed to :class:`rclpy.lifecycle.LifecycleNode`
    :raises StartupError: an invalid ``cameras`` parameter (the rest is checked on configure)
    """

    def __init__(self, node_name: str = NODE_NAME, arguments: Optional[List[str]] = None,
                 **kwargs):
        kwargs['allow_undeclared_parameters'] = False
        kwargs['automatically_declare_parameters_from_overrides'] = False
        super().__init__(node_name, **kwargs)
        self.depthclip = DepthClipBinding(self, command_line(arguments, kwargs))
        try:
            self.depthclip.declare()
        except BaseException:
            super().destroy_node()
            raise

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate the parameters, load the model and create the publishers."""
        try:
            self.depthclip.configure()
        except (ModelLoadError, StartupError) as error:
            self.get_logger().error(f'configure failed: {error}')
            self.depthclip.cleanup()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the cameras and start processing."""
        self.depthclip.activate()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop after the current batch."""
        self.depthclip.deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy the publishers and release the model."""
        self.depthclip.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop everything, from whatever state."""
        self.depthclip.deactivate()
        self.depthclip.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop everything and go back to unconfigured."""
        self.depthclip.deactivate()
        self.depthclip.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Stop the worker, then destroy the node."""
        self.stop_worker()
        super().destroy_node()
