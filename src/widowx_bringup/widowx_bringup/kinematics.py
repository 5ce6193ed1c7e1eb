"""WidowX kinematics: the one kinematic source for the MuJoCo model, the reward node and IK.

The joint table comes from the Interbotix ROS 2 description (see shared/WIDOWX.md): every joint
origin has zero rotation, so at q = 0 every frame is parallel to the base (x forward, y left,
z up). The MJCF of the simulator is generated from these tables, and the reward node computes
the plug pose with `forward` from the same numbers, so the two cannot drift apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ARM_JOINTS = ("waist", "shoulder", "elbow", "wrist_angle", "wrist_rotate")


@dataclass(frozen=True)
class JointSpec:
    """One revolute arm joint: where it sits in its parent's frame and what it may do."""

    name: str
    origin: tuple[float, float, float]
    """Joint origin in the parent frame, metres (the joint has no origin rotation)."""
    axis: tuple[float, float, float]
    lower: float
    """Lower position limit, rad."""
    upper: float
    """Upper position limit, rad."""
    velocity_limit: float
    """Velocity limit, rad/s (the URDF's; the wx200 shoulder is the slowest at 1.0)."""


@dataclass(frozen=True)
class ArmSpec:
    """A 5-DoF Interbotix arm: five revolute joints, then fixed offsets to the fingertips."""

    name: str
    joints: tuple[JointSpec, ...]
    ee_offset: float
    """Distance along the gripper x axis from the wrist_rotate joint to ee_gripper_link, m
    (gripper link -> ee arm link 0.043, -> fingers link 0.023, -> ee gripper link 0.027575)."""
    finger_range: tuple[float, float] = (0.015, 0.037)
    """left_finger prismatic range, m; right_finger mirrors it."""

    @property
    def lower(self) -> np.ndarray:
        return np.array([j.lower for j in self.joints])

    @property
    def upper(self) -> np.ndarray:
        return np.array([j.upper for j in self.joints])

    @property
    def velocity_limits(self) -> np.ndarray:
        return np.array([j.velocity_limit for j in self.joints])


_EE_OFFSET = 0.043 + 0.023 + 0.027575

WX200 = ArmSpec(
    name="wx200",
    joints=(
        JointSpec("waist", (0.0, 0.0, 0.072), (0.0, 0.0, 1.0), -3.14158, 3.14158, 3.1416),
        JointSpec("shoulder", (0.0, 0.0, 0.03865), (0.0, 1.0, 0.0), -1.8850, 1.9722, 1.0),
        JointSpec("elbow", (0.05, 0.0, 0.2), (0.0, 1.0, 0.0), -1.8850, 1.6232, 3.1416),
        JointSpec("wrist_angle", (0.2, 0.0, 0.0), (0.0, 1.0, 0.0), -1.7453, 2.1468, 3.1416),
        JointSpec("wrist_rotate", (0.065, 0.0, 0.0), (1.0, 0.0, 0.0), -3.14158, 3.14158, 3.1416),
    ),
    ee_offset=_EE_OFFSET,
)

WX250 = ArmSpec(
    name="wx250",
    joints=(
        WX200.joints[0],
        JointSpec("shoulder", (0.0, 0.0, 0.03865), (0.0, 1.0, 0.0), -1.8850, 1.9897, 1.0),
        JointSpec("elbow", (0.04975, 0.0, 0.25), (0.0, 1.0, 0.0), -2.1468, 1.6057, 3.1416),
        JointSpec("wrist_angle", (0.25, 0.0, 0.0), (0.0, 1.0, 0.0), -1.7453, 2.1468, 3.1416),
        WX200.joints[4],
    ),
    ee_offset=_EE_OFFSET,
)

ARMS = {"wx200": WX200, "wx250": WX250}


def arm_spec(robot_model: str) -> ArmSpec:
    try:
        return ARMS[robot_model]
    except KeyError:
        raise ValueError(
            f"unknown robot_model {robot_model!r}; this stack knows {sorted(ARMS)} (5-DoF arms)"
        ) from None


def axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix about a unit axis (Rodrigues)."""
    x, y, z = axis
    c, s = math.cos(angle), math.sin(angle)
    C = 1.0 - c
    return np.array(
        [
            [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
            [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
            [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
        ]
    )


def rot_z(angle: float) -> np.ndarray:
    return axis_rotation(np.array([0.0, 0.0, 1.0]), angle)


def forward(arm: ArmSpec, q: np.ndarray, tool_offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pose of ee_gripper_link (or a point `tool_offset` further along gripper x) in the base frame.

    Returns (position (3,), rotation (3, 3)); the rotation's columns are the gripper's x, y, z axes.
    """
    q = np.asarray(q, dtype=float)
    if q.shape != (len(arm.joints),):
        raise ValueError(f"expected {len(arm.joints)} joint positions, got shape {q.shape}")
    p = np.zeros(3)
    R = np.eye(3)
    for joint, q_i in zip(arm.joints, q):
        p = p + R @ np.asarray(joint.origin)
        R = R @ axis_rotation(np.asarray(joint.axis), float(q_i))
    p = p + R @ np.array([arm.ee_offset + tool_offset, 0.0, 0.0])
    return p, R


def downward_ik(arm: ArmSpec, tip: np.ndarray, yaw: float, tool_offset: float) -> np.ndarray:
    """Joint angles that put a tool tip at `tip` pointing straight down, turned to `yaw`.

    The tool lies along the gripper x axis, `tool_offset` beyond ee_gripper_link. Pointing down
    is what a 5-DoF arm can do anywhere in its workspace: the waist aims the arm's plane at the
    target, shoulder and elbow place the wrist, wrist_angle makes the pitch 90 degrees, and
    wrist_rotate (then about the vertical) sets `yaw`, the world heading of the gripper y axis.
    Elbow-up solution. Raises ValueError when the point is out of reach or outside the limits.
    """
    tip = np.asarray(tip, dtype=float)
    j = arm.joints
    psi = math.atan2(tip[1], tip[0])
    r = math.hypot(tip[0], tip[1])
    # Wrist_angle joint: straight above the tip by the wrist-to-tip length.
    wrist_to_tip = j[4].origin[0] + arm.ee_offset + tool_offset
    shoulder_height = j[0].origin[2] + j[1].origin[2]
    dr = r - j[1].origin[0]
    dz = tip[2] + wrist_to_tip - shoulder_height
    a_x, a_z = j[2].origin[0], j[2].origin[2]  # upper arm vector at q = 0, in the arm plane
    L1 = math.hypot(a_x, a_z)
    L2 = j[3].origin[0]
    alpha0 = math.atan2(a_z, a_x)  # elevation of the upper arm at shoulder = 0
    c = (dr * dr + dz * dz - L1 * L1 - L2 * L2) / (2.0 * L1 * L2)
    if not -1.0 <= c <= 1.0:
        raise ValueError(f"tool tip {tip.round(4).tolist()} is out of reach of {arm.name} pointing down")
    delta = math.acos(c)  # elevation of the upper arm minus that of the forearm (elbow up)
    phi1 = math.atan2(dz, dr) + math.atan2(L2 * math.sin(delta), L1 + L2 * math.cos(delta))
    shoulder = alpha0 - phi1  # positive shoulder rotation lowers the arm
    elbow = delta - alpha0
    wrist_angle = math.pi / 2 - shoulder - elbow
    wrist_rotate = math.remainder(psi + math.pi / 2 - yaw, 2 * math.pi)
    q = np.array([psi, shoulder, elbow, wrist_angle, wrist_rotate])
    if np.any(q < arm.lower) or np.any(q > arm.upper):
        raise ValueError(f"IK solution {q.round(3).tolist()} for tip {tip.round(4).tolist()} violates the joint limits")
    return q


def rotation_angle(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """Geodesic distance between two rotations, rad (the angle of R_a^T R_b)."""
    c = (np.trace(R_a.T @ R_b) - 1.0) / 2.0
    return float(math.acos(min(1.0, max(-1.0, c))))
