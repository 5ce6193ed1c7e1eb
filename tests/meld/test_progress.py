"""The main job's progress line (meld_trainer.progress): phase, budget, latest success, rate, time left."""
from meld_trainer.progress import Budget, Progress, duration


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_pretraining_line_counts_trials_and_steps_against_the_budget_and_says_time_left():
    clock = Clock()
    p = Progress(Budget(pretrain_trials=60, iterations=2000, steps_per_trial=40), clock=clock)
    p.start(0)
    assert "rate: measuring" in p.line("pretrain", 0, 0)
    clock.t += 120.0
    line = p.line("pretrain", 9 * 40, 9)
    assert line.startswith("pretraining data: 9/60 random trials")
    assert "env steps 360/82,400 (0%)" in line
    assert "3.0 env steps/s" in line
    assert "pretraining ~11 min" in line and "run ~7.6 h left" in line


def test_training_line_has_latest_success_and_resumed_rate():
    clock = Clock()
    p = Progress(Budget(pretrain_trials=4, iterations=6, steps_per_trial=10), clock=clock)
    p.start(40)  # resumed after pretraining: the rate counts this process's steps only
    clock.t += 10.0
    p.line("train", 50, iteration=1, success=False)
    clock.t += 10.0
    line = p.line("train", 60, iteration=2, success=True, skipped_updates=3)
    assert line.startswith("iteration 2/6 | env steps 60/100 (60%)")
    assert "latest trial success (1/2 of the last 2)" in line
    assert "1.0 env steps/s, run ~40 s left" in line
    assert "3 non-finite update(s) skipped" in line


def test_duration():
    assert [duration(s) for s in (5, 300, 4 * 3600)] == ["5 s", "5 min", "4.0 h"]


def test_lost_trials_are_retried_until_the_fault_persists(tmp_path):
    import pytest
    from meld_trainer.lost_trials import FaultPersists, LostTrials
    cause = ("episode 7 abandoned by the cell's policy node: inputs stale for 5 s: reward dropped: non-finite reward "
             "shaped (x)=nan on the reward topic (check the reward node)")
    lost = LostTrials(2, "the cell", tmp_path / "logs")
    assert lost.lost(cause, 3).endswith("retrying (1/2)")
    lost.kept()  # a good trial in between: the count starts again
    assert lost.lost(cause, 3).endswith("retrying (1/2)")
    assert lost.lost(cause, 4).endswith("retrying (2/2)")
    with pytest.raises(FaultPersists) as info:
        lost.lost(cause, 5)
    message = str(info.value)
    assert "3 trials in a row lost on the cell" in message and "reward topic" in message
    assert "check the reward node" in message and str(tmp_path / "logs") in message
