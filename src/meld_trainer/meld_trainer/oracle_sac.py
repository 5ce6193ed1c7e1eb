"""The ladder's first rung: SAC on privileged state that includes the goal (no model, no inference).

If SAC that *sees* the goal cannot insert the plug within MELD's step budget, no belief will help:
the task, the reward, the action scale or the episode length is at fault. This is the project's SAC
(`meld_trainer.sac`) and actor on the observation vector of `WidowXInsertOracle-v0`, with a plain
transition replay; one update per env step after a random warm-up.

    result = train_oracle(OracleConfig(env_steps=80_000), log=print)
    result["curve"]  # [(env_steps, held-out success, trials), ...]
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import gymnasium as gym
import numpy as np
import torch

from meld_policy.actor import Actor
from meld_policy.config import ActorConfig

from .config import SACConfig
from .envs import make_env
from .meta_train import wilson_interval
from .sac import SAC


@dataclass
class OracleConfig:
    """SAC on the oracle state; defaults are SAC's usual ones for a 5-D continuous arm."""

    env_id: str = "WidowXInsertOracle-v0"
    env_steps: int = 80_000
    """Budget of env steps (MELD's: 80,000)."""
    random_steps: int = 2_000
    """Uniform random actions before the policy acts."""
    updates_per_step: float = 1.0
    """SAC updates per env step once learning starts."""
    reward_scale: float = 1.0
    """Multiplies the shaped reward for the critic."""
    eval_every: int = 5_000
    eval_trials: int = 30
    """Held-out episodes per evaluation (cycling over the held-out tasks)."""
    seed: int = 0
    last_reward_in_obs: bool = False
    """Append the previous step's reward to the observation (`LastRewardObs`): on a state env without
    the goal this is the reactive baseline, SAC with no memory that reads the port from (pose, reward)."""
    env_kwargs: dict = field(default_factory=dict)
    """Keyword arguments of the env (e.g. {"config": EnvConfig(...)})."""
    sac: SACConfig = field(default_factory=lambda: SACConfig(batch_size=256))
    actor: ActorConfig = field(default_factory=ActorConfig)


class LastRewardObs(gym.Wrapper):
    """The observation followed by the reward of the step that produced it (0 after a reset).

    On the state rung's envs the plug's pose is in the observation and the reward is a known function
    of that pose and the goal port, so (observation, last reward) names the port at nearly every step:
    SAC with no memory at all can then act on the port, which is what MELD's belief must match."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(np.append(space.low, -np.inf).astype(np.float32),
                                                np.append(space.high, np.inf).astype(np.float32), dtype=np.float32)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return np.append(obs, 0.0).astype(np.float32), info

    def step(self, action):
        obs, r, terminated, truncated, info = self.env.step(action)
        return np.append(obs, r).astype(np.float32), r, terminated, truncated, info


def make_oracle_env(cfg: OracleConfig) -> gym.Env:
    """The env the rung's actor acts in: cfg.env_id, with the last reward appended if cfg says so."""
    env = make_env(cfg.env_id, **cfg.env_kwargs)
    return LastRewardObs(env) if cfg.last_reward_in_obs else env


class TransitionReplay:
    """A ring buffer of (o, a, r, o', not_done) in numpy."""

    def __init__(self, obs_dim: int, act_dim: int, capacity: int):
        self.o = np.zeros((capacity, obs_dim), np.float32)
        self.a = np.zeros((capacity, act_dim), np.float32)
        self.r = np.zeros(capacity, np.float32)
        self.o2 = np.zeros((capacity, obs_dim), np.float32)
        self.nd = np.zeros(capacity, np.float32)
        self.n = self.i = 0
        self.capacity = capacity

    def add(self, o, a, r, o2, not_done) -> None:
        self.o[self.i], self.a[self.i], self.r[self.i], self.o2[self.i], self.nd[self.i] = o, a, r, o2, not_done
        self.i = (self.i + 1) % self.capacity
        self.n = min(self.n + 1, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        idx = rng.integers(self.n, size=n)
        return tuple(torch.from_numpy(x[idx]) for x in (self.o, self.a, self.r, self.o2, self.nd))


def evaluate(env, actor: Actor, tasks: list[int], trials: int, seed: int) -> dict:
    """Deterministic episodes cycling over `tasks`; success = plug seated in the goal port at the last step."""
    successes, distances = 0, []
    for i in range(trials):
        obs, info = env.reset(seed=seed + i, options={"task": tasks[i % len(tasks)]})
        done = False
        while not done:
            a = actor.act(torch.from_numpy(obs)[None], deterministic=True)[0]
            obs, _, terminated, truncated, info = env.step(a)
            done = terminated or truncated
        successes += bool(info["success"])
        distances.append(info["distance"])
    lo, hi = wilson_interval(successes, trials)
    return {"success": successes / trials, "successes": successes, "trials": trials, "ci95": [lo, hi],
            "median_distance": float(np.median(distances))}


def train_oracle(cfg: OracleConfig, log: Callable[[str], None] = lambda s: None) -> dict:
    """Train SAC on the oracle env for cfg.env_steps; returns the held-out curve and the actor."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    env, eval_env = make_oracle_env(cfg), make_oracle_env(cfg)
    u = env.unwrapped
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    high = env.action_space.high.astype(np.float32)
    cfg.actor.action_scale = tuple(float(h) for h in high)
    cfg.actor.__post_init__()
    actor = Actor(cfg.actor, obs_dim)
    sac = SAC(actor, obs_dim, cfg.sac)
    replay = TransitionReplay(obs_dim, act_dim, cfg.env_steps)
    curve, start, updates, owed = [], time.monotonic(), 0, 0.0
    obs, _ = env.reset(seed=cfg.seed, options={"task": int(rng.choice(u.train_task_ids))})
    episode = 0
    for step in range(1, cfg.env_steps + 1):
        if step <= cfg.random_steps:
            a = rng.uniform(-high, high).astype(np.float32)
        else:
            a = actor.act(torch.from_numpy(obs)[None])[0].astype(np.float32)
        obs2, r, terminated, truncated, info = env.step(a)
        # Time-limit truncation is not a terminal state: bootstrap through it.
        replay.add(obs, a / high, cfg.reward_scale * info["shaped_reward"], obs2, 0.0 if terminated else 1.0)
        obs = obs2
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset(seed=cfg.seed * 100_003 + episode, options={"task": int(rng.choice(u.train_task_ids))})
        if step > cfg.random_steps:
            owed += cfg.updates_per_step
            while owed >= 1:
                stats = sac.update(*replay.sample(cfg.sac.batch_size, rng))
                updates, owed = updates + 1, owed - 1
        if step % cfg.eval_every == 0 or step == cfg.env_steps:
            ev = evaluate(eval_env, actor, list(u.heldout_task_ids), cfg.eval_trials, seed=10**7 + step)
            curve.append((step, ev["success"], ev["trials"], ev["ci95"]))
            log(f"{step} env steps, {updates} updates, {time.monotonic() - start:.0f} s: held-out success "
                f"{100 * ev['success']:.0f}% ({ev['successes']}/{ev['trials']}, 95% CI "
                f"{100 * ev['ci95'][0]:.0f}-{100 * ev['ci95'][1]:.0f}%), median final distance "
                f"{1e3 * ev['median_distance']:.1f} mm"
                + (f", alpha {stats['sac/alpha']:.3f}, q {stats['sac/q_mean']:.2f}" if updates else ""))
    env.close()
    eval_env.close()
    return {"curve": curve, "actor": actor, "seconds": time.monotonic() - start, "updates": updates}
