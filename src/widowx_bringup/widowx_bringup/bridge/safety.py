"""Input checks of the bridge, plain functions so each rule is tested without ROS."""
from __future__ import annotations

import math

import numpy as np


def reorder(names_in: list[str], values: list[float], names_out: tuple[str, ...]) -> np.ndarray:
    """Values for `names_out` picked by name from a message (JointState order is not guaranteed)."""
    index = {n: i for i, n in enumerate(names_in)}
    missing = [n for n in names_out if n not in index]
    if missing:
        raise KeyError(f"joints {missing} missing from the message (it has {names_in})")
    if len(values) < len(names_in):
        raise ValueError(f"message lists {len(names_in)} names but only {len(values)} values")
    return np.array([values[index[n]] for n in names_out], dtype=float)


def joint_state_problem(q: np.ndarray) -> str | None:
    """Why a joint-state reading must not be used, or None. A failed Dynamixel bus read shows up
    as -pi on every joint (NaN in newer drivers); either would make the PID lunge."""
    if not np.all(np.isfinite(q)):
        return f"non-finite joint positions {np.round(q, 4).tolist()} (failed bus read?)"
    if q.size and np.allclose(q, -math.pi, atol=1e-6):
        return "every joint reads -pi: the driver's sign of a failed bus read"
    return None


def command_problem(v: np.ndarray, expected: int) -> str | None:
    """Why a velocity command must be rejected, or None."""
    if v.shape != (expected,):
        return f"{v.size} values, expected {expected}"
    if not np.all(np.isfinite(v)):
        return f"non-finite values {v.tolist()}"
    return None
