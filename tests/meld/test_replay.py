"""Episode files and the per-task replay: atomic writes, crash tolerance, eviction, trial sampling."""
import os
import subprocess
import sys

import numpy as np
import pytest

from meld_policy.episode_io import parse_filename, read_episode, scan_episodes, write_episode
from meld_trainer.config import ReplayConfig
from meld_trainer.replay import Replay


def episode(T=5, A=2, task=0, seed=0, width=16):
    r = np.random.default_rng(seed)
    shaped = np.concatenate([[0.0], -r.random(T)]).astype(np.float32)
    sparse = (shaped > -0.3).astype(np.float32)
    sparse[0] = 0
    return {"images": r.integers(0, 256, (T + 1, 64, width, 3), dtype=np.uint8),
            "actions": r.uniform(-1, 1, (T, A)).astype(np.float32), "rewards": sparse, "shaped_rewards": shaped,
            "sparse_rewards": sparse, "success": sparse.astype(bool)}


def test_write_read_roundtrip_and_name(tmp_path):
    ep = episode()
    p = write_episode(tmp_path, ep, episode_index=12, task_id=3, trial_index=6, part=1, num_parts=2)
    meta = parse_filename(p)
    assert (meta.episode_index, meta.task_id, meta.trial_index, meta.part, meta.num_parts, meta.steps) == (12, 3, 6, 1, 2, 5)
    back = read_episode(p)
    for k in ("images", "actions", "rewards", "shaped_rewards", "sparse_rewards", "success"):
        np.testing.assert_array_equal(back[k], ep[k])
    assert back["task_id"] == 3
    assert not list(tmp_path.glob(".*partial"))


def test_crash_mid_write_loses_nothing_and_loads_no_partial(tmp_path):
    for i in range(4):
        write_episode(tmp_path, episode(seed=i, task=i % 2), episode_index=i, task_id=i % 2, trial_index=i)
    with pytest.raises(OSError, match="simulated crash"):
        write_episode(tmp_path, episode(seed=9), episode_index=4, task_id=0, trial_index=4, crash_after_bytes=700)
    # A file with a complete-looking name but truncated content (e.g. a disk that lied) is refused too.
    good = write_episode(tmp_path, episode(seed=5), episode_index=5, task_id=1, trial_index=5)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    replay = Replay(tmp_path, ReplayConfig(), episodes_per_trial=1).open()
    assert replay.num_trials() == 4
    assert sorted(replay.steps.items()) == [(0, 10), (1, 10)]
    notes = "\n".join(replay.skipped)
    assert "partial write" in notes and "ep0000004" in notes
    assert "ep0000005" in notes and "cannot read" in notes
    assert len(replay.skipped) == 2


def test_killed_writer_process_leaves_earlier_episodes_intact(tmp_path):
    """A real process killed in the middle of writing (os._exit half-way through the file)."""
    code = f"""
import os, numpy as np, sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
from test_replay import episode
from meld_policy.episode_io import write_episode
import meld_policy.episode_io as io
for i in range(3):
    write_episode({str(tmp_path)!r}, episode(seed=i), episode_index=i, task_id=0, trial_index=i)
real = np.savez_compressed
def dying(f, **arrays):
    f.write(b"PK\\x03\\x04 half an episode")
    f.flush()
    os._exit(9)
io.np.savez_compressed = dying
write_episode({str(tmp_path)!r}, episode(seed=3), episode_index=3, task_id=0, trial_index=3)
"""
    rc = subprocess.run([sys.executable, "-c", code]).returncode
    assert rc == 9
    metas, skipped = scan_episodes(tmp_path)
    assert [m.episode_index for m in metas] == [0, 1, 2]
    assert len(skipped) == 1 and "partial" in skipped[0]
    replay = Replay(tmp_path, ReplayConfig(), 1).open()
    assert replay.num_trials() == 3


def test_eviction_is_oldest_first_per_task(tmp_path):
    replay = Replay(tmp_path, ReplayConfig(max_steps_per_task=12), episodes_per_trial=1)
    for i in range(5):
        replay.add_trial([episode(T=5, seed=i)], task_id=0)
    replay.add_trial([episode(T=5, seed=10)], task_id=1)
    kept = list(replay.trials[0])
    assert kept == [3, 4] and replay.steps[0] == 10
    assert replay.steps[1] == 5
    # Reopening the folder (every file is still there) evicts the same way.
    again = Replay(tmp_path, ReplayConfig(max_steps_per_task=12), 1).open()
    assert list(again.trials[0]) == kept and again.next_trial_index == 6


def test_two_episode_trials_join_and_mark_the_boundary(tmp_path):
    replay = Replay(tmp_path, ReplayConfig(), episodes_per_trial=2)
    e1, e2 = episode(T=4, seed=1), episode(T=4, seed=2)
    replay.add_trial([e1, e2], task_id=7)
    # Half a trial (the second episode never arrived) is kept but not sampled.
    write_episode(tmp_path, episode(T=4, seed=3), episode_index=50, task_id=7, trial_index=50, part=1, num_parts=2)
    replay.open()
    assert replay.num_trials() == 1
    b = replay.sample_trials(3, np.random.default_rng(0))
    assert b.images.shape == (3, 10, 64, 16, 3) and b.actions.shape == (3, 9, 2)
    np.testing.assert_array_equal(b.images[0, 5:], e2["images"])
    np.testing.assert_array_equal(b.actions[0, 4], 0.0)
    assert b.transition_valid[0].tolist() == [True] * 4 + [False] + [True] * 4
    np.testing.assert_array_equal(b.rewards_in[0], np.concatenate([e1["rewards"], e2["rewards"]]))
    np.testing.assert_array_equal(b.rewards_shaped[0], np.concatenate([e1["shaped_rewards"], e2["shaped_rewards"]]))
    assert b.rewards_in[0, 5] == 0.0  # the reset frame of episode 2 brings no reward
    assert (b.task_ids == 7).all()


def test_ingest_reports_foreign_files(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    replay = Replay(tmp_path, ReplayConfig(), 1).open()
    assert replay.num_trials() == 0 and "not an episode file" in replay.skipped[0]
    with pytest.raises(RuntimeError, match="collect episodes first"):
        replay.sample_trials(1, np.random.default_rng(0))
