"""Meta-training (MELD, Algorithm 1) as a class with plain calls a ROS trainer node can drive:

    trainer = MetaTrainer(cfg, "PointGoal-v0", run_dir)   # builds env, model, actor, SAC, replay
    trainer.maybe_resume()                                # newest checkpoint + every episode file
    trainer.run()                                         # pretrain, then collect / train model / train AC

or piecewise: `ingest_episode(path)`, `train(model_updates, ac_updates)`, `save_checkpoint()`.
"""
from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch

from meld_policy.actor import Actor
from meld_policy.filter import BeliefFilter
from meld_policy.model import LatentModel

from .ac_batches import ActorCriticBatches
from .config import ConfigError, RunConfig
from .envs import is_sparse, make_env
from .collect import TrialJob
from .fast_update import FeatureFilter, ModelUpdater
from .pool import CollectorPool
from .relabel import relabel_batch
from .replay import Replay, TrialBatch
from .sac import SAC
from .trainer_checkpoint import TrainerCheckpoints, with_defaults  # noqa: F401  (with_defaults: public here too)
from .trial_collection import TrialCollection

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name} but torch sees no CUDA device; use train.device=cpu or auto")
    try:
        return torch.device(name)
    except (RuntimeError, ValueError):
        raise RuntimeError(f"train.device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from None


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


class MetaTrainer(ActorCriticBatches, TrainerCheckpoints, TrialCollection):
    """Owns the env, the networks, the optimizers, the replay, the counters and the run folder."""

    def __init__(self, cfg: RunConfig, env_id: str, run_dir: str | Path, env=None, tensorboard: bool = True):
        self.cfg = cfg
        self.env_id = env_id
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        t = cfg.train
        if t.torch_threads:
            torch.set_num_threads(t.torch_threads)
        self.device = resolve_device(t.device)
        self._seed_all(t.seed)
        self.env = env if env is not None else make_env(env_id)
        u = self.env.unwrapped
        self.train_tasks = list(u.train_task_ids)
        self.heldout_tasks = list(u.heldout_task_ids)
        # The env decides image size, action size and action bounds; the config records them.
        obs_shape = self.env.observation_space.shape
        if len(obs_shape) == 1:  # a state vector (the ladder's state rung): MLP encoder and decoder
            cfg.model.encoder, cfg.model.obs_dim = "mlp", int(obs_shape[0])
        else:
            h, w, _ = obs_shape
            cfg.model.encoder, cfg.model.obs_dim = "conv", 0
            cfg.model.image_height, cfg.model.image_width = int(h), int(w)
        cfg.model.action_dim = int(self.env.action_space.shape[0])
        high = np.asarray(self.env.action_space.high, dtype=np.float64)
        cfg.actor.action_scale = tuple(float(x) for x in high)
        cfg.model.__post_init__()
        cfg.actor.__post_init__()
        self.episodes_per_trial = t.episodes_per_trial or (2 if is_sparse(env_id) else 1)
        # Hindsight relabelling (relabel.py): the shaped reward of every port, and on sparse ids the link-up one.
        self._port_rewards = getattr(u, "port_rewards", None)
        self._port_sparse_rewards = getattr(u, "port_sparse_rewards", None) if is_sparse(env_id) else None
        for name in ("model_reward_relabel", "ac_reward_relabel"):
            cannot = self._port_rewards is None or (is_sparse(env_id) and self._port_sparse_rewards is None)
            if getattr(t, name) and cannot:
                raise ConfigError(f"train.{name}={getattr(t, name)} rescores trials from the plug's pose relative to "
                                  f"the router, which {env_id} does not give; use WidowXInsertState-v1, -v2 or -v3 "
                                  f"(or their Sparse ids), or set train.{name}=0.")

        for name, what in (("pretrain_search_episodes", "port search"), ("rescue_trials", "inserter")):
            if getattr(t, name) and not hasattr(u, "sim"):
                raise ConfigError(f"train.{name}={getattr(t, name)} needs the simulator's scripted {what}, which "
                                  f"{env_id} does not have; use a WidowXInsert* env or set it to 0.")

        self.model = LatentModel(cfg.model).to(self.device)
        self.actor = Actor(cfg.actor, cfg.model.feature_dim).to(self.device)
        self.sac = SAC(self.actor, cfg.model.feature_dim, cfg.sac, fast=t.fast_updates).to(self.device)
        self.updater = ModelUpdater(self.model, t.model_lr, fast=t.fast_updates, amp=t.amp)
        self.model_opt = self.updater.opt
        self.feature_filter = FeatureFilter(self.model, fast=t.fast_updates)
        self.filter = BeliefFilter(self.model)
        # Trials live on the training device; room for the run's own collection, grown if it outlives that.
        planned = math.ceil((t.pretrain_episodes + t.pretrain_search_episodes) / self.episodes_per_trial) + t.iterations
        self.replay = Replay(self.run_dir / "episodes", cfg.replay, self.episodes_per_trial, device=self.device,
                             initial_capacity=min(planned, 4096))
        self.replay.frame_shape, self.replay.action_dim = tuple(obs_shape), cfg.model.action_dim
        self.rng = np.random.default_rng(t.seed)  # task choice and replay sampling
        self.counters = {"iteration": 0, "env_steps": 0, "model_updates": 0, "ac_updates": 0,
                         "trials_collected": 0, "evaluations": 0, "pretrained": 0, "consolidated": 0,
                         "consolidated_at": 0}
        self.eval_history: list[dict] = []
        self._tensorboard = tensorboard
        self._writer = None
        self._scalars: dict[str, list[float]] = {}
        self._ac_cache: tuple[torch.Tensor, ...] | None = None  # filtered transitions shared by ac_feature_reuse updates
        self._ac_cache_uses = 0
        self._freeze_logged = False
        # Once the model is frozen, each trial's filtered transitions never change: trial key -> tensors.
        self._frozen_features: dict[tuple[int, int], tuple[torch.Tensor, ...]] = {}
        self._frozen_pool: tuple[torch.Tensor, ...] | None = None
        self._pool: CollectorPool | None = None  # collection workers while run() uses them
        self._pipeline: deque = deque()          # (task, job id) of trials in flight on them

    # ----- plumbing -----------------------------------------------------------------------------------
    @staticmethod
    def _seed_all(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    @property
    def writer(self):
        if self._writer is None and self._tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self._writer = SummaryWriter(str(self.run_dir / "tb"))
        return self._writer

    def _accumulate(self, stats: dict[str, float | torch.Tensor]) -> None:
        """Keep scalars (device tensors stay on the device until the next flush: no sync per update)."""
        for k, v in stats.items():
            self._scalars.setdefault(k, []).append(v.detach() if isinstance(v, torch.Tensor) else float(v))

    def _flush_scalars(self) -> dict[str, float]:
        means = {k: float(np.mean([float(x) for x in v])) for k, v in self._scalars.items()}
        if self.writer is not None:
            for k, v in means.items():
                self.writer.add_scalar(k, v, self.counters["env_steps"])
        self._scalars = {}
        return means

    @staticmethod
    def _to_torch(batch: TrialBatch) -> dict[str, torch.Tensor]:
        """The batch's tensors by name (already on the training device: the replay keeps them there)."""
        return {"images": batch.images, "actions": batch.actions, "rewards_in": batch.rewards_in,
                "rewards_shaped": batch.rewards_shaped, "transition_valid": batch.transition_valid}

    @property
    def frames_per_trial(self) -> int:
        return self.episodes_per_trial * (self.env.spec.max_episode_steps + 1) if self.env.spec and \
            self.env.spec.max_episode_steps else self.episodes_per_trial * 41

    # ----- learning ---------------------------------------------------------------------------------------
    def model_update(self) -> dict[str, torch.Tensor]:
        """One Adam step on the negative ELBO of a batch of whole trials (fast_update.ModelUpdater)."""
        n_trials = max(1, self.cfg.train.model_batch_frames // self.frames_per_trial)
        b = self._to_torch(self.replay.sample_trials(n_trials, self.rng))
        if self.cfg.train.model_reward_relabel:
            relabel_batch(b, self._port_rewards, self._port_sparse_rewards, self.cfg.train.model_reward_relabel,
                          self.rng)
        stats = self.updater.step(b["images"], b["actions"], b["rewards_in"], b["rewards_shaped"])
        self.counters["model_updates"] += 1
        return stats

    def ac_update(self) -> dict[str, float]:
        stats = self.sac.update(*self.ac_batch())
        self.counters["ac_updates"] += 1
        return stats

    @property
    def model_frozen(self) -> bool:
        f = self.cfg.train.model_freeze_env_steps
        return bool(f) and self.counters["env_steps"] >= f

    def updates_per_iter(self) -> tuple[int, int]:
        """(model updates, actor-critic updates) for the next iteration, after train.model_freeze_env_steps."""
        t = self.cfg.train
        if self.model_frozen:
            if not self._freeze_logged:
                self._freeze_logged = True
                log.info("model frozen at %d env steps (train.model_freeze_env_steps=%d): actor-critic only from here",
                         self.counters["env_steps"], t.model_freeze_env_steps)
            return 0, t.frozen_ac_updates_per_iter or t.ac_updates_per_iter
        return t.model_updates_per_iter, t.ac_updates_per_iter

    @property
    def consolidation_due(self) -> bool:
        """Where the model freezes (train.freeze_consolidation_updates), and every
        train.reconsolidate_every_env_steps after the last consolidation."""
        t, c = self.cfg.train, self.counters
        if not (self.model_frozen and t.freeze_consolidation_updates):
            return False
        if not c["consolidated"]:
            return True
        every = t.reconsolidate_every_env_steps
        return bool(every) and c["env_steps"] >= c["consolidated_at"] + every

    def consolidate_model(self, rate_steps: int = 20) -> None:
        """train.freeze_consolidation_updates model updates over the whole replay, where the model freezes
        (and again every train.reconsolidate_every_env_steps).

        The rate falls on a cosine from model_lr in `rate_steps` constant steps (a captured CUDA graph is
        captured again at each), and is model_lr again afterwards.
        """
        t, t0 = self.cfg.train, time.monotonic()
        n = t.freeze_consolidation_updates
        log.info("consolidating the model %s: %d updates over the %d trials of the replay, rate %.1e falling to zero",
                 "before it stays frozen" if not self.counters["consolidated"] else "again, the policy's newer trials with it",
                 n, self.replay.num_trials(), t.model_lr)
        for i in range(n):
            self.updater.set_lr(t.model_lr * 0.5 * (1 + math.cos(math.pi * (i * rate_steps // n) / rate_steps)))
            self._accumulate(self.model_update())
        self.updater.set_lr(t.model_lr)
        self.counters["consolidated"] += 1
        self.counters["consolidated_at"] = self.counters["env_steps"]
        self._frozen_features.clear()  # filtered by the model before these updates
        log.info("consolidation done in %.0f s", time.monotonic() - t0)

    def train(self, model_updates: int, ac_updates: int) -> dict[str, float]:
        """Plain call for the trainer node: this many model updates, then actor-critic updates."""
        if self.consolidation_due:
            self.consolidate_model()
        for _ in range(model_updates):
            self._accumulate(self.model_update())
        self._ac_cache = None  # features from the model as it is now
        self._frozen_pool = None  # brought up to date with the replay (new and evicted trials)
        for _ in range(ac_updates):
            self._accumulate(self.ac_update())
        return {k: v[-1] for k, v in self._scalars.items()}

    # ----- the loop -----------------------------------------------------------------------------------
    def pretrain(self) -> None:
        """Random-policy trials (then any scripted port searches) over the training tasks, then model updates on
        them (Algorithm 1, line 1)."""
        t = self.cfg.train
        random_trials = math.ceil(t.pretrain_episodes / self.episodes_per_trial)
        target_trials = random_trials + math.ceil(t.pretrain_search_episodes / self.episodes_per_trial)
        have, done = self.replay.num_trials(), self.counters["trials_collected"]
        tasks = [self.train_tasks[(done + i) % len(self.train_tasks)] for i in range(max(0, target_trials - have))]
        jobs = [TrialJob(task, "random" if have + i < random_trials else "search", self._train_seed(ahead=i))
                for i, task in enumerate(tasks)]
        for task, (episodes, summary) in zip(tasks, self._collect_many(jobs)):
            self._store_trial(task, episodes, summary)
        for _ in range(t.pretrain_model_updates):
            self._accumulate(self.model_update())
        self.counters["pretrained"] = 1
        if self._pool is not None:
            self._pool.publish(self.model, self.actor)
        if self.writer is not None:
            self._flush_scalars()

    def iteration(self) -> dict:
        """Collect one trial of a random training task with the current policy, then train."""
        task, summary = self._next_policy_trial()
        self._accumulate({"train/success": float(summary["success"]), "train/return": summary["returns"][-1],
                          "train/shaped_return": sum(summary["shaped_returns"]),
                          "train/rescued_episodes": summary.get("rescued_episodes", 0)})
        self.train(*self.updates_per_iter())
        self.counters["iteration"] += 1
        if self._pool is not None:
            self._pool.publish(self.model, self.actor)  # the weights the next submitted trials run with
        return summary

    def evaluate(self, task_ids: list[int] | None = None, trials: int | None = None,
                 deterministic: bool | None = None) -> dict:
        """Meta-test (Algorithm 2) without learning: trials cycle over the tasks; success of a trial is that of its last episode."""
        task_ids = list(task_ids if task_ids is not None else self.heldout_tasks)
        trials = trials if trials is not None else self.cfg.train.eval_trials
        det = self.cfg.train.eval_deterministic if deterministic is None else deterministic
        per_task: dict[int, list[bool]] = {}
        returns = []
        base = 10**8 + self.cfg.train.seed * 10_007 + 1000 * self.counters["evaluations"]
        jobs = [TrialJob(task_ids[i % len(task_ids)], "policy", base + 7 * i, det) for i in range(trials)]
        distances = []
        for job, (_, s) in zip(jobs, self._collect_many(jobs)):
            per_task.setdefault(job.task_id, []).append(s["success"])
            returns.append(sum(s["shaped_returns"]))
            distances.append(s["final_distance"])
        self.counters["evaluations"] += 1
        n_succ = sum(sum(v) for v in per_task.values())
        lo, hi = wilson_interval(n_succ, trials)
        return {"success": n_succ / trials, "successes": n_succ, "trials": trials, "ci95": [lo, hi],
                "median_final_distance": float(np.median(distances)),
                "shaped_return": float(np.mean(returns)), "per_task": {int(k): float(np.mean(v)) for k, v in per_task.items()},
                "env_steps": self.counters["env_steps"], "iteration": self.counters["iteration"]}

    def run(self, progress: bool | None = None) -> dict | None:
        """Pretrain (once), then iterate to train.iterations; evaluate, log and checkpoint on schedule.

        With train.collect_workers > 0 the trials are collected by that many worker processes
        (meld_trainer/pool.py), which stop when this returns or raises.
        """
        with self.collection_workers(self.cfg.train.collect_workers):
            return self._run(progress)

    def _run(self, progress: bool | None) -> dict | None:
        from tqdm import tqdm
        t = self.cfg.train
        start = time.monotonic()
        if not self.counters["pretrained"]:
            self.pretrain()
            self.save_checkpoint()
        show = sys.stderr.isatty() if progress is None else progress
        last_eval = None
        with tqdm(total=t.iterations, initial=self.counters["iteration"], disable=not show, desc="meld-train",
                  unit="it", dynamic_ncols=True) as bar:
            while self.counters["iteration"] < t.iterations:
                if t.time_budget_s and time.monotonic() - start > t.time_budget_s:
                    log.info("time budget of %.0f s spent at iteration %d", t.time_budget_s, self.counters["iteration"])
                    break
                self.iteration()
                it = self.counters["iteration"]
                bar.update(1)
                if it % t.log_every == 0:
                    means = self._flush_scalars()
                    bar.set_postfix(steps=self.counters["env_steps"], succ=f"{means.get('train/success', 0):.2f}",
                                    loss=f"{means.get('model/loss', 0):.0f}")
                if t.image_log_every and it % t.image_log_every == 0 and self.writer is not None \
                        and self.cfg.model.encoder == "conv":
                    self._log_reconstruction()
                if t.eval_every and it % t.eval_every == 0:
                    last_eval = self._evaluate_and_log()
                if it % t.checkpoint_every == 0:
                    self.save_checkpoint()
        self.save_checkpoint()
        if self.writer is not None:
            self.writer.flush()
        return last_eval

    def _evaluate_and_log(self) -> dict:
        ev = self.evaluate()
        self.eval_history.append({k: ev[k] for k in ("success", "successes", "trials", "env_steps", "iteration",
                                                      "shaped_return")})
        if self.writer is not None:
            self.writer.add_scalar("eval/heldout_success", ev["success"], self.counters["env_steps"])
            self.writer.add_scalar("eval/heldout_shaped_return", ev["shaped_return"], self.counters["env_steps"])
        log.info("iteration %d, %d env steps: held-out success %.0f%% (%d/%d)", ev["iteration"], ev["env_steps"],
                 100 * ev["success"], ev["successes"], ev["trials"])
        return ev

    def _log_reconstruction(self) -> None:
        b = self._to_torch(self.replay.sample_trials(1, np.random.default_rng(self.counters["iteration"])))
        with torch.no_grad(), torch.random.fork_rng(devices=[]):  # logging must not move the training RNG
            self.model.loss(b["images"], b["actions"], b["rewards_in"], b["rewards_shaped"])
            images, recon = self.model._last_recon
        x = images.float().movedim(-1, -3) / 255.0
        y = (recon + 0.5).clamp(0, 1)
        grid = torch.cat([torch.cat(list(x[::4]), -1), torch.cat(list(y[::4]), -1)], -2)
        self.writer.add_image("model/reconstruction", grid, self.counters["env_steps"])
