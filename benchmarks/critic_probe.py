"""What the critic of a checkpoint believes along held-out trials: Q(b, a_policy) and Q(b, 0) beside the rewards.

Usage:
  .venv/bin/python benchmarks/critic_probe.py RUN/checkpoints/latest.pt [--trials 3] [--every 5]

For each of the first `--trials` held-out tasks it runs one episode with the actor's mean action, then one
holding still (zero action), and prints at every `--every`-th step the critic's min(Q1, Q2) for the action
taken and for the zero action, the reward, and each trial's return. It answers the question a flat
learning curve raises: does the critic tell states and actions apart (then the actor is the problem), or is
Q nearly the same everywhere (then the critic's targets are)? On the state rung with gamma 0.99 it showed
Q = -44 +- 0.5 for every state and action, for a policy whose return was 4x worse than holding still: with a
100-step horizon and a policy that drifts away, one action barely moves Q, and the TD noise (RMS ~1.6) is
larger than the action gap (~0.3); docs/meld.md, "State rung".
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from meld_policy.checkpoint import load_policy, load_raw
from meld_policy.config import config_from_dict
from meld_trainer.config import SACConfig
from meld_trainer.envs import make_env
from meld_trainer.sac import QNetwork


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--every", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(1)
    policy = load_policy(args.checkpoint)
    raw = load_raw(args.checkpoint)
    sac_cfg, _ = config_from_dict(SACConfig, raw["config"]["sac"], strict=False)
    env = make_env(policy.env_id)
    high = env.action_space.high
    qs = []
    for name in ("qf1", "qf2"):
        q = QNetwork(policy.model_config.feature_dim, len(high), sac_cfg)
        q.load_state_dict(raw["critic"][name])
        qs.append(q.eval())

    def critic(features: torch.Tensor, action: np.ndarray) -> float:
        a = torch.as_tensor(action / high, dtype=torch.float32)[None]
        with torch.no_grad():
            return min(q(features, a).item() for q in qs)

    filt, actor = policy.filter, policy.actor
    print(f"{args.checkpoint}: {policy.env_id}, gamma {sac_cfg.gamma}")
    for task in env.unwrapped.heldout_task_ids[:args.trials]:
        for mode in ("policy", "hold still"):
            obs, _ = env.reset(seed=task, options={"task": task})
            belief = filt.step(None, obs, 0.0, None, is_first=True)
            total, done, t = 0.0, False, 0
            while not done:
                f = belief.features[:1]
                a = actor.act(f, deterministic=True)[0] if mode == "policy" else np.zeros_like(high)
                q_a, q_0 = critic(f, a), critic(f, np.zeros_like(high))
                obs, r, terminated, truncated, info = env.step(a.astype(np.float32))
                belief = filt.step(belief, obs, r, a, is_first=False)
                total += float(info["shaped_reward"])
                if t % args.every == 0:
                    print(f"  task {task} {mode:10s} step {t:2d}: Q(b,a) {q_a:7.2f}  Q(b,0) {q_0:7.2f}  "
                          f"shaped reward {info['shaped_reward']:6.2f}")
                t += 1
                done = terminated or truncated
            print(f"task {task} {mode}: shaped return {total:.1f}, success {bool(info['success'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
