"""Two transfer endpoints in two processes over DDS: a policy side (this test's node) and a
trainer side (a child process), each with a run folder. Separate folders: the file crosses, is
checked and lands; one shared folder: nothing is copied and nothing is queued."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nodes"))
from graph_harness import ProbeNode, wait_for  # noqa: E402

from meld_ros.transfer import TransferConfig, TransferEndpoint  # noqa: E402
from meld_ros.transfer_store import Inbox, Outbox  # noqa: E402

pytestmark = pytest.mark.timeout(90)
TRAINER_SIDE = """
import sys, time, rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from meld_ros.transfer import TransferConfig, TransferEndpoint
from meld_ros.transfer_store import Inbox
run_dir = sys.argv[1]
rclpy.init()
node = Node("trainer_side")
ep = TransferEndpoint(node, "trainer", run_dir, Inbox(run_dir), TransferConfig(chunk_bytes=65536),
                      on_received=lambda kind, path: print("received", path, flush=True))
ex = SingleThreadedExecutor()
ex.add_node(node)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    ex.spin_once(timeout_sec=0.1)
ep.close()
rclpy.try_shutdown()
"""


def episode_file(run_dir: Path, size: int = 300_000) -> Path:
    path = run_dir / "episodes" / "ep0000007_task001_trial0000007_part1of1_steps040.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def run_pair(policy_dir: Path, trainer_dir: Path, tmp_path: Path):
    child = subprocess.Popen([sys.executable, "-c", TRAINER_SIDE, str(trainer_dir), "25"],
                             stdout=open(tmp_path / "trainer_side.log", "w"), stderr=subprocess.STDOUT)
    probe = ProbeNode("policy_side")
    delivered = []
    ep = TransferEndpoint(probe.node, "policy", policy_dir, Inbox(policy_dir), TransferConfig(chunk_bytes=65536),
                          on_delivered=delivered.append)
    return child, probe, ep, delivered


def finish(child, probe, ep) -> None:
    ep.close()
    probe.close()
    child.kill()
    child.wait()


def test_separate_folders_the_file_crosses_and_is_acknowledged(tmp_path):
    policy_dir, trainer_dir = tmp_path / "robot_pc", tmp_path / "training_box"
    child, probe, ep, delivered = run_pair(policy_dir, trainer_dir, tmp_path)
    try:
        assert ep.wait_peer(20), "the trainer side was never heard"
        assert ep.shared is False
        src = episode_file(policy_dir)
        offer = ep.offer("episode", f"episodes/{src.name}", src)
        assert offer is not None and offer.size == 300_000
        wait_for(lambda: delivered, 20, "the acknowledgement")
        landed = trainer_dir / "episodes" / src.name
        assert landed.read_bytes() == src.read_bytes()
        assert Outbox(policy_dir, "trainer").pending() == [], "acknowledged, yet still in the outbox"
        ledger = [json.loads(line) for line in (trainer_dir / "transfers" / "applied.jsonl").read_text().splitlines()]
        assert [e["name"] for e in ledger] == [f"episodes/{src.name}"]
    finally:
        finish(child, probe, ep)


def test_one_shared_folder_copies_nothing(tmp_path):
    run_dir = tmp_path / "nfs_run"
    child, probe, ep, delivered = run_pair(run_dir, run_dir, tmp_path)
    try:
        assert ep.wait_peer(20) and ep.shared is True
        src = episode_file(run_dir)
        assert ep.offer("episode", f"episodes/{src.name}", src) is None
        time.sleep(1.0)
        assert Outbox(run_dir, "trainer").pending() == [] and not delivered
        assert not (run_dir / "transfers" / "applied.jsonl").exists()
        assert list((run_dir / "episodes").iterdir()) == [src]
    finally:
        finish(child, probe, ep)
