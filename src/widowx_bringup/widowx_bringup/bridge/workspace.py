"""The end-effector workspace box: plain functions, so each rule is tested without ROS.

The joint limits keep every joint inside its range, but not the plug out of the table, the rig or
the cameras. The bridge therefore checks where the plug tip (forward kinematics of the measured
joints, `PlugGeometry().tip_offset` beyond ee_gripper_link) would be after `lookahead` seconds of
the velocity it is about to send, and stops any joint whose motion would carry the tip out of an
axis-aligned box in the arm's base frame. Motion that keeps the tip inside, or brings it back
towards the box, always passes: an arm that starts outside can still be driven home.

The defaults admit every task of the simulator with margin (router x 0.26-0.34 m, y -0.06-0.06 m,
top face at z 0.045 m; the scripted inserter pushes the tip to about z 0.03 m; home tip at
(0.30, 0, 0.115)); tests/bridge/test_bridge_workspace.py runs the scripted inserter on the tasks
and checks that its tip never leaves the default box.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kinematics import ArmSpec, forward

AXES = ("x", "y", "z")


@dataclass
class WorkspaceConfig:
    """End-effector box of the bridge, in the arm's base frame (x forward, y left, z up)."""

    enabled: bool = True
    """Stop motion that would carry the plug tip out of the box (safety: on by default)."""
    lower: tuple[float, ...] = (0.15, -0.15, 0.02)
    """Lowest x, y, z of the plug tip, m. z 0.02 keeps the tip 2 cm above the table while letting
    it reach the bottom of a port (router top 0.045 m, port 0.016 m deep)."""
    upper: tuple[float, ...] = (0.45, 0.15, 0.30)
    """Highest x, y, z of the plug tip, m (the wx200 reaches about 0.55 m)."""
    lookahead: float = 0.05
    """Predict the tip this far ahead at the velocity about to be sent, s: covers the joint
    states' age and the servos' reaction, so the arm stops at the wall, not behind it."""

    def __post_init__(self) -> None:
        if len(self.lower) != 3 or len(self.upper) != 3:
            raise ValueError("workspace.lower and workspace.upper need 3 values each: x, y, z in metres")
        for axis, lo, hi in zip(AXES, self.lower, self.upper):
            if not lo < hi:
                raise ValueError(f"workspace {axis}: lower {lo} must be below upper {hi}")
        if not 0 < self.lookahead <= 0.5:
            raise ValueError(f"workspace.lookahead={self.lookahead} s: use 0.01-0.1 s (0 would never predict)")


def box_excess(p: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """How far a point lies outside the box, m (0 inside): the length of its overshoot vector."""
    over = np.maximum(np.asarray(lower) - p, 0.0) + np.maximum(p - np.asarray(upper), 0.0)
    return float(np.linalg.norm(over))


def outside_axes(p: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> str:
    """Which walls a point is beyond, e.g. 'z < 0.020', for log lines a user can act on."""
    parts = []
    for axis, value, lo, hi in zip(AXES, p, lower, upper):
        if value < lo:
            parts.append(f"{axis} {value:.3f} < {lo:.3f}")
        elif value > hi:
            parts.append(f"{axis} {value:.3f} > {hi:.3f}")
    return ", ".join(parts)


@dataclass(frozen=True)
class WorkspaceVerdict:
    """What the box did to one velocity command."""

    velocity: np.ndarray
    """The velocity to send, rad/s: the input, with the offending joints set to zero."""
    stopped: np.ndarray
    """Per joint, True where the box stopped motion."""
    tip: np.ndarray
    """Plug tip now, m."""
    predicted: np.ndarray
    """Plug tip after `lookahead` at the input velocity, m."""

    @property
    def any_stopped(self) -> bool:
        return bool(self.stopped.any())


class Workspace:
    """The box check of one arm and tool: `check(q, u)` returns what may be sent."""

    def __init__(self, arm: ArmSpec, config: WorkspaceConfig, tool_offset: float):
        self.arm = arm
        self.config = config
        self.tool_offset = tool_offset
        self.lower = np.asarray(config.lower, dtype=float)
        self.upper = np.asarray(config.upper, dtype=float)

    def tip(self, q: np.ndarray) -> np.ndarray:
        return forward(self.arm, q, tool_offset=self.tool_offset)[0]

    def excess(self, q: np.ndarray) -> float:
        return box_excess(self.tip(q), self.lower, self.upper)

    def check(self, q: np.ndarray, u: np.ndarray) -> WorkspaceVerdict:
        """Stop the joints of `u` that would carry the tip out of the box (or further out).

        The whole motion passes when the predicted tip is inside, or no further outside than
        now (moving back in). Otherwise each joint is tried alone and the ones that push the tip
        out are stopped, so the arm can still slide along a wall; if the remaining joints together
        still leave the box (the kinematics are not linear), everything stops.
        """
        q = np.asarray(q, dtype=float)
        u = np.asarray(u, dtype=float)
        dt = self.config.lookahead
        tip = self.tip(q)
        predicted = self.tip(q + u * dt)
        allowed = box_excess(tip, self.lower, self.upper) + 1e-9
        none = np.zeros(u.shape, dtype=bool)
        if not self.config.enabled or box_excess(predicted, self.lower, self.upper) <= allowed:
            return WorkspaceVerdict(u, none, tip, predicted)
        stopped = none.copy()
        for i in range(u.size):
            if u[i] != 0.0:
                alone = q.copy()
                alone[i] += u[i] * dt
                stopped[i] = self.excess(alone) > allowed
        kept = np.where(stopped, 0.0, u)
        if self.excess(q + kept * dt) > allowed:
            stopped = u != 0.0
            kept = np.zeros_like(u)
        return WorkspaceVerdict(kept, stopped, tip, predicted)
