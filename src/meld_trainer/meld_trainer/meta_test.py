"""Meta-testing (Algorithm 2) and its report: success per task with 95% intervals, returns, and plots.

Adaptation at meta-test time is only filtering: the belief is updated every step, no weights change.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .meta_train import MetaTrainer, wilson_interval


def meta_test(trainer: MetaTrainer, task_ids: list[int], trials_per_task: int, deterministic: bool = True) -> dict:
    """`trials_per_task` trials on each task (2-episode trials for sparse envs); per-task and pooled success."""
    res = trainer.evaluate(task_ids, trials=trials_per_task * len(task_ids), deterministic=deterministic)
    res["per_task_trials"] = trials_per_task
    return res


def plot_success_curve(eval_history: list[dict], path: Path) -> Path | None:
    """Held-out success against env steps over training (from the checkpoint's evaluation history)."""
    if not eval_history:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [e["env_steps"] for e in eval_history]
    succ = np.array([e["success"] for e in eval_history])
    ci = np.array([wilson_interval(e["successes"], e["trials"]) for e in eval_history])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, 100 * succ, marker="o", ms=3)
    ax.fill_between(steps, 100 * ci[:, 0], 100 * ci[:, 1], alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("held-out success (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_reward_belief(trainer: MetaTrainer, task_id: int, path: Path, particles: int = 32, seed: int = 12345) -> dict:
    """One trial with `particles` belief samples: predicted reward mean +- std against the true reward (paper fig. 6)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    episodes, s = trainer.collect_trial(task_id, mode="policy", deterministic=True, seed=seed, reward_particles=particles)
    true_r = np.concatenate([ep["shaped_rewards"] for ep in episodes])
    given_r = np.concatenate([ep["rewards"] for ep in episodes])
    mean, std = np.array(s["predicted_reward_mean"]), np.array(s["predicted_reward_std"])
    t = np.arange(len(mean))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(t, true_r, "k--", label="shaped reward (target)")
    if not np.allclose(true_r, given_r):
        ax.plot(t, given_r, "g:", label="reward given (sparse)")
    ax.plot(t, mean, label="predicted reward mean")
    ax.fill_between(t, mean - std, mean + std, alpha=0.3, label="+- std over belief samples")
    for k in range(1, len(episodes)):
        ax.axvline(k * len(episodes[0]["rewards"]) - 0.5, color="gray", lw=0.8)
    ax.set_xlabel("step in trial")
    ax.set_ylabel("reward")
    ax.set_title(f"task {task_id}: success {s['success']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return {"task_id": task_id, "predicted_mean": mean.tolist(), "predicted_std": std.tolist(), "true": true_r.tolist()}


def write_report(trainer: MetaTrainer, result: dict, out: Path, task_set: str) -> list[Path]:
    """report.json, success_curve.png and reward_belief.png in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    rb = plot_reward_belief(trainer, sorted(result["per_task"])[0], out / "reward_belief.png")
    files.append(out / "reward_belief.png")
    p = plot_success_curve(trainer.eval_history, out / "success_curve.png")
    if p:
        files.append(p)
    report = {"task_set": task_set, **result, "eval_history": trainer.eval_history, "reward_belief": rb}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    files.append(out / "report.json")
    return files


def watch_trial(trainer: MetaTrainer, task_id: int, out: Path, particles: int = 32, seed: int = 2024,
                deterministic: bool = True, columns: int = 8) -> list[Path]:
    """Watch the policy adapt on one task: `strip.png` (frames of every episode of a trial above the predicted
    reward's mean and spread over `particles` belief samples, the paper's figure 6) and `trial.gif`."""
    import imageio.v3 as iio
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .collect import TrialJob, run_trial
    out.mkdir(parents=True, exist_ok=True)
    job = TrialJob(task_id, "policy", seed, deterministic, particles, video=True)
    episodes, s = run_trial(trainer.env, trainer.filter, trainer.actor, trainer.episodes_per_trial, job)
    video = np.stack(s["video"])
    per_ep = len(episodes[0]["rewards"])
    true_r = np.concatenate([ep["shaped_rewards"] for ep in episodes])
    given_r = np.concatenate([ep["rewards"] for ep in episodes])
    mean, std = np.array(s["predicted_reward_mean"]), np.array(s["predicted_reward_std"])
    n_ep = len(episodes)
    fig = plt.figure(figsize=(1.6 * columns, 1.0 * n_ep * 1.0 + 3.2))
    grid = fig.add_gridspec(n_ep + 1, columns, height_ratios=[1] * n_ep + [2.2])
    for e in range(n_ep):
        picks = np.linspace(0, per_ep - 1, columns).round().astype(int)
        for c, k in enumerate(picks):
            ax = fig.add_subplot(grid[e, c])
            ax.imshow(video[e * per_ep + k])
            seated = episodes[e]["success"][k]
            ax.set_title(f"ep {e + 1}, t={k}" + (" success" if seated else ""), fontsize=7, color="green" if seated else "black")
            ax.axis("off")
    ax = fig.add_subplot(grid[n_ep, :])
    t = np.arange(len(mean))
    ax.plot(t, true_r, "k--", label="shaped reward (the model's target)")
    if not np.allclose(true_r, given_r):
        ax.plot(t, given_r, "g:", label="reward given to the policy (sparse)")
    ax.plot(t, mean, label="predicted reward, mean over belief samples")
    ax.fill_between(t, mean - std, mean + std, alpha=0.3, label="+- std")
    for k in range(1, n_ep):
        ax.axvline(k * per_ep - 0.5, color="gray", lw=0.8)
    ax.set_xlabel("step in trial")
    ax.set_ylabel("reward")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"{trainer.env_id}, task {task_id}: {'success' if s['success'] else 'no success'} "
                 f"at the end of episode {n_ep} (WidowX: plug seated in the goal port)", fontsize=9)
    fig.tight_layout()
    strip = out / "strip.png"
    fig.savefig(strip, dpi=110)
    plt.close(fig)
    gif = out / "trial.gif"
    iio.imwrite(gif, video[:, ::2, ::2] if video.shape[1] > 200 else video, duration=150, loop=0)
    return [strip, gif]
