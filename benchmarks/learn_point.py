"""Learning benchmark on PointGoal-v0 (CPU): MELD against the SLAC switch (no reward input), same budget.

Usage:
  .venv/bin/python benchmarks/learn_point.py                       # 30 min each, both runs in parallel
  .venv/bin/python benchmarks/learn_point.py --minutes 5 --run-root /tmp/lp   # a quick look
  .venv/bin/python benchmarks/learn_point.py --variants meld -- train.seed=1  # extra overrides after --

Each variant is one `meld-train --config point` run with train.time_budget_s set (wall clock, one
torch thread each, so the two runs share a 2-core machine evenly), followed by `meld-eval` on the 10
held-out goals with --trials-per-task 5 (50 trials). Prints the held-out success curve and the final
figures; the goal is MELD >= 80% and SLAC far below.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
VARIANTS = {"meld": ["model.reward_input=true"], "slac": ["model.reward_input=false"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="training wall-clock budget per variant")
    p.add_argument("--run-root", default=f"runs/learn_point-{time.strftime('%Y%m%d-%H%M%S')}")
    p.add_argument("--variants", default="meld,slac")
    p.add_argument("--sequential", action="store_true", help="run the variants one after the other")
    p.add_argument("--trials-per-task", type=int, default=5)
    p.add_argument("overrides", nargs="*", help="extra key=value overrides for both runs")
    args = p.parse_args()
    root = Path(args.run_root)
    names = args.variants.split(",")
    procs = {}
    t0 = time.time()
    for name in names:
        run = root / name
        cmd = [str(BIN / "meld-train"), "--env", "PointGoal-v0", "--config", "point", "--run-dir", str(run),
               "train.iterations=100000", f"train.time_budget_s={args.minutes * 60:.0f}", "train.torch_threads=1",
               *VARIANTS[name], *args.overrides]
        run.mkdir(parents=True, exist_ok=True)
        print("$", " ".join(cmd), flush=True)
        log = open(root / f"{name}.train.log", "w")
        procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        if args.sequential:
            procs[name].wait()
    for name, pr in procs.items():
        if pr.wait() != 0:
            print(f"{name}: meld-train failed, see {root / (name + '.train.log')}")
            return 1
    print(f"training done in {(time.time() - t0) / 60:.1f} min", flush=True)
    finals = {}
    for name in names:
        ckpt = root / name / "checkpoints" / "latest.pt"
        cmd = [str(BIN / "meld-eval"), "--checkpoint", str(ckpt), "--tasks", "heldout",
               "--trials-per-task", str(args.trials_per_task), "--out", str(root / name / "eval")]
        print("$", " ".join(cmd), flush=True)
        out = subprocess.run(cmd, capture_output=True, text=True)
        last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr
        report = json.loads((root / name / "eval" / "report.json").read_text())
        hist = report["eval_history"]
        print(f"\n{name}: held-out success during training (10 trials each):")
        for e in hist:
            print(f"  iter {e['iteration']:5d}  env steps {e['env_steps']:6d}  success {100 * e['success']:3.0f}%")
        finals[name] = (last, report["env_steps"])
        print(f"{name} final: {last}")
    print("\n=== learn_point summary (PointGoal-v0, 10 held-out goals) ===")
    for name, (last, steps) in finals.items():
        print(f"{name.upper():5s} {last}  [trained {steps} env steps, {args.minutes:.0f} min budget]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
