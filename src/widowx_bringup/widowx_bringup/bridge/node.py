"""The `pid_bridge` node: joint velocity commands in, PID-tracked servo velocities out at 100 Hz.

Usage (the launch files and `meld-launch` start it for you):
    pid_bridge --ros-args -r __node:=pid_bridge -p driver:=sim

Topics and services (relative to the namespace):
  in   joint_velocity_cmd   std_msgs/Float64MultiArray  rad/s, in the order of the `joints`
                                                        parameter (the ros2_control convention)
  in   joint_states         sensor_msgs/JointState      measured positions, indexed by name
  out  (driver)             sim: sim/servo_velocity; interbotix: commands/joint_group
  srv  ~/home               std_srvs/Trigger            drive to the home pose; answers on arrival
  srv  ~/enable             std_srvs/SetBool            false: zero velocity, commands ignored
  out  /diagnostics         loop rate, watchdog, joint-state health

Safety lives here (shared/WIDOWX.md: the servos keep their last velocity forever and nothing in
the driver checks limits): NaN/inf commands are rejected; targets stay inside the joint limits
and outputs below the velocity limits (`widowx_bringup.pid`); with no fresh command for
`command_timeout` (two 3.3 Hz periods) the arm holds still; with stale, NaN or -pi joint states
the servos get zero; zero is sent on disable, on exit and on any exception in the loop.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from ..kinematics import ARM_JOINTS, arm_spec
from ..pid import JointVelocityPID, PIDConfig
from ..ros.loop_monitor import LoopMonitor, diagnostics_message
from ..ros.node_main import run_node
from ..ros.params import declare_config
from ..ros.qos import COMMAND, STATE
from ..scene import home_joint_positions
from .drivers import make_driver
from .safety import command_problem, joint_state_problem, reorder


@dataclass
class BridgeConfig:
    """Parameters of the PID bridge."""

    robot_model: str = "wx200"
    """Arm whose joint and velocity limits apply (wx200 or wx250)."""
    driver: str = "sim"
    """Where servo commands go: sim (the sim node) or interbotix (xs_sdk on a robot PC)."""
    joints: tuple[str, ...] = ARM_JOINTS
    """Joint order of incoming velocity commands."""
    command_timeout: float = 0.6
    """Hold still when no command came for this long, s (two periods of the 3.3 Hz policy)."""
    joint_state_timeout: float = 0.1
    """Joint states older than this are stale and the servos get zero, s."""
    home_velocity: float = 0.5
    """Largest joint speed while homing, rad/s."""
    home_tolerance: float = 0.01
    """Homing ends when every joint is this close to home, rad."""
    home_timeout: float = 20.0
    """Homing gives up after this long, s."""
    enabled: bool = True
    """Start enabled; `~/enable` switches it at run time."""
    pid: PIDConfig = field(default_factory=PIDConfig)

    def __post_init__(self) -> None:
        arm_spec(self.robot_model)
        if sorted(self.joints) != sorted(ARM_JOINTS):
            raise ValueError(f"joints {list(self.joints)} must name each of {list(ARM_JOINTS)} once")
        for name in ("command_timeout", "joint_state_timeout", "home_velocity", "home_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")


class PidBridge(Node):
    def __init__(self) -> None:
        super().__init__("pid_bridge")
        self.config = cfg = declare_config(self, BridgeConfig)
        self.arm = arm_spec(cfg.robot_model)
        self.pid = JointVelocityPID(cfg.pid, self.arm.lower, self.arm.upper, self.arm.velocity_limits)
        self.home_q = home_joint_positions(self.arm)
        self.driver = make_driver(cfg.driver, self)
        self._lock = threading.Lock()
        self._q: np.ndarray | None = None
        self._dq: np.ndarray | None = None
        self._q_time = 0.0
        self._cmd = np.zeros(len(ARM_JOINTS))
        self._cmd_time = -np.inf
        self._enabled = cfg.enabled
        self._homing = False
        self._home_done = threading.Event()
        self._pid_primed = False
        self._problem = "no joint states yet"
        self._problem_kind = "no_joint_states"
        self.rejected_commands = 0
        self._order = [list(cfg.joints).index(j) for j in ARM_JOINTS]

        control = MutuallyExclusiveCallbackGroup()
        services = ReentrantCallbackGroup()
        self.create_subscription(Float64MultiArray, "joint_velocity_cmd", self._on_command, COMMAND, callback_group=control)
        self.create_subscription(JointState, "joint_states", self._on_joint_states, STATE, callback_group=control)
        self.create_service(Trigger, "~/home", self._on_home, callback_group=services)
        self.create_service(SetBool, "~/enable", self._on_enable, callback_group=services)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.loop = LoopMonitor("pid_bridge: control loop", cfg.pid.rate_hz)
        self.create_timer(1.0 / cfg.pid.rate_hz, self._on_tick, callback_group=control)
        self.create_timer(1.0, self._on_diagnostics)
        self.get_logger().info(f"{cfg.robot_model} via driver '{cfg.driver}' at {cfg.pid.rate_hz:.0f} Hz; "
                               f"{'enabled' if self._enabled else 'DISABLED (call ~/enable)'}")

    # --- inputs -----------------------------------------------------------------------------
    def _on_command(self, msg: Float64MultiArray) -> None:
        v = np.asarray(msg.data, dtype=float)
        problem = command_problem(v, len(ARM_JOINTS))
        if problem:
            self.rejected_commands += 1
            self.get_logger().error(f"velocity command rejected ({problem}); the arm holds still. Publish "
                                    f"{len(ARM_JOINTS)} finite rad/s values in the order {list(self.config.joints)}",
                                    throttle_duration_sec=1.0)
            with self._lock:
                self._cmd = np.zeros(len(ARM_JOINTS))
                self._cmd_time = -np.inf
            return
        with self._lock:
            self._cmd = v[self._order]
            self._cmd_time = time.monotonic()

    def _on_joint_states(self, msg: JointState) -> None:
        try:
            q = reorder(list(msg.name), list(msg.position), ARM_JOINTS)
            dq = reorder(list(msg.name), list(msg.velocity), ARM_JOINTS) if msg.velocity else None
        except (KeyError, ValueError) as exc:
            self.get_logger().error(f"joint_states unusable: {exc}", throttle_duration_sec=2.0)
            return
        with self._lock:
            self._q, self._dq, self._q_time = q, dq, time.monotonic()

    # --- the loop ---------------------------------------------------------------------------
    def _on_tick(self) -> None:
        self.loop.tick()
        try:
            self._control()
        except Exception as exc:
            self.driver.stop()
            self.get_logger().error(f"control loop error, servos stopped: {type(exc).__name__}: {exc}",
                                    throttle_duration_sec=1.0)

    def _control(self) -> None:
        now = time.monotonic()
        with self._lock:
            q, dq, q_age = self._q, self._dq, now - self._q_time
            cmd, cmd_age = self._cmd.copy(), now - self._cmd_time
        if q is None:
            kind, problem = "no_joint_states", "no joint states yet"
        elif q_age > self.config.joint_state_timeout:
            kind, problem = "stale", f"joint states are {q_age:.2f} s old (limit {self.config.joint_state_timeout} s)"
        else:
            problem = joint_state_problem(q)
            kind = "bad_reading" if problem else ""
        if problem or not self._enabled:
            if problem and kind != self._problem_kind:
                self.get_logger().warn(f"servos stopped: {problem}")
            self._problem_kind = kind or "disabled"
            self._problem = problem or "disabled"
            self._pid_primed = False
            self.driver.stop()
            return
        if not self._pid_primed:  # (re)start holding where the arm is
            self.pid.reset(q)
            self._pid_primed = True
            if self._problem_kind in ("stale", "bad_reading"):
                self.get_logger().info("joint states healthy again; holding position")
        self._problem_kind = ""
        self._problem = ""
        if self._homing:
            error = self.home_q - q
            if np.max(np.abs(error)) < self.config.home_tolerance:
                self._homing = False
                self._home_done.set()
            v = np.clip(2.0 * error, -self.config.home_velocity, self.config.home_velocity)
        elif cmd_age <= self.config.command_timeout:
            v = cmd
        else:
            v = np.zeros(len(ARM_JOINTS))  # watchdog: hold the current target
        self.driver.send(self.pid.update(v, q, dq))

    @property
    def watchdog_active(self) -> bool:
        return time.monotonic() - self._cmd_time > self.config.command_timeout

    # --- services ---------------------------------------------------------------------------
    def _on_home(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if not self._enabled:
            response.success, response.message = False, "bridge disabled: call ~/enable with true first"
            return response
        self.get_logger().info(f"homing to {np.round(self.home_q, 3).tolist()} (deadline {self.config.home_timeout:.0f} s)")
        self._home_done.clear()
        self._homing = True
        reached = self._home_done.wait(self.config.home_timeout)
        self._homing = False
        if reached:
            response.success, response.message = True, "at home"
        else:
            with self._lock:
                q = self._q
            response.success = False
            response.message = (f"home not reached within {self.config.home_timeout:.0f} s "
                                f"(joints {None if q is None else np.round(q, 3).tolist()}; {self._problem or 'moving'})")
            self.get_logger().error(response.message)
        return response

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self._enabled = bool(request.data)
        if not self._enabled:
            self._homing = False
            self.driver.stop()
        self.get_logger().info("enabled" if self._enabled else "disabled: servos at zero, commands ignored")
        response.success, response.message = True, "enabled" if self._enabled else "disabled"
        return response

    def _on_diagnostics(self) -> None:
        loop = self.loop.status(self.config.driver)
        state = DiagnosticStatus(name="pid_bridge: safety", hardware_id=self.config.driver)
        if self._problem:
            state.level, state.message = DiagnosticStatus.WARN, f"servos stopped: {self._problem}"
        elif self.watchdog_active:
            state.level, state.message = DiagnosticStatus.OK, "holding still: no fresh velocity command"
        else:
            state.level, state.message = DiagnosticStatus.OK, "tracking commands"
        state.values = [KeyValue(key="enabled", value=str(self._enabled)),
                        KeyValue(key="homing", value=str(self._homing)),
                        KeyValue(key="rejected_commands", value=str(self.rejected_commands))]
        self.diag_pub.publish(diagnostics_message(self, [loop, state]))

    def on_shutdown(self) -> None:
        self.driver.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(PidBridge, args, threads=3)


if __name__ == "__main__":
    raise SystemExit(main())
