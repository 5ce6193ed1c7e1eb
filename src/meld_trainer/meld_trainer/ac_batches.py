"""The actor-critic's batches: transitions of belief features, filtered from the replay by the model.

A mixin of `MetaTrainer` (meta_train.py). Before the model freezes, batches come from freshly filtered
trials (no gradient into the model: the stop-gradient between model and actor-critic); after it, from a
pool of every replay transition filtered once by the frozen model.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .relabel import relabel_batch
from .replay import TrialBatch


class ActorCriticBatches:
    """Filtered transitions (b_t, a_t, r_{t+1}, b_{t+1}, not_done) for SAC."""

    def filter_transitions(self, trials: int) -> tuple[torch.Tensor, ...]:
        """All transitions (b_t, a_t, r_{t+1}, b_{t+1}, not_done) of `trials` filtered trials, no gradient into the model."""
        return self._transitions(self.replay.sample_trials(trials, self.rng))

    def _transitions(self, batch: TrialBatch, rng: np.random.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """The batch's transitions; with train.ac_reward_relabel some trials first rescored for another port
        (drawn from `rng`, else the trainer's generator), the beliefs filtered from the rescored rewards."""
        b = self._to_torch(batch)
        p = self.cfg.train.ac_reward_relabel
        if p:
            relabel_batch(b, self._port_rewards, self._port_sparse_rewards, p, self.rng if rng is None else rng)
        with torch.no_grad():  # the stop-gradient between model and actor-critic
            feats = self.feature_filter(b["images"], b["actions"], b["rewards_in"])  # (B, L, F): b_t for t = 0..L-1
        valid = b["transition_valid"]                                                 # (B, L-1): t -> t+1 inside an episode
        b_t, b_next = feats[:, :-1][valid], feats[:, 1:][valid]
        a_t = b["actions"][valid] / self.actor.action_scale
        r_next = b["rewards_shaped"][:, 1:][valid]                                    # r_{t+1}, shaped (Appendix C)
        # Transition into the last frame of an episode: bootstrap (time limit) unless configured otherwise.
        last = torch.zeros_like(valid)
        last[:, :-1] = valid[:, :-1] & ~valid[:, 1:]
        last[:, -1] = valid[:, -1]
        not_done = (~last[valid]).float() if not self.cfg.sac.bootstrap_episode_end else torch.ones_like(r_next)
        return b_t, a_t, r_next, b_next, not_done

    def ac_batch(self) -> tuple[torch.Tensor, ...]:
        """sac.batch_size transitions out of filtered whole trials; one filtered set serves `ac_feature_reuse` updates.

        Filtering (a conv pass over every frame) costs far more on a CPU than the SAC step, so on a CPU
        it pays to filter `ac_batch_trials` trials once and draw several batches from their transitions.
        """
        bs, reuse = self.cfg.sac.batch_size, self.cfg.train.ac_feature_reuse
        if self.model_frozen:
            source = self._frozen_transitions()
        else:
            if self._ac_cache is None or self._ac_cache_uses >= reuse:
                trials = self.cfg.train.ac_batch_trials or max(
                    1, math.ceil(bs / (self.frames_per_trial - self.episodes_per_trial)))
                self._ac_cache, self._ac_cache_uses = self.filter_transitions(trials), 0
            self._ac_cache_uses += 1
            source = self._ac_cache
        n = len(source[0])
        idx = torch.from_numpy(self.rng.choice(n, size=min(bs, n), replace=False)).to(self.device)
        return tuple(x[idx] for x in source)

    def _frozen_transitions(self) -> tuple[torch.Tensor, ...]:
        """Every transition of the replay, filtered once per trial by the frozen model.

        A frozen model filters a trial to the same features every time, so each trial is filtered once
        and the actor-critic draws its batches from all of them: an update then costs the SAC step
        alone. The pool is brought up to date with the replay once per `train` call (it drops it), not
        per update. Each trial is filtered under its own seed (the global RNG untouched), so the pool is
        the same whether it was built step by step or after a resume (train.ac_reward_relabel's draw too).
        """
        if self._frozen_pool is not None:
            return self._frozen_pool
        keys = self.replay.trial_keys()
        live = set(keys)
        for k in [k for k in self._frozen_features if k not in live]:  # evicted from the replay
            del self._frozen_features[k]
        for k in keys:
            if k not in self._frozen_features:
                with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                    seed = self.cfg.train.seed * 1_000_003 + 10_007 * k[0] + k[1]
                    torch.manual_seed(seed)
                    self._frozen_features[k] = self._transitions(self.replay.trial(k), np.random.default_rng(seed))
        self._frozen_pool = tuple(torch.cat(x) for x in zip(*(self._frozen_features[k] for k in keys)))
        return self._frozen_pool
