"""How precisely can a network learn the state rung's shaped reward, even with the goal port given?

Usage:
  .venv/bin/python benchmarks/reward_fit.py RUN_DIR [--updates 40000] [--hidden 256]

MELD tells the ports apart only through the reward: its model must predict, from what the belief holds,
the reward each port would give, finely enough that the ports' predictions differ by more than the
error. Here the ports 2 cm apart change the reward by about 0.01 (the port-blind predictor's RMSE,
the four ports' mean reward at the plug's pose), while the reward spans about 0.3 over the workspace.

This fits a plain MLP (2 x `--hidden`, Adam 1e-3 with a cosine decay, batches of 256) to the shaped
reward of a state-rung run's replay (RUN_DIR/episodes), from the observation (joint positions, rig
pose) *with the goal port as a one-hot*: supervised learning with the answer the belief has to infer
handed over. It prints the RMSE on the rig poses it was fit on and on a fifth of the poses held out,
at five points of training, beside port-blind (from forward kinematics of the logged joints). A fit
that stays above port-blind on unseen poses cannot tell the ports apart there however well it
remembers; the latent model, whose reward decoder learns the same function through the belief, gets
`train.model_updates_per_iter` x the iterations before `train.model_freeze_env_steps` (about 4,600
updates in the `state` preset).

On run E's replay (1,590 episodes, docs/meld.md, seventh run) a fit took about 4 minutes on one core.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from belief_probe import port_rewards  # benchmarks/ is the script's folder
from meld_trainer.envs import make_env
from widowx_bringup.kinematics import forward
from widowx_bringup.sim.state_env import RELATIVE_STATE_DIM, STATE_DIM


def load(run_dir: Path, env_id: str) -> dict[str, np.ndarray] | None:
    """Per step after a reset: observation, goal port, task id, shaped reward, port-blind reward and
    the reward recomputed by forward kinematics (a check that the logged joints give the reward)."""
    files = sorted((run_dir / "episodes").glob("*.npz"))
    if not files:
        print(f"reward_fit: no episode files in {run_dir / 'episodes'}; give a state-rung run folder "
              "(meld-train --env WidowXInsertState-v0 --config state --run-dir ...)", file=sys.stderr)
        return None
    env = make_env(env_id)
    u = env.unwrapped
    router, arm, offset = u.sim.router, u.sim.arm, u.sim.config.plug.tip_offset
    out: dict[str, list] = {k: [] for k in ("obs", "port", "task", "reward", "blind", "fk")}
    for f in files:
        d = np.load(f)
        obs = d["images"]
        if obs.ndim != 2 or obs.shape[1] not in (STATE_DIM, RELATIVE_STATE_DIM):
            print(f"reward_fit: {f.name} holds observations of shape {obs.shape[1:]}, not the state rung's "
                  f"{STATE_DIM}-D (v0) or {RELATIVE_STATE_DIM}-D (v1, v2) vectors; give a WidowXInsertState run folder", file=sys.stderr)
            return None
        task = u.tasks[int(d["task_id"])]
        for o, r in zip(obs[1:], d["shaped_rewards"][1:]):
            tip, R = forward(arm, o[:5].astype(float), offset)
            # rig pose in cm, rad; the env's reward (v2: with the funnel)
            per_port = port_rewards(router, tip, R, float(o[5]) / 100.0, float(o[6]), u.config.sim.reward)
            for k, v in (("obs", o), ("port", task.port), ("task", task.task_id), ("reward", r),
                         ("blind", np.mean(per_port)), ("fk", per_port[task.port])):
                out[k].append(v)
    env.close()
    return {k: np.asarray(v) for k, v in out.items()}


def fit(x: np.ndarray, y: np.ndarray, unseen: np.ndarray, updates: int, hidden: int) -> list[tuple[int, float, float]]:
    """(updates, RMSE on the poses fit on, RMSE on unseen poses) at five points of training."""
    torch.manual_seed(0)
    xt, yt, test = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), torch.tensor(unseen)
    mu, sd = xt[~test].mean(0), xt[~test].std(0) + 1e-6
    xn = (xt - mu) / sd
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ELU(), torch.nn.Linear(hidden, hidden),
                              torch.nn.ELU(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, updates)
    train_idx = torch.nonzero(~test).squeeze(1)
    points = []
    for i in range(1, updates + 1):
        idx = train_idx[torch.randint(len(train_idx), (256,))]
        loss = ((net(xn[idx]).squeeze(-1) - yt[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if i % max(1, updates // 5) == 0 or i == updates:
            with torch.no_grad():
                err = (net(xn).squeeze(-1) - yt) ** 2
            points.append((i, float(err[~test].mean().sqrt()), float(err[test].mean().sqrt())))
    return points


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--env", default="WidowXInsertState-v0")
    p.add_argument("--updates", type=int, default=40000)
    p.add_argument("--hidden", type=int, default=256)
    args = p.parse_args()
    if args.updates < 5 or args.hidden < 1:
        print("reward_fit: --updates must be >= 5 and --hidden >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    d = load(args.run_dir, args.env)
    if d is None:
        return 2
    unseen = d["task"] % 5 == 0
    rmse = lambda a, m: float(np.sqrt(np.mean((a[m] - d["reward"][m]) ** 2)))  # noqa: E731
    print(f"{args.run_dir}: {len(d['reward'])} steps of {len(np.unique(d['task']))} rig poses; reward spread "
          f"(std) {d['reward'].std():.3f}; forward kinematics gives the logged reward to {rmse(d['fk'], ~unseen | unseen):.4f}")
    print(f"  port-blind RMSE: fit poses {rmse(d['blind'], ~unseen):.4f}, unseen poses {rmse(d['blind'], unseen):.4f}")
    onehot = np.eye(int(d["port"].max()) + 1)[d["port"]]
    for label, x in (("observation + goal port", np.c_[d["obs"], onehot]), ("observation only", d["obs"])):
        start = time.monotonic()
        for i, seen_rmse, unseen_rmse in fit(x, d["reward"], unseen, args.updates, args.hidden):
            print(f"  {label:24s} {i:6d} updates: RMSE fit poses {seen_rmse:.4f}, unseen poses {unseen_rmse:.4f}")
        print(f"  ({time.monotonic() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
