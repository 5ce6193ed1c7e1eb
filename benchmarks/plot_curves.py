"""Held-out success against env steps for several runs in one figure, from their tensorboard logs.

Usage:
  .venv/bin/python benchmarks/plot_curves.py OUT.png RUN_DIR=LABEL [RUN_DIR=LABEL ...] [--trials 20] [--title T]

Each run's `eval/heldout_success` points are drawn with a 95% (Wilson) band for `--trials` trials per
evaluation (the runs' `train.eval_trials`). `meld-eval` draws one run's curve; this puts runs side by
side (docs/figures/state_rung_curves.png: MELD, the SLAC switch and variants on the state rung).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from meld_trainer.meta_train import wilson_interval  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR=LABEL")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--title", default="")
    args = p.parse_args()
    fig, ax = plt.subplots(figsize=(7, 4))
    for spec in args.runs:
        run, _, label = spec.partition("=")
        if not (Path(run) / "tb").is_dir():
            print(f"plot_curves: {run} has no tb folder; pass meld-train run folders (RUN_DIR=LABEL).", file=sys.stderr)
            return 2
        ea = EventAccumulator(str(Path(run) / "tb"), size_guidance={"scalars": 0})
        ea.Reload()
        if "eval/heldout_success" not in ea.Tags()["scalars"]:
            print(f"plot_curves: {run} has no held-out evaluations in {run}/tb; pass a meld-train run folder "
                  "that has reached its first evaluation.", file=sys.stderr)
            return 2
        ev = ea.Scalars("eval/heldout_success")
        xs, ys = [e.step for e in ev], [100 * e.value for e in ev]
        band = [wilson_interval(round(e.value * args.trials), args.trials) for e in ev]
        line, = ax.plot(xs, ys, marker="o", label=label or run)
        ax.fill_between(xs, [100 * lo for lo, _ in band], [100 * hi for _, hi in band], color=line.get_color(), alpha=0.15)
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"held-out success, % ({args.trials} trials, 95% CI)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if args.title:
        ax.set_title(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
