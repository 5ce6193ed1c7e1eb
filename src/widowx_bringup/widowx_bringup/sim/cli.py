"""meld-sim: look at, check and export the simulated cable-insertion task.

Usage:
    meld-sim check                      # scripted insertion into every task's goal port, and
                                        # into a wrong port: prints "scripted insertion: N/30
                                        # tasks" and "wrong port counted: 0"; exit 1 otherwise
    meld-sim demo --out runs/demo       # a scripted insertion from both cameras: insertion.gif,
                                        # strip.png (policy-size frames) and the rewards
    meld-sim demo --out runs/demo --task 23
    meld-sim tasks --out tasks.yaml     # the 30 tasks in the reset rig's task-file format
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .env import EnvConfig, WidowXInsertEnv
from .scripted import run_scripted_episode
from .tasks import tasks_yaml


def _check(args: argparse.Namespace) -> int:
    env = WidowXInsertEnv(cameras=not args.no_cameras)
    inserted, wrong_counted, wrong_seated = 0, 0, 0
    n = len(env.tasks)
    for task in env.tasks:
        goal = run_scripted_episode(env, task.task_id, seed=args.seed)
        ok = bool(goal["final"]["success"])
        inserted += ok
        wrong_port = (task.port + 1) % env.sim.router.num_ports
        wrong = run_scripted_episode(env, task.task_id, port=wrong_port, seed=args.seed)
        counted = int(sum(r > 0 for r in wrong["sparse"]))
        wrong_counted += counted > 0
        wrong_seated += any(p == wrong_port for p in wrong["seated"])
        first = goal["sparse"].index(1.0) if 1.0 in goal["sparse"] else None
        print(f"task {task.task_id:2d} ({task.split:7s} port {task.port}, {task.translation * 1e3:+6.2f} mm, "
              f"{np.degrees(task.rotation):+6.2f} deg): goal {'seated' if ok else 'FAILED'}"
              f"{f' at step {first}' if first is not None else ''}, final distance "
              f"{goal['final']['distance'] * 1e3:.1f} mm; wrong port {wrong_port} "
              f"{'seated' if any(p == wrong_port for p in wrong['seated']) else 'not reached'}, "
              f"sparse reward there {'GIVEN' if counted else 'not given'}")
    env.close()
    print(f"wrong-port insertions made: {wrong_seated}/{n}")
    print(f"scripted insertion: {inserted}/{n} tasks")
    print(f"wrong port counted: {wrong_counted}")
    return 0 if inserted == n and wrong_counted == 0 else 1


def _demo(args: argparse.Namespace) -> int:
    import imageio.v3 as iio

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = WidowXInsertEnv(config=EnvConfig())
    frames: list = []
    result = run_scripted_episode(env, args.task, seed=args.seed, frames=frames)
    task = env.task
    env.close()
    video = [f[0] for f in frames]
    iio.imwrite(out / "insertion.gif", video, duration=100, loop=0)
    # Policy-size observations (64x128), every 4th step, stacked: what MELD actually sees.
    strip = np.concatenate([f[1] for f in frames[::4]], axis=0)
    iio.imwrite(out / "strip.png", np.kron(strip, np.ones((2, 2, 1), dtype=np.uint8)))
    print(f"task {task.task_id} ({task.split}): goal port {task.port}, rig {task.translation * 1e3:+.2f} mm "
          f"{np.degrees(task.rotation):+.2f} deg")
    print("step  shaped   sparse  distance_mm  angle_deg  seated_port")
    for i, (_, _, info) in enumerate(frames):
        print(f"{i:4d}  {info['shaped_reward']:+.4f}  {info['sparse_reward']:.0f}       {info['distance'] * 1e3:7.1f}"
              f"  {np.degrees(info['angle']):9.2f}  {info['seated_port']:11d}")
    print(f"wrote {out / 'insertion.gif'} (both cameras, {len(video)} frames) and {out / 'strip.png'} "
          "(64x128 policy observations, every 4th step)")
    return 0 if result["final"]["success"] else 1


def _tasks(args: argparse.Namespace) -> int:
    cfg = EnvConfig().tasks
    env = WidowXInsertEnv(cameras=False)
    text = tasks_yaml(env.tasks, cfg)
    env.close()
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {len(env.tasks)} tasks to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meld-sim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="scripted insertion into every task's goal port and a wrong port")
    p.add_argument("--seed", type=int, default=0, help="seed of the home-pose perturbation")
    p.add_argument("--no-cameras", action="store_true", help="skip rendering (physics only, faster)")
    p.set_defaults(func=_check)
    p = sub.add_parser("demo", help="write a video and an image strip of a scripted insertion")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--task", type=int, default=0, help="task id, 0-19 train, 20-29 held-out")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo)
    p = sub.add_parser("tasks", help="print or write the task list in the reset rig's format")
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(func=_tasks)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
