"""Episodes and checkpoints over ROS 2 (meld_ros.transfer): throughput and latency over loopback,
and the trainer's ingest rate with several sim cells feeding it across separate run folders.

Usage (from the repository root; env.sh keeps DDS on loopback and picks a domain):
    source scripts/env.sh && .venv/bin/python benchmarks/transfer_throughput.py
    source scripts/env.sh && .venv/bin/python benchmarks/transfer_throughput.py --no-profile
    source scripts/env.sh && .venv/bin/python benchmarks/transfer_throughput.py --skip-files --cells 1 2 4

What it measures, in fresh processes:
  files    a policy-side process and a trainer-side process, each a TransferEndpoint with its own run
           folder (as on two hosts). The policy side sends episode files (0.1 MB, a smoke episode;
           1 MB, a paper-size one: 41 frames of 64x128 rgb8, incompressible here), the trainer side
           checkpoints of 26 MB (the paper's networks). Latency: from offer() (the file queued,
           hashed) to the receiver's acknowledgement (written, hash checked, renamed, ledger line);
           throughput: size over that time. Default Fast DDS settings plus the shipped profile
           (launch/config/fastdds_large_frames.xml), as meld-launch gives every node; --no-profile
           without it.
  ingest   `meld-launch sim --only cell --cells N` and `meld-launch sim --only trainer --cells N`
           with separate run folders, smoke config: episodes the trainer ingests per minute, from the
           end of its set-up (collection starts) to its last ingest within --window seconds or the
           end of the smoke run (6 iterations), whichever comes first (all files cross over ROS;
           pretraining, model updates and the held-out evaluations are inside the window).

Measured on the 2-core CI VM (loopback, 2026-12-04), median of 10 episodes / 5 checkpoints:
  with the profile     episode 0.1 MB 11.5 ms, 1 MB 27.1 ms (37 MB/s); checkpoint 26 MB 258 ms (101 MB/s)
  default Fast DDS     episode 0.1 MB 10.1 ms, 1 MB 27.2 ms (37 MB/s); checkpoint 26 MB 320 ms (81 MB/s)
  ingest (smoke)       1 cell 7.9 episodes/min, 2 cells 12.7, 4 cells 13.5 (two cores are the limit:
                       every cell's sim renders and every policy filters on the same CPUs)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "launch"))


def endpoint(role: str, run_dir: Path, delivered: list, received: list):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from meld_ros.transfer import TransferConfig, TransferEndpoint
    from meld_ros.transfer_store import Inbox

    rclpy.init()
    node = Node(f"bench_{role}")
    cv = threading.Condition()

    def note(items, value):
        with cv:
            items.append((time.monotonic(), value))
            cv.notify_all()

    ep = TransferEndpoint(node, role, run_dir, Inbox(run_dir), TransferConfig(),
                          on_received=lambda kind, path: note(received, path),
                          on_delivered=lambda offer: note(delivered, offer))
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    spinner = threading.Thread(target=ex.spin, daemon=True)
    spinner.start()
    ex.spinner = spinner
    return node, ep, cv, ex


def close(node, ep, ex) -> None:
    import rclpy

    ep.close()
    ex.shutdown(timeout_sec=2.0)
    ex.spinner.join(timeout=2.0)
    node.destroy_node()
    rclpy.try_shutdown()


def wait_count(cv, items: list, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with cv:
        while len(items) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"only {len(items)} of {n} transfers acknowledged within {timeout:.0f} s")
            cv.wait(left)


def send_files(ep, cv, delivered: list, kind: str, folder: str, size: int, repeats: int, run_dir: Path) -> list[float]:
    """Offer `repeats` distinct files of `size` bytes one after the other; seconds to each ack."""
    (run_dir / folder).mkdir(parents=True, exist_ok=True)
    times = []
    for i in range(repeats):
        name = (f"ep{9000000 + i:07d}_task000_trial{i:07d}_part1of1_steps040.npz" if kind == "episode"
                else f"ckpt_{900000 + i:06d}.pt")
        path = run_dir / folder / name
        path.write_bytes(os.urandom(size))
        n = len(delivered)
        t0 = time.monotonic()
        ep.offer(kind, f"{folder}/{name}", path, supersede=kind == "checkpoint")
        wait_count(cv, delivered, n + 1, 120)
        times.append(delivered[-1][0] - t0)
    return times


def role_trainer(a: argparse.Namespace) -> None:
    """Receives episodes; when the policy side is done, sends checkpoints and prints their times."""
    run_dir = Path(a.dir) / "trainer"
    delivered, received = [], []
    node, ep, cv, ex = endpoint("trainer", run_dir, delivered, received)
    ep.wait_peer(30)
    wait_count(cv, received, a.episodes * 2, 300)
    times = send_files(ep, cv, delivered, "checkpoint", "checkpoints", int(a.checkpoint_mb * 1e6), a.checkpoints,
                       run_dir)
    print(json.dumps({"checkpoint": times}), flush=True)
    close(node, ep, ex)


def role_policy(a: argparse.Namespace) -> dict:
    run_dir = Path(a.dir) / "policy"
    delivered, received = [], []
    node, ep, cv, ex = endpoint("policy", run_dir, delivered, received)
    if not ep.wait_peer(30):
        raise SystemExit("the trainer-side process did not come up within 30 s (ROS_DOMAIN_ID, discovery range?)")
    out = {}
    for label, size in (("episode_0.1MB", 100_000), ("episode_1MB", 1_000_000)):
        out[label] = send_files(ep, cv, delivered, "episode", "episodes", size, a.episodes, run_dir)
    wait_count(cv, received, a.checkpoints, 300)
    close(node, ep, ex)
    return out


def summary(label: str, size_mb: float, times: list[float]) -> str:
    ms = sorted(1e3 * t for t in times)
    med = statistics.median(ms)
    return (f"{label:15s} {size_mb:6.2f} MB  latency median {med:7.1f} ms  (min {ms[0]:.1f}, max {ms[-1]:.1f}, "
            f"n={len(ms)})  throughput {size_mb / (med / 1e3):6.1f} MB/s")


def files_case(a: argparse.Namespace) -> None:
    from meld_bringup.graph import child_environment

    env = child_environment()
    if a.no_profile:
        for k in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
            env.pop(k, None)
    os.environ.clear()
    os.environ.update(env)
    with tempfile.TemporaryDirectory(prefix="meld-transfer-bench-") as d:
        a.dir = d
        child = subprocess.Popen([sys.executable, __file__, "--role", "trainer", "--dir", d, "--episodes",
                                  str(a.episodes), "--checkpoints", str(a.checkpoints), "--checkpoint-mb",
                                  str(a.checkpoint_mb)], stdout=subprocess.PIPE, text=True, env=env)
        try:
            out = role_policy(a)
            line = child.communicate(timeout=300)[0].strip().splitlines()[-1]
            out.update(json.loads(line))
        finally:
            if child.poll() is None:
                child.kill()
    print(f"files over loopback DDS ({'default Fast DDS settings' if a.no_profile else 'with the shipped profile'}):")
    print(summary("episode", 0.1, out["episode_0.1MB"]))
    print(summary("episode", 1.0, out["episode_1MB"]))
    print(summary("checkpoint", a.checkpoint_mb, out["checkpoint"]))


def ingest_case(cells: int, window: float) -> tuple[float, int, float]:
    launch = str(Path(sys.executable).parent / "meld-launch")
    with tempfile.TemporaryDirectory(prefix="meld-ingest-bench-") as d:
        common = ["sim", "--config", "smoke", "--cells", str(cells), "--duration", str(window + 240)]
        cell = subprocess.Popen([launch, *common, "--only", "cell", "--run-dir", f"{d}/cell", "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        trainer = subprocess.Popen([launch, *common, "--only", "trainer", "--run-dir", f"{d}/trainer"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                   bufsize=1)
        start, stamps = None, []
        try:
            for line in trainer.stdout:
                if start is None and re.search(r"\]: (new run|resumed) in ", line):
                    start = time.monotonic()  # the trainer's set-up is done: collection starts
                if start is not None and re.search(r"ingested 1 episode file", line):
                    stamps.append(time.monotonic())
                    if stamps[-1] - start >= window:
                        break
                if "meta-training finished" in line:
                    break
        finally:
            for p in (trainer, cell):
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGINT)
            for p in (trainer, cell):
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
        if not stamps:
            return float("nan"), 0, 0.0
        return 60.0 * len(stamps) / (stamps[-1] - start), len(stamps), stamps[-1] - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", default="bench", choices=["bench", "trainer"])
    p.add_argument("--dir", default="")
    p.add_argument("--episodes", type=int, default=10, help="episode files of each size")
    p.add_argument("--checkpoints", type=int, default=5)
    p.add_argument("--checkpoint-mb", type=float, default=26.0)
    p.add_argument("--no-profile", action="store_true", help="without launch/config/fastdds_large_frames.xml")
    p.add_argument("--skip-files", action="store_true")
    p.add_argument("--cells", type=int, nargs="*", default=[], help="ingest rate with these numbers of sim cells")
    p.add_argument("--window", type=float, default=90.0, help="seconds of ingest measured per case")
    a = p.parse_args()
    if a.role == "trainer":
        role_trainer(a)
        return
    if not a.skip_files:
        files_case(a)
    for n in a.cells:
        rate, count, seconds = ingest_case(n, a.window)
        print(f"ingest with {n} sim cell(s), separate run folders: {rate:.1f} episodes/min "
              f"({count} episodes in {seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
