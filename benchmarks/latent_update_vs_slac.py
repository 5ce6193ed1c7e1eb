"""The latent-model update on the CPU, side by side with slac.pytorch's, interleaved in one process.

Usage:
  .venv/bin/python benchmarks/latent_update_vs_slac.py [--pairs 8] [--threads 2] [--paths plain,fast]

Both models at slac.pytorch's sizes: one 64x64 camera, conv base depth 32, z1/z2 32/256, MLPs of 2x256,
32 sequences of 9 frames, Adam at 1e-4. Updates alternate (slac, ours, slac, ours, ...) so that both
see the same machine load; the figure is the ratio of the medians. The peer's network code is read
from ../shared/peers/slac.pytorch (never copied into the project). `--paths` picks which of our update
paths to time: `plain` (LatentModel.loss, backward, Adam) and `fast` (meld_trainer.fast_update:
the same loss, the CPU fast path). Goal: fast >= 1.5x slac.pytorch.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from meld_policy.config import ModelConfig
from meld_policy.model import LatentModel
from meld_trainer.fast_update import ModelUpdater

PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "slac.pytorch"
B, S, A = 32, 8, 5  # 32 sequences of S + 1 = 9 frames, 5-D actions


def slac_step_fn():
    sys.path.insert(0, str(PEER))
    from slac.network.latent import LatentModel as SlacLatent  # noqa: E402
    model = SlacLatent((3, 64, 64), (A,), feature_dim=256, z1_dim=32, z2_dim=256, hidden_units=(256, 256))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    state = torch.rand(B, S + 1, 3, 64, 64)
    action = torch.rand(B, S, A) * 2 - 1
    reward = -torch.rand(B, S, 1)
    done = torch.zeros(B, S, 1)

    def step():
        kld, img, rew = model.calculate_loss(state, action, reward, done)
        opt.zero_grad()
        (kld + img + rew).backward()
        opt.step()
    return step


def our_step_fn(path: str):
    cfg = ModelConfig(image_width=64, action_dim=A, base_depth=32, z1_dim=32, z2_dim=256, hidden_dim=256, hidden_layers=2)
    model = LatentModel(cfg)
    updater = ModelUpdater(model, lr=1e-4, fast=(path == "fast"))
    images = torch.randint(0, 256, (B, S + 1, 64, 64, 3), dtype=torch.uint8)
    actions = torch.rand(B, S, A) * 2 - 1
    rewards = -torch.rand(B, S + 1)

    def step():
        updater.step(images, actions, rewards, rewards)
    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=8, help="timed update pairs (after 2 warm-up pairs)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--paths", default="plain,fast", help="our update paths to time: plain, fast")
    args = p.parse_args()
    if not PEER.is_dir():
        sys.exit(f"{PEER} is missing: this benchmark needs the shared peer code (../shared/peers/slac.pytorch)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fns = {"slac.pytorch": slac_step_fn()}
    for path in args.paths.split(","):
        fns[f"ours ({path})"] = our_step_fn(path)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(args.pairs + 2):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if i >= 2:
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["slac.pytorch"])
    print(f"latent-model update, 32 x 9 frames of 64x64, torch {torch.__version__}, {args.threads} threads, "
          f"{args.pairs} interleaved rounds (median ms):")
    for name, t in times.items():
        m = statistics.median(t)
        print(f"  {name:<16} {1e3 * m:7.1f} ms   speed vs slac.pytorch {base / m:4.2f}x")


if __name__ == "__main__":
    main()
