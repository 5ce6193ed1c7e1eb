"""Collecting trials for meta-training: in the trainer's process or on collection workers.

A mixin of `MetaTrainer` (meta_train.py). Every trial's task, mode and seed are fixed when it is
submitted, so a run is the same whether its trials ran here or on workers, and after a resume.
"""
from __future__ import annotations

import contextlib
from collections import deque
from pathlib import Path

import numpy as np

from .collect import TrialJob, run_trial
from .pool import CollectorPool


class TrialCollection:
    """Training, evaluation and meld-eval trials, stored in the replay with the counters they move."""

    def collect_trial(self, task_id: int, mode: str = "policy", deterministic: bool = False, seed: int | None = None,
                      reward_particles: int = 0) -> tuple[list[dict], dict]:
        """Run one trial (episodes_per_trial episodes, the belief carried across them) on `task_id`, in this process.

        mode 'random' samples uniform actions (pretraining); 'policy' filters and acts (the other modes:
        collect.TrialJob). With
        reward_particles > 0 the belief is filtered for that many particles and the predicted reward's
        mean and std over them is recorded per frame (the paper's figure 6). See collect.run_trial.
        """
        if seed is None:
            seed = int(self.rng.integers(2**31))
        return run_trial(self.env, self.filter, self.actor, self.episodes_per_trial,
                         TrialJob(task_id, mode, seed, deterministic, reward_particles))

    def _collect_many(self, jobs: list[TrialJob]) -> list[tuple[list[dict], dict]]:
        """Trials of several jobs, in order: on the collection workers when there are any, else here."""
        if self._pool is None:
            return [run_trial(self.env, self.filter, self.actor, self.episodes_per_trial, j) for j in jobs]
        ids = [self._pool.submit(j) for j in jobs]
        return [self._pool.result(i) for i in ids]

    def _train_seed(self, ahead: int = 0) -> int:
        """Seed of the trial `ahead` trials after the last one collected."""
        return self.cfg.train.seed * 1_000_003 + 7 * (self.counters["trials_collected"] + ahead)

    def _training_job(self, ahead: int = 0) -> TrialJob:
        """The meta-training trial `ahead` trials after the last one collected: a training task drawn from
        the trainer's generator, its seed, and its mode, 'rescue' for a train.rescue_trials share of trials
        and else 'policy' (a function of the seed, so the workers' timing and a resume leave it unchanged)."""
        task = self.train_tasks[int(self.rng.integers(len(self.train_tasks)))]
        seed, p = self._train_seed(ahead), self.cfg.train.rescue_trials
        return TrialJob(task, "rescue" if p and np.random.default_rng([seed, 1]).random() < p else "policy", seed)

    def collect_and_store(self, task_id: int, mode: str) -> dict:
        episodes, summary = self.collect_trial(task_id, mode=mode, seed=self._train_seed())
        return self._store_trial(task_id, episodes, summary)

    def _store_trial(self, task_id: int, episodes: list[dict], summary: dict) -> dict:
        self.replay.add_trial(episodes, task_id)
        self.counters["trials_collected"] += 1
        self.counters["env_steps"] += sum(len(ep["actions"]) for ep in episodes)
        return summary

    def _next_policy_trial(self) -> tuple[int, dict]:
        """Collect, store and return (task, summary) of the next meta-training trial.

        With collection workers, up to `collect_workers` trials run ahead with the weights of the
        iteration that submitted them, never past the next checkpoint (so a checkpoint has nothing in
        flight and a resumed run continues exactly); task choice and seeds are fixed at submission, in
        order, so the run does not depend on the workers' timing.
        """
        if self._pool is None:
            job = self._training_job()
            episodes, summary = run_trial(self.env, self.filter, self.actor, self.episodes_per_trial, job)
            return job.task_id, self._store_trial(job.task_id, episodes, summary)
        t = self.cfg.train
        it = self.counters["iteration"]
        stop = min(t.iterations, (it // t.checkpoint_every + 1) * t.checkpoint_every)
        while len(self._pipeline) < t.collect_workers and it + len(self._pipeline) < stop:
            job = self._training_job(ahead=len(self._pipeline))
            self._pipeline.append((job.task_id, self._pool.submit(job)))
        task, job_id = self._pipeline.popleft()
        episodes, summary = self._pool.result(job_id)
        return task, self._store_trial(task, episodes, summary)

    def ingest_episode(self, path: str | Path) -> bool:
        """Add an episode file written elsewhere (the policy node); counts its steps."""
        from meld_policy.episode_io import parse_filename
        ok = self.replay.ingest(path)
        if ok:
            self.counters["env_steps"] += parse_filename(path).steps
        return ok

    @contextlib.contextmanager
    def collection_workers(self, n: int):
        """Inside the block, trials (training, evaluation, meld-eval's) run on `n` worker processes holding
        the weights as they are now and after each iteration; n = 0: in this process. Trials are pure
        functions of their job and the weights, so the results are the same either way."""
        if n <= 0 or self._pool is not None:
            yield
            return
        with CollectorPool(self.env_id, self.cfg.model, self.cfg.actor, self.episodes_per_trial, n) as pool:
            self._pool, self._pipeline = pool, deque()
            pool.publish(self.model, self.actor)
            try:
                yield
            finally:
                self._pool = None
