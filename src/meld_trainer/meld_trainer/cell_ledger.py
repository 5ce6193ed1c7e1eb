"""Which cell recorded which episode, for a trainer fed by several cells. Plain module: no ROS.

Episode file names carry the task, not the cell (they are the same on every host), so the trainer
appends one line per ingested episode to `<run>/cells.jsonl` (fsynced) and reads it back on a
restart: the replay keeps each cell's tasks apart (Replay.cell_of), and the progress shows what
each cell has contributed.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from meld_policy.episode_io import parse_filename


class CellLedger:
    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / "cells.jsonl"
        self.cell_of: dict[int, str] = {}
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.cell_of[int(entry["episode"])] = str(entry["cell"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash: that episode counts for no cell
        self.iterations: Counter = Counter()

    def record(self, episode_path: str | os.PathLike, cell: str) -> int:
        """Note the cell of an episode before it is ingested; returns the episode index."""
        meta = parse_filename(episode_path)
        if meta is None:
            raise ValueError(f"{episode_path}: not an episode file name")
        if self.cell_of.get(meta.episode_index) != cell:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps({"episode": meta.episode_index, "cell": cell}) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self.cell_of[meta.episode_index] = cell
        return meta.episode_index

    def summary(self) -> dict[str, dict[str, int]]:
        """cell -> episodes recorded (all runs of this folder) and iterations (this process)."""
        episodes = Counter(self.cell_of.values())
        return {cell: {"episodes": episodes[cell], "iterations": self.iterations[cell]}
                for cell in sorted(set(episodes) | set(self.iterations))}
