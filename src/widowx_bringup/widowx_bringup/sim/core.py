"""The simulated cell without any control loop: physics, the rig, scoring and cameras.

The gymnasium environment drives it with the 3.3 Hz policy and the 100 Hz joint law; the ROS sim
node drives it with servo commands from the PID bridge and rig poses from the reset rig. Both
therefore share this class, and its scoring is the reward definition of the task.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..kinematics import ARM_JOINTS, arm_spec
from ..scene import PlugGeometry, RewardConfig, RouterGeometry, shaped_reward
from .model import SCENE_CAMERA, WRIST_CAMERA, build_mjcf
from .render import SideBySideRenderer, mujoco

# Dynamixel velocity resolution: 1 LSB = 0.229 rpm = 0.02398 rad/s, truncated toward zero.
SERVO_VELOCITY_LSB = 0.02398


@dataclass
class SimConfig:
    """The simulated cell: which arm, physics step, cameras and scoring."""

    robot_model: str = "wx200"
    """Interbotix model whose kinematics and limits the arm has (wx200 or wx250)."""
    timestep: float = 0.002
    """Physics step, s."""
    image_size: int = 64
    """Side of each camera's square image, px; the observation is image_size x 2*image_size."""
    video_size: int = 240
    """Side of each camera's image for `render()` (videos, demos), px."""
    cameras: bool = True
    """Render the cameras; off gives all-black observations, for fast checks of the physics."""
    servo_quantization: bool = True
    """Truncate servo velocity commands to the Dynamixel's 0.02398 rad/s steps, as the real
    servo does (it gives an outer position loop its small limit cycle)."""
    router: RouterGeometry = field(default_factory=RouterGeometry)
    plug: PlugGeometry = field(default_factory=PlugGeometry)
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        arm_spec(self.robot_model)  # raises with the list of known models
        if not 1e-4 <= self.timestep <= 0.01:
            raise ValueError(f"timestep={self.timestep}: choose 0.1-10 ms (2 ms is tested)")
        if not 16 <= self.image_size <= 512 or not 16 <= self.video_size <= 1024:
            raise ValueError("image_size must be 16-512 px and video_size 16-1024 px")


@dataclass(frozen=True)
class Score:
    """How the plug stands relative to the goal port, and what that earns."""

    shaped_reward: float
    sparse_reward: float
    success: bool
    distance: float
    """Plug tip to goal insertion point, m."""
    angle: float
    """Plug orientation to goal insertion orientation, rad."""
    seated_port: int
    """Port the plug is seated in, -1 if none."""

    @property
    def wrong_port(self) -> bool:
        return self.seated_port >= 0 and not self.success


class WidowXSim:
    """MuJoCo model and state of the arm, the plug, the router on its rig and both cameras."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.arm = arm_spec(self.config.robot_model)
        self.router = self.config.router
        xml = build_mjcf(self.arm, self.router, self.config.plug, self.config.timestep,
                         render_width=max(self.config.video_size, self.config.image_size),
                         render_height=max(self.config.video_size, self.config.image_size))
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        m = self.model
        jid = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in ARM_JOINTS]
        self._qadr = np.array([m.jnt_qposadr[i] for i in jid])
        self._vadr = np.array([m.jnt_dofadr[i] for i in jid])
        self._act = np.array([mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in ARM_JOINTS])
        self._gripper_act = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, "gripper")
        finger = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in ("left_finger", "right_finger")]
        self._finger_qadr = [m.jnt_qposadr[i] for i in finger]
        rig = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in ("rig_translation", "rig_rotation")]
        self._rig_qadr = [m.jnt_qposadr[i] for i in rig]
        self._rig_vadr = [m.jnt_dofadr[i] for i in rig]
        self._rig_act = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in ("rig_translation", "rig_rotation")]
        self._tip_site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "plug_tip")
        self._plug_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "plug")
        self._ee_site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "ee_gripper")
        self._ctrl_limit = m.actuator_ctrlrange[self._act, 1].copy()
        self.goal_port = 0
        self._renderer: SideBySideRenderer | None = None
        self._video_renderer: SideBySideRenderer | None = None
        self.reset_arm(np.zeros(len(ARM_JOINTS)))

    # --- state ------------------------------------------------------------------------------
    def reset_arm(self, q: np.ndarray) -> None:
        """Place the arm at q, at rest, fingers closed on the plug."""
        d = self.data
        d.qpos[self._qadr] = q
        d.qvel[:] = 0.0
        lo = self.arm.finger_range[0]
        d.qpos[self._finger_qadr[0]], d.qpos[self._finger_qadr[1]] = lo, -lo
        d.ctrl[self._act] = 0.0
        d.ctrl[self._gripper_act] = lo
        d.qacc_warmstart[:] = 0.0
        mujoco.mj_forward(self.model, d)

    def set_rig_pose(self, translation: float, rotation: float) -> None:
        """Put the router at a rig pose at once (m along world y, rad about z)."""
        d = self.data
        d.qpos[self._rig_qadr] = (translation, rotation)
        d.qvel[self._rig_vadr] = 0.0
        d.ctrl[self._rig_act] = (translation, rotation)
        mujoco.mj_forward(self.model, d)

    def rig_pose(self) -> tuple[float, float]:
        """Measured rig pose (translation m, rotation rad)."""
        t, r = self.data.qpos[self._rig_qadr]
        return float(t), float(r)

    def set_servo_velocity(self, u: np.ndarray) -> np.ndarray:
        """Command the five arm servos (rad/s); returns what the servos actually run."""
        u = np.clip(np.asarray(u, dtype=float), -self._ctrl_limit, self._ctrl_limit)
        if self.config.servo_quantization:
            u = np.trunc(u / SERVO_VELOCITY_LSB) * SERVO_VELOCITY_LSB
        self.data.ctrl[self._act] = u
        return u

    def advance(self, n_steps: int) -> None:
        mujoco.mj_step(self.model, self.data, nstep=n_steps)

    @property
    def time(self) -> float:
        return float(self.data.time)

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self._vadr].copy()

    def finger_positions(self) -> np.ndarray:
        return self.data.qpos[self._finger_qadr].copy()

    def plug_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Plug tip position and plug orientation (columns: gripper x, y, z) in the world."""
        return self.data.site_xpos[self._tip_site].copy(), self.data.xmat[self._plug_body].reshape(3, 3).copy()

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        return self.data.site_xpos[self._ee_site].copy(), self.data.site_xmat[self._ee_site].reshape(3, 3).copy()

    # --- scoring ----------------------------------------------------------------------------
    def goal_pose(self) -> tuple[np.ndarray, np.ndarray]:
        return self.router.insertion_pose(self.goal_port, *self.rig_pose())

    def score(self) -> Score:
        tip, R = self.plug_pose()
        goal_tip, R_goal = self.goal_pose()
        reward, distance, angle = shaped_reward(tip, R, goal_tip, R_goal, self.config.reward)
        seated = self.router.seated_port(tip, R, *self.rig_pose())
        success = seated == self.goal_port
        return Score(reward, 1.0 if success else 0.0, success, distance, angle, seated)

    # --- cameras ----------------------------------------------------------------------------
    def render_cameras(self) -> np.ndarray:
        """Scene and wrist camera side by side, (image_size, 2 * image_size, 3) uint8."""
        s = self.config.image_size
        if not self.config.cameras:
            return np.zeros((s, 2 * s, 3), dtype=np.uint8)
        if self._renderer is None:
            self._renderer = SideBySideRenderer(self.model, (SCENE_CAMERA.name, WRIST_CAMERA.name), s, s)
        return self._renderer.render(self.data)

    def render_video_frame(self) -> np.ndarray:
        """Both cameras at video_size, for demos and videos."""
        if self._video_renderer is None:
            s = self.config.video_size
            self._video_renderer = SideBySideRenderer(self.model, (SCENE_CAMERA.name, WRIST_CAMERA.name), s, s)
        return self._video_renderer.render(self.data)

    def close(self) -> None:
        for r in (self._renderer, self._video_renderer):
            if r is not None:
                r.close()
        self._renderer = self._video_renderer = None
