"""How precisely a checkpoint's belief knows where the plug is and where the goal is (state rung).

Usage:
  .venv/bin/python benchmarks/belief_probe.py RUN/checkpoints/latest.pt [--episodes 80] [--actions random|policy]

Insertion needs millimetres; a belief that knows the plug only to centimetres leaves the actor and the
critic guessing, whatever they learn. This runs `--episodes` episodes on training tasks and a quarter as
many on held-out tasks, filters each with the checkpoint's model, and fits a small MLP probe from the belief
features to the plug tip (mm), the joint positions (mrad) and the goal insertion point (mm) on the
training-task episodes. It prints the probe's error on the held-out episodes, over all steps and over
each episode's last 10, beside the same probe fit on the raw observation vector: that row is the
ceiling for the plug and the joints (the observation holds them exactly) and knows nothing of the goal
(the observation does not hold it; only the rewards do). Actions: uniform at half the bounds (`random`)
or the checkpoint's actor, sampled (`policy`). On the state rung it showed that with the image preset's
fixed observation variance (0.1) the belief placed the plug to 72 mm (median) and the joints to 321 mrad,
no better than their spread; docs/meld.md, "State rung". Last, it runs one trial per task with the actor's
mean action and counts where they end: seated in the goal port, in another port, or nearest the goal port.
It also scores the belief's predicted (shaped) reward on the held-out episodes beside a port-blind
predictor, the ports' mean reward at the plug's true pose: on the state rung with the reward's std at 0.05
the belief predicted worse than port-blind, so no amount of RL could have found the goal port from it.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from meld_policy.checkpoint import CheckpointError, load_policy
from meld_trainer.collect import TrialJob, run_trial
from meld_trainer.envs import is_sparse, make_env
from widowx_bringup.scene import RewardConfig, shaped_reward

TARGETS = (("plug tip, mm", slice(0, 3)), ("joints, mrad", slice(3, 8)), ("goal, mm", slice(8, 11)))


def port_rewards(router, tip, R, translation: float, rotation: float,
                 reward: RewardConfig = RewardConfig()) -> list[float]:
    """The shaped reward (the env's: the funnel on v2) the plug at (tip, R) would get for each port."""
    return [shaped_reward(tip, R, *router.insertion_pose(p, translation, rotation), reward)[0]
            for p in range(router.num_ports)]


def port_blind_reward(u) -> float:
    """The shaped reward's mean over the router's ports at the plug's pose: the best prediction of a
    belief that knows the plug exactly and the goal port not at all."""
    return float(np.mean(port_rewards(u.sim.router, *u.sim.plug_pose(), u.task.translation, u.task.rotation,
                                      u.config.sim.reward)))


def rollouts(policy, env, tasks: list[int], n: int, seed: int, actions: str):
    """(belief features, raw observations, targets, step index, rewards) of n episodes cycling over tasks;
    rewards holds per step the shaped reward, the belief's predicted reward and the port-blind one."""
    u = env.unwrapped
    rng = np.random.default_rng(seed)
    high = env.action_space.high
    F, O, Y, T, Rw = [], [], [], [], []
    for i in range(n):
        obs, _ = env.reset(seed=seed + i, options={"task": tasks[i % len(tasks)]})
        belief = policy.filter.step(None, obs, 0.0, None, is_first=True)
        done, t = False, 0
        while not done:
            if actions == "policy":
                a = policy.actor.act(belief.features[:1])[0].astype(np.float32)
            else:
                a = rng.uniform(-0.5 * high, 0.5 * high).astype(np.float32)
            obs, r, terminated, truncated, info = env.step(a)
            belief = policy.filter.step(belief, obs, r, a, is_first=False)
            with torch.no_grad():
                predicted = float(policy.filter.predicted_reward(belief)[0])
            Rw.append((info["shaped_reward"], predicted, port_blind_reward(u)))
            tip, _ = u.sim.plug_pose()
            goal, _ = u.sim.goal_pose()
            F.append(belief.features[0].numpy())
            O.append(np.asarray(obs, np.float32))
            Y.append(np.r_[1e3 * tip, 1e3 * u.sim.joint_positions(), 1e3 * goal])
            T.append(t)
            t, done = t + 1, terminated or truncated
    as_t = lambda x: torch.tensor(np.array(x), dtype=torch.float32)  # noqa: E731
    return as_t(F), as_t(O), as_t(Y), np.array(T), np.array(Rw)


def probe_errors(x_train, y_train, x_test, y_test, steps: int = 3000) -> torch.Tensor:
    """Euclidean error of an MLP probe (2 x 256) per test row and target group."""
    torch.manual_seed(0)
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    ym, ys = y_train.mean(0), y_train.std(0) + 1e-6
    net = torch.nn.Sequential(torch.nn.Linear(x_train.shape[1], 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, y_train.shape[1]))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, y = (x_train - mu) / sd, (y_train - ym) / ys
    for _ in range(steps):
        idx = torch.randint(len(x), (256,))
        loss = ((net(x[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = net((x_test - mu) / sd) * ys + ym
    return torch.stack([(pred[:, s] - y_test[:, s]).norm(dim=1) for _, s in TARGETS], dim=1)


def port_outcomes(policy, env, tasks: list[int]) -> dict[str, int]:
    """Where one trial per task (meld-eval's trial: `collect.run_trial`, the actor's mean action) ends:
    seated in the goal port, in another port; and whether the port nearest the plug across the router's
    face is the goal."""
    u = env.unwrapped
    out = {"trials": 0, "seated in the goal port": 0, "seated in another port": 0, "nearest port is the goal": 0}
    for task in tasks:
        run_trial(env, policy.filter, policy.actor, 2 if is_sparse(policy.env_id) else 1,
                  TrialJob(task, mode="policy", seed=task, deterministic=True))
        seated, (tip, _), t = u.sim.score().seated_port, u.sim.plug_pose(), u.task
        lateral = [np.linalg.norm((tip - u.sim.router.port_frame(p, t.translation, t.rotation)[0])[:2])
                   for p in range(u.sim.router.num_ports)]
        out["trials"] += 1
        out["seated in the goal port"] += int(seated == t.port)
        out["seated in another port"] += int(seated >= 0 and seated != t.port)
        out["nearest port is the goal"] += int(int(np.argmin(lateral)) == t.port)
    return out


def load_state_policy(path: str, prog: str):
    """The checkpoint's policy if it is a state-rung one; else None, after saying why on stderr."""
    try:
        policy = load_policy(path)
    except CheckpointError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return None
    if policy.model_config.encoder != "mlp" or not policy.env_id.startswith("WidowXInsertState"):
        print(f"{prog}: {path} is not a state-rung checkpoint ({policy.env_id}); the probe reads the simulator's "
              "state and is meant for the WidowXInsertState and WidowXInsertStateSparse ids (v0, v1).", file=sys.stderr)
        return None
    return policy


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--episodes", type=int, default=80, help="training-task episodes to fit the probe on")
    p.add_argument("--actions", choices=("random", "policy"), default="random")
    args = p.parse_args()
    torch.set_num_threads(1)
    policy = load_state_policy(args.checkpoint, "belief_probe")
    if policy is None:
        return 2
    env = make_env(policy.env_id)
    u = env.unwrapped
    train = rollouts(policy, env, list(u.train_task_ids), args.episodes, 1000, args.actions)
    test = rollouts(policy, env, list(u.heldout_task_ids), max(1, args.episodes // 4), 500_000, args.actions)
    last = torch.from_numpy(test[3] >= test[3].max() - 9)
    print(f"{args.checkpoint}: {policy.env_id}, {args.episodes} training-task episodes, {args.actions} actions; "
          "held-out error of the probe, median (last 10 steps of each episode)")
    spread = torch.stack([(test[2][:, s] - test[2][:, s].mean(0)).norm(dim=1) for _, s in TARGETS], dim=1)
    rows = [("belief features", probe_errors(train[0], train[2], test[0], test[2])),
            ("raw observation", probe_errors(train[1], train[2], test[1], test[2])),
            ("spread of the target", spread)]
    print(f"  {'probe input':22s}" + "".join(f"{name:>26s}" for name, _ in TARGETS))
    for name, err in rows:
        cells = [f"{err[:, j].median():.1f} ({err[last, j].median():.1f})" for j in range(len(TARGETS))]
        print(f"  {name:22s}" + "".join(f"{c:>26s}" for c in cells))
    rw = test[4]
    rmse = lambda col, rows=slice(None): float(np.sqrt(np.mean((rw[rows, col] - rw[rows, 0]) ** 2)))  # noqa: E731
    print(f"  shaped reward on the held-out episodes: RMSE of the belief's predicted reward {rmse(1):.4f} "
          f"(its last 10 steps {rmse(1, last.numpy()):.4f}); "
          f"port-blind (the ports' mean at the plug's true pose) {rmse(2):.4f}. Above port-blind, the "
          "belief cannot tell the ports apart even with r_t in hand; below it, it reads rewards finer than the "
          "ports differ (needed for task inference, not proof of it: the belief has seen r_t)")
    ports = port_outcomes(policy, env, list(u.heldout_task_ids) + list(u.train_task_ids))
    n = ports.pop("trials")
    print(f"where one trial per task ends ({n} tasks, held-out and training, the actor's mean action): "
          + ", ".join(f"{k} {v}/{n}" for k, v in ports.items()))
    env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
