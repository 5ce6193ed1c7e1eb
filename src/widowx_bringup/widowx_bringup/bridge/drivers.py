"""Arm drivers behind one small contract: `send(velocities)`, `stop()`, torque off/on, `fault`.

The bridge picks one from its `driver` parameter. `sim` publishes to the sim node. `interbotix`
talks to the xs_sdk driver (bridge/interbotix.py) and is imported only where its message
packages exist, so nothing here needs Interbotix to be installed.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
from std_msgs.msg import Float64MultiArray

from meld_ros.qos import COMMAND
from .xs_protocol import InterbotixConfig


class ArmDriver(Protocol):
    name: str
    joint_state_topic: str
    """Where this driver's arm publishes its joint states ('' : the bridge's own setting)."""

    @property
    def fault(self) -> str | None:
        """Why the servos must not be commanded now (not yet checked, servo error), or None."""

    def send(self, velocities: np.ndarray) -> np.ndarray:
        """Command the arm servos (rad/s, waist..wrist_rotate); returns what was sent."""

    def stop(self) -> None:
        """Zero velocity on every joint (on timeout, exit and any exception)."""

    def torque_off(self) -> None:
        """Emergency stop: zero velocity, then torque off where the hardware allows it."""

    def torque_on(self) -> None:
        """The emergency stop was cleared: torque back on, holding still."""

    def status(self) -> list[tuple[str, str]]:
        """Key/value pairs for the bridge's diagnostics."""


class SimDriver:
    """Servo velocities to the sim node on `sim/servo_velocity`."""

    name = "sim"
    joint_state_topic = ""
    fault = None

    def __init__(self, node, topic: str = "sim/servo_velocity"):
        self._pub = node.create_publisher(Float64MultiArray, topic, COMMAND)
        self._log = node.get_logger()
        self._n = 5

    def send(self, velocities: np.ndarray) -> np.ndarray:
        v = np.asarray(velocities, dtype=float)
        self._pub.publish(Float64MultiArray(data=v.tolist()))
        return v

    def stop(self) -> None:
        self._pub.publish(Float64MultiArray(data=[0.0] * self._n))

    def torque_off(self) -> None:
        self.stop()
        self._log.warn("emergency stop: torque off requested; the sim driver has no torque switch, "
                       "its servos hold at zero velocity")

    def torque_on(self) -> None:
        self.stop()

    def status(self) -> list[tuple[str, str]]:
        return []


def make_driver(kind: str, node, robot_model: str = "wx200", interbotix: InterbotixConfig | None = None) -> ArmDriver:
    if kind == "sim":
        return SimDriver(node)
    if kind == "interbotix":
        from .interbotix import InterbotixDriver
        from .xs_protocol import load_interfaces

        try:
            interfaces = load_interfaces()
        except ImportError as exc:
            raise RuntimeError(
                f"driver 'interbotix' needs the Interbotix ROS 2 packages ({exc}); on a robot PC source the "
                "Interbotix workspace first (docs/robot.md), or use driver:=sim"
            ) from exc
        return InterbotixDriver(node, interbotix or InterbotixConfig(), robot_model, interfaces)
    raise ValueError(f"unknown driver {kind!r}: use 'sim' or 'interbotix'")
