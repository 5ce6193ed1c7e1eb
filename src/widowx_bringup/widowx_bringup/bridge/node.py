"""The `pid_bridge` node: joint velocity commands in, PID-tracked servo velocities out at 100 Hz.

Usage (the launch files and `meld-launch` start it for you):
    pid_bridge --ros-args -r __node:=pid_bridge -p driver:=sim
    pid_bridge --ros-args -r __node:=pid_bridge -p driver:=interbotix -p robot_model:=wx200
    ros2 service call /pid_bridge/emergency_stop std_srvs/srv/Trigger          # stop now
    ros2 service call /pid_bridge/enable std_srvs/srv/SetBool "{data: true}"   # clear it

Topics and services (relative to the namespace):
  in   joint_velocity_cmd   std_msgs/Float64MultiArray  rad/s, in the order of the `joints`
                                                        parameter (the ros2_control convention)
  in   joint_states         sensor_msgs/JointState      measured positions, indexed by name; the
                                                        `joint_state_topic` parameter (interbotix:
                                                        /<robot_name>/joint_states, relayed here)
  in   emergency_stop       std_msgs/Bool               true latches an emergency stop (reliable)
  out  (driver)             sim: sim/servo_velocity; interbotix: /<robot_name>/commands/joint_group
  srv  ~/home               std_srvs/Trigger            drive to the home pose; answers on arrival
  srv  ~/enable             std_srvs/SetBool            false: zero velocity, commands ignored;
                                                        true: also clears an emergency stop
  srv  ~/emergency_stop     std_srvs/Trigger            latch an emergency stop
  out  /diagnostics         loop rate, watchdog, joint-state health, e-stop, workspace, driver

Safety lives here (shared/WIDOWX.md: the servos keep their last velocity forever and nothing in
the driver checks limits): NaN/inf commands are rejected; targets stay inside the joint limits
and outputs below the velocity limits (`widowx_bringup.pid`); motion that would carry the plug
tip out of the workspace box stops at its wall (`bridge/workspace.py`; logged once per episode, i.e.
between two ~/home calls, and counted in /diagnostics); with no fresh command for
`command_timeout` (two 3.3 Hz periods) the arm holds still; with stale, NaN or -pi joint states,
or a driver fault (servo error, xs_sdk not in velocity mode), the servos get zero; zero is sent on
disable, on exit and on any exception in the loop. An emergency stop (topic or service) sends
zero, asks the driver for torque off (Interbotix: the arm falls; sim: nothing to switch) and
ignores every command until `~/enable` is called with true.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from ..kinematics import ARM_JOINTS, arm_spec
from ..pid import JointVelocityPID, PIDConfig
from meld_ros.loop_monitor import LoopMonitor, diagnostics_message
from meld_ros.node_main import run_node
from meld_ros.params import declare_config
from meld_ros.qos import COMMAND, STATE
from ..scene import PlugGeometry, home_joint_positions
from .drivers import make_driver
from .safety import command_problem, joint_state_problem, reorder
from .workspace import Workspace, WorkspaceConfig, outside_axes
from .xs_protocol import InterbotixConfig

DEFAULT_JOINT_STATE_TOPIC = "joint_states"


@dataclass
class BridgeConfig:
    """Parameters of the PID bridge."""

    robot_model: str = "wx200"
    """Arm whose joint and velocity limits apply (wx200 or wx250)."""
    driver: str = "sim"
    """Where servo commands go: sim (the sim node) or interbotix (xs_sdk on a robot PC)."""
    joints: tuple[str, ...] = ARM_JOINTS
    """Joint order of incoming velocity commands."""
    joint_state_topic: str = DEFAULT_JOINT_STATE_TOPIC
    """Measured joint states. Left at `joint_states`, driver:=interbotix reads the xs_sdk driver's
    /<robot_name>/joint_states instead (and relays them to `joint_states`); any other value is
    used as given, with either driver."""
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
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)
    interbotix: InterbotixConfig = field(default_factory=InterbotixConfig)

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
        self.workspace = Workspace(self.arm, cfg.workspace, PlugGeometry().tip_offset)
        self.home_q = home_joint_positions(self.arm)
        if cfg.workspace.enabled and self.workspace.excess(self.home_q) > 0:  # homing would end at the wall
            raise ValueError(f"the home pose's plug tip {np.round(self.workspace.tip(self.home_q), 3).tolist()} lies "
                             f"outside the workspace box {list(cfg.workspace.lower)}..{list(cfg.workspace.upper)}; "
                             f"widen workspace.lower / workspace.upper")
        self.driver = make_driver(cfg.driver, self, cfg.robot_model, cfg.interbotix)
        self._lock = threading.Lock()       # measurements and commands
        self._drive = threading.Lock()      # one decision + send at a time (control tick, e-stop, disable)
        self._q: np.ndarray | None = None
        self._dq: np.ndarray | None = None
        self._q_time = 0.0
        self._cmd = np.zeros(len(ARM_JOINTS))
        self._cmd_time = -np.inf
        self._enabled = cfg.enabled
        self._estop: str | None = None      # why the emergency stop is latched, or None
        self._estop_input = False           # the last value on the emergency_stop topic
        self._homing = False
        self._home_future: Future | None = None  # answered by the control loop: True at home, False if not
        self._home_deadline = 0.0
        self._last_tick: float | None = None
        self._pid_primed = False
        self._problem = "no joint states yet"
        self._problem_kind = "no_joint_states"
        self.rejected_commands = 0
        self.workspace_stops = 0
        self._box_stops_since_home = 0  # control ticks the box held the arm since the last ~/home (an episode)
        self._order = [list(cfg.joints).index(j) for j in ARM_JOINTS]

        control = MutuallyExclusiveCallbackGroup()
        services = ReentrantCallbackGroup()
        self.joint_state_topic = self._joint_state_topic()
        self._relay = None
        if (self.joint_state_topic != cfg.joint_state_topic and cfg.interbotix.relay_joint_states
                and self.resolve_topic_name(self.joint_state_topic) != self.resolve_topic_name(DEFAULT_JOINT_STATE_TOPIC)):
            self._relay = self.create_publisher(JointState, DEFAULT_JOINT_STATE_TOPIC, STATE)
        self.create_subscription(Float64MultiArray, "joint_velocity_cmd", self._on_command, COMMAND, callback_group=control)
        self.create_subscription(JointState, self.joint_state_topic, self._on_joint_states, STATE, callback_group=control)
        self.create_subscription(Bool, "emergency_stop", self._on_estop_topic, STATE, callback_group=services)
        self.create_service(Trigger, "~/home", self._on_home, callback_group=services)
        self.create_service(SetBool, "~/enable", self._on_enable, callback_group=services)
        self.create_service(Trigger, "~/emergency_stop", self._on_estop_service, callback_group=services)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.loop = LoopMonitor("pid_bridge: control loop", cfg.pid.rate_hz)
        self.create_timer(1.0 / cfg.pid.rate_hz, self._on_tick, callback_group=control)
        self.create_timer(1.0, self._on_diagnostics)
        box = "off" if not cfg.workspace.enabled else f"{list(cfg.workspace.lower)}..{list(cfg.workspace.upper)} m"
        self.get_logger().info(f"{cfg.robot_model} via driver '{cfg.driver}' at {cfg.pid.rate_hz:.0f} Hz; joint states "
                               f"from {self.resolve_topic_name(self.joint_state_topic)}"
                               f"{' (relayed to joint_states)' if self._relay else ''}; workspace box {box}; "
                               f"{'enabled' if self._enabled else 'DISABLED (call ~/enable)'}")

    def _joint_state_topic(self) -> str:
        """The parameter, unless it is the default and the driver names its own topic."""
        if self.config.joint_state_topic == DEFAULT_JOINT_STATE_TOPIC and self.driver.joint_state_topic:
            return self.driver.joint_state_topic
        return self.config.joint_state_topic

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
        if self._relay is not None:
            self._relay.publish(msg)
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
        with self._drive:
            try:
                self._control()
            except Exception as exc:
                self.driver.stop()
                self.get_logger().error(f"control loop error, servos stopped: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=1.0)

    def _control(self) -> None:
        now = time.monotonic()
        if self._homing and now > self._home_deadline:
            self._end_homing(False)  # answered here, whatever else keeps the arm from moving
        with self._lock:
            q, dq, q_age = self._q, self._dq, now - self._q_time
            cmd, cmd_age = self._cmd.copy(), now - self._cmd_time
        fault = self.driver.fault
        if self._estop:
            kind, problem = "estop", f"emergency stop ({self._estop})"
        elif q is None:
            kind, problem = "no_joint_states", "no joint states yet"
        elif q_age > self.config.joint_state_timeout:
            kind, problem = "stale", f"joint states are {q_age:.2f} s old (limit {self.config.joint_state_timeout} s)"
        elif fault:
            kind, problem = "driver", fault
        else:
            problem = joint_state_problem(q)
            kind = "bad_reading" if problem else ""
        if problem or not self._enabled:
            if problem and kind != self._problem_kind and kind != "estop":
                self.get_logger().warn(f"servos stopped: {problem}")
            self._problem_kind = kind or "disabled"
            self._problem = problem or "disabled"
            self._pid_primed = False
            self._last_tick = None
            self.driver.stop()
            return
        if not self._pid_primed:  # (re)start holding where the arm is
            self.pid.reset(q)
            self._pid_primed = True
            if self._problem_kind in ("stale", "bad_reading", "driver"):
                self.get_logger().info("joint states and driver healthy again; holding position")
        self._problem_kind = ""
        self._problem = ""
        if self._homing:
            error = self.home_q - q
            if np.max(np.abs(error)) < self.config.home_tolerance:
                self._end_homing(True)
            v = np.clip(2.0 * error, -self.config.home_velocity, self.config.home_velocity)
        elif cmd_age <= self.config.command_timeout:
            v = cmd
        else:
            v = np.zeros(len(ARM_JOINTS))  # watchdog: hold the current target
        # The measured period, not the nominal one: a late tick still integrates the command fully.
        dt = 1.0 / self.config.pid.rate_hz if self._last_tick is None else min(now - self._last_tick,
                                                                              3.0 / self.config.pid.rate_hz)
        self._last_tick = now
        u = self.pid.update(v, q, dq, dt=dt)
        verdict = self.workspace.check(q, u)
        if verdict.any_stopped:
            # Hold the stopped joints' targets where they are, so no lead builds up against the wall.
            self.pid.target = np.where(verdict.stopped, q, self.pid.target)
            self.workspace_stops += 1
            self._box_stops_since_home += 1
            if self._box_stops_since_home == 1:  # the box doing its job (exploration touches it): one line per
                joints = [j for j, s in zip(ARM_JOINTS, verdict.stopped) if s]  # episode, the rest counted
                self.get_logger().info(
                    f"workspace box: stopped {joints}; the plug tip {np.round(verdict.tip, 3).tolist()} would go to "
                    f"{outside_axes(verdict.predicted, self.workspace.lower, self.workspace.upper) or 'outside'} "
                    f"(box {list(self.config.workspace.lower)}..{list(self.config.workspace.upper)}; motion back in "
                    f"is allowed; further stops until the next home are counted in /diagnostics, not logged)")
        self.driver.send(verdict.velocity)

    @property
    def watchdog_active(self) -> bool:
        return time.monotonic() - self._cmd_time > self.config.command_timeout

    # --- emergency stop ---------------------------------------------------------------------
    def emergency_stop(self, reason: str) -> None:
        """Latch the stop: zero now, torque off through the driver, ignore commands until ~/enable."""
        with self._drive:
            first = self._estop is None
            self._estop = reason
            self._end_homing(False)
            self.driver.stop()
        if first:
            self.get_logger().error(f"EMERGENCY STOP ({reason}): servos at zero, commands ignored; clear it with "
                                    f"`ros2 service call {self.get_fully_qualified_name()}/enable "
                                    f"std_srvs/srv/SetBool '{{data: true}}'`")
            self.driver.torque_off()

    def _on_estop_topic(self, msg: Bool) -> None:
        self._estop_input = bool(msg.data)
        if msg.data:
            self.emergency_stop("emergency_stop topic")

    def _on_estop_service(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.emergency_stop("~/emergency_stop service")
        response.success, response.message = True, "emergency stop latched; call ~/enable with true to clear"
        return response

    # --- services ---------------------------------------------------------------------------
    def _end_homing(self, reached: bool) -> None:
        self._homing = False
        if self._home_future is not None and not self._home_future.done():
            self._home_future.set_result(reached)

    async def _on_home(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Drive home and answer on arrival. A coroutine: it waits without holding the executor,
        so the single-threaded control loop keeps its rate and an e-stop is served at once."""
        if not self._enabled or self._estop:
            response.success = False
            response.message = ("bridge disabled: call ~/enable with true first" if not self._estop
                                else f"emergency stop latched ({self._estop}): call ~/enable with true first")
            return response
        held, self._box_stops_since_home = self._box_stops_since_home, 0
        self.get_logger().info(f"homing to {np.round(self.home_q, 3).tolist()} (deadline {self.config.home_timeout:.0f} s)"
                               + (f"; the workspace box held the arm on {held} control ticks since the last home"
                                  if held else ""))
        self._end_homing(False)  # a homing call still waiting gives way to this one
        self._home_future = Future()
        self._home_deadline = time.monotonic() + self.config.home_timeout
        self._homing = True
        reached = await self._home_future
        if reached:
            response.success, response.message = True, "at home"
        elif self._estop or not self._enabled:
            response.success = False
            response.message = f"homing interrupted: {'emergency stop' if self._estop else 'bridge disabled'}"
            self.get_logger().warn(response.message)
        else:
            with self._lock:
                q = self._q
            response.success = False
            response.message = (f"home not reached within {self.config.home_timeout:.0f} s "
                                f"(joints {None if q is None else np.round(q, 3).tolist()}; {self._problem or 'moving'})")
            self.get_logger().error(response.message)
        return response

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if request.data and self._estop and self._estop_input:
            response.success = False
            response.message = ("the emergency_stop topic still reads true: release the emergency stop "
                                "(publish false) first, then call ~/enable again")
            return response
        with self._drive:
            cleared = bool(request.data and self._estop)
            self._enabled = bool(request.data)
            if cleared:
                self._estop = None
                with self._lock:
                    self._cmd_time = -np.inf  # only commands sent after the clear move the arm
            if not self._enabled:
                self._end_homing(False)
            self.driver.stop()
        if cleared:
            self.driver.torque_on()
            self.get_logger().warn("emergency stop cleared: holding where the arm is; new commands move it")
        self.get_logger().info("enabled" if self._enabled else "disabled: servos at zero, commands ignored")
        response.success = True
        response.message = "emergency stop cleared, enabled" if cleared else ("enabled" if self._enabled else "disabled")
        return response

    def _on_diagnostics(self) -> None:
        loop = self.loop.status(self.config.driver)
        state = DiagnosticStatus(name="pid_bridge: safety", hardware_id=self.config.driver)
        if self._estop:
            state.level, state.message = DiagnosticStatus.ERROR, f"EMERGENCY STOP ({self._estop}): call ~/enable"
        elif self._problem:
            state.level, state.message = DiagnosticStatus.WARN, f"servos stopped: {self._problem}"
        elif self.watchdog_active:
            state.level, state.message = DiagnosticStatus.OK, "holding still: no fresh velocity command"
        else:
            state.level, state.message = DiagnosticStatus.OK, "tracking commands"
        state.values = [KeyValue(key="enabled", value=str(self._enabled)),
                        KeyValue(key="emergency_stop", value=str(self._estop or "clear")),
                        KeyValue(key="emergency_stop_publishers", value=str(self.count_publishers("emergency_stop"))),
                        KeyValue(key="homing", value=str(self._homing)),
                        KeyValue(key="rejected_commands", value=str(self.rejected_commands)),
                        KeyValue(key="workspace_stops", value=str(self.workspace_stops))]
        driver = DiagnosticStatus(name="pid_bridge: driver", hardware_id=self.config.driver,
                                  level=DiagnosticStatus.WARN if self.driver.fault else DiagnosticStatus.OK,
                                  message=self.driver.fault or f"{self.driver.name} driver ready",
                                  values=[KeyValue(key=k, value=v) for k, v in self.driver.status()])
        self.diag_pub.publish(diagnostics_message(self, [loop, state, driver]))

    def request_stop(self) -> None:
        """Shutdown: answer a homing call that is waiting, so the executor can stop."""
        self._end_homing(False)

    def on_shutdown(self) -> None:
        self.driver.stop()


def main(args: list[str] | None = None) -> int:
    # One thread: rclpy 7.1's multi-threaded executor let this 100 Hz loop slip to 74 Hz with 100 ms
    # period jitter under load. Homing is a coroutine, so an e-stop never waits behind it.
    return run_node(PidBridge, args, threads=1)


if __name__ == "__main__":
    raise SystemExit(main())
