"""meld-eval: meta-test a checkpoint (Algorithm 2) on held-out or training tasks and write a report.

Usage:
  meld-eval --checkpoint runs/point/checkpoints/latest.pt --tasks heldout
  meld-eval --checkpoint runs/point/checkpoints/latest.pt --tasks train --trials-per-task 3 --out /tmp/eval
  meld-eval --checkpoint models/meld_widowx_state_sparse.pt --watch 23 --out runs/watch   # watch one trial adapt

Writes report.json, success_curve.png (held-out success against env steps during training) and
reward_belief.png (predicted reward mean and std over one trial, the paper's figure 6) to --out
(default RUN/eval-<tasks>). The last line printed is `heldout success: X%` (or `train success: X%`).
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from .cli_errors import generic_message, run_reporting


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give 1 or more") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} trials would evaluate nothing; give 1 or more")
    return value


def writable_folder(out: Path) -> str | None:
    """Why the report folder cannot be written (checked before an evaluation that may take long), or None."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".meld-eval-probe-"):
            pass
    except OSError as exc:
        return f"cannot write the report to {out} ({exc.strerror or exc}); choose a writable folder with --out"
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="meld-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a .pt file, e.g. RUN/checkpoints/latest.pt")
    p.add_argument("--tasks", choices=["heldout", "train"], default="heldout")
    p.add_argument("--trials-per-task", type=positive_int, default=1,
                   help="trials on each task, 1 or more (sparse envs: 2-episode trials)")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of taking the mean")
    p.add_argument("--out", default=None, help="report folder (default: RUN/eval-<tasks>)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--workers", type=int, default=0,
                   help="run the trials on this many collection worker processes (same results, in parallel)")
    p.add_argument("--watch", type=int, default=None, metavar="TASK",
                   help="instead of the report: one trial on TASK as trial.gif and strip.png (both episodes, the "
                        "predicted reward's mean and spread beside them; the paper's figure 6)")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error, not only its sentence")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[meld-eval] %(message)s")
    return run_reporting("meld-eval", run, args, user_message)


def user_message(exc: BaseException) -> str:
    """One or two sentences for an error (the traceback is behind --debug)."""
    from meld_policy.checkpoint import CheckpointError
    from meld_policy.config import ConfigError
    if isinstance(exc, OSError):
        what = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
        return f"{what}; check the path and its permissions"
    if isinstance(exc, (CheckpointError, ConfigError, RuntimeError, ValueError)):
        return str(exc)
    return generic_message(exc)


def run(args: argparse.Namespace) -> int:
    from meld_policy.checkpoint import CheckpointError, load_raw
    from meld_policy.config import ConfigError
    from .meta_test import meta_test, watch_trial, write_report
    from .meta_train import MetaTrainer
    ckpt_path = Path(args.checkpoint)
    try:
        ckpt = load_raw(ckpt_path)
        saved = ckpt["config"]
        from .config import run_config_from_saved
        try:
            cfg = run_config_from_saved(saved)
        except (ConfigError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"{ckpt_path}: its config no longer builds a run ({exc}); evaluate it with the "
                                  "code version that wrote it") from None
        cfg.train.device = args.device
        out = Path(args.out) if args.out else ckpt_path.parent.parent / f"eval-{args.tasks}"
        problem = writable_folder(out)
        if problem:
            print(f"meld-eval: {problem}", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory(prefix="meld-eval-") as scratch:
            trainer = MetaTrainer(cfg, ckpt["env_id"], scratch, tensorboard=False)
            load = trainer.load_policy_file if ckpt.get("kind") == "policy" else trainer.load_checkpoint
            for note in load(ckpt_path):
                if not note.startswith("changed"):
                    logging.warning("%s", note)
            tasks = trainer.heldout_tasks if args.tasks == "heldout" else trainer.train_tasks
            if args.watch is not None:
                files = watch_trial(trainer, args.watch, out, deterministic=not args.stochastic)
                print(f"watch: {', '.join(str(f) for f in files)}")
                return 0
            with trainer.collection_workers(args.workers):
                res = meta_test(trainer, tasks, args.trials_per_task, deterministic=not args.stochastic)
            files = write_report(trainer, res, out, args.tasks)
    except CheckpointError as exc:
        print(f"meld-eval: {exc}", file=sys.stderr)
        return 2
    for task, s in sorted(res["per_task"].items()):
        print(f"task {task:3d}: success {100 * s:5.1f}%")
    print(f"mean shaped return per trial: {res['shaped_return']:.2f}")
    print(f"report: {', '.join(str(f) for f in files)}")
    lo, hi = res["ci95"]
    print(f"{args.tasks} success: {100 * res['success']:.0f}% ({res['successes']}/{res['trials']} trials, "
          f"95% CI {100 * lo:.0f}-{100 * hi:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
