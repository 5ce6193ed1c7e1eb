"""Geometry of the insertion task and the reward: the router on its rig, its ports, the plug.

Plain math shared by the simulator (which builds its MJCF from these numbers and scores its own
state) and the reward node (which scores the real arm from forward kinematics and the rig's
measured pose). The router lies face up on the rig: a 5-DoF arm can point the plug straight
down anywhere in reach and turn it with wrist_rotate, so every rig rotation is reachable; a
front-facing port would need the sixth degree of freedom the arm does not have.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .kinematics import ArmSpec, downward_ik, rot_z, rotation_angle

HOME_TIP = (0.30, 0.0, 0.115)
"""Plug tip position of the home pose, m: 7 cm above the router's centre, pointing down."""

# Gripper orientation with the plug pointing down and the gripper y axis along world y:
# columns are the gripper x (down), y and z axes in the world.
PLUG_DOWN = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])


@dataclass(frozen=True)
class PlugGeometry:
    """The RJ45 plug held in the gripper, along the gripper x axis."""

    length: float = 0.024
    """Plug body length, m; it ends `tip_offset` beyond ee_gripper_link."""
    width: float = 0.0117
    """Along the gripper y axis, m (the RJ45 plug's 11.7 mm)."""
    thickness: float = 0.008
    """Along the gripper z axis, m."""
    tip_offset: float = 0.024
    """Distance of the plug tip beyond ee_gripper_link along gripper x, m."""


@dataclass(frozen=True)
class RouterGeometry:
    """Router lying face up on the reset rig, ports in a row along the router's y axis."""

    rig_origin: tuple[float, float, float] = (0.30, 0.0, 0.0)
    """Rig rotation axis foot in the arm's base frame, m; translation moves it along world y."""
    num_ports: int = 4
    port_spacing: float = 0.02
    """Centre-to-centre distance of neighbouring ports, m."""
    top_height: float = 0.045
    """Height of the router's top face above the table, m."""
    hole_width: float = 0.0137
    """Port opening along the router y axis, m (plug width + 1 mm clearance each side)."""
    hole_length: float = 0.010
    """Port opening along the router x axis, m (plug thickness + 1 mm clearance each side)."""
    hole_depth: float = 0.016
    """Depth of the port, m."""
    seat_depth: float = 0.012
    """Depth of the plug tip below the top face in the goal insertion pose, m."""
    seated_min_depth: float = 0.009
    """The plug counts as seated ("link up") once its tip is at least this deep in a port, m."""
    seated_max_angle: float = math.radians(20.0)
    """...and its orientation is within this angle of the port's insertion orientation."""
    half_x: float = 0.04
    half_y: float = 0.055

    def __post_init__(self) -> None:
        if self.num_ports < 2:
            raise ValueError("the router needs at least 2 ports for a wrong port to exist")
        if self.hole_width >= self.port_spacing:
            raise ValueError("hole_width must be smaller than port_spacing: neighbouring ports would merge")
        if not 0 < self.seated_min_depth < self.seat_depth < self.hole_depth:
            raise ValueError("need 0 < seated_min_depth < seat_depth < hole_depth")
        if (self.num_ports - 1) * self.port_spacing / 2 + self.hole_width / 2 >= self.half_y:
            raise ValueError("ports do not fit on the router: raise half_y or lower port_spacing")

    def port_offsets(self) -> np.ndarray:
        """Port centres along the router y axis, m."""
        n = self.num_ports
        return (np.arange(n) - (n - 1) / 2.0) * self.port_spacing

    def router_frame(self, translation: float, rotation: float) -> tuple[np.ndarray, np.ndarray]:
        """Origin and rotation of the router's frame in the world frame, the rig at this pose."""
        return np.asarray(self.rig_origin) + np.array([0.0, translation, 0.0]), rot_z(rotation)

    def port_frame(self, port: int, translation: float, rotation: float) -> tuple[np.ndarray, np.ndarray]:
        """Centre of a port's opening (on the top face) and the router's rotation, world frame."""
        origin, R = self.router_frame(translation, rotation)
        centre = origin + R @ np.array([0.0, self.port_offsets()[port], self.top_height])
        return centre, R

    def insertion_pose(self, port: int, translation: float, rotation: float) -> tuple[np.ndarray, np.ndarray]:
        """Goal pose of the plug: tip `seat_depth` inside the port, pointing down, aligned."""
        centre, R = self.port_frame(port, translation, rotation)
        return centre - np.array([0.0, 0.0, self.seat_depth]), R @ PLUG_DOWN

    def seated_port(self, tip: np.ndarray, R_plug: np.ndarray, translation: float, rotation: float) -> int:
        """Index of the port the plug is seated in, or -1."""
        for port in range(self.num_ports):
            centre, R = self.port_frame(port, translation, rotation)
            p = R.T @ (np.asarray(tip) - centre)
            inside = abs(p[0]) <= self.hole_length / 2 and abs(p[1]) <= self.hole_width / 2
            if inside and p[2] <= -self.seated_min_depth:
                if rotation_angle(R_plug, R @ PLUG_DOWN) <= self.seated_max_angle:
                    return port
        return -1


@dataclass(frozen=True)
class RewardConfig:
    """Shaped reward = -(translation distance + rotation_weight * rotation distance
    + funnel_weight * log(1 + (translation distance / funnel_scale)^2)).

    The funnel term (off by default: the paper adds the two distances as they are) is the
    log-distance penalty of Levine et al.'s peg-insertion cost (JMLR 2016): steep within a few
    funnel_scale of the goal, flat far away. Without it neighbouring ports, 20 mm apart, differ by
    0.02 of a reward that spans ~1, so a model must learn the reward to ~1% before its belief can
    tell the goal port from its neighbours (docs/meld.md, state rung); with weight 0.1 and scale
    5 mm they differ by ~0.3.
    """

    rotation_weight: float = 1.0
    """Metres of reward per radian of misalignment; the paper adds the two distances as they are."""
    funnel_weight: float = 0.0
    """Weight of the log-distance funnel; 0 is the paper's reward."""
    funnel_scale: float = 0.005
    """Distance, m, where the funnel's slope is steepest (its weight / scale per metre)."""

    def __post_init__(self) -> None:
        if self.rotation_weight < 0 or self.funnel_weight < 0:
            raise ValueError("rotation_weight and funnel_weight must be >= 0")
        if self.funnel_scale <= 0:
            raise ValueError(f"funnel_scale={self.funnel_scale} m must be > 0 (5 mm is documented)")


def shaped_reward(tip: np.ndarray, R_plug: np.ndarray, goal_tip: np.ndarray, R_goal: np.ndarray,
                  config: RewardConfig = RewardConfig()) -> tuple[float, float, float]:
    """(reward, translation distance m, rotation distance rad) of the plug to its goal pose."""
    d = float(np.linalg.norm(np.asarray(tip) - np.asarray(goal_tip)))
    angle = rotation_angle(R_plug, R_goal)
    cost = d + config.rotation_weight * angle
    if config.funnel_weight:
        cost += config.funnel_weight * math.log1p((d / config.funnel_scale) ** 2)
    return -cost, d, angle


def home_joint_positions(arm: ArmSpec, plug: PlugGeometry = PlugGeometry(),
                         tip: tuple[float, float, float] = HOME_TIP) -> np.ndarray:
    """The home pose: plug pointing down above the router, gripper y along world y."""
    return downward_ik(arm, np.asarray(tip, dtype=float), math.pi / 2, plug.tip_offset)
