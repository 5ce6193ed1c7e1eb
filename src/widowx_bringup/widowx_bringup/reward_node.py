"""The `reward` node: shaped reward from forward kinematics and the rig's pose, sparse from the link.

Usage (the launch files and `meld-launch` start it for you):
    reward_node --ros-args -r __node:=reward -p robot_model:=wx200

  in   joint_states   sensor_msgs/JointState        the arm (the sim's or the xs_sdk driver's)
  in   rig/pose       geometry_msgs/PoseStamped     measured rig pose: x rail offset m, yaw rotation
  in   task           std_msgs/Int32 (latched)      current task id, from the trainer
  in   link_up        std_msgs/Bool                 the far end of the cable has carrier
  out  reward         geometry_msgs/Vector3Stamped  x: shaped reward, y: sparse reward (0/1),
                                                    z: the plug's distance to the goal, m
The same code scores the sim and the robot: the plug pose comes from `widowx_bringup.kinematics`
(the table the sim's MJCF is generated from) and the goal from `widowx_bringup.scene`. The sparse
reward is the link signal alone, as on the robot; no geometry guesses it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from geometry_msgs.msg import PoseStamped, Vector3Stamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Int32

from .bridge.safety import joint_state_problem, reorder
from .kinematics import ARM_JOINTS, arm_spec, forward
from .ros.node_main import run_node
from .ros.params import declare_config
from .ros.qos import LATCHED, STATE
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
    stale_after: float = 0.5
    """Joint states or rig poses older than this stop the reward with a warning, s."""

    def __post_init__(self) -> None:
        arm_spec(self.robot_model)
        if self.rate_hz <= 0 or self.stale_after <= 0:
            raise ValueError("rate_hz and stale_after must be > 0")


def yaw_of(pose: PoseStamped) -> float:
    q = pose.pose.orientation
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


class RewardNode(Node):
    def __init__(self) -> None:
        super().__init__("reward")
        self.config = cfg = declare_config(self, RewardNodeConfig)
        self.arm = arm_spec(cfg.robot_model)
        self.router, self.plug = RouterGeometry(), PlugGeometry()
        self.reward_config = RewardConfig(rotation_weight=cfg.rotation_weight)
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


def main(args: list[str] | None = None) -> int:
    return run_node(RewardNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
