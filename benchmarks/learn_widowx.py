"""Learning benchmark on the simulated WidowX: held-out success against env steps, MELD and the SLAC switch.

Usage:
  .venv/bin/python benchmarks/learn_widowx.py                                   # sparse, MELD and SLAC, paper sizes
  .venv/bin/python benchmarks/learn_widowx.py --envs WidowXInsertSparse-v0,WidowXInsert-v0 --workers 6 --parallel
  .venv/bin/python benchmarks/learn_widowx.py --config reference --env-steps 40000
  .venv/bin/python benchmarks/learn_widowx.py --envs WidowXInsertState-v0,WidowXInsertStateSparse-v0 --config state
        # the ladder's state rung on the CPU (docs/meld.md)

Each (env, variant) is one `meld-train` run: variant `meld` is the model with the reward as evidence,
`slac` the same with `model.reward_input=false`. Sparse ids use 2-episode trials (one
iteration: 80 env steps, so twice the config's updates per iteration, Algorithm 1's 12 + 12 per 40 steps): the model reads the
sparse reward and reconstructs the shaped one, the critic learns from the shaped one, and a trial
succeeds when the plug is seated in the goal port at the last step of its last episode. Each run is
evaluated on the 10 held-out tasks every `--eval-every-steps` env steps (the budget includes the random
pretraining) and with `meld-eval --trials-per-task N` at the end; every figure is printed with its trial
count and 95% (Wilson) interval. `--workers N` collects with N worker processes per run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from meld_trainer.config import build_config
from meld_trainer.meta_train import wilson_interval

STEPS_PER_EPISODE = 40
# `python -m` rather than the console scripts: runs where the packages are on PYTHONPATH only (a GPU box).
TRAIN = [sys.executable, "-m", "meld_trainer.train_cli"]
EVAL = [sys.executable, "-m", "meld_trainer.eval_cli"]
VARIANTS = {"meld": ["model.reward_input=true"], "slac": ["model.reward_input=false"]}


def rate(successes: int, trials: int) -> str:
    lo, hi = wilson_interval(successes, trials)
    return f"{100 * successes / max(1, trials):3.0f}% ({successes}/{trials}, 95% CI {100 * lo:.0f}-{100 * hi:.0f}%)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", default="WidowXInsertSparse-v0")
    p.add_argument("--variants", default="meld,slac", help="meld, slac or both")
    p.add_argument("--workers", type=int, default=0, help="collection worker processes per run")
    p.add_argument("--config", default="paper")
    p.add_argument("--env-steps", type=int, default=80_000)
    p.add_argument("--eval-every-steps", type=int, default=4_000)
    p.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget per env (0: none)")
    p.add_argument("--run-root", default=f"runs/learn_widowx-{time.strftime('%Y%m%d-%H%M%S')}")
    p.add_argument("--trials-per-task", type=int, default=3)
    p.add_argument("--parallel", action="store_true", help="train the envs at the same time (a many-core GPU box)")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    root = Path(args.run_root)
    root.mkdir(parents=True, exist_ok=True)
    runs = {}
    for env_id, variant in [(e, v) for e in args.envs.split(",") for v in args.variants.split(",")]:
        per_trial = 2 if "Sparse" in env_id else 1
        steps_per_iter = STEPS_PER_EPISODE * per_trial
        cfg = build_config(args.config, args.overrides)
        pretrain_steps = STEPS_PER_EPISODE * per_trial * -(-cfg.train.pretrain_episodes // per_trial)
        iterations = max(1, (args.env_steps - pretrain_steps) // steps_per_iter)  # the budget includes pretraining
        eval_every = max(1, args.eval_every_steps // steps_per_iter)
        name = f"{env_id}-{variant}"
        run = root / name
        # Algorithm 1's ratio is per 40 env steps: a 2-episode trial (one iteration) gets twice the updates.
        ratio = [f"train.model_updates_per_iter={cfg.train.model_updates_per_iter * per_trial}",
                 f"train.ac_updates_per_iter={cfg.train.ac_updates_per_iter * per_trial}",
                 f"train.frozen_ac_updates_per_iter={cfg.train.frozen_ac_updates_per_iter * per_trial}"]
        cmd = [*TRAIN, "--env", env_id, "--config", args.config, "--run-dir", str(run), *ratio,
               f"train.iterations={iterations}", f"train.eval_every={eval_every}", f"train.checkpoint_every={eval_every}",
               f"train.time_budget_s={args.minutes * 60:.0f}", f"train.collect_workers={args.workers}",
               *VARIANTS[variant], *args.overrides]
        print("$", " ".join(cmd), flush=True)
        with open(root / f"{name}.train.log", "w") as log:  # the child keeps its own handle
            runs[name] = (run, time.time(), subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
        if not args.parallel:
            runs[name][2].wait()
    evals, failed = {}, 0
    for name, (run, t0, proc) in runs.items():
        if proc.wait() != 0:
            print(f"{name}: meld-train failed (rc {proc.returncode}); see {root / (name + '.train.log')}")
            failed += 1
            continue
        # The final evaluations run side by side (each on --workers worker processes when given).
        # Output to a file, not a pipe: side-by-side evaluations read one at a time never block on a full pipe.
        with open(root / f"{name}.eval.log", "w") as log:
            ev = subprocess.Popen([*EVAL, "--checkpoint", str(run / "checkpoints" / "latest.pt"), "--tasks", "heldout",
                                   "--trials-per-task", str(args.trials_per_task), "--out", str(run / "eval"),
                                   "--workers", str(args.workers)], stdout=log, stderr=subprocess.STDOUT)
        evals[name] = (run, (time.time() - t0) / 60, ev)
        if not args.parallel:
            ev.wait()
    for name, (run, minutes, ev) in evals.items():
        ev.wait()
        report_path = run / "eval" / "report.json"
        if ev.returncode != 0 or not report_path.exists():
            text = (root / f"{name}.eval.log").read_text()
            print(f"{name}: meld-eval failed (rc {ev.returncode}): {text.strip()[-500:]}")
            failed += 1
            continue
        report = json.loads(report_path.read_text())
        print(f"\n{name}: trained {minutes:.1f} min; held-out success against env steps:")
        for e in report["eval_history"]:
            print(f"  env steps {e['env_steps']:6d}  success {rate(e['successes'], e['trials'])}")
        print(f"{name} final (meld-eval, {report['env_steps']} env steps): {rate(report['successes'], report['trials'])}",
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
