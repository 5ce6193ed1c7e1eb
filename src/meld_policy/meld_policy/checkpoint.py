"""Checkpoint files: plain tensors, dicts, numbers and strings, so `torch.load(weights_only=True)` works.

A checkpoint is a dict with `format_version`, `config` (one plain dict per component: model, actor,
sac, replay, train), `env_id`, the `model` and `actor` state dicts and, from the trainer, critics,
optimizers, counters and RNG states. The policy side needs only `load_policy`; the trainer adds the rest.
Files are written to a temporary name and renamed, so a crash never leaves a half checkpoint.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from .actor import Actor
from .config import ActorConfig, ConfigError, ModelConfig, config_from_dict
from .filter import BeliefFilter
from .model import LatentModel

CHECKPOINT_FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used as asked; the message names the cause and the fix."""


class TrainingDiverged(CheckpointError):
    """The weights to be saved are not finite: the checkpoint on disk is kept, the run stops."""


def require_finite_weights(state: dict, path: str | os.PathLike, sections: tuple[str, ...] = ("model", "actor", "critic"),
                           skipped: int = 0, loading: bool = False) -> None:
    """Refuse to write weights holding NaN or inf over a good checkpoint: raise TrainingDiverged naming them."""
    from .validation import nonfinite_tensors

    def named(prefix: str, d) -> list:
        if isinstance(d, dict):
            return [x for k, v in d.items() for x in named(f"{prefix}.{k}", v)]
        return [(prefix, d)]

    bad = nonfinite_tensors(x for sec in sections for x in named(sec, state.get(sec, {})))
    if bad and loading:
        raise TrainingDiverged(f"{path} holds weights that are not finite ({', '.join(bad[:3])}): training had diverged "
                               "when it was written; use an older checkpoint (ckpt_*.pt) or retrain")
    if bad:
        raise TrainingDiverged(
            f"training diverged: {len(bad)} weight tensor(s) are not finite ({', '.join(bad[:3])}"
            f"{', ...' if len(bad) > 3 else ''}) after {skipped} non-finite update(s) were skipped; nothing was written "
            f"to {path}, so the checkpoints already there keep the last good weights. Lower train.model_lr / sac.actor_lr / sac.critic_lr "
            "and resume, or check the episode files (meld-train reports any it skips).")


def save_atomic(obj: dict, path: str | os.PathLike) -> Path:
    """torch.save to `<path>.tmp`, fsync, os.replace: readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full or read-only disk leaves nothing behind, and the message names the file
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_raw(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """torch.load with weights_only=True plus a format-version check."""
    p = Path(path)
    hint = "pass the .pt file inside a run folder (e.g. RUN/checkpoints/latest.pt)"
    if not p.exists():
        raise CheckpointError(f"no checkpoint at {path}; {hint}")
    if p.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file; {hint}")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): a write that never finished; {hint}, or an older ckpt_*.pt")
    try:
        with warnings.catch_warnings():  # torch's notes on foreign pickles are for torch developers
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise CheckpointError(f"{path} cannot be read (permission denied); make it readable for this user") from None
    except pickle.UnpicklingError as exc:
        # torch's own message advises weights_only=False, which would run the file's code: never say that.
        why = ("it holds Python objects, which are never loaded because they could run code"
               if "GLOBAL" in str(exc) else "its contents are not what torch.save writes")
        raise CheckpointError(f"{path} is not a weights-only MELD checkpoint ({why}); {hint}") from None
    except Exception as exc:  # a truncated zip, a text file, a foreign format
        raise CheckpointError(f"{path} cannot be read as a checkpoint ({type(exc).__name__}: the file is truncated or "
                              f"not a torch checkpoint); {hint}, or an older ckpt_*.pt beside it") from None
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise CheckpointError(f"{path} is not a MELD checkpoint (no format_version); {hint}")
    if ckpt["format_version"] != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {ckpt['format_version']}; this code reads "
                              f"{CHECKPOINT_FORMAT_VERSION}: load it with the code version that wrote it")
    missing = [k for k in ("config", "env_id", "model", "actor") if k not in ckpt]
    if missing or not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"{path} is not a complete MELD checkpoint (missing {', '.join(missing) or 'config'}); {hint}")
    return ckpt


def config_differences(saved: dict, current: dict, prefix: str) -> list[str]:
    """'section.field: saved -> current' for every field whose value differs."""
    out = []
    for k in sorted(set(saved) | set(current)):
        if k in saved and k in current and saved[k] != current[k]:
            out.append(f"{prefix}.{k}: checkpoint {saved[k]!r} vs now {current[k]!r}")
    return out


def unknown_fields(saved: dict, cls, prefix: str) -> list[str]:
    names = {f.name for f in dataclasses.fields(cls)}
    return [f"{prefix}.{k}" for k in sorted(saved) if k not in names]


def require_compatible(saved: dict, current: dict, fields: dict[str, list[str]],
                       path: str | os.PathLike = "checkpoint") -> None:
    """Refuse a checkpoint whose architecture differs: the message lists every differing field of every section.

    saved/current: {section: {field: value}}; fields: {section: [fields that change tensor shapes]}.
    """
    diffs = []
    for sec, names in fields.items():
        s = {k: v for k, v in saved.get(sec, {}).items() if k in names}
        c = {k: v for k, v in current.get(sec, {}).items() if k in names}
        diffs += config_differences(s, c, sec)
    if diffs:
        raise CheckpointError(f"{path} was trained with an incompatible config; differing fields: "
                              + "; ".join(diffs) + ". Use the checkpoint's values or start a new run folder.")


@dataclasses.dataclass
class Policy:
    """What the policy node needs: the filter and the actor, built from a checkpoint without the trainer."""

    model: LatentModel
    actor: Actor
    filter: BeliefFilter
    model_config: ModelConfig
    actor_config: ActorConfig
    env_id: str
    warnings: list[str]


def load_policy(path: str | os.PathLike, device: str | torch.device = "cpu") -> Policy:
    """Build model + actor from a checkpoint (weights_only), in eval mode, and report unknown fields."""
    ckpt = load_raw(path, map_location=device)
    require_finite_weights(ckpt, path, sections=("model", "actor"), loading=True)
    cfg = ckpt["config"]
    warnings = unknown_fields(cfg["model"], ModelConfig, "model") + unknown_fields(cfg["actor"], ActorConfig, "actor")
    try:
        mcfg, _ = config_from_dict(ModelConfig, cfg["model"], strict=False)
        acfg, _ = config_from_dict(ActorConfig, cfg["actor"], strict=False)
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path}: its config no longer builds a model: {exc}") from exc
    model = LatentModel(mcfg).to(device)
    model.load_state_dict(ckpt["model"])
    actor = Actor(acfg, mcfg.feature_dim).to(device)
    actor.load_state_dict(ckpt["actor"])
    model.eval()
    actor.eval()
    return Policy(model, actor, BeliefFilter(model), mcfg, acfg, str(ckpt.get("env_id", "")),
                  [f"unknown config field {w} in {path}: ignored" for w in warnings])


def camera_policy_problem(model_config: dict[str, Any], env_id: str, path: str | os.PathLike) -> str:
    """Why a policy cannot act on the ROS graph (a sentence), or "" when it can.

    The graph's policy node feeds the model the two cameras' images; a policy of the ladder's state
    rung (model.encoder 'mlp') reads a vector of joint and plug positions that no topic carries, so
    it would fail at its first step. Said when the file is given, with where such a file does run."""
    if model_config.get("encoder", "conv") == "conv":
        return ""
    return (f"{path} acts from a {model_config.get('obs_dim', '?')}-number state vector (trained on {env_id or '?'}, "
            "the ladder's state rung), not from the cameras the ROS graph's policy reads; meta-test it with "
            f"`meld-eval --checkpoint {path}`, or give the graph a policy trained on images "
            "(WidowXInsert-v0 or WidowXInsertSparse-v0)")


def to_plain(obj: Any) -> Any:
    """Convert numpy scalars/tuples to plain Python so the checkpoint loads with weights_only=True."""
    import numpy as np
    if isinstance(obj, dict):
        return {(k if isinstance(k, int) else str(k)): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    return obj
