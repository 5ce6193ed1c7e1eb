"""Does a state-rung belief read the goal port from the rewards, and does it hold on to it?

Usage:
  .venv/bin/python benchmarks/port_probe.py RUN/checkpoints/latest.pt [--repeats 2]

The policy's own episodes confound the port with where the policy goes and, on training tasks, with
the rig pose (each of the 20 training poses has one port). Here the path does not depend on the goal:
for every task's rig pose (training and held-out) and each of the four goal ports, a scripted inserter
heads for a port drawn at random, with action noise, and the checkpoint's model filters the episode
with the rewards of the goal port. Two figures:

- the belief's predicted (shaped) reward at steps 10-40 against the true one (RMSE), given r_t and from
  memory (without r_t: `reward_from_memory`; below port-blind only if the belief holds the port), beside
  the port-blind predictor, the four ports' mean reward at the plug's true pose; split by whether the goal
  is the task's own port, and by training or held-out pose. Equal rows mean the belief reads the reward
  rather than recalling each training pose's port;
- whether the belief holds the goal port: a classifier from the belief features at steps 25-40 to the
  goal port, fit on three quarters of the rig poses and scored on the rest (chance 25%), beside the
  same classifier on the raw observation (which does not hold the port) and on the last five
  observations with their rewards.

On the state rung (docs/meld.md, "sixth run") a model with the reward's std at 0.003 read the reward to
0.004 (port-blind 0.011) and still held the port no better than chance.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from belief_probe import load_state_policy, port_blind_reward  # benchmarks/ is the script's folder
from meld_trainer.envs import make_env
from widowx_bringup.sim.scripted import ScriptedInserter

NOISE = 0.15  # action noise, a fraction of the bounds: the paths vary without leaving the router


COLUMNS = ("belief", "obs", "history", "goal", "pose", "split", "own_port", "t", "reward", "predicted", "memory",
           "blind")


@torch.no_grad()
def reward_from_memory(model, previous, obs: np.ndarray, action: np.ndarray) -> float:
    """The reward at step t as the belief predicts it without r_t: what it carried from earlier steps.

    A model trained with `reward_input_dropout` has learnt to take a withheld reward (flag 0), so it
    filters x_t without r_t; any other model reads a 0 there as a reward, so its one-step prior
    (z1_t from z2_{t-1}, a_{t-1}) stands in. Means, not samples."""
    a = torch.as_tensor(action, dtype=torch.float32).reshape(1, -1)
    if model.cfg.reward_input_dropout > 0:
        e = model.encode(torch.as_tensor(obs, dtype=model.obs_dtype).reshape(1, -1))
        h = model.evidence(e, torch.zeros(1), present=torch.zeros(1))
        zero1, zero2 = torch.zeros(1, model.cfg.z1_dim), torch.zeros(1, model.cfg.z2_dim)
        s = model.posterior_step(h, previous.z2, a, zero1, zero2)  # zero noise: the means
        return float(model.predict_reward(s.z1, s.z2)[0])
    mean1, _ = model.z1_prior(previous.z2, a)
    mean2, _ = model.z2_next(mean1, previous.z2, a)
    return float(model.predict_reward(mean1, mean2)[0])


def episodes(policy, env, repeats: int, seed: int = 0) -> dict[str, np.ndarray]:
    """One row per step from step 10 on, as columns: belief features, observation, the last 5
    observations with their rewards, goal port, rig pose (task id), split, whether the goal is the task's
    own port, step, shaped reward, the belief's predicted reward with r_t and without it (from memory),
    the port-blind reward."""
    u = env.unwrapped
    rng = np.random.default_rng(seed)
    high, low = env.action_space.high, env.action_space.low
    rows: dict[str, list] = {c: [] for c in COLUMNS}
    for task in u.tasks:
        for goal in range(u.sim.router.num_ports):
            for _ in range(repeats):
                obs, _ = env.reset(seed=int(rng.integers(1 << 30)), options={"task": replace(task, port=goal)})
                inserter = ScriptedInserter(u, port=int(rng.integers(u.sim.router.num_ports)))
                belief = policy.filter.step(None, obs, 0.0, None, is_first=True)
                history, t, done = [], 0, False
                while not done:
                    a = np.clip(inserter.act() + rng.normal(0.0, NOISE, high.shape) * high, low, high).astype(np.float32)
                    obs, r, terminated, truncated, info = env.step(a)
                    memory = reward_from_memory(policy.filter.model, belief, obs, a) if t >= 10 else 0.0
                    belief = policy.filter.step(belief, obs, r, a, is_first=False)
                    history.append(np.r_[obs, 10.0 * info["shaped_reward"]])
                    if t >= 10:
                        with torch.no_grad():
                            predicted = float(policy.filter.predicted_reward(belief)[0])
                        row = (belief.features[0].numpy(), np.asarray(obs, np.float32), np.concatenate(history[-5:]),
                               goal, task.task_id, task.split, goal == task.port, t,
                               info["shaped_reward"], predicted, memory, port_blind_reward(u))
                        for c, v in zip(COLUMNS, row):
                            rows[c].append(v)
                    t, done = t + 1, terminated or truncated
    return {c: np.array(v) for c, v in rows.items()}


def classifier_accuracy(x: np.ndarray, y: np.ndarray, group: np.ndarray, folds: int = 4) -> float:
    """Accuracy of an MLP classifier on rig poses it was not fit on (poses split by id modulo `folds`)."""
    scores = []
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    for fold in range(folds):
        test = torch.tensor(group % folds == fold)
        mu, sd = xt[~test].mean(0), xt[~test].std(0) + 1e-6
        xn = (xt - mu) / sd
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, int(y.max()) + 1))
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        train_idx = torch.nonzero(~test).squeeze(1)
        for _ in range(1500):
            idx = train_idx[torch.randint(len(train_idx), (256,))]
            loss = torch.nn.functional.cross_entropy(net(xn[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            scores.append((net(xn[test]).argmax(1) == yt[test]).float().mean().item())
    return float(np.mean(scores))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--repeats", type=int, default=2, help="episodes per rig pose and goal port")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the filter samples z; with the seeded paths the figures repeat
    policy = load_state_policy(args.checkpoint, "port_probe")
    if policy is None:
        return 2
    env = make_env(policy.env_id)
    d = episodes(policy, env, args.repeats)
    env.close()
    rmse = lambda m, x: float(np.sqrt(np.mean((d[x][m] - d["reward"][m]) ** 2)))  # noqa: E731
    print(f"{args.checkpoint}: {policy.env_id}, scripted approaches to random ports, {len(d['t'])} steps")
    memory = "r_t withheld" if policy.filter.model.cfg.reward_input_dropout > 0 else "one-step prior"
    print(f"  reward RMSE at steps 10-40            belief   from memory ({memory})   port-blind")
    for s in ("train", "heldout"):
        for is_own, label in ((True, "goal = the task's port"), (False, "goal = another port")):
            m = (d["split"] == s) & (d["own_port"] == is_own)
            print(f"  {s:8s} {label:26s}  {rmse(m, 'predicted'):.4f}   {rmse(m, 'memory'):.4f}"
                  f"{' ' * (len(memory) + 8)}{rmse(m, 'blind'):.4f}")
    late = d["t"] >= 25
    acc = lambda c: classifier_accuracy(d[c][late], d["goal"][late], d["pose"][late])  # noqa: E731
    print("  goal port from steps 25-40, on rig poses the classifier was not fit on (chance 25%): "
          f"belief {acc('belief'):.0%}, raw observation {acc('obs'):.0%}, last 5 observations and rewards "
          f"{acc('history'):.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
