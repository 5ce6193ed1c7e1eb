"""Low-dimensional observations of the insertion task: the rungs of MELD's learnability ladder.

The image task mixes three difficulties: perception, control precision and task inference. These
variants take perception out, so that a CPU can tell which of the other two breaks:

- `WidowXInsertOracle-v0`: privileged state *with* the goal (joint positions and velocities, plug
  tip and orientation, the goal insertion pose and the error to it). Plain SAC on it shows that the
  task, the reward, the action scale and the episode length allow insertion at all.
- `WidowXInsertState-v0` / `WidowXInsertStateSparse-v0`: joint positions and the rig pose, **not**
  the goal port. The port is known only through the reward, as in the image task, so MELD with an
  MLP encoder on this vector shows whether reward-as-evidence task inference works here.
- `WidowXInsertState-v1` / `WidowXInsertStateSparse-v1`: the same vector followed by the plug's pose in
  the router's frame (forward kinematics of the same joints and rig pose; still no goal). The cameras
  show the plug beside the router, so a convolutional encoder reads that relative pose; from v0's
  joint angles and rig pose a network must learn forward kinematics across the 20 training rig poses
  to the millimetre before the ports' rewards differ in what it predicts (docs/meld.md, eighth run).
- `WidowXInsertState-v2` / `WidowXInsertStateSparse-v2`: v1's observation with the funnel reward
  (`RewardConfig.funnel_weight` 0.1, `FUNNEL_REWARD`): a log-distance term that makes neighbouring
  ports differ by ~0.3 of reward instead of 0.02 (docs/meld.md, ninth run).
- `WidowXInsertState-v3` / `WidowXInsertStateSparse-v3`: v2 meta-trained on each training rig pose
  with every port (`tasks.TaskSetConfig.train_ports="all"`, 80 training tasks), so that the rig pose in
  the observation does not name the port; the same 10 held-out tasks (docs/meld.md, eleventh run).

Same physics, rewards (v2's funnel aside), episode length, tasks (v3's added training tasks aside) and `info` as
`WidowXInsert-v0`; the cameras are off (about twice the steps per second).
"""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from ..kinematics import rotation_angle
from ..scene import PLUG_DOWN
from .env import WidowXInsertEnv

STATE_DIM = 7
RELATIVE_STATE_DIM = STATE_DIM + 3 + 6
ORACLE_DIM = 5 + 5 + 3 + 3 + 3 + 2 + 2 + 1


class _LowDimInsertEnv(WidowXInsertEnv):
    """WidowXInsertEnv with a float32 vector observation in place of the camera images."""

    obs_dim: int = 0

    def __init__(self, sparse: bool = False, render_mode: str | None = None, config=None, reward=None, tasks=None):
        super().__init__(sparse=sparse, render_mode=render_mode, config=config, cameras=False, reward=reward,
                         tasks=tasks)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        _, info = super().reset(seed=seed, options=options)
        return self.observe(), info

    def step(self, action):
        _, reward, terminated, truncated, info = super().step(action)
        return self.observe(), reward, terminated, truncated, info

    def observe(self) -> np.ndarray:
        raise NotImplementedError


class WidowXInsertStateEnv(_LowDimInsertEnv):
    """Observation: the five joint positions (rad) and the rig pose (translation in cm, rotation in
    rad): what the arm's encoders and the rig report. The goal port is not in it."""

    obs_dim = STATE_DIM

    def observe(self) -> np.ndarray:
        t, r = self.sim.rig_pose()
        return np.concatenate([self.sim.joint_positions(), [100.0 * t, r]]).astype(np.float32)


class WidowXInsertRelativeStateEnv(WidowXInsertStateEnv):
    """Observation: v0's vector, then the plug tip in the router's frame (cm, from the rig's origin)
    and the plug's x and z axes in that frame: where the plug is relative to the ports, as the cameras
    see it, without saying which port is the goal."""

    obs_dim = RELATIVE_STATE_DIM

    def observe(self) -> np.ndarray:
        origin, R_router = self.sim.router.router_frame(*self.sim.rig_pose())
        tip, R_plug = self.sim.plug_pose()
        rel = R_router.T @ R_plug
        return np.concatenate([super().observe(), 100.0 * R_router.T @ (tip - origin),
                               rel[:, 0], rel[:, 2]]).astype(np.float32)

    def port_rewards(self, obs: np.ndarray) -> np.ndarray:
        """The shaped reward every port of the router would have given at these observations, (..., ports).

        The plug's pose in the router's frame is in the observation and the shaped reward is a function
        of it and the goal port's insertion pose in that frame (the same at every rig pose), so a
        recorded trial can be scored as if another port had been its goal: hindsight relabelling of
        the model's training trials (`train.model_reward_relabel`). Matches `step`'s reward on its own
        goal port to float32 precision (tests/sim/test_state_env.py).
        """
        obs = np.asarray(obs, dtype=np.float64)
        router, cfg = self.sim.router, self.sim.config.reward
        tip = obs[..., 7:10] / 100.0
        x, z = obs[..., 10:13], obs[..., 13:16]
        R_plug = np.stack([x, np.cross(z, x), z], axis=-1)  # columns: the plug's x, y, z axes
        origin, R_router = router.router_frame(0.0, 0.0)
        out = []
        for port in range(router.num_ports):
            goal, R_goal = router.insertion_pose(port, 0.0, 0.0)
            goal, R_goal = R_router.T @ (goal - origin), R_router.T @ R_goal
            d = np.linalg.norm(tip - goal, axis=-1)
            c = (np.einsum("...ij,ij->...", R_plug, R_goal) - 1.0) / 2.0  # trace(R_plug^T R_goal)
            cost = d + cfg.rotation_weight * np.arccos(np.clip(c, -1.0, 1.0))
            if cfg.funnel_weight:
                cost = cost + cfg.funnel_weight * np.log1p((d / cfg.funnel_scale) ** 2)
            out.append(-cost)
        return np.stack(out, axis=-1)

    def port_sparse_rewards(self, obs: np.ndarray) -> np.ndarray:
        """The sparse reward ("link up": the plug seated) every port would have given at these observations,
        (..., ports) of 0.0 and 1.0: `port_rewards`' companion for relabelling the sparse ids' trials.

        The router's seated test (`Router.seated_port`) in the router's frame, vectorised: the tip within
        the hole's outline, at least `seated_min_depth` below its top face, the plug within
        `seated_max_angle` of pointing down the port. Matches `step`'s `seated_port` (tests/sim/test_state_env.py).
        """
        obs = np.asarray(obs, dtype=np.float64)
        router = self.sim.router
        origin, _ = router.router_frame(0.0, 0.0)  # the observation's frame is the router's at pose zero
        tip = origin + obs[..., 7:10] / 100.0
        x, z = obs[..., 10:13], obs[..., 13:16]
        R_plug = np.stack([x, np.cross(z, x), z], axis=-1)
        out = []
        for port in range(router.num_ports):
            centre, R = router.port_frame(port, 0.0, 0.0)
            p = (tip - centre) @ R  # R^T (tip - centre), row vectors
            inside = (np.abs(p[..., 0]) <= router.hole_length / 2) & (np.abs(p[..., 1]) <= router.hole_width / 2) \
                & (p[..., 2] <= -router.seated_min_depth)
            c = (np.einsum("...ij,ij->...", R_plug, R @ PLUG_DOWN) - 1.0) / 2.0
            aligned = np.arccos(np.clip(c, -1.0, 1.0)) <= router.seated_max_angle
            out.append((inside & aligned).astype(np.float32))
        return np.stack(out, axis=-1)


def _yaw(R: np.ndarray) -> float:
    """Heading of the plug's (or port's) y axis in the world xy plane, rad."""
    return math.atan2(R[1, 1], R[0, 1])


class WidowXInsertOracleEnv(_LowDimInsertEnv):
    """Privileged observation with the goal: what a scripted controller reads from the simulator.

    [q (5), qdot (5), tip (3, cm), goal tip (3, cm), tip - goal (3, cm), sin/cos of the plug's yaw,
    sin/cos of the goal's yaw, angle to the goal orientation (rad)]. Positions in centimetres keep
    every entry of order one.
    """

    obs_dim = ORACLE_DIM

    def observe(self) -> np.ndarray:
        tip, R = self.sim.plug_pose()
        goal, R_goal = self.sim.goal_pose()
        yaw, goal_yaw = _yaw(R), _yaw(R_goal)
        return np.concatenate([
            self.sim.joint_positions(), self.sim.joint_velocities(),
            100.0 * (tip - np.array(self.sim.router.rig_origin)), 100.0 * (goal - np.array(self.sim.router.rig_origin)),
            100.0 * (tip - goal), [math.sin(yaw), math.cos(yaw), math.sin(goal_yaw), math.cos(goal_yaw)],
            [rotation_angle(R, R_goal)],
        ]).astype(np.float32)
