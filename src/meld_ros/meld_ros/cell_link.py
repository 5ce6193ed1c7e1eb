"""The trainer's end of the file link with one cell (its policy node, under the cell's namespace).

Several cells, each on its own host with its own run folder, feed one trainer: each gets a
CellLink with its own outbox (`<run>/transfers/outbox/<cell>/`, checkpoints not yet acknowledged
by that cell) and topics under its namespace; all write episodes into the trainer's one run
folder through one shared Inbox (episode indices are the trainer's, so names never collide).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .transfer import TransferConfig, TransferEndpoint
from .transfer_store import Inbox


def numbered_twin(path: Path) -> Path:
    """`latest.pt` is a hard link to the newest numbered checkpoint: send that name, so the policy
    folder gets one file per checkpoint and a new one never reuses an old name."""
    if path.name.startswith("ckpt_"):
        return path
    for candidate in sorted(path.parent.glob("ckpt_*.pt"), reverse=True):
        try:
            if os.path.samefile(candidate, path):
                return candidate
        except OSError:
            continue
    return path


class CellLink:
    def __init__(self, node, cell: str, run_dir: str | Path, inbox: Inbox, cfg: TransferConfig,
                 on_arrival: Callable[[], None], callback_group=None):
        self.run_dir = Path(run_dir).resolve()
        prefix = f"{cell}/" if cell else ""
        self.endpoint = TransferEndpoint(node, "trainer", self.run_dir, inbox, cfg, prefix=prefix,
                                         on_received=lambda kind, path: on_arrival(),
                                         on_delivered=lambda offer: on_arrival(),
                                         callback_group=callback_group, outbox_name=cell or "policy")

    def announce_checkpoint(self, path: str | Path) -> str:
        """Queue the checkpoint for this cell (replacing any older one not yet delivered) unless the
        cell reads this run folder; returns the path to announce on `checkpoint`."""
        path = numbered_twin(Path(path))
        self.endpoint.offer("checkpoint", f"checkpoints/{path.name}", path, supersede=True)
        return str(path)

    def local_episode(self, announced: str) -> Path:
        """Where the announced episode file is for this trainer: the path itself when it lies in this
        run folder (a shared folder), else its transferred copy's place (which may not exist yet)."""
        path = Path(announced)
        if path.resolve().is_relative_to(self.run_dir):
            return path
        return self.run_dir / path.parent.name / path.name

    def drained(self) -> bool:
        """The cell has no episode waiting to be sent here (or shares the folder)."""
        ep = self.endpoint
        return bool(ep.shared) or ep.peer_pending == 0

    def checkpoint_delivered(self) -> bool:
        """The cell holds the newest checkpoint (or reads it from this folder): a policy episode
        started now acts with it, as on one host."""
        ep = self.endpoint
        return bool(ep.shared) or not ep.outbox.pending("checkpoint")

    def close(self) -> None:
        self.endpoint.close()
