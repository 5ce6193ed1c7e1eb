"""The trainer's checkpoints: what a run folder's checkpoints/latest.pt holds, and exact resume from it.

A mixin of `MetaTrainer` (meta_train.py), kept apart so the training loop reads on its own; it uses the
trainer's networks, optimizers, replay, counters and RNGs. A resumed run continues bit for bit as the
uninterrupted one would have (tests/meld/test_training.py).
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch

from meld_policy.checkpoint import (CHECKPOINT_FORMAT_VERSION, CheckpointError, config_differences, load_raw,
                                    require_compatible, require_finite_weights, save_atomic, to_plain,
                                    unknown_fields)

from .config import ARCH_FIELDS, SECTIONS, RunConfig

log = logging.getLogger("meld_trainer.meta_train")


def with_defaults(saved: dict) -> dict:
    """A checkpoint's config with the fields it predates at their defaults (what it was trained with),
    so that an override of such a field that changes tensor shapes is refused by name, not by
    load_state_dict's size mismatch."""
    defaults = RunConfig().to_dict()
    return {sec: {**defaults[sec], **saved.get(sec, {})} for sec in SECTIONS}


class TrainerCheckpoints:
    """Checkpoint writing, loading and resume of a MetaTrainer."""

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / "latest.pt"

    def state_dict(self) -> dict:
        rng_np = np.random.get_state()
        return to_plain({
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "env_id": self.env_id,
            "config": self.cfg.to_dict(),
            "model": self.model.state_dict(),
            "actor": self.actor.state_dict(),
            "critic": {"qf1": self.sac.qf1.state_dict(), "qf2": self.sac.qf2.state_dict(),
                       "qf1_target": self.sac.qf1_target.state_dict(), "qf2_target": self.sac.qf2_target.state_dict(),
                       "log_alpha": self.sac.log_alpha.detach().clone()},
            "optimizers": {"model": self.model_opt.state_dict(), **self.sac.optimizer_state()},
            "counters": dict(self.counters),
            "eval_history": list(self.eval_history),
            "rng": {"torch": torch.get_rng_state(), "numpy_global": {"key": rng_np[1].astype(np.int64), "pos": int(rng_np[2]),
                    "has_gauss": int(rng_np[3]), "cached_gaussian": float(rng_np[4])},
                    "python": list(random.getstate()[1]), "trainer": self.rng.bit_generator.state,
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        })

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Networks, optimizers, counters and RNG states, written atomically; returns the path.

        Weights that are not finite are never written (TrainingDiverged): the last good checkpoint stays.
        """
        path = path or self.checkpoint_path
        state = self.state_dict()
        require_finite_weights(state, path, skipped=self.skipped_updates)
        return save_atomic(state, path)

    @property
    def skipped_updates(self) -> int:
        """Model and actor-critic updates skipped because a loss or gradient was not finite."""
        return self.updater.skipped_total + self.sac.skipped

    def load_checkpoint(self, path: str | Path) -> list[str]:
        """Restore everything from a checkpoint of a compatible config; returns notes on changed/unknown fields."""
        # On the host: the RNG states belong there, and each load_state_dict below places its tensors on the
        # device of the parameters it fills (Adam's `step` stays on the CPU, as a fresh optimizer keeps it).
        ckpt = load_raw(path, map_location="cpu")
        if ckpt.get("kind") == "policy":
            raise CheckpointError(f"{path} is a policy file (model and actor only, from meld-export): it can be "
                                  "evaluated or deployed but not resumed; resume from the run's checkpoints/latest.pt")
        if ckpt["env_id"] != self.env_id:
            raise CheckpointError(f"{path} was trained on {ckpt['env_id']}, not {self.env_id}; pass --env {ckpt['env_id']}")
        require_finite_weights(ckpt, path, loading=True)  # a diverged run is not resumed into the same NaNs
        saved, now, notes = ckpt["config"], self.cfg.to_dict(), []
        for sec, cls in SECTIONS.items():
            notes += [f"unknown config field {u} in the checkpoint: ignored" for u in unknown_fields(saved.get(sec, {}), cls, sec)]
        require_compatible(with_defaults(saved), now, ARCH_FIELDS, path)
        for sec in SECTIONS:
            notes += [f"changed since the checkpoint (new value used): {d}" for d in config_differences(
                {k: v for k, v in saved.get(sec, {}).items() if k not in ARCH_FIELDS.get(sec, [])},
                {k: v for k, v in now[sec].items() if k not in ARCH_FIELDS.get(sec, [])}, sec)]
        self.model.load_state_dict(ckpt["model"])
        self.actor.load_state_dict(ckpt["actor"])
        c = ckpt["critic"]
        for name in ("qf1", "qf2", "qf1_target", "qf2_target"):
            getattr(self.sac, name).load_state_dict(c[name])
        with torch.no_grad():
            self.sac.log_alpha.copy_(c["log_alpha"])
        self.model_opt.load_state_dict(ckpt["optimizers"]["model"])
        self.sac.load_optimizer_state(ckpt["optimizers"])
        # Hyperparameters come from the checkpoint, but the implementation flags belong to this machine
        # (a checkpoint of a CUDA-graph run says capturable=True, which a CPU optimizer refuses).
        for opt, fresh in ((self.model_opt, self.updater.flags()),) + tuple(
                (o, self.sac.optimizer_flags) for o in (self.sac.actor_opt, self.sac.critic_opt, self.sac.alpha_opt)):
            for group in opt.param_groups:
                group.update(fresh)
        self.counters.update({k: int(v) for k, v in ckpt["counters"].items()})
        self.eval_history = list(ckpt["eval_history"])
        r = ckpt["rng"]
        torch.set_rng_state(r["torch"])
        g = r["numpy_global"]
        np.random.set_state(("MT19937", g["key"].numpy().astype(np.uint32), g["pos"], g["has_gauss"], g["cached_gaussian"]))
        random.setstate((3, tuple(r["python"]), None))
        self.rng.bit_generator.state = r["trainer"]
        if r["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(r["cuda"])
        for n in notes:
            log.warning("%s", n)
        return notes

    def load_policy_file(self, path: str | Path) -> list[str]:
        """Model and actor (and the evaluation history) of a policy file from meld-export, for meta-testing."""
        ckpt = load_raw(path, map_location="cpu")
        if ckpt["env_id"] != self.env_id:
            raise CheckpointError(f"{path} was trained on {ckpt['env_id']}, not {self.env_id}")
        require_compatible(with_defaults(ckpt["config"]), self.cfg.to_dict(),
                           {k: v for k, v in ARCH_FIELDS.items() if k != "sac"}, path)
        self.model.load_state_dict(ckpt["model"])  # half-precision files: copied into float32 parameters
        self.actor.load_state_dict(ckpt["actor"])
        self.counters.update({k: int(v) for k, v in ckpt.get("counters", {}).items()})
        self.eval_history = list(ckpt.get("eval_history", []))
        return []

    def open_replay(self) -> None:
        """Load every complete episode file of the run folder (skipped files are reported)."""
        self.replay.open()

    def maybe_resume(self) -> bool:
        """Open the replay and, when RUN/checkpoints/latest.pt exists, restore from it; True if resumed."""
        self.open_replay()
        if self.checkpoint_path.exists():
            self.load_checkpoint(self.checkpoint_path)
            return True
        return False
