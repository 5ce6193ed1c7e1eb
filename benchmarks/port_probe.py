"""Does a state-rung belief read the goal port from the rewards, and does it hold on to it?

Usage:
  .venv/bin/python benchmarks/port_probe.py RUN/checkpoints/latest.pt [--repeats 2]
  .venv/bin/python benchmarks/port_probe.py RUN/checkpoints/latest.pt --leave 3 [--switch-at 20]

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

`--leave N` asks instead why the policy never leaves a wrong port (benchmarks/port_choice.py): it runs
the policy's own held-out trials to step 20, then a scripted inserter takes the plug to the goal port
(or, from the same start, back to the port the policy chose) while the belief filters the observations
with every reward withheld, and compares the reward it expects there with the true one. A belief that
expects the goal to pay and the chosen wrong port not to holds the goal: the actor does not act on it.

On the state rung (docs/meld.md, "sixth run") a model with the reward's std at 0.003 read the reward to
0.004 (port-blind 0.011) and still held the port no better than chance.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from belief_probe import load_state_policy, port_blind_reward  # benchmarks/ is the script's folder
from meld_policy.filter import Belief
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
    if model.cfg.reward_input_dropout > 0:
        return expect_without_reward(model, previous, obs, action)[1]
    a = torch.as_tensor(action, dtype=torch.float32).reshape(1, -1)
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


@torch.no_grad()
def expect_without_reward(model, belief: Belief, obs: np.ndarray, action: np.ndarray) -> tuple[Belief, float]:
    """The belief after x_t with r_t withheld (the reward-dropout flag 0; means, no samples), and the
    reward it predicts there: what it expects of a place it was never told about. `reward_from_memory`
    takes the reward; `--leave` keeps the belief and filters on without rewards."""
    a = torch.as_tensor(action, dtype=torch.float32).reshape(1, -1)
    e = model.encode(torch.as_tensor(obs, dtype=model.obs_dtype).reshape(1, -1))
    h = model.evidence(e, torch.zeros(1), present=torch.zeros(1))
    s = model.posterior_step(h, belief.z2, a, torch.zeros(1, model.cfg.z1_dim), torch.zeros(1, model.cfg.z2_dim))  # the means
    return Belief(z1=s.z1, z2=s.z2, features=s.features(), t=belief.t + 1), float(model.predict_reward(s.z1, s.z2)[0])


def leave_for(policy, env, task: int, seed: int, switch_at: int, target: str) -> tuple[int, int, float, float, float]:
    """One held-out trial of the checkpoint's policy (port_choice's seed, the mean action) up to `switch_at`,
    then a scripted inserter to `target` ('goal' or 'chosen': the port nearest the plug then) with every
    later reward withheld from the belief. Returns the goal port, the chosen port, and the true shaped
    reward, the belief's expected one and the port-blind one, each the mean of the last 5 steps."""
    u = env.unwrapped
    torch.manual_seed(seed)
    obs, _ = env.reset(seed=seed, options={"task": task})
    belief = policy.filter.step(None, obs, 0.0, np.zeros(env.action_space.shape, np.float32), is_first=True)
    true, expected, blind, inserter, chosen, t, done = [], [], [], None, -1, 0, False
    while not done:
        if t == switch_at:
            tip, _ = u.sim.plug_pose()
            chosen = int(np.argmin([np.linalg.norm(tip - u.sim.router.insertion_pose(q, u.task.translation,
                                                                                       u.task.rotation)[0])
                                    for q in range(u.sim.router.num_ports)]))
            inserter = ScriptedInserter(u, port=u.task.port if target == "goal" else chosen)
        if inserter is None:
            a = policy.actor.act(belief.features[:1], deterministic=True)[0].astype(np.float32)
        else:
            a = inserter.act().astype(np.float32)
        obs, r, terminated, truncated, info = env.step(a)
        if inserter is None:
            belief = policy.filter.step(belief, obs, float(r), a, is_first=False)
        else:
            belief, r_hat = expect_without_reward(policy.filter.model, belief, obs, a)
            true.append(info["shaped_reward"])
            expected.append(r_hat)
            blind.append(port_blind_reward(u))
        t, done = t + 1, terminated or truncated
    return u.task.port, chosen, *(float(np.mean(x[-5:])) for x in (true, expected, blind))


def leave_report(policy, env, trials_per_task: int, switch_at: int) -> None:
    """Where the policy has chosen a port by `switch_at`: does its belief expect the goal port to pay and
    the chosen wrong port not to? If so it holds the goal and the actor does not act on it; if it expects
    the chosen port to pay, it took that port's rewards for the goal's."""
    if policy.filter.model.cfg.reward_input_dropout <= 0:
        print("  --leave needs a model trained with model.reward_input_dropout > 0 (it withholds rewards)")
        return
    rows = []
    for task in env.unwrapped.heldout_task_ids:
        for k in range(trials_per_task):
            seed = 10**7 + 97 * task + k
            goal, chosen, *to_goal = leave_for(policy, env, task, seed, switch_at, "goal")
            *_, true_chosen, exp_chosen, blind_chosen = leave_for(policy, env, task, seed, switch_at, "chosen")
            rows.append((goal == chosen, *to_goal, true_chosen, exp_chosen, blind_chosen))
    print(f"  the policy's own held-out trials ({len(rows)}) to step {switch_at}, then a scripted inserter with the "
          "rewards withheld; shaped reward over the last 5 steps, true / the belief's expectation / port-blind:")
    for on_goal, label in ((False, "chose another port"), (True, "chose the goal port")):
        m = np.array([r[1:] for r in rows if r[0] == on_goal])
        if len(m):
            print(f"    {label:20s} {len(m):2d}: to the goal port " + " / ".join(f"{v:+.3f}" for v in m[:, :3].mean(0))
                  + "   to the chosen port " + " / ".join(f"{v:+.3f}" for v in m[:, 3:].mean(0)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--repeats", type=int, default=2, help="episodes per rig pose and goal port")
    p.add_argument("--leave", type=int, default=0, metavar="N",
                   help="only: run the checkpoint's own policy N times per held-out task (dense ids) to --switch-at, "
                        "then take the plug to the goal port and to the chosen one with rewards withheld")
    p.add_argument("--switch-at", type=int, default=20, help="the step at which --leave takes over")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the filter samples z; with the seeded paths the figures repeat
    policy = load_state_policy(args.checkpoint, "port_probe")
    if policy is None:
        return 2
    env = make_env(policy.env_id)
    if args.leave:
        steps = (env.spec.max_episode_steps if env.spec else None) or 40
        if not 1 <= args.switch_at <= steps - 5:
            print(f"port_probe: --switch-at {args.switch_at} leaves no 5 steps to compare in a {steps}-step episode; "
                  f"give 1 to {steps - 5}")
            env.close()
            return 2
        print(f"{args.checkpoint}: {policy.env_id}")
        leave_report(policy, env, args.leave, args.switch_at)
        env.close()
        return 0
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
