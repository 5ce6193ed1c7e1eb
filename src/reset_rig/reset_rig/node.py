"""reset_rig node: the rig's GRBL board on ROS 2 (standard interfaces only).

Usage:
    reset_rig_node --ros-args -p port:=/dev/meld_rig -p home_on_start:=true
    python -m reset_rig.node --ros-args -p port:=/tmp/meld_rig -r __ns:=/sim0    # under a namespace

Interface (names relative, under rig/ so the graph's namespace stays tidy; see docs/reset_rig.md):
    sub  rig/goto_task    std_msgs/Int32          move to task N (reliable)
    pub  rig/arrived      std_msgs/Int32          task N reached, confirmed by the measured position
    pub  rig/goto_failed  std_msgs/String         "task N: why" when a request was refused or failed
    pub  rig/pose         geometry_msgs/PoseStamped  measured pose relative to the rig centre:
                                              position.x = translation (m), yaw = rotation (rad)
    pub  rig/state        std_msgs/String         idle | moving | homing | alarm | disconnected (latched)
    pub  /diagnostics diagnostic_msgs/DiagnosticArray   1 Hz: port, state, alarm, poll rate...
    srv  rig/home         std_srvs/Trigger        reset an alarm if needed, $H; answers when done
    srv  rig/stop         std_srvs/Trigger        feed hold then soft reset: stops now; home afterwards

One worker thread owns the GRBL client (serial I/O is sequential); ROS callbacks only queue
requests for it. The worker polls status at ``status_poll_hz`` between requests, publishes the
pose with every report, and reconnects every ``reconnect_interval_s`` while the port is gone.
"""
from __future__ import annotations

import logging
import math
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Optional

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Int32, String
from std_srvs.srv import Trigger
from meld_ros.node_main import run_node
from meld_ros.params import declare_config

from . import protocol as p
from .client import GrblClient, GrblError
from .codes import describe_alarm
from .rig import Rig, RigPose
from .settings import load_rig_settings
from .tasks import load_tasks


@dataclass
class RigNodeConfig:
    """ROS parameters of the node (declared from these fields, same names and defaults)."""

    port: str = "/dev/meld_rig"
    """Serial port of the GRBL board: the udev link of docs/reset_rig.md, or the emulator's link."""
    baud: int = 115200
    """GRBL 1.1 talks at 115200 baud."""
    settings_file: str = ""
    """Rig settings YAML; empty for the packaged reset_rig/config/settings.yaml."""
    tasks_file: str = ""
    """Task poses YAML; empty for the packaged reset_rig/config/tasks.yaml."""
    apply_settings: bool = False
    """Write the rig's GRBL settings to the EEPROM when they differ (else refuse to run the rig)."""
    home_on_start: bool = False
    """Home after every (re)connection: only a homing cycle the node saw counts, whatever GRBL's
    state. The rig moves on its own then; otherwise moves are refused until `rig/home` is called."""
    status_poll_hz: float = 10.0
    """Rate of '?' status polls between requests; the pose is published with every report."""
    reconnect_interval_s: float = 1.0
    """Time between attempts to reopen a vanished port."""
    frame_id: str = "reset_rig_centre"
    """frame_id of the published pose: the task-space centre of the rig."""

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("parameter port is empty; set it to the rig's serial port (e.g. /dev/meld_rig)")
        if self.baud <= 0:
            raise ValueError(f"parameter baud must be positive, got {self.baud}")
        if not 0.5 <= self.status_poll_hz <= 50.0:
            raise ValueError(f"parameter status_poll_hz must be within [0.5, 50], got {self.status_poll_hz}")
        if self.reconnect_interval_s <= 0:
            raise ValueError("parameter reconnect_interval_s must be positive")


@dataclass
class _Request:
    kind: str                   # 'goto' | 'home'
    task_id: int = -1
    done: Optional[threading.Event] = None
    ok: bool = False
    message: str = ""


class ResetRigNode(Node):
    """ROS plumbing around :class:`~reset_rig.rig.Rig`; see the module docstring."""

    def __init__(self) -> None:
        super().__init__("reset_rig")
        self._stop = threading.Event()
        self.config = declare_config(self, RigNodeConfig)
        settings = load_rig_settings(self.config.settings_file)
        self.tasks = load_tasks(settings, self.config.tasks_file)
        self.client = GrblClient(self.config.port, self.config.baud,
                                 connect_timeout=settings.connect_timeout_s,
                                 reply_timeout=settings.reply_timeout_s,
                                 status_timeout=settings.status_timeout_s)
        self.rig = Rig(self.client, settings, self.tasks, on_pose=self._publish_pose,
                       on_activity=lambda: self._publish_state())
        _forward_logging(self)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pose_pub = self.create_publisher(PoseStamped, "rig/pose", 10)
        self.state_pub = self.create_publisher(String, "rig/state", latched)
        self.arrived_pub = self.create_publisher(Int32, "rig/arrived", reliable)
        self.failed_pub = self.create_publisher(String, "rig/goto_failed", reliable)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        services = ReentrantCallbackGroup()
        self.create_subscription(Int32, "rig/goto_task", self._on_goto, reliable,
                                 callback_group=MutuallyExclusiveCallbackGroup())
        self.create_service(Trigger, "rig/home", self._on_home, callback_group=services)
        self.create_service(Trigger, "rig/stop", self._on_stop, callback_group=services)
        self.create_timer(1.0, self._publish_diagnostics, callback_group=MutuallyExclusiveCallbackGroup())
        self._requests: "queue.Queue[_Request]" = queue.Queue()
        self._published_state: Optional[str] = None
        self._state_lock = threading.Lock()
        self.last_error = ""
        self.last_arrival = None
        self._poll_times: list[float] = []
        self._worker = threading.Thread(target=self._work, name="reset_rig_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"reset_rig on {self.config.port}: {len(self.tasks)} tasks; waiting for the GRBL banner "
            f"(up to {settings.connect_timeout_s:.1f} s per attempt)")

    # ---------------------------------------------------------------- ROS callbacks
    def _on_goto(self, msg: Int32) -> None:
        self.get_logger().info(f"task {msg.data} requested")
        self._requests.put(_Request("goto", task_id=int(msg.data)))

    def _on_home(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        req = _Request("home", done=threading.Event())
        self._requests.put(req)
        timeout = self.rig.settings.home_timeout_s + self.rig.settings.connect_timeout_s + 5.0
        self.get_logger().info(f"home requested; waiting up to {timeout:.0f} s for the homing cycle")
        if not req.done.wait(timeout):
            response.success, response.message = False, f"homing did not finish within {timeout:.0f} s"
        else:
            response.success, response.message = req.ok, req.message
        return response

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            self.client.feed_hold()
            time.sleep(0.2)
            self.client.realtime(p.SOFT_RESET)
            response.success = True
            response.message = "feed hold and soft reset sent; home before the next move"
        except GrblError as exc:
            response.success, response.message = False, str(exc)
        return response

    # ---------------------------------------------------------------- publishing
    def _publish_pose(self, pose: RigPose) -> None:
        now = time.monotonic()
        self._poll_times = [t for t in self._poll_times if now - t < 2.0] + [now]
        msg = PoseStamped()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.config.frame_id
        msg.pose.position.x = pose.translation_m
        half = 0.5 * pose.rotation_rad
        msg.pose.orientation.z, msg.pose.orientation.w = math.sin(half), math.cos(half)
        self._publish(self.pose_pub, msg)
        self._publish_state()

    def _publish(self, publisher, msg) -> None:
        """Publish unless the node is shutting down (Ctrl-C invalidates the context under the worker)."""
        if self._stop.is_set() or not rclpy.ok(context=self.context):
            return
        try:
            publisher.publish(msg)
        except Exception as exc:  # noqa: BLE001 - rclpy raises RCLError subclasses at shutdown
            if rclpy.ok(context=self.context):
                raise
            del exc

    def _publish_state(self, force: bool = False) -> None:
        state = self.rig.state
        with self._state_lock:
            if state == self._published_state and not force:
                return
            self._published_state = state
        self._publish(self.state_pub, String(data=state))
        self.get_logger().info(f"rig state: {state}")

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(name="reset_rig: GRBL rig", hardware_id=self.config.port)
        state = self.rig.state
        status.level = {"idle": DiagnosticStatus.OK, "moving": DiagnosticStatus.OK,
                        "homing": DiagnosticStatus.OK}.get(state, DiagnosticStatus.ERROR)
        if state == "idle" and not self.rig.homed:
            status.level = DiagnosticStatus.WARN
        status.message = f"{state}{', not homed' if not self.rig.homed else ''}"
        if self.last_error and status.level != DiagnosticStatus.OK:
            status.message += f": {self.last_error}"
        pose = self.rig.last_pose
        rate = (len(self._poll_times) - 1) / max(1e-6, self._poll_times[-1] - self._poll_times[0]) \
            if len(self._poll_times) > 1 else 0.0
        values = {
            "port": self.config.port, "state": state, "homed": str(self.rig.homed),
            "grbl_version": self.client.version or "-",
            "last_alarm": describe_alarm(self.client.alarm) if self.client.alarm else "-",
            "x_mm": f"{pose.x_mm:.3f}" if pose else "-", "y_deg": f"{pose.y_deg:.3f}" if pose else "-",
            "status_rate_hz": f"{rate:.1f}", "status_rate_target_hz": f"{self.config.status_poll_hz:.1f}",
            "garbage_lines": str(self.client.garbage_lines), "last_error": self.last_error or "-",
        }
        if self.last_arrival is not None:
            values["last_arrival"] = (f"task {self.last_arrival.task.id}: error {self.last_arrival.error_mm:.3f} mm "
                                      f"{self.last_arrival.error_deg:.3f} deg")
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._publish(self.diag_pub, array)
        self._publish_state()

    # ---------------------------------------------------------------- the worker
    def _fail(self, req: _Request, message: str) -> None:
        self.last_error = message
        req.ok, req.message = False, message
        if req.kind == "goto":
            self._publish(self.failed_pub, String(data=f"task {req.task_id}: {message}"))
        self.get_logger().error(f"{req.kind}{' task %d' % req.task_id if req.kind == 'goto' else ''} failed: {message}")

    def _connect(self) -> bool:
        """Open the port and check the settings; False (port closed again) if that fails."""
        try:
            self.rig.connect(apply_settings=self.config.apply_settings)
        except GrblError as exc:
            # Closed again whatever the cause: a board with the wrong settings must not be moved.
            self.client.close()
            self.last_error = str(exc)
            self.get_logger().warning(f"rig not ready on {self.config.port}: {exc}; retrying in "
                                      f"{self.config.reconnect_interval_s:.1f} s", throttle_duration_sec=10.0)
            self._publish_state()
            return False
        self.get_logger().info(f"connected to GRBL {self.client.version} on {self.config.port}; "
                               f"homed: {self.rig.homed}")
        self.last_error = ""
        if self.config.home_on_start and not self.rig.homed:
            self.get_logger().info("home_on_start: homing")
            try:
                self.rig.home()
            except GrblError as exc:
                self.last_error = str(exc)
                self.get_logger().error(f"homing on start failed: {exc}; call the home service to retry")
        self._publish_state()
        return True

    def _work(self) -> None:
        period = 1.0 / self.config.status_poll_hz
        while not self._stop.is_set():
            if not self.client.connected:
                self._publish_state()
                self._drain_requests("the rig is disconnected")
                if not self._connect():
                    self._stop.wait(self.config.reconnect_interval_s)
                continue
            try:
                req = self._requests.get(timeout=period)
            except queue.Empty:
                req = None
            try:
                if req is None:
                    if not self.client.needs_reset:
                        self.rig.pose()
                elif req.kind == "goto":
                    self._publish_state(force=False)
                    arrival = self.rig.goto_task(req.task_id)
                    self.last_arrival, self.last_error = arrival, ""
                    req.ok, req.message = True, f"task {req.task_id} reached"
                    self._publish(self.arrived_pub, Int32(data=req.task_id))
                    self.get_logger().info(
                        f"task {req.task_id} reached: X={arrival.pose.x_mm:.3f} mm Y={arrival.pose.y_deg:.3f} deg "
                        f"(error {arrival.error_mm:.3f} mm {arrival.error_deg:.3f} deg)")
                elif req.kind == "home":
                    pose = self.rig.home()
                    self.last_error = ""
                    req.ok, req.message = True, f"homed at X={pose.x_mm:.3f} mm Y={pose.y_deg:.3f} deg"
            except GrblError as exc:
                if req is not None:
                    self._fail(req, str(exc))
                else:
                    self.last_error = str(exc)
                    self.get_logger().warning(f"status poll failed: {exc}", throttle_duration_sec=5.0)
            finally:
                if req is not None and req.done is not None:
                    req.done.set()
                self._publish_state()

    def _drain_requests(self, why: str) -> None:
        while True:
            try:
                req = self._requests.get_nowait()
            except queue.Empty:
                return
            self._fail(req, why)
            if req.done is not None:
                req.done.set()

    def request_stop(self) -> None:
        self._stop.set()

    def on_shutdown(self) -> None:
        """Runs while the ROS context is still valid: the worker's last log lines still get out."""
        self._stop.set()
        self._worker.join(timeout=10.0)
        self.client.close()


class _RosLogHandler(logging.Handler):
    """Send the library's Python log records (client, rig) to the node's ROS logger."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self._logger = node.get_logger()

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()}"
        if record.levelno >= logging.ERROR:
            self._logger.error(text)
        elif record.levelno >= logging.WARNING:
            self._logger.warning(text)
        elif record.levelno >= logging.INFO:
            self._logger.info(text)
        else:
            self._logger.debug(text)


def _forward_logging(node: Node) -> None:
    logger = logging.getLogger("reset_rig")
    logger.handlers = [_RosLogHandler(node)]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: Optional[list[str]] = None) -> int:
    return run_node(ResetRigNode, argv, threads=4)


if __name__ == "__main__":
    sys.exit(main())
