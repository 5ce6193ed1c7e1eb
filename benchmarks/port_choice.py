"""Which port does a state-rung policy head for, when does it choose, and does it ever change its mind?

Usage:
  .venv/bin/python benchmarks/port_choice.py RUN/checkpoints/latest.pt [--trials-per-task 3] [--tasks heldout|train]

A held-out success rate says how often the plug ends seated in the goal port; it does not say why the
rest fail. This runs meld-eval's trial (`collect.run_trial`, the actor's mean action) on each task and
records, every step, the plug tip's distance to each port's insertion point. Per trial it prints the
goal port, how the trial ended (seated; at the goal port unseated; in front of another port, within
15 mm of it, a port's spacing being ~19 mm; lost), the final distances, and the nearest port every
fourth step (the `path`: "3111111111" left the start near port 3 for port 1 by step 4 and stayed).
The summary counts the endings and the trials that reached one port's mouth (within 8 mm) and later
another's, in the same episode or the next one of a sparse trial (`changed its mind`): on the state rung
(docs/meld.md, eleventh run) every failure of R4 was a wrong port chosen within the first few steps
and never left, on training tasks too, and port 0 was never chosen.
"""
from __future__ import annotations

import argparse
from collections import Counter

import gymnasium as gym
import numpy as np
import torch

from belief_probe import load_state_policy  # benchmarks/ is the script's folder
from meld_trainer.collect import TrialJob, run_trial
from meld_trainer.envs import is_sparse, make_env

NEAR_MM = 15.0  # in front of a port (ports are ~19 mm apart)
AT_MM = 8.0  # at a port's mouth (seated, the tip is ~4 mm from the insertion point)


class PortDistances(gym.Wrapper):
    """Records after every step the plug tip's distance (m) to each port's insertion point, per episode."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.episodes: list[list[list[float]]] = []  # the caller empties it before each trial

    def reset(self, **kwargs):
        self.distances: list[list[float]] = []
        self.episodes.append(self.distances)
        return self.env.reset(**kwargs)

    def step(self, action):
        out = self.env.step(action)
        u = self.env.unwrapped
        tip, _ = u.sim.plug_pose()
        self.distances.append([float(np.linalg.norm(tip - u.sim.router.insertion_pose(p, u.task.translation,
                                                                                        u.task.rotation)[0]))
                               for p in range(u.sim.router.num_ports)])
        return out


def ending(success: bool, goal: int, final: np.ndarray) -> str:
    """How a trial ended, from its success and the final distances (mm) to each port."""
    nearest = int(final.argmin())
    if success:
        return "seated"
    if final[nearest] >= NEAR_MM:
        return "lost"
    return "at the goal, unseated" if nearest == goal else "at another port"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--trials-per-task", type=int, default=3)
    p.add_argument("--tasks", choices=("heldout", "train"), default="heldout")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    policy = load_state_policy(args.checkpoint, "port_choice")
    if policy is None:
        return 2
    env = PortDistances(make_env(policy.env_id))
    u = env.unwrapped
    episodes = 2 if is_sparse(policy.env_id) else 1
    tasks = u.heldout_task_ids if args.tasks == "heldout" else u.train_task_ids
    endings, changed, by_goal = Counter(), 0, Counter()
    print(f"{args.checkpoint}: {policy.env_id}, {args.tasks} tasks, {args.trials_per_task} trials each; "
          f"ending and distances of the trial's last episode, paths of its {episodes} episode(s)")
    for task in tasks:
        for k in range(args.trials_per_task):
            env.episodes = []
            _, s = run_trial(env, policy.filter, policy.actor, episodes,
                             TrialJob(task, mode="policy", seed=10**7 + 97 * task + k, deterministic=True))
            goal = u.task.port
            trial = [1e3 * np.asarray(e) for e in env.episodes]
            d = trial[-1]
            nearest = d.argmin(1)
            end = ending(bool(s["success"]), goal, d[-1])
            endings[end] += 1
            by_goal[(goal, end == "seated")] += 1
            visited = [int(q) for e in trial for q, dist in zip(e.argmin(1), e.min(1)) if dist < AT_MM]
            changed += int(len(set(visited)) > 1)
            paths = " | ".join("".join(map(str, e.argmin(1)[::4])) for e in trial)
            print(f"  task {task:3d} goal {goal}: {end:22s} final {d[-1, goal]:5.1f} mm from the goal, nearest port "
                  f"{nearest[-1]} at {d[-1].min():5.1f} mm; path {paths}")
    n = sum(endings.values())
    print(f"endings over {n} trials: " + ", ".join(f"{k} {v}" for k, v in endings.most_common()))
    print(f"trials that reached one port's mouth and later another's (changed its mind): {changed}/{n}")
    print("seated by goal port: " + ", ".join(f"port {g} {by_goal[(g, True)]}/{by_goal[(g, True)] + by_goal[(g, False)]}"
                                              for g in sorted({g for g, _ in by_goal})))
    env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
