"""Checks that keep non-finite and malformed data out of episodes, the replay and checkpoints.

Plain functions (no ROS, no torch at import) shared by the policy node, the episode writer and
reader, and the trainer: each returns or raises a sentence naming what is wrong, so a fault
stops at the door instead of poisoning the model and every checkpoint after it.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np


def reward_problem(shaped: float, sparse: float) -> str | None:
    """Why a reward message must be dropped (a NaN or infinite component), or None."""
    bad = [f"{name}={value}" for name, value in (("shaped (x)", shaped), ("sparse (y)", sparse))
           if not math.isfinite(value)]
    return f"non-finite reward {', '.join(bad)}" if bad else None


def frame_problem(frame: np.ndarray) -> str | None:
    """Why an observation frame must be dropped (non-finite values in a float frame), or None."""
    if np.issubdtype(frame.dtype, np.floating) and not np.all(np.isfinite(frame)):
        return f"frame has {int(np.size(frame) - np.isfinite(frame).sum())} non-finite values"
    return None


def episode_problem(ep: Mapping[str, np.ndarray]) -> str | None:
    """Why an episode (the arrays of meld_policy.episode_io) is malformed or non-finite, or None.

    Observations are uint8 images (T+1, H, W, 3) (or (T+1, 3, H, W)) or float32 state vectors (T+1, D); actions
    (T, A) with T >= 1 and A >= 1; rewards (T+1,); every float array finite.
    """
    actions = np.asarray(ep["actions"])
    if actions.ndim != 2 or actions.shape[0] < 1 or actions.shape[1] < 1:
        return f"actions must be (T, A) with T >= 1 steps and A >= 1; got shape {actions.shape}"
    T = actions.shape[0]
    images = np.asarray(ep["images"])
    # RGB frames, channels last as the project writes them (channels first accepted: the replay's
    # shape check against the run's frames decides whether they belong to this run)
    image_like = (images.dtype == np.uint8 and images.ndim == 4 and min(images.shape[1:]) > 0
                  and 3 in (images.shape[-1], images.shape[1]))
    state_like = images.dtype == np.float32 and images.ndim == 2 and images.shape[1] > 0
    if not (image_like or state_like) or len(images) != T + 1:
        return (f"images must be uint8 (T+1, H, W, 3) or float32 (T+1, D) with T={T}; "
                f"got {images.dtype} {images.shape}")
    for k in ("rewards", "shaped_rewards", "sparse_rewards", "success"):
        if np.shape(ep[k]) != (T + 1,):
            return f"{k} must have shape (T+1,)=({T + 1},); got {np.shape(ep[k])}"
    for k in ("images", "actions", "rewards", "shaped_rewards", "sparse_rewards"):
        a = np.asarray(ep[k])
        if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
            bad = np.flatnonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))
            return f"{k} are not finite at step(s) {bad[:5].tolist()}{' ...' if len(bad) > 5 else ''}"
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            return f"{k} must be numeric; got {a.dtype}"
    return None


def nonfinite_tensors(named: Iterable[tuple[str, object]]) -> list[str]:
    """Names of the tensors (torch or numpy) among `named` that hold a NaN or an infinity."""
    import torch
    bad = []
    for name, t in named:
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad.append(name)
        elif isinstance(t, np.ndarray) and np.issubdtype(t.dtype, np.floating) and not np.all(np.isfinite(t)):
            bad.append(name)
    return bad
