"""Simulator throughput on one core: env steps per second with and without the cameras.

Usage:
    scripts/setup.sh && source scripts/env.sh
    .venv/bin/python benchmarks/sim_throughput.py [--steps 400]

One step is a full policy step: 30 ticks of the 100 Hz joint law, 150 physics steps of 2 ms,
scoring, and (with cameras) rendering both 64x64 cameras. The goal is >= 50 steps/s with
cameras (15x real time at 3.3 Hz). The last line is `steps_per_s: X` with cameras.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")  # Mesa's software rasteriser on one core too

import numpy as np  # noqa: E402

from widowx_bringup.sim.env import WidowXInsertEnv  # noqa: E402


def measure(cameras: bool, steps: int) -> float:
    env = WidowXInsertEnv(cameras=cameras)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in range(10):  # warm-up: GL context, caches
        env.step(env.action_space.sample())
    done = 0
    start = time.perf_counter()
    while done < steps:
        env.reset(seed=done, options={"task": int(rng.integers(30))})
        for _ in range(40):
            env.step(rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32))
            done += 1
    elapsed = time.perf_counter() - start
    env.close()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass
    blind = measure(False, args.steps)
    print(f"without cameras: {blind:.0f} steps/s ({blind * 0.3:.0f}x real time at 3.3 Hz)")
    seeing = measure(True, args.steps)
    print(f"with both cameras (64x64 each): {seeing:.0f} steps/s ({seeing * 0.3:.0f}x real time at 3.3 Hz)")
    print(f"steps_per_s: {seeing:.1f}")


if __name__ == "__main__":
    main()
