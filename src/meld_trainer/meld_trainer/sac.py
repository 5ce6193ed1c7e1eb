"""SAC on belief features: two Q networks with Polyak targets, the tanh-Gaussian actor, entropy tuning.

The features come from the model under torch.no_grad() (see MetaTrainer.ac_batch): no actor-critic
gradient reaches the model. Actions here are normalised to [-1, 1] (env action / action_scale).
"""
from __future__ import annotations

import copy

import torch
from torch import nn
import torch.nn.functional as F

from meld_policy.actor import Actor
from meld_policy.networks import mlp

from .config import SACConfig


class QNetwork(nn.Module):
    """Q(b, a) for belief features b and normalised action a."""

    def __init__(self, feature_dim: int, action_dim: int, cfg: SACConfig):
        super().__init__()
        self.net = mlp(feature_dim + action_dim, 1, cfg.hidden_dim, cfg.hidden_layers, act=nn.ReLU)

    def forward(self, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([b, a], dim=-1)).squeeze(-1)


class SAC(nn.Module):
    """Holds actor, qf1, qf2, their targets, log_alpha and the three optimizers."""

    def __init__(self, actor: Actor, feature_dim: int, cfg: SACConfig, fast: bool = False):
        super().__init__()
        self.cfg = cfg
        self.actor = actor
        A = actor.action_dim
        self.qf1 = QNetwork(feature_dim, A, cfg)
        self.qf2 = QNetwork(feature_dim, A, cfg)
        self.qf1_target = copy.deepcopy(self.qf1).requires_grad_(False)
        self.qf2_target = copy.deepcopy(self.qf2).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(float(torch.log(torch.tensor(cfg.init_alpha)))))
        self.target_entropy = float(-A if cfg.target_entropy is None else cfg.target_entropy)
        # fast: fused Adam, one pass over all of an optimizer's parameters (same math)
        self.optimizer_flags = {"fused": True if fast else None, "foreach": None, "capturable": False}
        kw = {"fused": True} if fast else {}
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr, **kw)
        self.critic_opt = torch.optim.Adam(list(self.qf1.parameters()) + list(self.qf2.parameters()), lr=cfg.critic_lr, **kw)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr, **kw)
        self._skipped_host = 0
        self._skipped_dev: torch.Tensor | None = None  # fused Adam skips on the device, without a host sync

    @property
    def skipped(self) -> int:
        """Critic, actor or temperature steps skipped because a loss or gradient was not finite (reading syncs)."""
        return self._skipped_host + (0 if self._skipped_dev is None else int(self._skipped_dev.item()))

    def _step(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor | float:
        """opt.step() unless the loss or a gradient is not finite (that net and its Adam untouched); returns 1 if skipped.

        Fused Adam (the fast path) takes the verdict as a device tensor (`found_inf`, as under a GradScaler):
        no host sync per update. Otherwise one sync, after backward.
        """
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        norms = torch._foreach_norm(grads) if grads else []
        total = torch.stack([loss.detach().reshape(()), *[n.reshape(()) for n in norms]]).sum()
        if self.optimizer_flags["fused"]:
            found_inf = (~torch.isfinite(total)).float()
            opt.grad_scale, opt.found_inf = None, found_inf
            try:
                opt.step()
            finally:
                del opt.grad_scale, opt.found_inf
            self._skipped_dev = found_inf.clone() if self._skipped_dev is None else self._skipped_dev + found_inf
            return found_inf
        if not bool(torch.isfinite(total)):
            opt.zero_grad(set_to_none=True)
            self._skipped_host += 1
            return 1.0
        opt.step()
        return 0.0

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp().detach()

    def td_error(self, b, a, r, b_next, not_done) -> torch.Tensor:
        """Mean squared TD error of both Q networks on a batch (for tests and logging)."""
        with torch.no_grad():
            q_target = self._q_target(r, b_next, not_done)
            return 0.5 * (((self.qf1(b, a) - q_target) ** 2).mean() + ((self.qf2(b, a) - q_target) ** 2).mean())

    def _q_target(self, r, b_next, not_done) -> torch.Tensor:
        a_next, log_pi_next = self.actor.sample(b_next)
        q_next = torch.min(self.qf1_target(b_next, a_next), self.qf2_target(b_next, a_next)) - self.alpha * log_pi_next
        return r + self.cfg.gamma * not_done * q_next

    def update(self, b: torch.Tensor, a: torch.Tensor, r: torch.Tensor, b_next: torch.Tensor,
               not_done: torch.Tensor) -> dict[str, torch.Tensor]:
        """One SAC step on transitions (b_t, a_t, r_{t+1}, b_{t+1}); returns scalars for logging."""
        # Critic: Q(b_t, a_t) -> r_{t+1} + gamma * (min Q_target(b_{t+1}, a') - alpha log pi(a' | b_{t+1})).
        with torch.no_grad():
            q_target = self._q_target(r, b_next, not_done)
        qf1_loss = F.mse_loss(self.qf1(b, a), q_target)
        qf2_loss = F.mse_loss(self.qf2(b, a), q_target)
        self.critic_opt.zero_grad(set_to_none=True)
        (qf1_loss + qf2_loss).backward()
        skipped = self._step(self.critic_opt, qf1_loss + qf2_loss)
        # Actor: minimise alpha log pi(a | b_t) - min Q(b_t, a), a reparameterised.
        a_pi, log_pi = self.actor.sample(b)
        q_pi = torch.min(self.qf1(b, a_pi), self.qf2(b, a_pi))
        actor_loss = (self.alpha * log_pi - q_pi).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        skipped = skipped + self._step(self.actor_opt, actor_loss)
        # Temperature: keep the policy's entropy near the target.
        alpha_loss = -(self.log_alpha * (log_pi.detach() + self.target_entropy)).mean()
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        skipped = skipped + self._step(self.alpha_opt, alpha_loss)
        with torch.no_grad():
            for net, target in ((self.qf1, self.qf1_target), (self.qf2, self.qf2_target)):
                for p, p_t in zip(net.parameters(), target.parameters()):
                    p_t.lerp_(p, self.cfg.tau)
        # Detached tensors, not floats: reading them waits for the device, so callers do it once per log line.
        return {"sac/qf1_loss": qf1_loss.detach(), "sac/qf2_loss": qf2_loss.detach(), "sac/actor_loss": actor_loss.detach(),
                "sac/alpha": self.alpha, "sac/alpha_loss": alpha_loss.detach(), "sac/entropy": -log_pi.detach().mean(),
                "sac/q_mean": q_pi.detach().mean(), "sac/skipped": skipped}

    def optimizer_state(self) -> dict:
        return {"actor": self.actor_opt.state_dict(), "critic": self.critic_opt.state_dict(),
                "alpha": self.alpha_opt.state_dict()}

    def load_optimizer_state(self, state: dict) -> None:
        self.actor_opt.load_state_dict(state["actor"])
        self.critic_opt.load_state_dict(state["critic"])
        self.alpha_opt.load_state_dict(state["alpha"])
