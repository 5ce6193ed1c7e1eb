"""What the Interbotix xs_sdk driver expects, as plain data and functions (no ROS, no Interbotix).

Field names and units follow interbotix_xs_msgs (Interbotix/interbotix_ros_core,
interbotix_ros_xseries/interbotix_xs_msgs) and shared/WIDOWX.md:
  msg JointGroupCommand  string name, float32[] cmd (the group's joint order)
  srv OperatingModes     string cmd_type, name, mode, profile_type; int32 profile_velocity,
                         profile_acceleration ---
  srv TorqueEnable       string cmd_type, name; bool enable ---
  srv Reboot             string cmd_type, name; bool enable, smart_reboot ---
  srv RegisterValues     string cmd_type, name, reg; int32 value --- int32[] values
  srv RobotInfo          string cmd_type, name --- string mode, profile_type, string[] joint_names, ...
The message classes come in through `XsInterfaces`, so tests can hand the driver stand-ins with
the same fields where interbotix_xs_msgs is not installed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VELOCITY_LSB = 0.229 * 2.0 * math.pi / 60.0
"""rad/s per unit of Goal_Velocity / Velocity_Limit on the X-series servos (0.229 rpm, 0.02398 rad/s)."""

DEFAULT_VELOCITY_LIMIT = 131
"""Velocity_Limit register the Interbotix motor configs write to every arm servo (about pi rad/s)."""

HARDWARE_ERROR_BITS = {
    0: "input voltage out of range",
    2: "overheating",
    3: "motor encoder",
    4: "electrical shock",
    5: "overload",
}
"""Hardware_Error_Status bits of the X-series servos (ROBOTIS e-manual, XM430/XL430 control table)."""


@dataclass(frozen=True)
class XsInterfaces:
    """The interbotix_xs_msgs classes the driver uses."""

    JointGroupCommand: type
    OperatingModes: type
    TorqueEnable: type
    Reboot: type
    RegisterValues: type
    RobotInfo: type


def load_interfaces() -> XsInterfaces:
    """The real classes; raises ImportError where interbotix_xs_msgs is not installed."""
    from interbotix_xs_msgs.msg import JointGroupCommand
    from interbotix_xs_msgs.srv import OperatingModes, Reboot, RegisterValues, RobotInfo, TorqueEnable

    return XsInterfaces(JointGroupCommand, OperatingModes, TorqueEnable, Reboot, RegisterValues, RobotInfo)


@dataclass
class InterbotixConfig:
    """How the bridge talks to the xs_sdk driver (used with driver:=interbotix only)."""

    robot_name: str = ""
    """Namespace of the xs_sdk driver (`/<robot_name>/...`); empty: the robot_model, as
    xsarm_control.launch.py does by default."""
    group: str = "arm"
    """Joint group that is in velocity mode (the mode config's `groups:` entry). Not `all`: that
    group stays in position mode, where a velocity would be read as a position."""
    set_operating_mode: bool = False
    """At start, switch the group to velocity mode through `set_operating_modes` when it is in
    another mode. Off by default: switching drops torque and the arm sags; start xs_sdk with
    mode_configs:=.../config/interbotix_modes.yaml instead (docs/robot.md)."""
    profile_acceleration: int = 20
    """Profile_Acceleration written with set_operating_mode, register units (214.577 rev/min^2;
    20 is about 7.5 rad/s^2); 0 means unlimited."""
    velocity_scale: float = 0.97
    """Commands are clamped to this fraction of each servo's Velocity_Limit: a command beyond it
    is rejected by the servo, not clamped, and the truncation to 0.024 rad/s steps needs room."""
    read_velocity_limits: bool = True
    """Read each servo's Velocity_Limit register at start; otherwise assume 131 (about pi rad/s)."""
    error_poll_period: float = 2.0
    """Read Hardware_Error_Status of the group's servos this often, s (the read shares the bus with
    the 100 Hz control traffic, so keep it slow)."""
    auto_reboot: bool = True
    """When a servo reports a hardware error, ask xs_sdk for a smart reboot of the group (only the
    servos in error reboot; they do not hold position while rebooting)."""
    reboot_cooldown: float = 10.0
    """Seconds between reboot attempts; a servo that errors again right away needs a person."""
    torque_off_on_estop: bool = True
    """On emergency stop, after zero velocity, torque the group off. The arm then falls onto
    whatever is below it; set false to hold it with the servos at zero velocity instead."""
    service_timeout: float = 3.0
    """Deadline of each xs_sdk service call, s."""
    relay_joint_states: bool = True
    """Republish the arm's joint states on the bridge's relative `joint_states`, so the reward
    node, the policy and rviz read the same topic as in the sim."""

    def __post_init__(self) -> None:
        if not self.group or self.group == "all":
            raise ValueError(f"interbotix.group={self.group!r}: use the group in velocity mode, normally 'arm'")
        if not 0.0 < self.velocity_scale < 1.0:
            raise ValueError(f"interbotix.velocity_scale={self.velocity_scale} must be in (0, 1)")
        for name in ("error_poll_period", "reboot_cooldown", "service_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"interbotix.{name} must be > 0")
        if not 0 <= self.profile_acceleration <= 32767:
            raise ValueError("interbotix.profile_acceleration must be 0-32767 (register units)")


def servo_velocity_caps(limits_lsb: list[int] | np.ndarray, scale: float) -> np.ndarray:
    """Largest |command| per servo, rad/s: strictly below each Velocity_Limit register value."""
    limits = np.asarray(limits_lsb, dtype=float)
    if np.any(limits <= 1):
        raise ValueError(f"Velocity_Limit registers {limits.tolist()} look wrong (expected about 131); "
                         f"check the motor config or set interbotix.read_velocity_limits:=false")
    return (limits - 1.0) * VELOCITY_LSB * scale


def describe_hardware_error(value: int) -> str:
    """'overload, overheating' from a Hardware_Error_Status value."""
    names = [text for bit, text in HARDWARE_ERROR_BITS.items() if value & (1 << bit)]
    return ", ".join(names) if names else f"unknown bits 0x{value:02x}"


def group_order(group_joints: list[str], arm_joints: tuple[str, ...]) -> list[int]:
    """Index into the bridge's arm-joint vector for each joint of the xs_sdk group."""
    missing = [j for j in arm_joints if j not in group_joints]
    extra = [j for j in group_joints if j not in arm_joints]
    if missing or extra:
        raise ValueError(f"xs_sdk group joints {group_joints} differ from the arm joints {list(arm_joints)} "
                         f"(missing {missing}, extra {extra}); set interbotix.group to the group of exactly the "
                         f"five arm joints (the motor config's `groups: arm:` entry)")
    return [arm_joints.index(j) for j in group_joints]
