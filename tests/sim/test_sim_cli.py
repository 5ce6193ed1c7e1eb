"""meld-sim as a user runs it: as a subprocess, reading what it prints and writes."""
import subprocess
import sys

import numpy as np
import pytest
import yaml

from widowx_bringup.sim.tasks import TaskSetConfig, sample_tasks

BIN = str(__import__("pathlib").Path(sys.executable).parent)


def run(*args, timeout=180):
    return subprocess.run([f"{BIN}/meld-sim", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_check_inserts_every_task_and_never_pays_for_a_wrong_port():
    r = run("check", "--no-cameras")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-2] == "scripted insertion: 30/30 tasks"
    assert lines[-1] == "wrong port counted: 0"
    assert "wrong-port insertions made: 30/30" in r.stdout  # the wrong-port check was exercised


def test_demo_writes_a_video_and_a_strip(tmp_path):
    import imageio.v3 as iio

    r = run("demo", "--out", str(tmp_path), "--task", "23")
    assert r.returncode == 0, r.stdout + r.stderr
    video = iio.imread(tmp_path / "insertion.gif", index=None)
    # 41 frames, less those the GIF encoder merges because the seated arm holds perfectly still.
    assert 10 <= video.shape[0] <= 41 and video.shape[2] == 2 * video.shape[1]
    assert np.abs(video[0].astype(int) - video[-1].astype(int)).mean() > 1  # the arm moved
    strip = iio.imread(tmp_path / "strip.png")
    assert strip.shape[1] == 256  # 64x128 frames shown at 2x
    assert "shaped" in r.stdout and "wrote" in r.stdout


def test_tasks_file_matches_the_sampler(tmp_path):
    out = tmp_path / "tasks.yaml"
    r = run("tasks", "--out", str(out))
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(out.read_text())
    tasks = sample_tasks(TaskSetConfig())
    assert [t["id"] for t in doc["tasks"]] == list(range(30))
    for row, task in zip(doc["tasks"], tasks):
        assert row["split"] == task.split and row["port"] == task.port
        assert row["translation_mm"] == pytest.approx(task.translation * 1e3, abs=1e-9)
        assert row["rotation_deg"] == pytest.approx(np.degrees(task.rotation), abs=1e-9)
