"""The tanh-Gaussian SAC actor on belief features (no gradient ever reaches the model through it)."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .config import ActorConfig
from .networks import mlp


class Actor(nn.Module):
    """pi(a | b): a = action_scale * tanh(u), u ~ N(mu(b), sigma(b))."""

    def __init__(self, cfg: ActorConfig, feature_dim: int):
        super().__init__()
        self.cfg = cfg
        self.action_dim = len(cfg.action_scale)
        self.net = mlp(feature_dim, 2 * self.action_dim, cfg.hidden_dim, cfg.hidden_layers, act=nn.ReLU)
        self.register_buffer("action_scale", torch.tensor(cfg.action_scale, dtype=torch.float32))

    def _dist(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self.net(features).split(self.action_dim, dim=-1)
        return mu, log_std.clamp(self.cfg.log_std_min, self.cfg.log_std_max)

    def sample(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised action in [-1, 1]^A (normalised) and its log-probability log_pi (B,)."""
        mu, log_std = self._dist(features)
        std = log_std.exp()
        u = mu + std * torch.randn_like(mu)
        a = torch.tanh(u)
        # log N(u) - sum log(1 - tanh(u)^2), the latter in the stable form 2(log 2 - u - softplus(-2u)).
        log_pi = (-0.5 * ((u - mu) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_pi = log_pi - (2 * (math.log(2) - u - nn.functional.softplus(-2 * u))).sum(-1)
        return a, log_pi

    @torch.inference_mode()
    def act(self, features: torch.Tensor, deterministic: bool = False) -> np.ndarray:
        """Action in the env's units for belief features (F,) or (B, F); deterministic takes tanh(mean)."""
        if deterministic:
            a = torch.tanh(self._dist(features)[0])
        else:
            a = self.sample(features)[0]
        return (a * self.action_scale).cpu().numpy()
