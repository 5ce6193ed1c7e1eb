"""Does a checkpoint's belief carry the goal port along its own run's recorded trials?

Usage:
  .venv/bin/python benchmarks/replay_memory.py CHECKPOINT EPISODES_DIR [--first N | --after N]
      [--trials 256] [--consolidate UPDATES]

`port_probe.py` asks the question on scripted approaches to random ports; this asks it on the trials
a run recorded (RUN/episodes, in collection order), where the model was trained or, after a freeze,
what the policy then did. It draws `--trials` of them (the replay's sampling: a task, then one of its
trials), withholds every reward from a cut drawn in 5..L-5 on, as the model's suffix dropout does, filters
with the posterior means and prints the RMSE of the reward the belief predicts, where the reward
was given (after the first frame) and where it was withheld, beside port-blind (the router's ports'
mean shaped reward at the plug's recorded pose, `port_rewards`): a belief that carries the port
beats port-blind on the withheld frames.

`--first N` keeps the run's first N episode files (e.g. 600 = the 24,000 env steps of a freeze at 24k,
pretraining included), `--after N` those after them. `--consolidate U` then makes U model updates over
those trials with the consolidation's falling rate (`MetaTrainer.consolidate_model`), as a freeze at
the end of that replay would, and measures again. Needs a state env whose observation holds the plug's
pose in the router's frame (WidowXInsertState-v1 to v3 and their sparse ids).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from meld_policy.checkpoint import load_raw
from meld_trainer.config import run_config_from_saved
from meld_trainer.meta_train import MetaTrainer


def trainer_on(checkpoint: Path, episodes: list[Path], scratch: Path) -> MetaTrainer:
    """A trainer with the checkpoint's config and weights whose replay holds exactly these episode files."""
    ckpt = load_raw(checkpoint)
    cfg = run_config_from_saved(ckpt["config"])
    cfg.train.device = "cpu"
    (scratch / "episodes").mkdir(parents=True)
    for f in episodes:
        (scratch / "episodes" / f.name).symlink_to(f.resolve())
    tr = MetaTrainer(cfg, ckpt["env_id"], scratch, tensorboard=False)
    (tr.load_policy_file if ckpt.get("kind") == "policy" else tr.load_checkpoint)(checkpoint)
    tr.open_replay()
    return tr


def measure(tr: MetaTrainer, n: int, seed: int = 123) -> dict[str, float]:
    """RMSE of the belief's predicted reward on given and withheld frames, and of port-blind on the withheld."""
    rng = np.random.default_rng(seed)
    b = tr.replay.sample_trials(n, rng)
    B, L = b.rewards_in.shape
    cut = torch.as_tensor(rng.integers(5, L - 5, size=(B, 1)))
    present = (torch.arange(L) < cut).to(b.rewards_in.dtype)
    m = tr.model
    with torch.no_grad():
        steps = m.posterior(b.images, b.actions, b.rewards_in, torch.zeros(B, L, m.cfg.z1_dim),
                            torch.zeros(B, L, m.cfg.z2_dim), present=present)
        r_hat = m.predict_reward(m.stack(steps, "z1"), m.stack(steps, "z2"))
    blind = torch.as_tensor(tr.env.unwrapped.port_rewards(b.images.numpy()).mean(-1), dtype=r_hat.dtype)
    given, withheld = present == 1, present == 0
    given[:, 0] = False  # the first frame's reward is 0 by construction

    def rmse(pred: torch.Tensor, where: torch.Tensor) -> float:
        return float(((pred - b.rewards_shaped)[where] ** 2).mean().sqrt())

    return {"given": rmse(r_hat, given), "withheld": rmse(r_hat, withheld), "blind": rmse(blind, withheld)}


def line(tag: str, r: dict[str, float]) -> str:
    return f"  {tag:<44} given {r['given']:.4f}   withheld {r['withheld']:.4f}   port-blind {r['blind']:.4f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("episodes", type=Path, help="the run's episodes folder (RUN/episodes)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--first", type=int, default=0, help="only the first N episode files")
    group.add_argument("--after", type=int, default=0, help="only the episode files after the first N")
    ap.add_argument("--trials", type=int, default=256)
    ap.add_argument("--consolidate", type=int, default=0, help="model updates with a falling rate, then again")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    files = sorted(args.episodes.glob("*.npz"))
    files = files[:args.first] if args.first else files[args.after:]
    if not files:
        print(f"replay_memory: no episode files in {args.episodes} with that selection; pass a run's episodes "
              "folder and a --first/--after within its count", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="replay-memory-") as scratch:
        tr = trainer_on(args.checkpoint, files, Path(scratch))
        if not hasattr(tr.env.unwrapped, "port_rewards"):
            print(f"replay_memory: {tr.env_id} does not observe the plug's pose in the router's frame, so the "
                  "ports' rewards cannot be scored from its trials; use a WidowXInsertState-v1 to v3 run", file=sys.stderr)
            return 2
        if not tr.model.cfg.reward_input_dropout:
            print(f"replay_memory: {args.checkpoint}'s model was trained with every reward given "
                  "(model.reward_input_dropout=0), so it has no way to be told a reward is withheld; probe a run "
                  "trained with model.reward_input_dropout > 0", file=sys.stderr)
            return 2
        print(f"{args.checkpoint}: {tr.env_id}, {len(files)} episode files of {args.episodes}, {args.trials} trials, "
              "rewards withheld from a cut in 5..L-5 on; reward RMSE of the belief (posterior means)")
        print(line("as saved", measure(tr, args.trials)))
        if args.consolidate:
            t0 = time.monotonic()
            tr.cfg.train.freeze_consolidation_updates = args.consolidate
            tr.consolidate_model()
            print(line(f"after {args.consolidate} consolidation updates ({time.monotonic() - t0:.0f} s)",
                       measure(tr, args.trials)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
