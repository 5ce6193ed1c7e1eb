"""Learning benchmark on the simulated WidowX: held-out success against env steps (goal: 90% by 80,000).

Usage:
  .venv/bin/python benchmarks/learn_widowx.py                                   # dense, paper sizes, GPU if present
  .venv/bin/python benchmarks/learn_widowx.py --envs WidowXInsert-v0,WidowXInsertSparse-v0
  .venv/bin/python benchmarks/learn_widowx.py --config reference --env-steps 80000
  .venv/bin/python benchmarks/learn_widowx.py --minutes 20 --config point        # a CPU pipeline check only

Each env is one `meld-train` run (sparse ids use 2-episode trials; the model reads the sparse reward,
reconstructs the shaped one, and the critic learns from the shaped one), evaluated on the 10 held-out
tasks every `--eval-every-steps` env steps during training and with `meld-eval` at the end. The paper's
sizes need a GPU: on the project's 2-core CPU one paper-size model update takes seconds, so a CPU run
here only shows the pipeline and an early curve.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from meld_trainer.config import build_config

STEPS_PER_EPISODE = 40
# `python -m` rather than the console scripts: runs where the packages are on PYTHONPATH only (a GPU box).
TRAIN = [sys.executable, "-m", "meld_trainer.train_cli"]
EVAL = [sys.executable, "-m", "meld_trainer.eval_cli"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", default="WidowXInsert-v0")
    p.add_argument("--config", default="paper")
    p.add_argument("--env-steps", type=int, default=80_000)
    p.add_argument("--eval-every-steps", type=int, default=4_000)
    p.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget per env (0: none)")
    p.add_argument("--run-root", default=f"runs/learn_widowx-{time.strftime('%Y%m%d-%H%M%S')}")
    p.add_argument("--trials-per-task", type=int, default=2)
    p.add_argument("--parallel", action="store_true", help="train the envs at the same time (a many-core GPU box)")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    root = Path(args.run_root)
    root.mkdir(parents=True, exist_ok=True)
    runs = {}
    for env_id in args.envs.split(","):
        per_trial = 2 if "Sparse" in env_id else 1
        steps_per_iter = STEPS_PER_EPISODE * per_trial
        cfg = build_config(args.config, args.overrides)
        pretrain_steps = STEPS_PER_EPISODE * per_trial * -(-cfg.train.pretrain_episodes // per_trial)
        iterations = max(1, (args.env_steps - pretrain_steps) // steps_per_iter)  # the budget includes pretraining
        eval_every = max(1, args.eval_every_steps // steps_per_iter)
        run = root / env_id
        cmd = [*TRAIN, "--env", env_id, "--config", args.config, "--run-dir", str(run),
               f"train.iterations={iterations}", f"train.eval_every={eval_every}", f"train.checkpoint_every={eval_every}",
               f"train.time_budget_s={args.minutes * 60:.0f}", *args.overrides]
        print("$", " ".join(cmd), flush=True)
        with open(root / f"{env_id}.train.log", "w") as log:  # the child keeps its own handle
            runs[env_id] = (run, time.time(), subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
        if not args.parallel:
            runs[env_id][2].wait()
    for env_id, (run, t0, proc) in runs.items():
        if proc.wait() != 0:
            print(f"{env_id}: meld-train failed (rc {proc.returncode}); see {root / (env_id + '.train.log')}")
            return 1
        minutes = (time.time() - t0) / 60
        ev = subprocess.run([*EVAL, "--checkpoint", str(run / "checkpoints" / "latest.pt"), "--tasks",
                             "heldout", "--trials-per-task", str(args.trials_per_task), "--out", str(run / "eval")],
                            capture_output=True, text=True)
        report_path = run / "eval" / "report.json"
        if ev.returncode != 0 or not report_path.exists():
            print(f"{env_id}: meld-eval failed (rc {ev.returncode}): {ev.stderr.strip()[-500:]}")
            return 1
        report = json.loads(report_path.read_text())
        print(f"\n{env_id}: trained {minutes:.1f} min; held-out success against env steps:")
        for e in report["eval_history"]:
            print(f"  env steps {e['env_steps']:6d}  success {100 * e['success']:3.0f}% ({e['successes']}/{e['trials']})")
        last = ev.stdout.strip().splitlines()[-1] if ev.stdout.strip() else ev.stderr.strip()[-500:]
        print(f"{env_id} final: {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
