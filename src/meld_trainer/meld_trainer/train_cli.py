"""meld-train: meta-train MELD (Algorithm 1) on a meta-env, with checkpoints and exact resume.

Usage:
  meld-train --env PointGoal-v0 --config point --run-dir runs/point
  meld-train --env PointGoal-v0 --config point --run-dir runs/point-slac model.reward_input=false   # SLAC baseline
  meld-train --env PointGoal-v0 --config smoke --run-dir /tmp/meld-smoke train.iterations=10
  meld-train --env WidowXInsert-v0 --run-dir runs/widowx                # the paper's numbers (use a GPU)
  meld-train --env WidowXInsert-v0 --run-dir runs/widowx --resume       # continue from checkpoints/latest.pt

--config takes a preset (smoke, point, paper, reference) or a YAML file with sections model, actor,
sac, replay, train; `section.field=value` (or a unique `field=value`) overrides come last. The run
folder holds config.yaml, episodes/ (one .npz per episode), checkpoints/latest.pt and tb/ (TensorBoard).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import yaml

from .cli_errors import generic_message, run_reporting
from .config import ConfigError, build_config, preset_names


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="meld-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", required=True, help="meta-env id: PointGoal-v0, PointGoalSparse-v0, WidowXInsert-v0, WidowXInsertSparse-v0")
    p.add_argument("--config", default=None, help=f"preset ({', '.join(preset_names())}) or YAML file")
    p.add_argument("--run-dir", default=None, help="run folder (default runs/<env>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints/latest.pt and the episode files")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error, not only its sentence")
    p.add_argument("overrides", nargs="*", help="section.field=value or field=value")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[meld-train] %(message)s")
    return run_reporting("meld-train", run, args, user_message,
                         "; run again with --resume to continue from the last checkpoint")


def user_message(exc: BaseException) -> str:
    """One or two sentences for an error (the traceback is behind --debug)."""
    from meld_policy.checkpoint import CheckpointError
    if isinstance(exc, OSError) and exc.filename:
        return (f"cannot write {exc.filename} ({exc.strerror}); choose a writable run folder with free space "
                "(--run-dir) and run again with --resume")
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}; choose a writable run folder with free space (--run-dir) and run again with --resume"
    if isinstance(exc, (ConfigError, CheckpointError, RuntimeError, ValueError)):
        return str(exc)
    return generic_message(exc)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = build_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"meld-train: {exc}", file=sys.stderr)
        return 2
    run_dir = Path(args.run_dir or f"runs/{args.env}-{time.strftime('%Y%m%d-%H%M%S')}")
    ckpt = run_dir / "checkpoints" / "latest.pt"
    if ckpt.exists() and not args.resume:
        print(f"meld-train: {run_dir} already has {ckpt}; pass --resume to continue it or choose a new --run-dir",
              file=sys.stderr)
        return 2
    if args.resume and not ckpt.is_file():
        print(f"meld-train: --resume: {run_dir} has no checkpoints/latest.pt, so there is nothing to resume; check "
              "--run-dir, or leave --resume out to start a new run there", file=sys.stderr)
        return 2
    from .envs import make_env
    from .meta_train import MetaTrainer
    from meld_policy.checkpoint import CheckpointError
    try:
        env = make_env(args.env)
    except RuntimeError as exc:
        print(f"meld-train: --env: {exc}", file=sys.stderr)
        return 2
    trainer = MetaTrainer(cfg, args.env, run_dir, env=env)
    try:
        resumed = trainer.maybe_resume() if args.resume else (trainer.open_replay() or False)
    except CheckpointError as exc:
        print(f"meld-train: {exc}", file=sys.stderr)
        return 2
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"env_id": args.env, **cfg.to_dict()}, sort_keys=False))
    logging.info("run folder %s on %s; %s at iteration %d with %d trials in replay", run_dir, trainer.device,
                 "resumed" if resumed else "starting", trainer.counters["iteration"], trainer.replay.num_trials())
    for note in trainer.replay.skipped:
        logging.warning("skipped: %s", note)
    ev = trainer.run()
    if trainer.skipped_updates:
        logging.warning("%d update(s) skipped because a loss or gradient was not finite", trainer.skipped_updates)
    if ev is not None:
        (run_dir / "last_eval.json").write_text(json.dumps(ev, indent=1))
        print(f"heldout success: {100 * ev['success']:.0f}% ({ev['successes']}/{ev['trials']} trials) "
              f"after {ev['env_steps']} env steps")
    print(f"checkpoint: {trainer.checkpoint_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
