"""One trial of one task with a filter and an actor: the same function in the trainer's process and in
every collection worker (meld_trainer/pool.py), so both collect exactly the same trials.

A trial is `episodes_per_trial` episodes with the belief carried across them. Its randomness comes
from the job alone: env resets from `seed + k`, random actions and the filter's and actor's noise
from generators seeded with `seed`; the caller's global RNG streams are left untouched. That makes a
trial a pure function of (weights, task, mode, seed), wherever and whenever it runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from meld_policy.actor import Actor
from meld_policy.filter import BeliefFilter


@dataclass
class TrialJob:
    """What to collect: task, mode ('random', 'search', 'policy' or 'rescue': the policy's, taken over by the
    simulator's scripted inserter after a wrong seat), seed; the pool adds an id and the weights version.
    The learner writes the episode files when it consumes a result, so that files and counters agree."""

    task_id: int
    mode: str = "policy"
    seed: int = 0
    deterministic: bool = False
    reward_particles: int = 0
    """Filter this many belief particles and record the predicted reward's mean and std (the paper's figure 6)."""
    video: bool = False
    """Record a video frame of both cameras per step (summary["video"]), for watching a trial."""
    job_id: int = -1
    version: int = -1


def run_trial(env, filt: BeliefFilter | None, actor: Actor | None, episodes_per_trial: int, job: TrialJob
              ) -> tuple[list[dict], dict]:
    """Collect one trial; returns its episodes (the episode-file arrays) and a summary."""
    devices = [filt.device] if filt is not None and filt.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(job.seed)
        return _run_trial(env, filt, actor, episodes_per_trial, job)


def _run_trial(env, filt, actor, episodes_per_trial, job):
    high = env.action_space.high
    rng = np.random.default_rng(job.seed)
    policy = job.mode in ("policy", "rescue")
    if job.mode in ("search", "rescue"):  # the simulator's scripted controllers (WidowX envs; checked at the start)
        from widowx_bringup.sim.scripted import PortSearch, WrongPortRescue
    if policy and (filt is None or actor is None):
        raise ValueError("a policy trial needs a filter and an actor")
    episodes, pred_mean, pred_std, video, rescued = [], [], [], [], 0
    sim = getattr(env.unwrapped, "sim", None)

    def record_frame(obs):
        if job.video:
            video.append(sim.render_video_frame() if sim is not None else np.asarray(obs))
    belief, n = None, max(1, job.reward_particles)

    def record_prediction():
        r_hat = filt.predicted_reward(belief)
        pred_mean.append(r_hat.mean().item())
        pred_std.append(r_hat.std().item() if n > 1 else 0.0)

    for k in range(episodes_per_trial):
        obs, info = env.reset(seed=job.seed + k, options={"task": job.task_id})
        ep = {"images": [obs], "actions": [], "rewards": [0.0], "shaped_rewards": [0.0], "sparse_rewards": [0.0],
              "success": [False]}
        a_prev = np.zeros(env.action_space.shape, np.float32)
        record_frame(obs)
        search = PortSearch(env.unwrapped, rng, known=k > 0) if job.mode == "search" else None
        rescue = WrongPortRescue(env.unwrapped, rng) if job.mode == "rescue" else None
        if policy:
            belief = filt.step(belief, np.broadcast_to(obs, (n, *obs.shape)), 0.0, a_prev, is_first=(k == 0))
        done = False
        while not done:
            a = rescue.act(info) if rescue is not None else None
            if a is not None:
                a = a.astype(np.float32)
            elif policy:
                a = actor.act(belief.features[:1], deterministic=job.deterministic)[0].astype(np.float32)
                if job.reward_particles:
                    record_prediction()
            elif search is not None:
                a = search.act()
            else:
                a = rng.uniform(-high, high).astype(np.float32)
            obs, r, terminated, truncated, info = env.step(a)
            record_frame(obs)
            ep["images"].append(obs)
            ep["actions"].append(a)
            ep["rewards"].append(float(r))
            ep["shaped_rewards"].append(float(info["shaped_reward"]))
            ep["sparse_rewards"].append(float(info["sparse_reward"]))
            ep["success"].append(bool(info["success"]))
            if policy:
                belief = filt.step(belief, np.broadcast_to(obs, (n, *obs.shape)), float(r), a, is_first=False)
            done = terminated or truncated
        if policy and job.reward_particles:
            record_prediction()
        rescued += rescue is not None and rescue.took_over
        episodes.append({"images": np.stack(ep["images"]), "actions": np.stack(ep["actions"]).astype(np.float32),
                         **{key: np.asarray(ep[key], np.float32) for key in ("rewards", "shaped_rewards", "sparse_rewards")},
                         "success": np.asarray(ep["success"], bool)})
    summary = {"success": bool(episodes[-1]["success"][-1]),
               "returns": [float(ep["rewards"].sum()) for ep in episodes],
               "shaped_returns": [float(ep["shaped_rewards"].sum()) for ep in episodes],
               "final_distance": float(info.get("distance", float("nan"))),
               "predicted_reward_mean": pred_mean, "predicted_reward_std": pred_std, "video": video,
               "rescued_episodes": int(rescued)}
    return episodes, summary
