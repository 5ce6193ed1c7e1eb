"""The cable-insertion task as a gymnasium environment (ids WidowXInsert-v0, WidowXInsertSparse-v0).

Meta-env protocol shared with the other environments of the project (MELD relies on it):
  - `env.unwrapped.train_task_ids` and `heldout_task_ids`: disjoint lists of task ids
    (0-19 training, 20-29 held-out, numbered as in the reset rig's task file);
  - `reset(seed=..., options={"task": task_id or Task})`; with no task, a random training task;
  - `info` at every step: shaped_reward, sparse_reward, success, task_id (and more, below);
  - `env.unwrapped.set_task(task)` changes the task in the middle of an episode (paper, D.2);
  - episodes end by truncation after 40 steps (12 s at 3.3 Hz); `terminated` is always False,
    because seating the plug is not an end: the policy must keep it seated.

Action: five joint velocities, rad/s, held for one control period (0.3 s, 3.3 Hz) while the
joint law of `widowx_bringup.pid` tracks them at 100 Hz, as the PID bridge does on the arm.
Observation: the scene and wrist cameras, 64x64 RGB each, side by side: (64, 128, 3) uint8.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from ..pid import JointVelocityPID, PIDConfig
from ..scene import HOME_TIP, RewardConfig, home_joint_positions
from .core import SimConfig, WidowXSim
from .tasks import Task, TaskSetConfig, sample_tasks

EPISODE_STEPS = 40


@dataclass
class EnvConfig:
    """The episode around the simulated cell."""

    sim: SimConfig = field(default_factory=SimConfig)
    pid: PIDConfig = field(default_factory=PIDConfig)
    tasks: TaskSetConfig = field(default_factory=TaskSetConfig)
    pid_ticks_per_step: int = 30
    """Joint-law ticks per policy step: 30 ticks at 100 Hz is the paper's 3.3 Hz (0.3 s)."""
    max_joint_velocity: tuple[float, ...] = (0.6, 0.6, 0.6, 0.6, 0.8)
    """Action bounds, rad/s per joint (waist, shoulder, elbow, wrist angle, wrist rotate); below
    the servos' limits (1.0 rad/s at the wx200 shoulder) so a random policy stays tame."""
    home_tip: tuple[float, float, float] = HOME_TIP
    """Plug tip position of the home pose, m: 7 cm above the router's centre."""
    reset_noise: float = 0.03
    """Uniform perturbation of each joint at reset, +-rad."""
    settle_steps: int = 50
    """Physics steps at reset so the arm starts at rest under gravity."""

    def __post_init__(self) -> None:
        if self.pid_ticks_per_step < 1:
            raise ValueError("pid_ticks_per_step must be >= 1")
        if len(self.max_joint_velocity) != 5 or min(self.max_joint_velocity) <= 0:
            raise ValueError("max_joint_velocity needs 5 positive values, rad/s")
        if not 0 <= self.reset_noise <= 0.3:
            raise ValueError(f"reset_noise={self.reset_noise} rad: keep it in [0, 0.3]")

    @property
    def control_period(self) -> float:
        return self.pid_ticks_per_step / self.pid.rate_hz


class WidowXInsertEnv(gym.Env):
    """Insert the held Ethernet plug into the goal port of a router the rig has moved."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, sparse: bool = False, render_mode: str | None = None, config: EnvConfig | None = None,
                 cameras: bool | None = None, reward: RewardConfig | None = None, tasks: TaskSetConfig | None = None):
        self.config = config or EnvConfig()
        if tasks is not None:  # the registered ids with every port at each training pose pass it here
            self.config.tasks = tasks
        if cameras is not None:
            self.config.sim.cameras = cameras
        if reward is not None:  # the registered ids with the funnel reward pass it here
            self.config.sim.reward = reward
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}; supported: None, 'rgb_array'")
        self.render_mode = render_mode
        self.sparse = sparse
        self.sim = WidowXSim(self.config.sim)
        arm = self.sim.arm
        self.pid = JointVelocityPID(self.config.pid, arm.lower, arm.upper, arm.velocity_limits)
        self._physics_per_tick = max(1, round(1.0 / (self.config.pid.rate_hz * self.config.sim.timestep)))
        self.tasks: list[Task] = sample_tasks(self.config.tasks)
        self.train_task_ids = [t.task_id for t in self.tasks if t.split == "train"]
        self.heldout_task_ids = [t.task_id for t in self.tasks if t.split == "heldout"]
        s = self.config.sim.image_size
        self.observation_space = gym.spaces.Box(0, 255, (s, 2 * s, 3), dtype=np.uint8)
        v = np.asarray(self.config.max_joint_velocity, dtype=np.float32)
        self.action_space = gym.spaces.Box(-v, v, dtype=np.float32)
        self.home_q = home_joint_positions(arm, self.config.sim.plug, self.config.home_tip)
        self.task: Task = self.tasks[self.train_task_ids[0]]
        self._steps = 0

    # --- tasks ------------------------------------------------------------------------------
    def task_by_id(self, task: int | Task) -> Task:
        if isinstance(task, Task):
            return task
        if isinstance(task, (int, np.integer)) and 0 <= int(task) < len(self.tasks):
            return self.tasks[int(task)]
        raise ValueError(f"unknown task {task!r}: pass a Task or an id in 0..{len(self.tasks) - 1}")

    def set_task(self, task: int | Task) -> None:
        """Switch the goal and move the rig now, also in the middle of an episode."""
        self.task = self.task_by_id(task)
        self.sim.goal_port = self.task.port
        self.sim.set_rig_pose(self.task.translation, self.task.rotation)

    # --- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "task" in options and options["task"] is not None:
            self.set_task(options["task"])
        else:
            self.set_task(int(self.np_random.choice(self.train_task_ids)))
        noise = self.np_random.uniform(-self.config.reset_noise, self.config.reset_noise, size=5)
        q0 = np.clip(self.home_q + noise, self.sim.arm.lower, self.sim.arm.upper)
        self.sim.reset_arm(q0)
        self.pid.reset(q0)
        # Let gravity load the joints with the servos holding still, as a real arm starts.
        for _ in range(max(1, self.config.settle_steps // self._physics_per_tick)):
            self.sim.set_servo_velocity(self.pid.update(np.zeros(5), self.sim.joint_positions()))
            self.sim.advance(self._physics_per_tick)
        self._steps = 0
        return self.sim.render_cameras(), self._info(self.sim.score(), clipped=False)

    def step(self, action):
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action has shape {a.shape}; expected {self.action_space.shape}: "
                             "joint velocities (rad/s) for waist, shoulder, elbow, wrist_angle, wrist_rotate")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action {a.tolist()} is not finite: the policy produced NaN or inf "
                             "(diverged training or a corrupt checkpoint?); the arm was not moved")
        a_clipped = np.clip(a, self.action_space.low, self.action_space.high)
        for _ in range(self.config.pid_ticks_per_step):
            u = self.pid.update(a_clipped, self.sim.joint_positions(), self.sim.joint_velocities())
            self.sim.set_servo_velocity(u)
            self.sim.advance(self._physics_per_tick)
        self._steps += 1
        score = self.sim.score()
        reward = score.sparse_reward if self.sparse else score.shaped_reward
        info = self._info(score, clipped=bool(np.any(a_clipped != a)))
        return self.sim.render_cameras(), float(reward), False, False, info

    def _info(self, score, clipped: bool) -> dict[str, Any]:
        return {
            "shaped_reward": score.shaped_reward,
            "sparse_reward": score.sparse_reward,
            "success": score.success,
            "task_id": self.task.task_id,
            "goal_port": self.task.port,
            "seated_port": score.seated_port,
            "wrong_port": score.wrong_port,
            "distance": score.distance,
            "angle": score.angle,
            "action_clipped": clipped,
        }

    def render(self):
        if self.render_mode == "rgb_array":
            return self.sim.render_video_frame()
        return None

    def close(self) -> None:
        self.sim.close()
