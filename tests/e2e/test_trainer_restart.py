"""The trainer killed with SIGKILL in the middle of a run, then started again: no episode is lost
or duplicated, and training goes on from its checkpoint with every episode on disk."""
from __future__ import annotations

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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
TRAINER = {"config": "smoke", "episode_steps": 10}


def start_trainer(run_dir: Path, logs: Path) -> NodeProcess:
    logs.mkdir()
    return NodeProcess("meld_trainer.node", "trainer", logs, dict(TRAINER, run_dir=str(run_dir)))


def test_sigkill_mid_run_loses_and_duplicates_nothing(tmp_path):
    run_dir = tmp_path / "run"
    graph_log = open(tmp_path / "graph.log", "w")
    graph = subprocess.Popen([str(Path(sys.executable).parent / "meld-launch"), "sim", "--config", "smoke",
                              "--exclude", "trainer", "--run-dir", str(run_dir), "--duration", "300"],
                             stdout=graph_log, stderr=subprocess.STDOUT, start_new_session=True)
    first = second = None
    try:
        first = start_trainer(run_dir, tmp_path / "first")
        wait_for(lambda: re.search(r"iteration 1/", first.output()), 180, "the first trainer's first iteration")
        time.sleep(2.0)  # into the next trial: the policy is probably in the middle of an episode
        first.stop(signal.SIGKILL)
        ckpt = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
        time.sleep(1.0)

        second = start_trainer(run_dir, tmp_path / "second")
        resumed = wait_for(lambda: re.search(r"resumed in \S+: iteration (\d+), (\d+) trials \((\d+) env steps\) "
                                             r"in replay, next episode (\d+)", second.output()), 120,
                           "the second trainer to resume")
        on_disk = scan_episodes(run_dir / "episodes")[0]
        iteration, trials, _, next_episode = (int(g) for g in resumed.groups())
        assert iteration == ckpt["counters"]["iteration"], "training did not continue from the checkpoint"
        # Every complete episode file is in the replay (smoke trials are one episode each), including
        # the one the policy finished after the first trainer died.
        assert trials == len(on_disk), (trials, [m.path.name for m in on_disk])
        indices = [m.episode_index for m in on_disk] + [m.episode_index for m in scan_episodes(run_dir / "eval")[0]]
        assert next_episode == max(indices) + 1
        wait_for(lambda: re.search(rf"iteration {iteration + 2}/", second.output()), 150,
                 "two more iterations after the restart")
    finally:
        for proc in (second, first):
            if proc is not None:
                proc.stop()
        os.killpg(graph.pid, signal.SIGINT)
        graph.wait(60)
        graph_log.close()
    episodes, skipped = scan_episodes(run_dir / "episodes")
    indices = [m.episode_index for m in episodes]
    assert len(indices) == len(set(indices)), "an episode index was used twice"
    assert indices == sorted(indices) and len(indices) >= trials + 2
    assert not [s for s in skipped if "partial" in s], skipped
    for meta in episodes:
        read_episode(meta.path)  # every file loads
    assert "ingested" in second.output()
