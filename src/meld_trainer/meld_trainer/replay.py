"""Per-task replay backed by episode files in RUN/episodes (format: meld_policy.episode_io).

Episodes are grouped into trials (1 or 2 episodes). The model samples whole trials; the actor-critic
takes transitions out of whole trials after filtering them (MetaTrainer.ac_batch). Each task keeps at
most `max_steps_per_task` env steps in memory, evicting its oldest trials first; files stay on disk,
and reopening the folder evicts the same way, so a reopened replay holds what the live one held.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meld_policy.episode_io import EpisodeMeta, parse_filename, read_episode, scan_episodes, write_episode

from .config import ReplayConfig

log = logging.getLogger(__name__)


@dataclass
class TrialBatch:
    """B whole trials of L frames, numpy, ready for torch.from_numpy.

    images (B, L, H, W, 3) uint8; actions (B, L-1, A) (zero across an episode boundary);
    rewards_in (B, L) what the env gave (sparse for sparse tasks), the model's evidence;
    rewards_shaped (B, L) the model's reconstruction target and the critic's reward;
    transition_valid (B, L-1) False for the transition across the episode boundary inside a trial;
    task_ids (B,).
    """

    images: np.ndarray
    actions: np.ndarray
    rewards_in: np.ndarray
    rewards_shaped: np.ndarray
    transition_valid: np.ndarray
    task_ids: np.ndarray


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
    """Trials per task in memory, loaded from and written to one folder of episode files."""

    def __init__(self, directory: str | os.PathLike, cfg: ReplayConfig, episodes_per_trial: int):
        self.directory = Path(directory)
        self.cfg = cfg
        self.episodes_per_trial = episodes_per_trial
        # task -> OrderedDict(trial_index -> {part: episode dict}); complete trials only are sampled
        self.trials: dict[int, OrderedDict[int, dict[int, dict]]] = {}
        self.steps: dict[int, int] = {}
        self.skipped: list[str] = []
        self.loaded_paths: set[str] = set()
        self.next_episode_index = 0
        self.next_trial_index = 0

    # ----- writing and ingesting ----------------------------------------------------------------
    def open(self) -> "Replay":
        """Load every complete episode file of the folder, oldest first; report and skip the rest."""
        metas, skipped = scan_episodes(self.directory)
        for note in skipped:
            self._skip(note)
        for meta in metas:
            self._ingest(meta)
        return self

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

    def _ingest(self, meta: EpisodeMeta) -> bool:
        key = str(meta.path.resolve())
        if key in self.loaded_paths:
            return False
        if meta.num_parts != self.episodes_per_trial:
            self._skip(f"{meta.path.name}: trial of {meta.num_parts} episodes, this run uses "
                       f"{self.episodes_per_trial}; skipped")
            return False
        try:
            ep = read_episode(meta.path)
        except ValueError as exc:
            self._skip(f"{meta.path.name}: {exc}; skipped, not loaded")
            return False
        self.loaded_paths.add(key)
        self.next_episode_index = max(self.next_episode_index, meta.episode_index + 1)
        self.next_trial_index = max(self.next_trial_index, meta.trial_index + 1)
        trials = self.trials.setdefault(meta.task_id, OrderedDict())
        trials.setdefault(meta.trial_index, {})[meta.part] = ep
        self.steps[meta.task_id] = self.steps.get(meta.task_id, 0) + meta.steps
        self._evict(meta.task_id)
        return True

    def _evict(self, task_id: int) -> None:
        trials = self.trials[task_id]
        while self.steps[task_id] > self.cfg.max_steps_per_task and len(trials) > 1:
            _, old = trials.popitem(last=False)
            self.steps[task_id] -= sum(len(ep["actions"]) for ep in old.values())

    def add_trial(self, episodes: list[dict], task_id: int) -> list[Path]:
        """Write a freshly collected trial's episodes atomically and add them."""
        trial = self.next_trial_index
        paths = []
        for k, ep in enumerate(episodes, start=1):
            p = write_episode(self.directory, ep, episode_index=self.next_episode_index, task_id=task_id,
                              trial_index=trial, part=k, num_parts=len(episodes))
            self.ingest(p)
            paths.append(p)
        return paths

    # ----- sampling -------------------------------------------------------------------------------
    def complete_trials(self, task_id: int) -> list[dict[int, dict]]:
        n = self.episodes_per_trial
        return [t for t in self.trials.get(task_id, {}).values() if len(t) == n]

    def trial_keys(self) -> list[tuple[int, int]]:
        """(task, trial index) of every complete trial held, oldest first within a task."""
        n = self.episodes_per_trial
        return [(task, idx) for task in sorted(self.trials) for idx, t in self.trials[task].items() if len(t) == n]

    def trial(self, key: tuple[int, int]) -> TrialBatch:
        """One trial by key, as a batch of one."""
        task, idx = key
        return self._stack([self.trials[task][idx]], [task])

    @property
    def task_ids(self) -> list[int]:
        return sorted(t for t in self.trials if self.complete_trials(t))

    def num_steps(self) -> int:
        return sum(self.steps.values())

    def num_trials(self) -> int:
        return sum(len(self.complete_trials(t)) for t in self.trials)

    def sample_trials(self, n: int, rng: np.random.Generator) -> TrialBatch:
        """n whole trials: a task uniformly among tasks with data, then one of its trials uniformly."""
        tasks = self.task_ids
        if not tasks:
            raise RuntimeError("replay is empty: collect episodes first (pretraining does)")
        chosen, task_ids = [], []
        for _ in range(n):
            task = tasks[int(rng.integers(len(tasks)))]
            trials = self.complete_trials(task)
            chosen.append(trials[int(rng.integers(len(trials)))])
            task_ids.append(task)
        return self._stack(chosen, task_ids)

    @staticmethod
    def _stack(trials: list[dict], task_ids: list[int]) -> TrialBatch:
        """Trials (episode index -> episode) as one batch, each trial's episodes joined in order."""
        seqs = [concat_trial([t[k] for k in sorted(t)]) for t in trials]
        lengths = {len(s["images"]) for s in seqs}
        if len(lengths) > 1:
            L = min(lengths)  # episodes of differing length: crop to the shortest (all envs here have fixed length)
            seqs = [{k: (v[:L] if k in ("images", "rewards_in", "rewards_shaped") else v[:L - 1]) for k, v in s.items()}
                    for s in seqs]
        return TrialBatch(**{k: np.stack([s[k] for s in seqs]) for k in seqs[0]}, task_ids=np.array(task_ids))
