"""The joint-level tracking law shared by the simulator and the real arm's PID bridge.

The policy commands joint velocities at 3.3 Hz. Between its commands, this law runs at 50-100 Hz:
it integrates the commanded velocity into a position target and sends the servos a velocity
that tracks the target (feed-forward + PI(D) on the position error). The Dynamixel servos run in
velocity mode, hold their last command forever and have no limit checks (shared/WIDOWX.md), so
the safety the arm needs lives here: finite inputs only, targets inside the joint limits,
outputs below the velocity limits, no outward motion near a limit, anti-windup when clamped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PIDConfig:
    """Gains and limits of the joint tracking law (per joint, all joints alike)."""

    rate_hz: float = 100.0
    """Rate the law runs at; the simulator and the bridge both step it at this rate."""
    kp: float = 6.0
    """Velocity correction per unit position error, (rad/s)/rad."""
    ki: float = 4.0
    """Integral gain, (rad/s)/(rad s): removes the sag that gravity gives a velocity servo."""
    kd: float = 0.0
    """Derivative gain on the measured velocity, (rad/s)/(rad/s); zero: the servo damps itself."""
    integral_limit: float = 0.3
    """Largest velocity the integral term may contribute, rad/s (anti-windup bound)."""
    max_lead: float = 0.15
    """Largest distance the target may run ahead of the measured joint, rad: a blocked joint
    (contact, hard stop) does not wind the target up and lunge when freed."""
    limit_margin: float = 0.02
    """Outward motion stops this close to a joint limit, rad."""
    velocity_scale: float = 0.95
    """Outputs are clamped to this fraction of each joint's velocity limit (servos reject, not
    clamp, commands above their Velocity_Limit)."""

    def __post_init__(self) -> None:
        if not 10.0 <= self.rate_hz <= 1000.0:
            raise ValueError(f"rate_hz={self.rate_hz}: use 50-100 Hz for the arm (10-1000 accepted)")
        for name in ("kp", "ki", "kd", "integral_limit", "max_lead", "limit_margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0")
        if not 0.0 < self.velocity_scale <= 1.0:
            raise ValueError(f"velocity_scale={self.velocity_scale} must be in (0, 1]")


class JointVelocityPID:
    """Velocity command in, servo velocity out; holds the integrated target and the integral."""

    def __init__(self, config: PIDConfig, lower: np.ndarray, upper: np.ndarray, velocity_limits: np.ndarray):
        self.config = config
        self.lower = np.asarray(lower, dtype=float) + config.limit_margin
        self.upper = np.asarray(upper, dtype=float) - config.limit_margin
        self.v_max = np.asarray(velocity_limits, dtype=float) * config.velocity_scale
        n = self.lower.shape[0]
        self.target = np.zeros(n)
        self.integral = np.zeros(n)

    def reset(self, q: np.ndarray) -> None:
        """Hold still at the measured position q (after homing, a reset or a restart)."""
        self.target = np.clip(np.asarray(q, dtype=float).copy(), self.lower, self.upper)
        self.integral = np.zeros_like(self.target)

    def update(self, v_cmd: np.ndarray, q: np.ndarray, dq: np.ndarray | None = None, dt: float | None = None) -> np.ndarray:
        """One tick: advance the target by v_cmd*dt and return the servo velocity command, rad/s."""
        cfg = self.config
        dt = 1.0 / cfg.rate_hz if dt is None else dt
        v_cmd = np.asarray(v_cmd, dtype=float)
        q = np.asarray(q, dtype=float)
        if not (np.all(np.isfinite(v_cmd)) and np.all(np.isfinite(q))):
            raise ValueError(f"non-finite input to the joint PID: v_cmd={v_cmd.tolist()} q={q.tolist()}")
        v_cmd = np.clip(v_cmd, -self.v_max, self.v_max)
        self.target = np.clip(self.target + v_cmd * dt, self.lower, self.upper)
        self.target = np.clip(self.target, q - cfg.max_lead, q + cfg.max_lead)
        error = self.target - q
        u_unsat = v_cmd + cfg.kp * error + self.integral
        if dq is not None and cfg.kd > 0:
            u_unsat = u_unsat - cfg.kd * (np.asarray(dq, dtype=float) - v_cmd)
        u = np.clip(u_unsat, -self.v_max, self.v_max)
        # No outward motion at a limit.
        u = np.where((q >= self.upper) & (u > 0), 0.0, u)
        u = np.where((q <= self.lower) & (u < 0), 0.0, u)
        # Conditional integration: freeze the integral on joints whose output is clamped in the
        # direction the error would push it further.
        saturated = (u != u_unsat) & (np.sign(error) == np.sign(u_unsat))
        self.integral = np.where(
            saturated,
            self.integral,
            np.clip(self.integral + cfg.ki * error * dt, -cfg.integral_limit, cfg.integral_limit),
        )
        return u
