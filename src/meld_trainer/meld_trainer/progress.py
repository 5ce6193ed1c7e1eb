"""One line of meta-training progress a person can read: phase, trials and env steps against the
budget, the latest success, the measured rate and the time left.

Plain arithmetic (no ROS, no torch): the trainer node prints the line on the main job's terminal
and publishes the same numbers on `trainer/progress`. The rate is measured in this process (env
steps per second of wall time since it started, training time included), so a resumed run gives
an honest estimate from its first line on.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Budget:
    """What the run will do in all: random pretraining trials, then policy iterations (one trial each)."""

    pretrain_trials: int
    iterations: int
    steps_per_trial: int
    """Env steps of one trial (episode steps times episodes per trial)."""

    @property
    def pretrain_steps(self) -> int:
        return self.pretrain_trials * self.steps_per_trial

    @property
    def total_steps(self) -> int:
        return (self.pretrain_trials + self.iterations) * self.steps_per_trial


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3.4 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class Progress:
    """Counts what happened and formats the progress line; `clock` is injectable for tests."""

    budget: Budget
    clock: Callable[[], float] = time.monotonic
    recent: deque = field(default_factory=lambda: deque(maxlen=10))
    """Success of the last policy trials, newest last."""
    _start: tuple[float, int] | None = None

    def start(self, env_steps: int) -> None:
        """The baseline of the rate: now, with this many env steps already done (a resumed run)."""
        self._start = (self.clock(), env_steps)

    def rate(self, env_steps: int) -> float | None:
        """Env steps per second since `start`, or None before any step was measured."""
        if self._start is None:
            self.start(env_steps)
        t0, s0 = self._start
        dt, ds = self.clock() - t0, env_steps - s0
        return ds / dt if ds > 0 and dt > 0 else None

    def line(self, phase: str, env_steps: int, pretrain_trials: int = 0, iteration: int = 0,
             success: bool | None = None, skipped_updates: int = 0) -> str:
        b = self.budget
        if success is not None:
            self.recent.append(bool(success))
        if phase == "pretrain":
            head = f"pretraining data: {pretrain_trials}/{b.pretrain_trials} random trials"
        else:
            head = f"iteration {iteration}/{b.iterations}"
        parts = [head, f"env steps {env_steps:,}/{b.total_steps:,} ({100 * env_steps / max(1, b.total_steps):.0f}%)"]
        if self.recent:
            parts.append(f"latest trial {'success' if self.recent[-1] else 'no success'} "
                         f"({sum(self.recent)}/{len(self.recent)} of the last {len(self.recent)})")
        rate = self.rate(env_steps)
        if rate:
            left = []
            if phase == "pretrain" and env_steps < b.pretrain_steps:
                left.append(f"pretraining ~{duration((b.pretrain_steps - env_steps) / rate)}")
            left.append(f"run ~{duration(max(0, b.total_steps - env_steps) / rate)}")
            parts.append(f"{rate:.1f} env steps/s, {' and '.join(left)} left")
        else:
            parts.append("rate: measuring")
        if skipped_updates:
            parts.append(f"{skipped_updates} non-finite update(s) skipped")
        return " | ".join(parts)
