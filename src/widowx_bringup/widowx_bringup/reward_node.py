"""The `reward` node: shaped reward from forward kinematics and the rig's pose, sparse from the link.

Usage (the launch files and `meld-launch` start it for you):
    reward_node --ros-args -r __node:=reward -p robot_model:=wx200

  in   joint_states   sensor_msgs/JointState        the arm (the sim's or the xs_sdk driver's)
  in   rig/pose       geometry_msgs/PoseStamped     measured rig pose: x rail offset m, yaw rotation
  in   task           std_msgs/Int32 (latched)      current task id, from the trainer
  in   link_up        std_msgs/Bool                 the far end of the cable has carrier
  out  reward         geometry_msgs/Vector3Stamped  x: shaped reward, y: sparse reward (0/1),
                                                    z: the plug's distance to the goal, m
  out  goal_marker    visualization_msgs/Marker     with each reward: a plug-sized box in the goal
                                                    port's insertion pose, frame `world` (rviz:
                                                    launch/rviz/meld.rviz)
The same code scores the sim and the robot: the plug pose comes from `widowx_bringup.kinematics`
(the table the sim's MJCF is generated from) and the goal from `widowx_bringup.scene`. The sparse
reward is the link signal alone, as on the robot; no geometry guesses it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseStamped, Vector3Stamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Int32
from visualization_msgs.msg import Marker

from .bridge.safety import joint_state_problem, reorder
from .kinematics import ARM_JOINTS, arm_spec, forward
from meld_ros.node_main import run_node
from meld_ros.params import declare_config
from meld_ros.qos import LATCHED, STATE
from .scene import PlugGeometry, RewardConfig, RouterGeometry, shaped_reward
from .sim.tasks import TaskSetConfig, sample_tasks


@dataclass
class RewardNodeConfig:
    """Parameters of the reward node."""

    robot_model: str = "wx200"
    """Arm whose kinematics give the plug pose."""
    rate_hz: float = 20.0
    """Publishing rate of `reward`."""
    task_seed: int = 0
    """Seed of the task set (must match the sim and the rig's task file)."""
    rotation_weight: float = 1.0
    """Metres of reward per radian of misalignment (paper: the distances added as they are)."""
    funnel_weight: float = 0.0
    """Weight of the log-distance funnel (scene.RewardConfig; 0 is the paper's reward, 0.1 the state
    rung's v2 envs): set it to what the policy was trained with."""
    funnel_scale: float = 0.005
    """Distance where the funnel is steepest, m."""
    stale_after: float = 0.5
    """Joint states or rig poses older than this stop the reward with a warning, s."""

    def __post_init__(self) -> None:
        arm_spec(self.robot_model)
        if self.rate_hz <= 0 or self.stale_after <= 0:
            raise ValueError("rate_hz and stale_after must be > 0")
        self.reward()  # refuses a negative weight or a scale <= 0

    def reward(self) -> RewardConfig:
        return RewardConfig(rotation_weight=self.rotation_weight, funnel_weight=self.funnel_weight,
                            funnel_scale=self.funnel_scale)


WORLD_FRAME = "world"
"""The arm's base frame, which is the sim's world frame: x forward, y left, z up, origin at the
base's foot. On the robot the Interbotix description's `world` link sits at <robot>/base_link, so
the same frame id places the marker on the real arm (WIDOWX.md, docs/robot.md)."""
GOAL_MARKER_LIFETIME = Duration(sec=1)
"""rviz drops the goal box a second after the last reward, so a stalled reward node shows no goal
instead of a stale one."""


def quaternion_xyzw(R: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (x, y, z, w) of a rotation matrix (Shepperd's method: stable for any angle)."""
    t = float(np.trace(R))
    if t > 0.0:
        s = 2.0 * math.sqrt(1.0 + t)
        return (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s
    i = int(np.argmax(np.diag(R)))
    j, k = (i + 1) % 3, (i + 2) % 3
    s = 2.0 * math.sqrt(max(1.0 + R[i, i] - R[j, j] - R[k, k], 1e-12))
    q = [0.0, 0.0, 0.0, (R[k, j] - R[j, k]) / s]
    q[i], q[j], q[k] = 0.25 * s, (R[j, i] + R[i, j]) / s, (R[k, i] + R[i, k]) / s
    return q[0], q[1], q[2], q[3]


def goal_marker(goal_tip: np.ndarray, R_goal: np.ndarray, plug: PlugGeometry, stamp) -> Marker:
    """A box the size of the plug where the plug must end up: tip `goal_tip`, body along the plug
    axis (R_goal's x column, pointing down into the port), width and thickness along y and z, so
    the box also shows the wrist rotation the port asks for."""
    m = Marker()
    m.header.frame_id, m.header.stamp = WORLD_FRAME, stamp
    m.ns, m.id, m.type, m.action = "goal", 0, Marker.CUBE, Marker.ADD
    centre = np.asarray(goal_tip, dtype=float) - 0.5 * plug.length * R_goal[:, 0]
    m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(v) for v in centre)
    o = m.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in quaternion_xyzw(R_goal))
    m.scale.x, m.scale.y, m.scale.z = plug.length, plug.width, plug.thickness
    m.color.r, m.color.g, m.color.b, m.color.a = 0.1, 0.9, 0.2, 0.7
    m.lifetime = GOAL_MARKER_LIFETIME
    return m


def yaw_of(pose: PoseStamped) -> float:
    q = pose.pose.orientation
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


class RewardNode(Node):
    def __init__(self) -> None:
        super().__init__("reward")
        self.config = cfg = declare_config(self, RewardNodeConfig)
        self.arm = arm_spec(cfg.robot_model)
        self.router, self.plug = RouterGeometry(), PlugGeometry()
        self.reward_config = cfg.reward()
        self.tasks = sample_tasks(TaskSetConfig(seed=cfg.task_seed))
        self._q = None
        self._q_time = -math.inf
        self._rig: tuple[float, float] | None = None
        self._rig_time = -math.inf
        self._task: int | None = None
        self._link = False
        self.create_subscription(JointState, "joint_states", self._on_joints, STATE)
        self.create_subscription(PoseStamped, "rig/pose", self._on_rig, STATE)
        self.create_subscription(Int32, "task", self._on_task, LATCHED)
        self.create_subscription(Bool, "link_up", self._on_link, STATE)
        self.pub = self.create_publisher(Vector3Stamped, "reward", STATE)
        self.marker_pub = self.create_publisher(Marker, "goal_marker", STATE)
        self.create_timer(1.0 / cfg.rate_hz, self._on_timer)

    def _on_joints(self, msg: JointState) -> None:
        try:
            q = reorder(list(msg.name), list(msg.position), ARM_JOINTS)
        except (KeyError, ValueError) as exc:
            self.get_logger().error(f"joint_states unusable: {exc}", throttle_duration_sec=2.0)
            return
        if joint_state_problem(q) is None:
            self._q, self._q_time = q, time.monotonic()

    def _on_rig(self, msg: PoseStamped) -> None:
        self._rig, self._rig_time = (float(msg.pose.position.x), yaw_of(msg)), time.monotonic()

    def _on_task(self, msg: Int32) -> None:
        if 0 <= msg.data < len(self.tasks):
            self._task = int(msg.data)
        else:
            self.get_logger().error(f"task {msg.data} does not exist (0..{len(self.tasks) - 1})")

    def _on_link(self, msg: Bool) -> None:
        self._link = bool(msg.data)

    def _on_timer(self) -> None:
        now = time.monotonic()
        waiting = []
        if self._task is None:
            waiting.append("a task on `task`")
        if now - self._q_time > self.config.stale_after:
            waiting.append("fresh joint_states")
        if now - self._rig_time > self.config.stale_after:
            waiting.append("a fresh rig/pose")
        if waiting:
            self.get_logger().warn(f"no reward published: waiting for {', '.join(waiting)}", throttle_duration_sec=5.0)
            return
        task = self.tasks[self._task]
        tip, R = forward(self.arm, self._q, tool_offset=self.plug.tip_offset)
        goal_tip, R_goal = self.router.insertion_pose(task.port, *self._rig)
        reward, distance, _ = shaped_reward(tip, R, goal_tip, R_goal, self.reward_config)
        msg = Vector3Stamped()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = "reward"
        msg.vector.x, msg.vector.y, msg.vector.z = reward, 1.0 if self._link else 0.0, distance
        self.pub.publish(msg)
        self.marker_pub.publish(goal_marker(goal_tip, R_goal, self.plug, msg.header.stamp))


def main(args: list[str] | None = None) -> int:
    return run_node(RewardNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
