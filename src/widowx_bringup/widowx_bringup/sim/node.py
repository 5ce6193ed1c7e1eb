"""The `sim` node: the MuJoCo cell behind the same topics as the real robot's hardware.

Usage (the launch files and `meld-launch sim` start it for you):
    sim_node --ros-args -r __node:=sim -p camera_rate_hz:=15.0

It stands in for three pieces of hardware at once:
  - the arm's servos: `sim/servo_velocity` (std_msgs/Float64MultiArray, rad/s, arm joint order
    waist..wrist_rotate) in, `joint_states` (sensor_msgs/JointState, 100 Hz) out. Like the real
    Dynamixels in velocity mode, a servo keeps its last command until told otherwise: stopping the
    arm is the PID bridge's job, so the sim tests it;
  - the two webcams: `scene_camera/image_raw` and `wrist_camera/image_raw` (sensor_msgs/Image,
    rgb8, sensor-data QoS);
  - the far end of the cable: `link_up` (std_msgs/Bool), true while the plug is seated in the
    goal port of the current task (`task`, std_msgs/Int32, latched, from the trainer).
The router follows the reset rig's measured pose (`rig/pose`, geometry_msgs/PoseStamped: x the
rail offset from the rig's centre in m, yaw the rotation) when `follow_rig` is true; otherwise it
jumps to the current task's pose, for runs without a rig node. Physics runs in real time on one
timer; all callbacks share one mutually exclusive group, so the MuJoCo state needs no lock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64MultiArray, Int32

from ..kinematics import ARM_JOINTS
from meld_ros.images import rgb_to_image
from meld_ros.loop_monitor import LoopMonitor, diagnostics_message
from meld_ros.node_main import run_node
from meld_ros.params import declare_config
from meld_ros.qos import COMMAND, LATCHED, SENSOR, STATE
from ..scene import home_joint_positions
from .core import SimConfig, WidowXSim
from .tasks import TaskSetConfig, sample_tasks


@dataclass
class SimNodeConfig:
    """Parameters of the sim node."""

    robot_model: str = "wx200"
    """Interbotix arm model the simulated arm copies (wx200 or wx250)."""
    physics_rate_hz: float = 100.0
    """Rate of the physics timer; each tick advances the sim by 1/physics_rate_hz s of time."""
    camera_rate_hz: float = 15.0
    """Rate at which both camera images are rendered and published."""
    image_size: int = 64
    """Side of each published camera image, px (the policy resizes to 64 anyway)."""
    link_rate_hz: float = 10.0
    """Rate of the link_up signal (it is also published at once when it changes)."""
    follow_rig: bool = True
    """Router follows `rig/pose` from the reset rig node; false: it jumps to each task's pose."""
    task_seed: int = 0
    """Seed of the task set; must match the reset rig's task file and the reward node."""
    servo_quantization: bool = True
    """Truncate servo commands to the Dynamixel's 0.02398 rad/s steps, as the real servos do."""
    initial_task: int = 0
    """Task in place until the trainer publishes one."""

    def __post_init__(self) -> None:
        for name in ("physics_rate_hz", "camera_rate_hz", "link_rate_hz"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")


JOINT_STATE_NAMES = list(ARM_JOINTS) + ["left_finger", "right_finger"]


class SimNode(Node):
    def __init__(self) -> None:
        super().__init__("sim")
        self.config = cfg = declare_config(self, SimNodeConfig)
        self.sim = WidowXSim(SimConfig(robot_model=cfg.robot_model, image_size=cfg.image_size,
                                       servo_quantization=cfg.servo_quantization))
        self.tasks = sample_tasks(TaskSetConfig(seed=cfg.task_seed))
        self._physics_steps = max(1, round(1.0 / (cfg.physics_rate_hz * self.sim.config.timestep)))
        self.sim.reset_arm(home_joint_positions(self.sim.arm, self.sim.config.plug))
        self._apply_task(cfg.initial_task)
        self._link = False

        self.joint_pub = self.create_publisher(JointState, "joint_states", STATE)
        self.scene_pub = self.create_publisher(Image, "scene_camera/image_raw", SENSOR)
        self.wrist_pub = self.create_publisher(Image, "wrist_camera/image_raw", SENSOR)
        self.link_pub = self.create_publisher(Bool, "link_up", STATE)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(Float64MultiArray, "sim/servo_velocity", self._on_servo, COMMAND)
        self.create_subscription(PoseStamped, "rig/pose", self._on_rig_pose, STATE)
        self.create_subscription(Int32, "task", self._on_task, LATCHED)

        self.physics_loop = LoopMonitor("sim: physics", cfg.physics_rate_hz)
        self.camera_loop = LoopMonitor("sim: cameras", cfg.camera_rate_hz)
        self.create_timer(1.0 / cfg.physics_rate_hz, self._on_physics)
        self.create_timer(1.0 / cfg.camera_rate_hz, self._on_cameras)
        self.create_timer(1.0 / cfg.link_rate_hz, lambda: self._publish_link(force=True))
        self.create_timer(1.0, self._on_diagnostics)
        self.get_logger().info(
            f"simulated {cfg.robot_model}: physics {cfg.physics_rate_hz:.0f} Hz, cameras {cfg.camera_rate_hz:.0f} Hz "
            f"at {cfg.image_size}x{cfg.image_size}, router {'follows rig/pose' if cfg.follow_rig else 'jumps to each task'}"
        )

    # --- inputs -----------------------------------------------------------------------------
    def _apply_task(self, task_id: int) -> None:
        if not 0 <= task_id < len(self.tasks):
            self.get_logger().error(f"task {task_id} does not exist (0..{len(self.tasks) - 1}); keeping task "
                                    f"{getattr(self, 'task_id', None)}")
            return
        self.task_id = task_id
        task = self.tasks[task_id]
        self.sim.goal_port = task.port
        if not self.config.follow_rig:
            self.sim.set_rig_pose(task.translation, task.rotation)

    def _on_task(self, msg: Int32) -> None:
        self._apply_task(int(msg.data))
        self.get_logger().info(f"task {self.task_id}: goal port {self.sim.goal_port}")

    def _on_servo(self, msg: Float64MultiArray) -> None:
        u = np.asarray(msg.data, dtype=float)
        if u.shape != (len(ARM_JOINTS),) or not np.all(np.isfinite(u)):
            self.get_logger().error(f"servo command {list(msg.data)} rejected: need {len(ARM_JOINTS)} finite "
                                    "velocities (rad/s) in the order waist..wrist_rotate; servos keep their last command")
            return
        self.sim.set_servo_velocity(u)

    def _on_rig_pose(self, msg: PoseStamped) -> None:
        if not self.config.follow_rig:
            return
        q = msg.pose.orientation
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        self.sim.set_rig_pose(float(msg.pose.position.x), yaw)

    # --- outputs ----------------------------------------------------------------------------
    def _on_physics(self) -> None:
        self.sim.advance(self._physics_steps)
        self.physics_loop.tick()
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = JOINT_STATE_NAMES
        msg.position = [*self.sim.joint_positions().tolist(), *self.sim.finger_positions().tolist()]
        msg.velocity = [*self.sim.joint_velocities().tolist(), 0.0, 0.0]
        self.joint_pub.publish(msg)
        self._publish_link(force=False)

    def _publish_link(self, force: bool) -> None:
        link = bool(self.sim.score().success)
        if force or link != self._link:
            self._link = link
            self.link_pub.publish(Bool(data=link))

    def _on_cameras(self) -> None:
        image = self.sim.render_cameras()
        stamp = self.get_clock().now().to_msg()
        s = self.config.image_size
        self.scene_pub.publish(rgb_to_image(image[:, :s], stamp, "scene_camera"))
        self.wrist_pub.publish(rgb_to_image(image[:, s:], stamp, "wrist_camera"))
        self.camera_loop.tick()

    def _on_diagnostics(self) -> None:
        self.diag_pub.publish(diagnostics_message(self, [self.physics_loop.status("sim"),
                                                         self.camera_loop.status("sim")]))

    def on_shutdown(self) -> None:
        self.sim.close()


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args, threads=1)  # one thread: the EGL context is bound to it


if __name__ == "__main__":
    raise SystemExit(main())
