"""Subprocess smoke runs of meld-train and meld-eval with the `smoke` config (CleanRL-style)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from meld_trainer.point_env import EPISODE_STEPS

BIN = Path(sys.executable).parent


def run(*args, timeout=120):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("env_id", ["PointGoal-v0", "PointGoalSparse-v0"])
def test_train_eval_resume(tmp_path, env_id):
    run_dir = tmp_path / "run"
    r = run("meld-train", "--env", env_id, "--config", "smoke", "--run-dir", str(run_dir))
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"heldout success: \d+%", r.stdout)
    ckpt = run_dir / "checkpoints" / "latest.pt"
    assert ckpt.exists() and (run_dir / "config.yaml").exists() and list((run_dir / "tb").iterdir())
    episodes = sorted((run_dir / "episodes").glob("*.npz"))
    per_trial = 2 if "Sparse" in env_id else 1
    assert all(f"of{per_trial}_" in p.name for p in episodes)
    assert len(episodes) == per_trial * (4 // per_trial + 6)  # smoke: 4 random-policy episodes, then 6 iterations

    # A second run into the same folder must say how to continue it.
    again = run("meld-train", "--env", env_id, "--config", "smoke", "--run-dir", str(run_dir))
    assert again.returncode == 2 and "--resume" in again.stderr

    # A crash left a partial episode behind: resume reports it and carries on.
    (run_dir / "episodes" / ".ep9999999_task000_trial9999999_part1of1_steps020.npz.partial").write_bytes(b"PK half")
    res = run("meld-train", "--env", env_id, "--config", "smoke", "--run-dir", str(run_dir), "--resume",
              "train.iterations=8")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed at iteration 6" in res.stderr and "partial write" in res.stderr

    out = tmp_path / "eval"
    ev = run("meld-eval", "--checkpoint", str(ckpt), "--tasks", "heldout", "--out", str(out))
    assert ev.returncode == 0, ev.stderr[-3000:]
    last = ev.stdout.strip().splitlines()[-1]
    assert re.match(r"^heldout success: \d+%", last), last
    report = json.loads((out / "report.json").read_text())
    assert report["trials"] == 10 and len(report["per_task"]) == 10
    assert (out / "reward_belief.png").stat().st_size > 1000 and (out / "success_curve.png").exists()
    horizon = per_trial * (EPISODE_STEPS + 1)
    assert len(report["reward_belief"]["predicted_mean"]) == horizon


def test_bad_override_and_incompatible_resume(tmp_path):
    r = run("meld-train", "--env", "PointGoal-v0", "--config", "smoke", "--run-dir", str(tmp_path), "nope=1")
    assert r.returncode == 2 and "unknown override key 'nope'" in r.stderr
    r = run("meld-train", "--env", "PointGoal-v0", "--config", "smoke", "--run-dir", str(tmp_path), "train.iterations=1",
            "train.pretrain_episodes=1", "train.eval_every=0")
    assert r.returncode == 0, r.stderr[-2000:]
    r = run("meld-train", "--env", "PointGoal-v0", "--config", "smoke", "--run-dir", str(tmp_path), "--resume",
            "model.z2_dim=3")
    assert r.returncode == 2 and "model.z2_dim" in r.stderr
