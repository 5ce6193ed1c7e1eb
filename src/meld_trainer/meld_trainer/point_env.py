"""PointGoal: a 2D point seen from above, goals on a semicircle (MELD paper, Appendix D.1).

A cheap image meta-RL env for tests and quick learning checks: numpy rendering, thousands of steps
per second. The goal is never drawn, so the task can only be inferred from rewards; that is what
separates MELD (reward as evidence) from the SLAC baseline (no reward input).

    import gymnasium as gym, meld_trainer.point_env
    env = gym.make("PointGoal-v0")                      # or "PointGoalSparse-v0"
    obs, info = env.reset(seed=0, options={"task": 3})  # obs: uint8 (64, 64, 3)

Train tasks 0..19 and held-out tasks 20..29 lie on the upper unit semicircle at disjoint angles.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import register, registry

NUM_TRAIN_TASKS = 20
NUM_HELDOUT_TASKS = 10
EPISODE_STEPS = 15


def goal_angle(task_id: int) -> float:
    """Angle of a task's goal on the semicircle: train goals at pi*i/19, held-out at pi*(j+0.5)/10.

    19*(2j+1) is odd and 20*i is even, so the two sets never share an angle.
    """
    if 0 <= task_id < NUM_TRAIN_TASKS:
        return np.pi * task_id / (NUM_TRAIN_TASKS - 1)
    j = task_id - NUM_TRAIN_TASKS
    if 0 <= j < NUM_HELDOUT_TASKS:
        return np.pi * (j + 0.5) / NUM_HELDOUT_TASKS
    raise ValueError(f"task id {task_id} out of range: use 0..{NUM_TRAIN_TASKS + NUM_HELDOUT_TASKS - 1}")


class PointGoalEnv(gym.Env):
    """Point mass at p in [-1.2, 1.2]^2 starting near `start`; action = velocity, p += step_size * a.

    The default start (0.6, 0) lies off the semicircle's axis of symmetry, so the distance to the goal
    is monotone in the goal's angle: a reward or two identifies the task (from the centre, the first
    rewards are the same for every goal and mirror goals stay ambiguous, which takes far longer to
    learn than a 30-minute CPU budget holds).

    Dense reward: -|p - g|. Sparse reward: 1 when |p - g| < goal_radius. Success: |p - g| < goal_radius.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, sparse: bool = False, image_width: int = 64, step_size: float = 0.2,
                 goal_radius: float = 0.2, episode_steps: int = EPISODE_STEPS, start: tuple = (0.6, 0.0),
                 render_mode: str | None = None):
        if image_width not in (64, 128):
            raise ValueError(f"image_width={image_width}: use 64 (one view) or 128 (two views side by side)")
        self.sparse = sparse
        self.image_width = image_width
        self.step_size = float(step_size)
        self.goal_radius = float(goal_radius)
        self.episode_steps = int(episode_steps)
        self.start = np.asarray(start, dtype=np.float64)
        self.render_mode = render_mode
        self.train_task_ids = list(range(NUM_TRAIN_TASKS))
        self.heldout_task_ids = list(range(NUM_TRAIN_TASKS, NUM_TRAIN_TASKS + NUM_HELDOUT_TASKS))
        self.observation_space = gym.spaces.Box(0, 255, (64, image_width, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        # Pixel centres in world coordinates (y up), computed once: rendering is one masked add.
        coords = (np.arange(64) + 0.5) / 64 * 2.4 - 1.2
        self._px, self._py = np.meshgrid(coords, coords[::-1])
        # A static background with the semicircle drawn faintly: a spatial reference, no task information.
        bg = np.full((64, 64, 3), 30, np.uint8)
        ring = np.abs(np.hypot(self._px, self._py) - 1.0) < 0.02
        bg[ring & (self._py >= 0)] = (70, 70, 70)
        self._background = bg
        self.task_id = 0
        self.goal = np.zeros(2)
        self.pos = np.zeros(2)
        self.t = 0

    def set_task(self, task_id: int) -> None:
        """Change the goal, also in the middle of an episode (paper Appendix D.2)."""
        angle = goal_angle(int(task_id))
        self.task_id = int(task_id)
        self.goal = np.array([np.cos(angle), np.sin(angle)])

    def _render_view(self) -> np.ndarray:
        img = self._background.copy()
        d2 = (self._px - self.pos[0]) ** 2 + (self._py - self.pos[1]) ** 2
        img[d2 < 0.08 ** 2] = (240, 200, 40)
        return img

    def render(self) -> np.ndarray:
        view = self._render_view()
        if self.image_width == 128:
            # Second "camera": the same scene mirrored, so both halves carry the state.
            return np.concatenate([view, view[:, ::-1]], axis=1)
        return view

    def _info(self) -> dict[str, Any]:
        dist = float(np.linalg.norm(self.pos - self.goal))
        inside = dist < self.goal_radius
        return {"shaped_reward": -dist, "sparse_reward": float(inside), "success": bool(inside),
                "task_id": self.task_id, "distance": dist, "goal": self.goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "task" in options:
            self.set_task(options["task"])
        self.pos = self.start + self.np_random.uniform(-0.05, 0.05, size=2)
        self.t = 0
        return self.render(), self._info()

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self.pos = np.clip(self.pos + self.step_size * a, -1.2, 1.2)
        self.t += 1
        info = self._info()
        reward = info["sparse_reward"] if self.sparse else info["shaped_reward"]
        truncated = self.t >= self.episode_steps
        return self.render(), float(reward), False, truncated, info


for _id, _sparse in (("PointGoal-v0", False), ("PointGoalSparse-v0", True)):
    if _id not in registry:
        register(id=_id, entry_point="meld_trainer.point_env:PointGoalEnv", kwargs={"sparse": _sparse},
                 max_episode_steps=EPISODE_STEPS)
