"""The robot PC and the training box as two graphs on one ROS domain, each with its own run folder
(`meld-launch sim --only cell` and `--only trainer`), on one machine over loopback DDS: episodes
reach the trainer's folder and checkpoints the policy's as ROS messages, and the policy acts
with a checkpoint that arrived that way."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from std_msgs.msg import String

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nodes"))
from graph_harness import ProbeNode, wait_for  # noqa: E402

from meld_policy.episode_io import read_episode, scan_episodes  # noqa: E402
from meld_policy.episode_protocol import EpisodeReport  # noqa: E402
from meld_ros.qos import EVENTS, LATCHED  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
MELD_LAUNCH = str(Path(sys.executable).parent / "meld-launch")


def launch(part: str, run_dir: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([MELD_LAUNCH, "sim", "--only", part, "--config", "smoke", "--run-dir", str(run_dir),
                             "--duration", "240"], stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_episodes_and_checkpoints_cross_between_separate_run_folders(tmp_path):
    cell_dir, trainer_dir = tmp_path / "robot_pc" / "run", tmp_path / "training_box" / "run"
    probe = ProbeNode("split_probe")
    reports = probe.collect(String, "episodes", EVENTS)
    loaded = probe.collect(String, "policy/loaded_checkpoint", LATCHED)
    trainer = launch("trainer", trainer_dir, tmp_path / "trainer.log")
    cell = launch("cell", cell_dir, tmp_path / "cell.log")

    def acted_with_transferred_checkpoint():
        for _, m in reports:
            r = EpisodeReport.from_json(m.data)
            if r.path and r.checkpoint.startswith(str(cell_dir / "checkpoints")) and \
                    (trainer_dir / "episodes" / Path(r.path).name).is_file():
                return r
        return None

    try:
        report = wait_for(acted_with_transferred_checkpoint, 200,
                          "a policy episode acted with a transferred checkpoint, its file in the trainer's folder")
    finally:
        stop(cell)
        stop(trainer)
        time.sleep(0.5)
        probe.close()
    trainer_log, cell_log = (tmp_path / "trainer.log").read_text(), (tmp_path / "cell.log").read_text()
    assert "(trainer part only)" in trainer_log and "(cell part only)" in cell_log
    assert "[policy]" not in trainer_log and "[trainer]" not in cell_log, "each graph runs only its part"
    assert "policy has its own run folder: files are sent over ROS" in trainer_log

    # Episodes: every file the trainer holds came over ROS, identical to the policy's original.
    landed, skipped = scan_episodes(trainer_dir / "episodes")
    assert len(landed) >= 5 and not skipped, skipped  # 4 pretraining + the first policy episode
    for meta in landed:
        original = cell_dir / "episodes" / meta.path.name
        assert meta.path.read_bytes() == original.read_bytes()
        read_episode(meta.path)
    applied = [json.loads(line) for line in (trainer_dir / "transfers" / "applied.jsonl").read_text().splitlines()]
    assert {a["name"] for a in applied if a["kind"] == "episode"} >= {f"episodes/{m.path.name}" for m in landed}
    assert len({a["id"] for a in applied}) == len(applied), "a transfer was applied twice"
    assert "ingested 1 episode file(s): " + Path(report.path).name in trainer_log

    # Checkpoints: in the policy's folder, identical to the trainer's, and loaded from there.
    ckpt = Path(report.checkpoint)
    assert ckpt.parent == cell_dir / "checkpoints" and ckpt.read_bytes() == (trainer_dir / "checkpoints" / ckpt.name).read_bytes()
    paths = [m.data for _, m in loaded]
    assert paths and all(p.startswith(str(cell_dir)) for p in paths), paths
    assert f"loaded checkpoint {ckpt}" in cell_log
    assert str(trainer_dir) not in "".join(line for line in cell_log.splitlines() if "loaded checkpoint" in line)
    for folder in (cell_dir, trainer_dir):
        assert not list((folder / "episodes").glob(".*")) and not list((folder / "checkpoints").glob(".*.part"))
