"""Per-task replay backed by episode files in RUN/episodes (format: meld_policy.episode_io).

Episodes are grouped into trials (1 or 2 episodes). The model samples whole trials; the actor-critic
takes transitions out of whole trials after filtering them (MetaTrainer.ac_batch). Each task keeps at
most `max_steps_per_task` env steps in memory, evicting its oldest trials first; files stay on disk,
and reopening the folder evicts the same way, so a reopened replay holds what the live one held.

A complete trial is joined once and kept in a slot of a `TrialStore` on the training device (the
GPU when training there): sampling is an indexed gather there, with no host-to-device image copy.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from meld_policy.episode_io import EpisodeMeta, parse_filename, read_episode, scan_episodes, write_episode

from .config import ReplayConfig
from .trial_store import TrialStore

log = logging.getLogger(__name__)


@dataclass
class TrialBatch:
    """B whole trials of L frames, torch tensors on the replay's device.

    images (B, L, H, W, 3) uint8; actions (B, L-1, A) (zero across an episode boundary);
    rewards_in (B, L) what the env gave (sparse for sparse tasks), the model's evidence;
    rewards_shaped (B, L) the model's reconstruction target and the critic's reward;
    transition_valid (B, L-1) False for the transition across the episode boundary inside a trial;
    task_ids (B,).
    """

    images: torch.Tensor
    actions: torch.Tensor
    rewards_in: torch.Tensor
    rewards_shaped: torch.Tensor
    transition_valid: torch.Tensor
    task_ids: np.ndarray


@dataclass
class TrialEntry:
    """One trial of a task: its episodes until it is complete, then its slot in the store."""

    parts: dict[int, dict]
    steps: int = 0
    slot: int | None = None
    task_id: int = -1


def concat_trial(episodes: list[dict]) -> dict[str, np.ndarray]:
    """Join a trial's episodes into one sequence; the filter runs straight through the boundary."""
    A = episodes[0]["actions"].shape[1]
    actions, valid = [], []
    for i, ep in enumerate(episodes):
        if i > 0:  # x_T of episode i-1 -> x_0 of episode i: a reset, no action, no learnable transition
            actions.append(np.zeros((1, A), np.float32))
            valid.append(np.zeros(1, bool))
        actions.append(ep["actions"])
        valid.append(np.ones(len(ep["actions"]), bool))
    return {
        "images": np.concatenate([ep["images"] for ep in episodes]),
        "actions": np.concatenate(actions).astype(np.float32),
        "rewards_in": np.concatenate([ep["rewards"] for ep in episodes]).astype(np.float32),
        "rewards_shaped": np.concatenate([ep["shaped_rewards"] for ep in episodes]).astype(np.float32),
        "transition_valid": np.concatenate(valid),
    }


class Replay:
    """Trials per task in a device-side store, loaded from and written to one folder of episode files."""

    def __init__(self, directory: str | os.PathLike, cfg: ReplayConfig, episodes_per_trial: int,
                 device: str | torch.device = "cpu", initial_capacity: int = 64):
        self.directory = Path(directory)
        self.cfg = cfg
        self.episodes_per_trial = episodes_per_trial
        self.store = TrialStore(device, initial_capacity)
        self.cell_of: dict[int, str] = {}
        """Episode index -> the cell (namespace) that recorded it, set by a trainer fed by several
        cells: each cell's tasks are then kept apart (their own step quota and sampling share),
        since task 7 on one rig is not exactly task 7 on another. Unlisted episodes: key = task id."""
        # key (task id, or (cell, task id)) -> OrderedDict(trial_index -> TrialEntry), oldest first;
        # complete trials only are sampled
        self.trials: dict = {}
        self.steps: dict = {}
        self.skipped: list[str] = []
        self.loaded_paths: set[str] = set()
        self.next_episode_index = 0
        self.next_trial_index = 0
        self._complete: dict = {}  # key -> trial indices with a slot, oldest first
        # What this run's episodes look like (set by the trainer from its env): a file of another
        # camera size, channel count or action size is skipped and named, never joined into a trial.
        self.frame_shape: tuple[int, ...] | None = None
        self.action_dim: int | None = None

    # ----- writing and ingesting ----------------------------------------------------------------
    def open(self) -> "Replay":
        """Load every complete episode file of the folder, oldest first; report and skip the rest."""
        metas, skipped = scan_episodes(self.directory)
        for note in skipped:
            self._skip(note)
        for meta in metas:
            self._ingest(meta)
        # A skipped file keeps its index: a new episode never takes the name of one on disk.
        self.next_episode_index = max([self.next_episode_index] + [m.episode_index + 1 for m in metas])
        self.next_trial_index = max([self.next_trial_index] + [m.trial_index + 1 for m in metas])
        return self

    def key_of(self, meta: EpisodeMeta):
        """The replay's grouping of an episode: its task, per cell when cells are recorded."""
        cell = self.cell_of.get(meta.episode_index, "")
        return (cell, meta.task_id) if cell else meta.task_id

    def _skip(self, note: str) -> None:
        self.skipped.append(note)
        log.warning("replay: %s", note)

    def ingest(self, path: str | os.PathLike) -> bool:
        """Add one episode file written by someone else (e.g. the policy node); False if it was skipped."""
        meta = parse_filename(path)
        if meta is None:
            self._skip(f"{Path(path).name}: not an episode file name; skipped")
            return False
        return self._ingest(meta)

    def _ingest(self, meta: EpisodeMeta, ep: dict | None = None) -> bool:
        key = str(meta.path.resolve())
        if key in self.loaded_paths:
            return False
        if meta.num_parts != self.episodes_per_trial:
            self._skip(f"{meta.path.name}: trial of {meta.num_parts} episodes, this run uses "
                       f"{self.episodes_per_trial}; skipped")
            return False
        if ep is None:
            try:
                ep = read_episode(meta.path)
            except ValueError as exc:
                self._skip(f"{meta.path.name}: {exc}; skipped, not loaded")
                return False
            mismatch = self._shape_mismatch(ep, meta)
            if mismatch:
                self._skip(f"{meta.path.name}: {mismatch}; skipped, not loaded")
                return False
        self.loaded_paths.add(key)
        self.next_episode_index = max(self.next_episode_index, meta.episode_index + 1)
        self.next_trial_index = max(self.next_trial_index, meta.trial_index + 1)
        key = self.key_of(meta)
        trials = self.trials.setdefault(key, OrderedDict())
        entry = trials.setdefault(meta.trial_index, TrialEntry(parts={}, task_id=meta.task_id))
        entry.parts[meta.part] = ep
        entry.steps += meta.steps
        self.steps[key] = self.steps.get(key, 0) + meta.steps
        if len(entry.parts) == self.episodes_per_trial:
            self._store(meta, entry)
        else:
            self._evict(key)
        return True

    def _shape_mismatch(self, ep: dict, meta: EpisodeMeta) -> str | None:
        """Why a valid episode cannot join this run's replay (other frame or action size, a name that lies)."""
        frame, actions = tuple(ep["images"].shape[1:]), ep["actions"].shape[1]
        if self.frame_shape is not None and frame != tuple(self.frame_shape):
            return f"observations of shape {frame}, this run's are {tuple(self.frame_shape)}"
        if self.action_dim is not None and actions != self.action_dim:
            return f"actions of size {actions}, this run's are {self.action_dim}"
        if len(ep["actions"]) != meta.steps:
            return f"{len(ep['actions'])} steps inside, {meta.steps} in its name"
        return None

    def _store(self, meta: EpisodeMeta, entry: TrialEntry) -> None:
        """Join a completed trial and move it into the store; a trial that cannot share it is dropped, named."""
        seq = concat_trial([entry.parts[k] for k in sorted(entry.parts)])
        problem = self.store.shape_problem(seq)
        key = self.key_of(meta)
        if problem:
            self._skip(f"trial {meta.trial_index} of task {meta.task_id} ({meta.path.name}): {problem}; skipped")
            del self.trials[key][meta.trial_index]
            self.steps[key] -= entry.steps
            return
        self._evict(key)  # first, so that the new trial can take an evicted trial's slot
        if meta.trial_index not in self.trials[key]:
            return  # the trial itself was the oldest of its task (its first episode came long ago)
        entry.slot = self.store.put(seq)
        entry.parts = {}
        self._complete.setdefault(key, []).append(meta.trial_index)
        self._complete[key].sort()

    def _evict(self, key) -> None:
        trials = self.trials.get(key)
        while trials and self.steps[key] > self.cfg.max_steps_per_task and len(trials) > 1:
            index, old = trials.popitem(last=False)
            self.steps[key] -= old.steps
            if old.slot is not None:
                self.store.release(old.slot)
                self._complete[key].remove(index)

    def add_trial(self, episodes: list[dict], task_id: int) -> list[Path]:
        """Write a freshly collected trial's episodes atomically and add them (without reading them back)."""
        trial = self.next_trial_index
        paths = []
        for k, ep in enumerate(episodes, start=1):
            p = write_episode(self.directory, ep, episode_index=self.next_episode_index, task_id=task_id,
                              trial_index=trial, part=k, num_parts=len(episodes))
            self._ingest(parse_filename(p), ep)
            paths.append(p)
        return paths

    # ----- sampling -------------------------------------------------------------------------------
    def trial_keys(self) -> list[tuple]:
        """(task, trial index) of every complete trial held, oldest first within a task (task: the
        replay's key, (cell, task) for a trainer fed by several cells)."""
        return [(task, idx) for task in self.groups for idx in self._complete[task]]

    def trial(self, key: tuple) -> TrialBatch:
        """One trial by key, as a batch of one."""
        task, idx = key
        entry = self.trials[task][idx]
        return self._gather([entry.slot], [entry.task_id])

    @property
    def groups(self) -> list:
        """Keys with complete trials: task ids, then (cell, task) pairs."""
        return sorted((k for k, idx in self._complete.items() if idx), key=lambda k: (isinstance(k, tuple), k))

    @property
    def task_ids(self) -> list[int]:
        return sorted({self.trials[k][i].task_id for k in self.groups for i in self._complete[k]})

    def num_steps(self) -> int:
        return sum(self.steps.values())

    def num_trials(self) -> int:
        return sum(len(v) for v in self._complete.values())

    def sample_trials(self, n: int, rng: np.random.Generator) -> TrialBatch:
        """n whole trials: a task uniformly among tasks with data, then one of its trials uniformly."""
        tasks = self.groups
        if not tasks:
            raise RuntimeError("replay is empty: collect episodes first (pretraining does)")
        slots, task_ids = [], []
        for _ in range(n):
            task = tasks[int(rng.integers(len(tasks)))]
            indices = self._complete[task]
            entry = self.trials[task][indices[int(rng.integers(len(indices)))]]
            slots.append(entry.slot)
            task_ids.append(entry.task_id)
        return self._gather(slots, task_ids)

    def _gather(self, slots: list[int], task_ids: list[int]) -> TrialBatch:
        return TrialBatch(**self.store.gather(slots), task_ids=np.array(task_ids))
