"""The belief filter: MELD's posterior one control step at a time, with the recurrent state as a value.

    filt = BeliefFilter(model)
    belief = filt.step(None, image_uint8_64x128x3, reward=0.0, prev_action=None, is_first=True)
    action = actor.act(belief.features, deterministic=True)
    belief = filt.step(belief, next_image, reward, action, is_first=False)

`is_first` is True only at the start of a trial (the belief runs straight through the episode
boundary inside a 2-episode trial). The math is `LatentModel.posterior_step`, the same call the batch
ELBO makes, so the step-by-step belief equals batch inference.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import LatentModel


@dataclass(frozen=True)
class Belief:
    """b_t = q(z_t | x_0:t, r_0:t, a_0:t-1): samples carried to the next step and the actor's features."""

    z1: torch.Tensor        # (B, z1_dim) sample of z1_t
    z2: torch.Tensor        # (B, z2_dim) sample of z2_t, the recurrent part
    features: torch.Tensor  # (B, feature_dim) [mean1, std1, mean2, std2]
    t: int                  # steps since the trial started (0 at the first frame)


def _as_tensor(x, dtype, device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    x = np.asarray(x)
    if not x.flags.writeable:
        x = x.copy()  # e.g. np.broadcast_to views; torch refuses to wrap read-only memory silently
    return torch.as_tensor(x, dtype=dtype, device=device)


class BeliefFilter:
    """Wraps a LatentModel for online filtering; stateless itself, so one filter serves any number of beliefs."""

    def __init__(self, model: LatentModel):
        self.model = model
        self.device = next(model.parameters()).device

    @torch.inference_mode()
    def step(self, belief: Belief | None, image, reward, prev_action, is_first: bool,
             eps1: torch.Tensor | None = None, eps2: torch.Tensor | None = None) -> Belief:
        """New belief from the frame x_t (uint8 (H, W, 3) or (B, H, W, 3); a state vector (D,) or (B, D) for an
        'mlp' model), the reward r_t that came with
        it (0 at a reset) and the action a_{t-1} that led to it (ignored when is_first)."""
        img = _as_tensor(image, self.model.obs_dtype, self.device)
        if img.dim() == self.model.obs_ndim:
            img = img.unsqueeze(0)
        # One frame for many belief samples: encode it once and share the feature (the conv pass
        # is most of a step's cost; the policy node filters several particles of one camera frame).
        B = img.shape[0] if belief is None or is_first else max(img.shape[0], belief.z2.shape[0])
        e_t = self.model.encode(img)
        if e_t.shape[0] != B:
            e_t = e_t.expand(B, *e_t.shape[1:])
        r = _as_tensor(reward, torch.float32, self.device).reshape(-1).expand(B)
        h_t = self.model.evidence(e_t, r)
        if is_first or belief is None:
            s = self.model.posterior_step(h_t, None, None, eps1, eps2)
            t = 0
        else:
            a = _as_tensor(prev_action, torch.float32, self.device)
            a = a.reshape(1, -1).expand(B, -1) if a.dim() == 1 else a.reshape(B, -1)
            s = self.model.posterior_step(h_t, belief.z2, a, eps1, eps2)
            t = belief.t + 1
        return Belief(z1=s.z1, z2=s.z2, features=s.features(), t=t)

    @torch.inference_mode()
    def predicted_reward(self, belief: Belief) -> torch.Tensor:
        """Mean of p(r_t | z1_t, z2_t) for each belief sample (B,)."""
        return self.model.predict_reward(belief.z1, belief.z2)
