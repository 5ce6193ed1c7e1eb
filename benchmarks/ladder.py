"""MELD's learnability ladder on the CPU: where does learning the insertion task break, without a GPU?

Usage:
  .venv/bin/python benchmarks/ladder.py --rungs oracle               # SAC on privileged state with the goal
  .venv/bin/python benchmarks/ladder.py --rungs state                # MELD and SLAC on state without the goal
  .venv/bin/python benchmarks/ladder.py --rungs oracle,state --env-steps 80000 --run-root runs/ladder

Rungs (docs/meld.md, "The learnability ladder"):
  oracle  SAC on `WidowXInsertOracle-v0` (joints, plug pose, the goal's insertion pose): can the task,
          reward, action scale and episode length give insertion at all? Goal: >= 95% held-out.
          `--oracle-env WidowXInsertOracle-v1`: the same state with the funnel reward (the v2 state ids').
          `--oracle-env WidowXInsertState-v2 --oracle-last-reward`: the reactive baseline, SAC with no
          memory on the state rung's observation and the last reward (no goal in the observation).
  state   MELD with MLP encoder/decoder on `WidowXInsertState-v0` (dense) and `WidowXInsertStateSparse-v0`
          (2-episode trials), joint positions and rig pose only: the goal port is known through the
          reward alone. Goal: >= 90% held-out within 80k env steps, the SLAC switch far below.
          `--state-envs WidowXInsertState-v3,WidowXInsertStateSparse-v3`: the ids of the eleventh run.
The state rung runs benchmarks/learn_widowx.py (one meld-train run per env and variant, one torch
thread each, all at once); sparse runs keep the paper's ratio (12 model and 12 actor-critic updates
per 40 env steps: learn_widowx.py gives an 80-step trial 24 and 24). Every figure is printed with its trial count and 95%
interval.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def oracle(args) -> None:
    import torch
    from meld_trainer.meta_train import wilson_interval
    from meld_trainer.oracle_sac import OracleConfig, evaluate, make_oracle_env, train_oracle
    torch.set_num_threads(1)
    cfg = OracleConfig(env_id=args.oracle_env, env_steps=args.env_steps, eval_every=args.eval_every_steps,
                       eval_trials=20, reward_scale=args.oracle_reward_scale, seed=args.seed,
                       last_reward_in_obs=args.oracle_last_reward)
    seen = cfg.env_id + " and the last reward" * cfg.last_reward_in_obs
    print(f"oracle rung: SAC on {seen} for {cfg.env_steps} env steps, reward scale {cfg.reward_scale}, "
          "one update per env step", flush=True)
    result = train_oracle(cfg, log=lambda line: print("  " + line, flush=True))
    env = make_oracle_env(cfg)
    final = evaluate(env, result["actor"], list(env.unwrapped.heldout_task_ids), 10 * args.trials_per_task, seed=4242)
    lo, hi = wilson_interval(final["successes"], final["trials"])
    print(f"oracle final: held-out success {100 * final['success']:.0f}% ({final['successes']}/{final['trials']}, "
          f"95% CI {100 * lo:.0f}-{100 * hi:.0f}%), median final distance {1e3 * final['median_distance']:.1f} mm, "
          f"{result['seconds'] / 60:.0f} min", flush=True)


def state(args) -> int:
    root = Path(args.run_root)
    procs = []
    for env_id in args.state_envs.split(","):
        cmd = [sys.executable, str(HERE / "learn_widowx.py"), "--envs", env_id, "--config", "state",
               "--variants", args.variants, "--env-steps", str(args.env_steps), "--eval-every-steps",
               str(args.eval_every_steps), "--trials-per-task", str(args.trials_per_task), "--parallel",
               "--run-root", str(root), "--", f"train.seed={args.seed}"]
        print("$", " ".join(cmd), flush=True)
        procs.append(subprocess.Popen(cmd))
    return max(p.wait() for p in procs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rungs", default="oracle,state")
    p.add_argument("--env-steps", type=int, default=80_000)
    p.add_argument("--eval-every-steps", type=int, default=5_000)
    p.add_argument("--trials-per-task", type=int, default=3, help="final evaluation: trials on each held-out task")
    p.add_argument("--variants", default="meld,slac")
    p.add_argument("--oracle-reward-scale", type=float, default=1.0,
                   help="critic reward scale of the oracle rung (1: the measured run in docs/meld.md)")
    p.add_argument("--oracle-env", default="WidowXInsertOracle-v0",
                   help="the oracle rung's env: WidowXInsertOracle-v0 (the paper's reward) or -v1 (with the funnel)")
    p.add_argument("--oracle-last-reward", action="store_true",
                   help="append the last reward to the oracle rung's observation: with a state env without the goal "
                        "(--oracle-env WidowXInsertState-v2) this is the reactive baseline, SAC with no memory")
    p.add_argument("--state-envs", default="WidowXInsertState-v0,WidowXInsertStateSparse-v0",
                   help="the state rung's envs, comma-separated: v0 (joints and rig pose), v2 (and the plug's "
                        "pose in the router's frame, the funnel reward), v3 (v2 meta-trained on every port at each pose)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-root", default=f"runs/ladder-{time.strftime('%Y%m%d-%H%M%S')}")
    args = p.parse_args()
    rc = 0
    for rung in args.rungs.split(","):
        if rung == "oracle":
            try:
                oracle(args)
            except RuntimeError as exc:  # an env id that does not exist: its sentence, no traceback
                print(f"ladder.py: {exc}", file=sys.stderr)
                return 2
        elif rung == "state":
            rc = max(rc, state(args))
        else:
            print(f"unknown rung {rung!r}: use oracle, state", file=sys.stderr)
            return 2
    return rc


if __name__ == "__main__":
    sys.exit(main())
