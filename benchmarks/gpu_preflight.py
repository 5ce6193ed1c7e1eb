"""Preflight of a GPU box before a long run: does each part of the fast path work here, and which flags to use.

Usage:
  python benchmarks/gpu_preflight.py [--env WidowXInsertSparse-v0] [--config paper]

Checks, each in isolation, and prints one line per check:
  - rendering: one reset and step of the env (MuJoCo with EGL);
  - the fast model update (CUDA graph, fused Adam) against the plain one on the same batch and weights
    (loss equal within tolerance), each replay on its own gradient (none accumulated across replays),
    and the graphed belief filter against the plain one;
  - a collection worker (spawned process, its own simulator) running one trial.
The last line is `FLAGS: ...`, the overrides a run on this box should use: `train.fast_updates=false`
when the fast path fails or disagrees, `train.collect_workers=0` when workers fail. A long run on a
rented GPU then cannot be lost to a part that was never exercised on this hardware.
"""
from __future__ import annotations

import argparse
import copy
import time
import traceback

import numpy as np
import torch

from meld_trainer.collect import TrialJob
from meld_trainer.config import build_config
from meld_trainer.envs import make_env
from meld_trainer.fast_update import FeatureFilter, ModelUpdater
from meld_trainer.meta_train import MetaTrainer
from meld_trainer.pool import CollectorPool


def check(name: str, fn) -> bool:
    t0 = time.perf_counter()
    try:
        detail = fn()
        print(f"ok    {name} ({time.perf_counter() - t0:.1f} s){': ' + detail if detail else ''}", flush=True)
        return True
    except Exception:  # noqa: BLE001 - a preflight reports every failure and goes on
        print(f"FAIL  {name} ({time.perf_counter() - t0:.1f} s)\n{traceback.format_exc()}", flush=True)
        return False


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="WidowXInsertSparse-v0")
    p.add_argument("--config", default="paper")
    args = p.parse_args()
    print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}"
          f"{' (' + torch.cuda.get_device_name() + ')' if torch.cuda.is_available() else ''}", flush=True)

    def render() -> str:
        env = make_env(args.env)
        obs, _ = env.reset(seed=0)
        obs, *_ = env.step(env.action_space.sample())
        env.close()
        return f"observation {obs.shape} {obs.dtype}, mean {float(np.mean(obs)):.1f}"

    ok_render = check("render", render)
    cfg = build_config(args.config, [])
    trainer = MetaTrainer(cfg, args.env, "/tmp/preflight-run", tensorboard=False)
    for i in range(4):
        trainer.collect_and_store(trainer.train_tasks[i], mode="random")

    def fast_update() -> str:
        n = max(1, cfg.train.model_batch_frames // trainer.frames_per_trial)
        b = trainer._to_torch(trainer.replay.sample_trials(n, np.random.default_rng(0)))
        batch = (b["images"], b["actions"], b["rewards_in"], b["rewards_shaped"])
        plain_model = copy.deepcopy(trainer.model)
        fast_model = copy.deepcopy(trainer.model)
        plain, fast = ModelUpdater(plain_model, 1e-4, fast=False), ModelUpdater(fast_model, 1e-4, fast=True)
        losses = []
        for upd in (plain, fast):
            torch.manual_seed(1)
            losses.append([float(upd.step(*batch)["model/loss"]) for _ in range(3)])
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        t0 = time.perf_counter()
        for _ in range(10):
            fast.step(*batch)
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        ms = (time.perf_counter() - t0) * 100
        rel = abs(losses[0][0] - losses[1][0]) / max(1.0, abs(losses[0][0]))
        assert all(np.isfinite(losses[1])), f"fast losses {losses[1]}"
        assert rel < 1e-2, f"first loss plain {losses[0][0]:.3f} vs fast {losses[1][0]:.3f}"
        # Each replay must use its own gradient (lr=0: same weights, so about the same gradient size).
        still = ModelUpdater(copy.deepcopy(trainer.model), 0.0, fast=True)
        sizes = []
        for _ in range(5):
            still.step(*batch)
            sizes.append(float(torch.stack([p.grad.norm() for p in still.model.parameters()]).norm()))
        assert max(sizes) < 1.5 * min(sizes), f"gradient size grows with each replay: {sizes}"
        ff, pf = FeatureFilter(fast_model, fast=True), FeatureFilter(fast_model, fast=False)
        torch.manual_seed(2)
        f1 = ff(b["images"], b["actions"], b["rewards_in"])
        torch.manual_seed(2)
        f2 = pf(b["images"], b["actions"], b["rewards_in"])
        assert f1.shape == f2.shape and bool(torch.isfinite(f1).all()), "graphed filter output"
        return f"losses plain {losses[0]} fast {losses[1]}; fast step {ms:.1f} ms; batch {tuple(batch[0].shape)}"

    ok_fast = check("fast update", fast_update)

    def worker() -> str:
        with CollectorPool(args.env, cfg.model, cfg.actor, trainer.episodes_per_trial, 1) as pool:
            v = pool.publish(trainer.model, trainer.actor)
            episodes, summary = pool.result(pool.submit(TrialJob(trainer.train_tasks[0], "policy", 3), v))
        return f"{sum(len(e['actions']) for e in episodes)} steps, success {summary['success']}"

    ok_worker = check("collection worker", worker) if ok_render else False
    flags = ([] if ok_fast else ["train.fast_updates=false"]) + ([] if ok_worker else ["train.collect_workers=0"])
    print("FLAGS:", " ".join(flags), flush=True)
    return 0 if ok_render else 1


if __name__ == "__main__":
    raise SystemExit(main())
