"""One episode of a trial, advanced one control tick at a time: the policy node's math, without ROS.

The node feeds it the newest frame and reward at every tick of its 3.3 Hz timer and sends the
action it returns. The bookkeeping is exactly that of the trainer's own loop
(`MetaTrainer.collect_trial`), so an episode recorded on the robot and one recorded in-process
are the same kind of data:

    tick 0:   x_0 (reward 0), belief b_0 = filter(x_0; is_first only in part 1), act a_0
    tick t:   x_t, r_t (the reward that came with x_t), b_t = filter(b_{t-1}, x_t, r_t, a_{t-1}), act a_t
    tick T:   x_T, r_T, b_T; the episode is complete (T+1 frames, T actions)
"""
from __future__ import annotations

import numpy as np
import torch

from .checkpoint import Policy
from .episode_protocol import EpisodeRequest
from .filter import Belief


class EpisodeRunner:
    """Records one episode and decides its actions."""

    def __init__(self, request: EpisodeRequest, policy: Policy | None, action_high: np.ndarray,
                 rng: np.random.Generator, carried: Belief | None = None, particles: int = 1):
        if request.mode == "policy" and policy is None:
            raise ValueError("a policy episode needs a loaded checkpoint")
        if request.part > 1 and request.mode == "policy" and carried is None:
            raise ValueError(f"part {request.part} of trial {request.trial_index} needs the belief of the part before it, "
                             "which this policy no longer holds (restarted?); start the trial again")
        self.request = request
        self.policy = policy
        self.high = np.asarray(action_high, dtype=np.float32)
        self.rng = rng
        self.belief = carried
        self.particles = max(1, particles)
        self.prev_action = np.zeros_like(self.high)
        self.images: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.shaped: list[float] = []
        self.sparse: list[float] = []
        self.success: list[bool] = []
        self.predicted: tuple[float, float] | None = None

    @property
    def t(self) -> int:
        """Frames recorded so far."""
        return len(self.images)

    @property
    def done(self) -> bool:
        return self.t == self.request.steps + 1

    def tick(self, frame: np.ndarray, shaped: float, sparse: float) -> np.ndarray | None:
        """Record x_t with the reward that came with it; the action a_t, or None once complete."""
        if self.done:
            raise RuntimeError("the episode is already complete")
        first = self.t == 0
        if not (np.isfinite(shaped) and np.isfinite(sparse)):  # the node drops these; never record one
            raise ValueError(f"non-finite reward (shaped {shaped}, sparse {sparse}) at step {self.t}")
        r_shaped, r_sparse = (0.0, 0.0) if first else (float(shaped), float(sparse))
        r_in = r_sparse if self.request.reward_input == "sparse" else r_shaped
        self.images.append(np.ascontiguousarray(frame, dtype=np.uint8))
        self.rewards.append(r_in)
        self.shaped.append(r_shaped)
        self.sparse.append(r_sparse)
        self.success.append(bool(r_sparse > 0.0) and not first)
        if self.request.mode == "policy":
            is_first = first and self.request.part == 1
            # The first step makes the particles; later steps share one encoding of the frame.
            x = np.broadcast_to(frame, (self.particles, *frame.shape)) if self.belief is None or is_first else frame
            self.belief = self.policy.filter.step(self.belief, x, r_in, self.prev_action, is_first=is_first)
            with torch.inference_mode():
                r_hat = self.policy.filter.predicted_reward(self.belief)
            self.predicted = (float(r_hat.mean()), float(r_hat.std()) if self.particles > 1 else 0.0)
        if self.done:
            return None
        if self.request.mode == "random":
            action = self.rng.uniform(-self.high, self.high).astype(np.float32)
        else:
            action = self.policy.actor.act(self.belief.features[:1], deterministic=self.request.deterministic)[0]
            action = np.clip(np.asarray(action, dtype=np.float32), -self.high, self.high)
        if not np.all(np.isfinite(action)):
            raise FloatingPointError(f"the actor produced a non-finite action {action.tolist()} from finite inputs: "
                                     "the checkpoint's weights are not finite (training diverged); the episode is "
                                     "abandoned and the arm held")
        self.actions.append(action)
        self.prev_action = action
        return action

    def episode(self) -> dict:
        """The recorded episode in the episode-file layout (meld_policy.episode_io)."""
        if not self.done:
            raise RuntimeError(f"episode incomplete: {self.t} of {self.request.steps + 1} frames")
        return {"images": np.stack(self.images), "actions": np.stack(self.actions).astype(np.float32),
                "rewards": np.asarray(self.rewards, np.float32), "shaped_rewards": np.asarray(self.shaped, np.float32),
                "sparse_rewards": np.asarray(self.sparse, np.float32), "success": np.asarray(self.success, bool)}
