"""Arm drivers behind one small contract: `send(velocities)` and `stop()`.

The bridge picks one from its `driver` parameter. `sim` publishes to the sim node. `interbotix`
(issue: real-robot path) talks to the xs_sdk driver and is imported only where its message
packages exist, so nothing here needs Interbotix to be installed.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
from std_msgs.msg import Float64MultiArray

from ..ros.qos import COMMAND


class ArmDriver(Protocol):
    name: str

    def send(self, velocities: np.ndarray) -> np.ndarray:
        """Command the arm servos (rad/s, waist..wrist_rotate); returns what was sent."""

    def stop(self) -> None:
        """Zero velocity on every joint (on timeout, exit and any exception)."""


class SimDriver:
    """Servo velocities to the sim node on `sim/servo_velocity`."""

    name = "sim"

    def __init__(self, node, topic: str = "sim/servo_velocity"):
        self._pub = node.create_publisher(Float64MultiArray, topic, COMMAND)
        self._n = 5

    def send(self, velocities: np.ndarray) -> np.ndarray:
        v = np.asarray(velocities, dtype=float)
        self._pub.publish(Float64MultiArray(data=v.tolist()))
        return v

    def stop(self) -> None:
        self._pub.publish(Float64MultiArray(data=[0.0] * self._n))


def make_driver(kind: str, node) -> ArmDriver:
    if kind == "sim":
        return SimDriver(node)
    if kind == "interbotix":
        try:
            from .interbotix import InterbotixDriver  # needs interbotix_xs_msgs
        except ImportError as exc:
            raise RuntimeError(
                f"driver 'interbotix' needs the Interbotix ROS 2 packages ({exc}); on a robot PC source the "
                "Interbotix workspace first, or use driver:=sim"
            ) from exc
        return InterbotixDriver(node)
    raise ValueError(f"unknown driver {kind!r}: use 'sim' or 'interbotix'")
