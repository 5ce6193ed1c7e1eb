"""How many trials in a row a cell may lose before meta-training stops (issue 13).

An abandoned episode (a camera unplugged for a few seconds, a burst of NaN rewards) costs one
trial, which is retried with a log line; only a fault that persists for `limit` retries in a row
stops the run, with the last cause (it names the topic and the node) and what to check. Plain
Python: the trainer node calls it from each cell's loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class FaultPersists(RuntimeError):
    """A cell lost more trials in a row than allowed: stop, naming the cause."""


@dataclass
class LostTrials:
    limit: int
    """Retries in a row allowed (the trainer's trial_retries)."""
    where: str
    """The cell, as log lines name it."""
    log_dir: Path
    in_a_row: int = 0

    def lost(self, cause: str, task: int) -> str:
        """Count one lost trial: the retry's log line, or FaultPersists once the limit is passed."""
        self.in_a_row += 1
        if self.in_a_row > self.limit:
            raise FaultPersists(
                f"{self.in_a_row} trials in a row lost on {self.where}; the last: {cause}. The fault persists: check "
                f"the node that publishes that input (camera, reward, sim) and its log in {self.log_dir}, then start "
                "again (the run resumes)")
        return f"trial on task {task} lost ({cause}); retrying ({self.in_a_row}/{self.limit})"

    def kept(self) -> None:
        """A trial made it into the replay: the count starts again."""
        self.in_a_row = 0
