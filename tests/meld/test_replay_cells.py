"""Several cells feeding one trainer: the replay keeps each cell's tasks apart (own step quota,
own share of the sampling), batches still carry the real task ids, and the grouping survives a
restart through the trainer's cell ledger (cells.jsonl)."""
import numpy as np

from meld_policy.episode_io import write_episode
from meld_trainer.cell_ledger import CellLedger
from meld_trainer.config import ReplayConfig
from meld_trainer.replay import Replay
from test_replay import episode


def fill(run_dir, ledger: CellLedger):
    """Task 3 on cell1 (episodes 0-3) and on cell2 (4-5); task 5 on cell2 (6)."""
    paths = []
    for i, (cell, task) in enumerate([("cell1", 3)] * 4 + [("cell2", 3)] * 2 + [("cell2", 5)]):
        p = write_episode(run_dir / "episodes", episode(seed=i), episode_index=i, task_id=task, trial_index=i)
        ledger.record(p, cell)
        paths.append(p)
    return paths


def test_each_cells_tasks_are_kept_apart_and_survive_a_restart(tmp_path):
    ledger = CellLedger(tmp_path)
    paths = fill(tmp_path, ledger)
    cfg = ReplayConfig(max_steps_per_task=10)  # two 5-step trials per key
    replay = Replay(tmp_path / "episodes", cfg, episodes_per_trial=1)
    replay.cell_of = ledger.cell_of
    for p in paths:
        replay.ingest(p)
    assert replay.groups == [("cell1", 3), ("cell2", 3), ("cell2", 5)]
    # cell1's four trials of task 3 evicted down to its quota without touching cell2's task 3.
    assert replay.trial_keys() == [(("cell1", 3), 2), (("cell1", 3), 3), (("cell2", 3), 4), (("cell2", 3), 5),
                                   (("cell2", 5), 6)]
    assert replay.task_ids == [3, 5]
    batch = replay.sample_trials(60, np.random.default_rng(0))
    assert set(batch.task_ids.tolist()) == {3, 5}
    # Uniform over (cell, task): task 5 (one key of three) is drawn about a third of the time.
    assert 10 <= int((batch.task_ids == 5).sum()) <= 32
    assert replay.trial((("cell2", 5), 6)).task_ids.tolist() == [5]

    restarted = CellLedger(tmp_path)
    assert restarted.cell_of == ledger.cell_of and restarted.summary()["cell1"] == {"episodes": 4, "iterations": 0}
    again = Replay(tmp_path / "episodes", cfg, episodes_per_trial=1)
    again.cell_of = restarted.cell_of
    again.open()
    assert again.trial_keys() == replay.trial_keys()


def test_without_cells_the_replay_keys_by_task_as_before(tmp_path):
    ledger = CellLedger(tmp_path)
    fill(tmp_path, ledger)
    replay = Replay(tmp_path / "episodes", ReplayConfig(max_steps_per_task=10), episodes_per_trial=1).open()
    assert replay.groups == [3, 5] and replay.task_ids == [3, 5]
    assert [k for k, _ in replay.trial_keys()] == [3, 3, 5]
