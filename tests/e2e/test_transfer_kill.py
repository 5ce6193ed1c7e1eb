"""SIGKILL in the middle of a transfer, on either side, then a restart: no episode is lost, none is
applied twice, and no half-received file is ever loaded.

The cell graph (sim, rig, arm, reward) runs under meld-launch; the policy node and the trainer run
as their own processes with separate run folders, so each can be killed alone. Transfers are
slowed down (transfer.max_rate_mb_s) so that a kill lands while a `.part` file exists: the test
watches the receiver's incoming folder and kills the receiving process then.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nodes"))
from graph_harness import NodeProcess, wait_for  # noqa: E402

from meld_policy.episode_io import read_episode, scan_episodes  # noqa: E402
from meld_ros.transfer_store import Outbox  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]
POLICY = {"particles": 2, "transfer.max_rate_mb_s": 0.02, "transfer.chunk_bytes": 4096, "transfer.ack_timeout": 3.0}
"""A 25 KB smoke episode takes ~1.3 s to cross: long enough to be caught half-way."""
TRAINER = {"config": "smoke", "episode_steps": 10, "transfer.max_rate_mb_s": 0.3,
           "transfer.chunk_bytes": 131072, "transfer.ack_timeout": 3.0}
"""A 1 MB smoke checkpoint takes ~3.5 s, in fewer chunks than the flow-control window."""


def part_files(run_dir: Path) -> list[Path]:
    return list((run_dir / "transfers" / "incoming").glob("*.part"))


def test_sigkill_either_side_mid_transfer_loses_nothing_and_applies_nothing_twice(tmp_path):
    cell_dir, trainer_dir = tmp_path / "cell", tmp_path / "trainer"
    graph_log = open(tmp_path / "graph.log", "w")
    graph = subprocess.Popen([str(Path(sys.executable).parent / "meld-launch"), "sim", "--only", "cell", "--config",
                              "smoke", "--exclude", "policy", "--run-dir", str(cell_dir), "--duration", "330"],
                             stdout=graph_log, stderr=subprocess.STDOUT, start_new_session=True)
    procs: list[NodeProcess] = []

    def start(module: str, name: str, run_dir: Path, params: dict, n: int) -> NodeProcess:
        logs = tmp_path / f"{name}{n}"
        logs.mkdir()
        procs.append(NodeProcess(module, name, logs, dict(params, run_dir=str(run_dir))))
        return procs[-1]

    try:
        policy = start("meld_policy.node", "policy", cell_dir, POLICY, 1)
        trainer = start("meld_trainer.node", "trainer", trainer_dir, TRAINER, 1)

        # 1. The trainer dies while an episode file is half-way across.
        wait_for(lambda: part_files(trainer_dir), 150, "an episode transfer in progress")
        trainer.stop(signal.SIGKILL)
        half = part_files(trainer_dir)
        assert half, "the transfer finished before the kill"
        trainer = start("meld_trainer.node", "trainer", trainer_dir, TRAINER, 2)
        wait_for(lambda: "removed a half-received transfer" in trainer.output(), 60, "the restarted trainer's clean-up")

        # 2. The policy dies while checkpoint 3 is half-way across (it holds checkpoint 0 by then).
        # The trainer is paused meanwhile, so that no episode request goes to the dead policy
        # (what a lost request does is the fault handling's business, not this test's).
        wait_for(lambda: (cell_dir / "checkpoints" / "ckpt_000000.pt").is_file() and part_files(cell_dir), 200,
                 "a later checkpoint transfer in progress")
        os.killpg(trainer.proc.pid, signal.SIGSTOP)
        policy.stop(signal.SIGKILL)
        assert part_files(cell_dir), "the checkpoint transfer finished before the kill"
        policy = start("meld_policy.node", "policy", cell_dir, POLICY, 2)
        wait_for(lambda: "removed a half-received transfer" in policy.output() and "waiting for policy/start"
                 in policy.output(), 60, "the restarted policy")
        os.killpg(trainer.proc.pid, signal.SIGCONT)
        wait_for(lambda: re.search(r"loaded checkpoint \S+/ckpt_000003\.pt", policy.output()), 120,
                 "the restarted policy to load the checkpoint whose transfer was cut")
        wait_for(lambda: re.search(r"iteration [45]/6", trainer.output()), 120, "training to go on")
    finally:
        for p in reversed(procs):
            if p.alive():
                os.killpg(p.proc.pid, signal.SIGCONT)
            p.stop()
        os.killpg(graph.pid, signal.SIGINT)
        graph.wait(60)
        graph_log.close()

    # No episode lost: each file the policy wrote is in the trainer's folder, byte for byte, or
    # still in the policy's outbox (written just before the stop).
    pending = {o.name for o in Outbox(cell_dir, "trainer").pending()}
    landed, skipped = scan_episodes(trainer_dir / "episodes")
    assert not skipped, skipped
    for folder in ("episodes", "eval"):
        for meta in scan_episodes(cell_dir / folder)[0]:
            copy = trainer_dir / folder / meta.path.name
            assert copy.is_file() or f"{folder}/{meta.path.name}" in pending, f"{folder}/{meta.path.name} was lost"
            if copy.is_file():
                assert copy.read_bytes() == meta.path.read_bytes()
    # None applied twice, none duplicated.
    for run_dir in (trainer_dir, cell_dir):
        ids = [json.loads(line)["id"] for line in (run_dir / "transfers" / "applied.jsonl").read_text().splitlines()]
        assert len(ids) == len(set(ids)), f"a transfer was applied twice in {run_dir.name}"
    indices = [m.episode_index for m in landed] + [m.episode_index for m in scan_episodes(trainer_dir / "eval")[0]]
    assert len(indices) == len(set(indices)) >= 8
    # No partial file loaded: everything in place reads back whole; every checkpoint the policies
    # loaded is a complete copy of the trainer's.
    for meta in landed:
        read_episode(meta.path)
    outputs = "".join(p.output() for p in procs)
    trainer_outputs = "".join(p.output() for p in procs if p.name == "trainer")
    for loaded in set(re.findall(r"loaded checkpoint (\S+)", outputs)):
        path = Path(loaded)
        assert path.parent == cell_dir / "checkpoints"
        torch.load(path, weights_only=False, map_location="cpu")
    assert "skipped:" not in trainer_outputs and "not loaded" not in outputs  # the replay's and the policy's refusals
