"""Whole trials in preallocated tensors on the training device, one slot per trial.

The replay keeps which trial of which task sits in which slot; this class only holds the arrays.
A model batch is then one indexed gather on the device (no per-update joining of numpy episodes
and no host-to-device copy of images), which is what keeps a GPU learner fed. Capacity grows by
doubling when a run outlives its first guess; freed slots (evicted trials) are reused.
"""
from __future__ import annotations

import numpy as np
import torch

FIELDS = ("images", "actions", "rewards_in", "rewards_shaped", "transition_valid")


class TrialStore:
    """Slots of fixed-length trials: images (C, L, *obs), actions (C, L-1, A), rewards (C, L), valid (C, L-1)."""

    def __init__(self, device: str | torch.device = "cpu", initial_capacity: int = 64):
        self.device = torch.device(device)
        self.initial_capacity = max(1, int(initial_capacity))
        self.arrays: dict[str, torch.Tensor] | None = None
        self.free: list[int] = []
        self.length: int | None = None  # frames per trial, fixed by the first trial stored

    @property
    def capacity(self) -> int:
        return 0 if self.arrays is None else len(self.arrays["images"])

    def shape_problem(self, seq: dict[str, np.ndarray]) -> str | None:
        """Why `seq` cannot share this store with the trials already in it, or None."""
        if self.arrays is None:
            return None
        a = self.arrays
        if len(seq["images"]) != self.length:
            return f"a trial of {len(seq['images'])} frames; this run's trials have {self.length}"
        if tuple(seq["images"].shape[1:]) != tuple(a["images"].shape[2:]) or seq["images"].dtype != _np_dtype(a["images"]):
            return (f"observations of {seq['images'].dtype} {tuple(seq['images'].shape[1:])}; this run's are "
                    f"{_np_dtype(a['images'])} {tuple(a['images'].shape[2:])}")
        if seq["actions"].shape[1:] != tuple(a["actions"].shape[2:]):
            return f"actions of size {seq['actions'].shape[1:]}; this run's are {tuple(a['actions'].shape[2:])}"
        return None

    def put(self, seq: dict[str, np.ndarray]) -> int:
        """Store one joined trial (see replay.concat_trial); returns its slot. Call shape_problem first."""
        if self.arrays is None:
            self._allocate(seq, self.initial_capacity)
        if not self.free:
            self._grow()
        slot = self.free.pop()
        for k in FIELDS:
            self.arrays[k][slot].copy_(torch.from_numpy(np.ascontiguousarray(seq[k])), non_blocking=False)
        return slot

    def release(self, slot: int) -> None:
        self.free.append(slot)

    def gather(self, slots: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(slots, dtype=torch.long, device=self.device)
        return {k: self.arrays[k].index_select(0, idx) for k in FIELDS}

    # ----- allocation -------------------------------------------------------------------------------
    def _allocate(self, seq: dict[str, np.ndarray], capacity: int) -> None:
        self.length = len(seq["images"])
        self.arrays = {k: torch.zeros((capacity, *np.shape(seq[k])), dtype=_torch_dtype(seq[k]), device=self.device)
                       for k in FIELDS}
        self.free = list(range(capacity - 1, -1, -1))  # pop() hands out slot 0 first

    def _grow(self) -> None:
        old = self.capacity
        new = {k: torch.zeros((2 * old, *v.shape[1:]), dtype=v.dtype, device=self.device) for k, v in self.arrays.items()}
        for k, v in self.arrays.items():
            new[k][:old].copy_(v)
        self.arrays = new
        self.free = list(range(2 * old - 1, old - 1, -1))


def _torch_dtype(a: np.ndarray) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype=np.asarray(a).dtype)).dtype


def _np_dtype(t: torch.Tensor) -> np.dtype:
    return torch.zeros(0, dtype=t.dtype).numpy().dtype
