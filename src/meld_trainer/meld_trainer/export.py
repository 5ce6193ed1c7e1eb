"""meld-export: a trained run's model and actor as one compact policy file, to ship or to deploy.

Usage:
  meld-export --checkpoint runs/widowx/checkpoints/latest.pt --out models/meld_widowx_sparse.pt
  meld-export --checkpoint RUN/checkpoints/latest.pt --out policy.pt --float32     # full precision

A policy file holds what acting and meta-testing need and nothing of training: the model and actor
weights (half precision by default: a paper-size model is then ~8 MB instead of ~50 MB with critics
and Adam's moments), the run's config and env id, its counters and held-out evaluation history, and
where it came from (source checkpoint, command, git commit). It loads with `torch.load(weights_only=True)`;
`meld-eval --checkpoint FILE`, the policy node's `checkpoint` parameter and `load_policy` take it as
they take a training checkpoint. It cannot resume training (no critics, no optimizer state).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import torch

from meld_policy.checkpoint import CheckpointError, load_raw, save_atomic

POLICY_KIND = "policy"


def git_commit(where: Path) -> str:
    """The commit of the code that exported the file; MELD_GIT_COMMIT where the box has a copy without .git."""
    if os.environ.get("MELD_GIT_COMMIT"):
        return os.environ["MELD_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+uncommitted" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def export_policy(checkpoint: str | Path, out: str | Path, half: bool = True, command: str = "") -> Path:
    """Write the compact policy file of a training checkpoint; returns its path."""
    ckpt = load_raw(checkpoint)
    if ckpt.get("kind") == POLICY_KIND:
        raise CheckpointError(f"{checkpoint} is already a policy file; export the run's checkpoints/latest.pt")

    def cast(state: dict) -> dict:
        return {k: (v.half() if half and v.is_floating_point() else v) for k, v in state.items()}

    policy = {
        "format_version": ckpt["format_version"],
        "kind": POLICY_KIND,
        "env_id": ckpt["env_id"],
        "config": ckpt["config"],
        "model": cast(ckpt["model"]),
        "actor": cast(ckpt["actor"]),
        "counters": dict(ckpt.get("counters", {})),
        "eval_history": list(ckpt.get("eval_history", [])),
        "provenance": {"source": str(checkpoint), "command": command, "commit": git_commit(Path(__file__).parent),
                       "dtype": "float16" if half else "float32"},
    }
    return save_atomic(policy, out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="meld-export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a training checkpoint, e.g. RUN/checkpoints/latest.pt")
    p.add_argument("--out", required=True, help="the policy file to write, e.g. models/meld_widowx.pt")
    p.add_argument("--float32", action="store_true", help="keep full precision (default: half)")
    p.add_argument("--command", default="", help="the training command, recorded in the file's provenance")
    args = p.parse_args(argv)
    try:
        path = export_policy(args.checkpoint, args.out, half=not args.float32, command=args.command)
    except CheckpointError as exc:
        print(f"meld-export: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"meld-export: cannot write {args.out}: {exc.strerror}; choose a writable --out", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
