"""The Interbotix driver of the bridge: servo velocities to xs_sdk, and the servos' health back.

Selected with `pid_bridge --ros-args -p driver:=interbotix` on a robot PC where xs_sdk runs in
velocity mode (docs/robot.md). Everything goes to `/<robot_name>/...` (robot_name defaults to
the robot_model, as in xsarm_control.launch.py):
  out  commands/joint_group   JointGroupCommand   name=<group>, cmd in the group's joint order
  in   joint_states           (the bridge subscribes there; see BridgeConfig.joint_state_topic)
  srv  get_robot_info         at start: the group's joint order and operating mode
  srv  set_operating_modes    only with interbotix.set_operating_mode:=true (torque drops!)
  srv  get_motor_registers    Velocity_Limit at start; Hardware_Error_Status every few seconds
  srv  reboot_motors          smart reboot of the servos in error
  srv  torque_enable          torque off on emergency stop, on again when it is cleared

Nothing is published before get_robot_info has confirmed the group is in velocity mode: in
position mode a zero "velocity" is the joint position 0, and the arm would leap there. Service
calls never block the control loop: they are asynchronous, their answers arrive on the executor,
and a call without an answer within `service_timeout` is dropped with a log line.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

import numpy as np

from ..kinematics import ARM_JOINTS
from meld_ros.qos import COMMAND
from .xs_protocol import (DEFAULT_VELOCITY_LIMIT, InterbotixConfig, XsInterfaces, describe_hardware_error,
                          group_order, load_interfaces, servo_velocity_caps)

SERVICES = ("get_robot_info", "set_operating_modes", "get_motor_registers", "reboot_motors", "torque_enable")
STARTUP_PERIOD = 0.5
"""Seconds between steps of the start-up check (and between its retries)."""
WAIT_LOG_PERIOD = 5.0
"""Seconds between repeated 'still waiting for xs_sdk' lines."""


class InterbotixDriver:
    """ArmDriver for the Interbotix xs_sdk node (see the module docstring)."""

    name = "interbotix"

    def __init__(self, node, config: InterbotixConfig, robot_model: str,
                 interfaces: XsInterfaces | None = None, arm_joints: tuple[str, ...] = ARM_JOINTS):
        self.node = node
        self.config = config
        self.xs = interfaces or load_interfaces()
        self.arm_joints = arm_joints
        self.robot = config.robot_name or robot_model
        self.prefix = f"/{self.robot}"
        self.joint_state_topic = f"{self.prefix}/joint_states"
        self._log = node.get_logger()
        self._lock = threading.Lock()
        self._pub = node.create_publisher(self.xs.JointGroupCommand, f"{self.prefix}/commands/joint_group", COMMAND)
        types = {"get_robot_info": self.xs.RobotInfo, "set_operating_modes": self.xs.OperatingModes,
                 "get_motor_registers": self.xs.RegisterValues, "reboot_motors": self.xs.Reboot,
                 "torque_enable": self.xs.TorqueEnable}
        self._clients = {s: node.create_client(types[s], f"{self.prefix}/{s}") for s in SERVICES}
        self._inflight: dict[str, tuple[float, Any, str]] = {}
        # start-up state: checking -> (switching ->) limits -> ready; wrong_mode and bad_group wait for a person
        self.stage = "info"
        self.group_joints: list[str] = list(arm_joints)
        self._order = list(range(len(arm_joints)))
        self.caps = servo_velocity_caps([DEFAULT_VELOCITY_LIMIT] * len(arm_joints), config.velocity_scale)
        self._fault: str | None = f"checking xs_sdk at {self.prefix} (get_robot_info)"
        self._last_wait_log = -math.inf
        self._mode = "unknown"
        self.servo_errors: dict[str, int] = {}
        self.reboots = 0
        self._last_reboot = -math.inf
        self._torque_off = False
        self._startup_timer = node.create_timer(STARTUP_PERIOD, self._on_startup)
        node.create_timer(config.error_poll_period, self._on_poll)

    # --- ArmDriver ------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.stage == "ready"

    @property
    def fault(self) -> str | None:
        """Why the servos must not be commanded now (start-up check, servo error), or None."""
        with self._lock:
            return self._fault

    def send(self, velocities: np.ndarray) -> np.ndarray:
        v = np.asarray(velocities, dtype=float)
        if not self.ready:
            return np.zeros_like(v)
        v = np.clip(v, -self.caps, self.caps)
        self._publish(v)
        return v

    def stop(self) -> None:
        if self.ready:  # never before the mode check: in position mode zeros are a position
            self._publish(np.zeros(len(self.arm_joints)))

    def torque_off(self) -> None:
        """Emergency stop: zero velocity, then (if configured) torque off; the arm falls."""
        self.stop()
        if not self.config.torque_off_on_estop:
            self._log.warn("emergency stop: servos at zero velocity, torque kept on "
                           "(interbotix.torque_off_on_estop is false)")
            return
        self._log.warn(f"emergency stop: torque off for group '{self.config.group}' (the arm falls)")
        self._torque_off = True
        self._torque(False)

    def torque_on(self) -> None:
        """After an emergency stop is cleared: zero velocity, then torque on where the arm is."""
        self.stop()
        if self._torque_off:
            self._log.info(f"torque on for group '{self.config.group}'")
            self._torque_off = False
            self._torque(True)

    def status(self) -> list[tuple[str, str]]:
        """Key/value pairs for the bridge's diagnostics."""
        errors = {j: describe_hardware_error(v) for j, v in self.servo_errors.items()}
        return [("xs_sdk", self.prefix), ("stage", self.stage), ("group_mode", self._mode),
                ("velocity_caps", str(np.round(self.caps, 3).tolist())),
                ("servo_errors", str(errors or "none")), ("reboots", str(self.reboots))]

    # --- plumbing ---------------------------------------------------------------------------
    def _publish(self, v_arm: np.ndarray) -> None:
        cmd = [float(v_arm[i]) for i in self._order]
        self._pub.publish(self.xs.JointGroupCommand(name=self.config.group, cmd=cmd))

    def _torque(self, enable: bool) -> None:
        request = self.xs.TorqueEnable.Request(cmd_type="group", name=self.config.group, enable=enable)
        if not self._call("torque_enable", request, lambda _: None, f"torque {'on' if enable else 'off'}"):
            self._log.error(f"could not ask {self.prefix}/torque_enable to torque {'on' if enable else 'off'} (service "
                            f"not available, or a call still pending); "
                            f"{'cut the arm power if it must go limp' if not enable else 'call ~/enable again'}")

    def _call(self, service: str, request, on_result: Callable[[Any], None], what: str) -> bool:
        """Start an asynchronous call; False when the service is not there (or a call is pending)."""
        client = self._clients[service]
        if service in self._inflight or not client.service_is_ready():
            return False
        future = client.call_async(request)
        self._inflight[service] = (time.monotonic(), future, what)

        def done(f) -> None:
            self._inflight.pop(service, None)
            if f.cancelled():
                return
            try:
                on_result(f.result())
            except Exception as exc:  # a bad answer must not kill the executor thread
                self._log.error(f"{what}: unusable answer from {self.prefix}/{service}: {type(exc).__name__}: {exc}")

        future.add_done_callback(done)
        return True

    def _expire_calls(self) -> None:
        now = time.monotonic()
        for service, (started, future, what) in list(self._inflight.items()):
            if now - started > self.config.service_timeout:
                self._inflight.pop(service, None)
                future.cancel()
                self._log.error(f"{self.prefix}/{service} did not answer within {self.config.service_timeout:.1f} s "
                                f"({what}); will retry. Is xs_sdk stuck on the bus? Check its log and the U2D2 cable")

    def _set_fault(self, fault: str | None) -> None:
        with self._lock:
            self._fault = fault

    # --- start-up check -----------------------------------------------------------------------
    def _on_startup(self) -> None:
        self._expire_calls()
        if self.stage in ("ready", "bad_group"):
            return
        if self.stage in ("info", "wrong_mode"):
            request = self.xs.RobotInfo.Request(cmd_type="group", name=self.config.group)
            if not self._call("get_robot_info", request, self._on_robot_info, "operating mode check"):
                self._log_waiting("get_robot_info")
        elif self.stage == "limits":
            request = self.xs.RegisterValues.Request(cmd_type="group", name=self.config.group, reg="Velocity_Limit")
            if not self._call("get_motor_registers", request, self._on_velocity_limits, "Velocity_Limit read"):
                self._log_waiting("get_motor_registers")

    def _log_waiting(self, service: str) -> None:
        if service in self._inflight:
            return
        now = time.monotonic()
        if now - self._last_wait_log >= WAIT_LOG_PERIOD:
            self._last_wait_log = now
            self._log.warn(f"waiting for {self.prefix}/{service}: is xs_sdk running? Start it with `ros2 launch "
                           f"interbotix_xsarm_control xsarm_control.launch.py robot_model:={self.robot} "
                           f"mode_configs:=<widowx_bringup>/config/interbotix_modes.yaml` (docs/robot.md), or set "
                           f"interbotix.robot_name if it runs under another name")

    def _on_robot_info(self, info) -> None:
        joints = list(info.joint_names)
        try:
            order = group_order(joints, self.arm_joints)
        except ValueError as exc:
            self.stage = "bad_group"
            self._set_fault(str(exc))
            self._log.error(str(exc))
            return
        self.group_joints, self._order, self._mode = joints, order, str(info.mode)
        if self._mode == "velocity":
            self.stage = "limits" if self.config.read_velocity_limits else "ready"
            if self.ready:
                self._become_ready()
            return
        if self.config.set_operating_mode:
            self.stage = "switching"
            self._log.warn(f"group '{self.config.group}' is in {self._mode!r} mode; switching it to velocity now "
                           f"(interbotix.set_operating_mode): torque drops for a moment and the arm sags")
            request = self.xs.OperatingModes.Request(
                cmd_type="group", name=self.config.group, mode="velocity", profile_type="velocity",
                profile_velocity=0, profile_acceleration=int(self.config.profile_acceleration))
            if not self._call("set_operating_modes", request, self._on_mode_set, "switch to velocity mode"):
                self.stage = "info"
            return
        message = (f"group '{self.config.group}' of {self.prefix} is in {self._mode!r} mode, not velocity: no "
                   f"commands are sent (a velocity would be read as a {self._mode}). Restart xs_sdk with "
                   f"mode_configs:=<widowx_bringup>/config/interbotix_modes.yaml, or set "
                   f"interbotix.set_operating_mode:=true (the arm sags while the mode switches)")
        if self.stage != "wrong_mode":
            self._log.error(message)
        self.stage = "wrong_mode"  # re-checked every STARTUP_PERIOD, in case someone fixes it
        self._set_fault(message)

    def _on_mode_set(self, _response) -> None:
        self.stage = "info"  # confirm with get_robot_info before sending anything

    def _on_velocity_limits(self, response) -> None:
        values = list(response.values)
        if len(values) == len(self.group_joints):
            caps_group = servo_velocity_caps(values, self.config.velocity_scale)
            caps = np.zeros(len(self.arm_joints))
            for k, i in enumerate(self._order):
                caps[i] = caps_group[k]
            self.caps = caps
        else:
            self._log.warn(f"could not read Velocity_Limit ({len(values)} values for {len(self.group_joints)} "
                           f"servos); assuming {DEFAULT_VELOCITY_LIMIT} (about pi rad/s)")
        self._become_ready()

    def _become_ready(self) -> None:
        self.stage = "ready"
        self._set_fault(None)
        self._startup_timer.cancel()
        self._log.info(f"xs_sdk at {self.prefix} ready: group '{self.config.group}' {self.group_joints} in velocity "
                       f"mode; commands clamped to {np.round(self.caps, 3).tolist()} rad/s")

    # --- servo health -------------------------------------------------------------------------
    def _on_poll(self) -> None:
        self._expire_calls()
        if not self.ready:
            return
        request = self.xs.RegisterValues.Request(cmd_type="group", name=self.config.group, reg="Hardware_Error_Status")
        self._call("get_motor_registers", request, self._on_error_status, "Hardware_Error_Status read")

    def _on_error_status(self, response) -> None:
        values = [int(v) for v in response.values]
        if len(values) != len(self.group_joints):
            self._log.warn(f"Hardware_Error_Status read gave {len(values)} values for {len(self.group_joints)} servos; "
                           f"the xs_sdk log says which servo did not answer")
            return
        errors = {j: v for j, v in zip(self.group_joints, values) if v}
        if not errors:
            if self.servo_errors:
                self._log.info("servo hardware errors cleared; the bridge holds the arm where it is")
            self.servo_errors = {}
            self._set_fault(None)
            return
        text = "; ".join(f"{j}: {describe_hardware_error(v)}" for j, v in errors.items())
        if errors != self.servo_errors:
            self._log.error(f"servo hardware error ({text}): servos stopped")
        self.servo_errors = errors
        self._set_fault(f"servo hardware error ({text})")
        now = time.monotonic()
        if self.config.auto_reboot and now - self._last_reboot >= self.config.reboot_cooldown:
            self._last_reboot = now
            self.reboots += 1
            self._log.warn(f"smart reboot of group '{self.config.group}' (attempt {self.reboots}): only the servos in "
                           f"error restart, and they do not hold position meanwhile")
            request = self.xs.Reboot.Request(cmd_type="group", name=self.config.group, enable=True, smart_reboot=True)
            self._call("reboot_motors", request, lambda _: None, "smart reboot")
        elif not self.config.auto_reboot:
            self._log.error(f"servo error needs a reboot: ros2 service call {self.prefix}/reboot_motors "
                            f"interbotix_xs_msgs/srv/Reboot \"{{cmd_type: group, name: {self.config.group}, "
                            f"enable: true, smart_reboot: true}}\"", throttle_duration_sec=30.0)
