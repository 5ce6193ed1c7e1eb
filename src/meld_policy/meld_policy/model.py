"""MELD's latent state model: SLAC's two latent layers with rewards as evidence.

Per trial, frames x_0..x_{L-1}, actions a_0..a_{L-2} (a_t acts after x_t; inside a 2-episode trial the
action across the episode boundary is zero) and rewards r_0..r_{L-1} (r_t arrived with x_t; 0 at a reset).

  posterior   q(z1_0 | e_0, r_0)                       q(z1_t | e_t, r_t, z2_{t-1}, a_{t-1})
  prior       p(z1_0) = N(0, I)                        p(z1_t | z2_{t-1}, a_{t-1})
  both        p(z2_0 | z1_0)                           p(z2_t | z1_t, z2_{t-1}, a_{t-1})
  decoders    p(x_t | z1_t, z2_t) Gaussian, fixed var  p(r_t | z1_t, z2_t) Gaussian, fixed std

e_t is the conv feature of x_t; the reward is tiled `reward_tile` times and enters only the z1 posterior
(the SLAC switch `reward_input=False` drops it). Only z1 carries a KL, computed analytically; the prior
is evaluated at the posterior's z2_{t-1}. The filter runs straight through the episode boundary inside
a trial. `posterior_step` is the single step both the batch ELBO and the online filter call, so the two
agree by construction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .config import ModelConfig
from .networks import ConvDecoder, ConvEncoder, GaussianMLP, MLPDecoder, MLPEncoder, images_to_float, mlp


@dataclass
class PosteriorStep:
    """One filter step's output: the z1 posterior and prior, the z2 distribution, and the samples."""

    mean1: torch.Tensor  # q(z1_t | ...) mean, (B, z1)
    std1: torch.Tensor
    z1: torch.Tensor     # sample of z1_t
    mean2: torch.Tensor  # p(z2_t | z1_t, z2_{t-1}, a_{t-1}) mean, (B, z2)
    std2: torch.Tensor
    z2: torch.Tensor     # sample of z2_t
    prior_mean1: torch.Tensor  # p(z1_t | z2_{t-1}, a_{t-1}) (zeros/ones at t = 0)
    prior_std1: torch.Tensor

    def features(self) -> torch.Tensor:
        """Belief features for the actor and critic: [mean1, std1, mean2, std2]."""
        return torch.cat([self.mean1, self.std1, self.mean2, self.std2], dim=-1)


def gaussian_kl(mean_q, std_q, mean_p, std_p) -> torch.Tensor:
    """KL(N(mean_q, std_q) || N(mean_p, std_p)) summed over the last dim, analytically."""
    var_ratio = (std_q / std_p) ** 2
    t1 = ((mean_q - mean_p) / std_p) ** 2
    return 0.5 * (var_ratio + t1 - 1.0 - torch.log(var_ratio)).sum(-1)


class LatentModel(nn.Module):
    """Encoder, decoders, priors and posteriors of MELD; `loss` is the negative ELBO over whole trials."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg
        conv = c.encoder == "conv"
        self.encoder = ConvEncoder(c.base_depth, c.image_width) if conv else MLPEncoder(c.obs_dim, c.base_depth)
        fdim = self.encoder.feature_dim
        rdim = (c.reward_tile + (1 if c.reward_input_dropout > 0 else 0)) if c.reward_input else 0
        h, n = c.hidden_dim, c.hidden_layers
        self.z1_posterior_first = GaussianMLP(fdim + rdim, c.z1_dim, h, n)                   # q(z1_0 | e_0, r_0)
        self.z1_posterior = GaussianMLP(fdim + rdim + c.z2_dim + c.action_dim, c.z1_dim, h, n)  # q(z1_t | e_t, r_t, z2_{t-1}, a_{t-1})
        self.z1_prior = GaussianMLP(c.z2_dim + c.action_dim, c.z1_dim, h, n)                  # p(z1_t | z2_{t-1}, a_{t-1})
        self.z2_first = GaussianMLP(c.z1_dim, c.z2_dim, h, n)                                 # p(z2_0 | z1_0)
        self.z2_next = GaussianMLP(c.z1_dim + c.z2_dim + c.action_dim, c.z2_dim, h, n)        # p(z2_t | z1_t, z2_{t-1}, a_{t-1})
        self.decoder = (ConvDecoder(c.z1_dim + c.z2_dim, c.base_depth, c.image_width) if conv   # p(x_t | z1_t, z2_t)
                        else MLPDecoder(c.z1_dim + c.z2_dim, c.obs_dim, c.base_depth))
        self.reward_decoder = mlp(c.z1_dim + c.z2_dim, 1, h, n)                              # p(r_t | z1_t, z2_t) mean

    # ----- inputs -------------------------------------------------------------------------------
    @property
    def obs_ndim(self) -> int:
        """Dimensions of one observation: 3 for (H, W, 3) images, 1 for state vectors."""
        return len(self.cfg.obs_shape)

    @property
    def obs_dtype(self) -> torch.dtype:
        return torch.uint8 if self.cfg.encoder == "conv" else torch.float32

    def obs_to_float(self, obs: torch.Tensor) -> torch.Tensor:
        """What the encoder reads and the decoder reconstructs: images (..., 3, H, W) in [-0.5, 0.5], vectors as they are."""
        return images_to_float(obs) if self.cfg.encoder == "conv" else obs.to(torch.float32)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """(..., *obs_shape) -> (..., F) features; all frames in one encoder call."""
        return self.encode_float(self.obs_to_float(obs))

    def encode_float(self, x: torch.Tensor) -> torch.Tensor:
        """Features of observations already through `obs_to_float` ((..., 3, H, W) or (..., D))."""
        n = self.obs_ndim
        lead = x.shape[:-n]
        return self.encoder(x.reshape(-1, *x.shape[-n:])).reshape(*lead, -1)

    def set_fast(self, fast: bool) -> None:
        """Switch the encoder and decoder to their fast forms (same parameters and math; see networks.py)."""
        for m in (self.encoder, self.decoder):
            if hasattr(m, "fast"):
                m.fast = fast
            for act in m.modules():  # activations of conv outputs in place: less memory traffic
                if isinstance(act, nn.LeakyReLU):
                    act.inplace = fast

    def evidence(self, e_t: torch.Tensor, r_t: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        """[e_t, r_t tiled]: what the z1 posterior sees of frame t (without r_t for the SLAC switch).

        With `reward_input_dropout` > 0 a presence flag follows: `present` (same shape as r_t, 1 or 0)
        says which rewards the posterior is given; None means all of them (the filter)."""
        if not self.cfg.reward_input:
            return e_t
        r_t = r_t * self.cfg.reward_input_scale
        if self.cfg.reward_input_dropout == 0:
            return torch.cat([e_t, r_t.unsqueeze(-1).expand(*r_t.shape, self.cfg.reward_tile)], dim=-1)
        present = torch.ones_like(r_t) if present is None else present.to(r_t.dtype)
        r_t = r_t * present
        return torch.cat([e_t, r_t.unsqueeze(-1).expand(*r_t.shape, self.cfg.reward_tile), present.unsqueeze(-1)], dim=-1)

    # ----- one step -----------------------------------------------------------------------------
    def posterior_step(self, h_t: torch.Tensor, z2_prev: torch.Tensor | None, a_prev: torch.Tensor | None,
                       eps1: torch.Tensor | None = None, eps2: torch.Tensor | None = None) -> PosteriorStep:
        """z(t) from evidence h_t = [e_t, r_t] and (z2_{t-1}, a_{t-1}); z2_prev None means the first step of a trial.

        eps1/eps2: standard normal noise for the samples (drawn here when None); passing them makes the
        step reproducible, which is how the filter test compares it with the batch posterior.
        """
        if eps1 is None:
            eps1 = torch.randn(h_t.shape[0], self.cfg.z1_dim, device=h_t.device)
        if eps2 is None:
            eps2 = torch.randn(h_t.shape[0], self.cfg.z2_dim, device=h_t.device)
        if z2_prev is None:  # t = 0
            mean1, std1 = self.z1_posterior_first(h_t)
            z1 = mean1 + std1 * eps1
            mean2, std2 = self.z2_first(z1)
            prior_mean1, prior_std1 = torch.zeros_like(mean1), torch.ones_like(std1)
        else:
            mean1, std1 = self.z1_posterior(h_t, z2_prev, a_prev)
            z1 = mean1 + std1 * eps1
            mean2, std2 = self.z2_next(z1, z2_prev, a_prev)
            prior_mean1, prior_std1 = self.z1_prior(z2_prev, a_prev)
        z2 = mean2 + std2 * eps2
        return PosteriorStep(mean1, std1, z1, mean2, std2, z2, prior_mean1, prior_std1)

    # ----- whole trials -------------------------------------------------------------------------
    def posterior(self, images: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                  eps1: torch.Tensor | None = None, eps2: torch.Tensor | None = None,
                  x: torch.Tensor | None = None, present: torch.Tensor | None = None) -> list[PosteriorStep]:
        """Filter whole trials: images (B, L, H, W, 3) uint8, actions (B, L-1, A), rewards (B, L) -> L steps.

        The conv encoder runs over all B*L frames at once; only the small MLPs run step by step.
        x: the frames already through `obs_to_float` (the loss needs them too), or None.
        present: (B, L) which rewards the posterior sees (`reward_input_dropout`); None: all.
        """
        B, L = images.shape[:2]
        e = self.encode(images) if x is None else self.encode_float(x)
        h = self.evidence(e, rewards, present)  # (B, L, F + R)
        if eps1 is None:
            eps1 = torch.randn(B, L, self.cfg.z1_dim, device=h.device)
        if eps2 is None:
            eps2 = torch.randn(B, L, self.cfg.z2_dim, device=h.device)
        steps: list[PosteriorStep] = []
        z2_prev = None
        for t in range(L):
            a_prev = actions[:, t - 1] if t > 0 else None
            s = self.posterior_step(h[:, t], z2_prev, a_prev, eps1[:, t], eps2[:, t])
            steps.append(s)
            z2_prev = s.z2
        return steps

    @staticmethod
    def stack(steps: list[PosteriorStep], name: str) -> torch.Tensor:
        return torch.stack([getattr(s, name) for s in steps], dim=1)

    def features(self, images, actions, rewards) -> torch.Tensor:
        """Belief features (B, L, feature_dim) of whole trials."""
        return torch.stack([s.features() for s in self.posterior(images, actions, rewards)], dim=1)

    def loss(self, images: torch.Tensor, actions: torch.Tensor, rewards_in: torch.Tensor,
             rewards_target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Negative ELBO per frame, averaged over batch and time.

        rewards_in feed the posterior (the sparse reward for sparse tasks); rewards_target are
        reconstructed (the shaped reward, paper Appendix C). With `reward_input_dropout` > 0 some rewards
        are withheld from the posterior (`reward_presence`: single frames or a trial's suffix) and
        still reconstructed.
        """
        x = self.obs_to_float(images)                                   # (B, L, 3, H, W) or (B, L, D)
        withholds = self.cfg.reward_input and self.cfg.reward_input_dropout > 0
        present = self.reward_presence(rewards_in) if withholds else None
        steps = self.posterior(images, actions, rewards_in, x=x, present=present)
        z1 = self.stack(steps, "z1")
        z2 = self.stack(steps, "z2")
        z = torch.cat([z1, z2], dim=-1)                                 # (B, L, z1 + z2)
        B, L = z.shape[:2]
        x_mean = self.decoder(z.reshape(B * L, -1)).reshape(x.shape)
        var = self.cfg.pixel_var
        n_pix = x[0, 0].numel()
        log_px = -0.5 * ((x - x_mean) ** 2).flatten(2).sum(-1) / var - 0.5 * n_pix * math.log(2 * math.pi * var)
        r_mean = self.reward_decoder(z).squeeze(-1)
        rs = self.cfg.reward_std
        log_pr = -0.5 * ((rewards_target - r_mean) / rs) ** 2 - math.log(rs * math.sqrt(2 * math.pi))
        kl = gaussian_kl(self.stack(steps, "mean1"), self.stack(steps, "std1"),
                         self.stack(steps, "prior_mean1"), self.stack(steps, "prior_std1"))
        loss = (-log_px - self.cfg.reward_loss_weight * log_pr + kl).mean()
        stats = {"model/loss": loss.detach(), "model/log_px": log_px.mean().detach(),
                 "model/log_pr": log_pr.mean().detach(), "model/kl_z1": kl.mean().detach(),
                 "model/reward_mse": ((rewards_target - r_mean) ** 2).mean().detach()}
        self._last_recon = (images[0].detach(), x_mean[0].detach())
        return loss, stats

    def reward_presence(self, rewards_in: torch.Tensor) -> torch.Tensor:
        """(B, L) 1 where a training trial's r_t reaches the posterior, 0 where it is withheld.

        'frame': each r_t withheld with probability `reward_input_dropout`; 'suffix': with that
        probability a trial's rewards are withheld from a cut drawn uniformly in 1..L-1 on."""
        p = self.cfg.reward_input_dropout
        if self.cfg.reward_input_dropout_mode == "frame":
            return torch.bernoulli(torch.full_like(rewards_in, 1.0 - p))
        B, L = rewards_in.shape
        cut = torch.randint(1, max(L, 2), (B, 1), device=rewards_in.device)
        cut = torch.where(torch.rand(B, 1, device=rewards_in.device) < p, cut, torch.full_like(cut, L))
        return (torch.arange(L, device=rewards_in.device) < cut).to(rewards_in.dtype)

    def predict_reward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """Mean of p(r_t | z1_t, z2_t)."""
        return self.reward_decoder(torch.cat([z1, z2], dim=-1)).squeeze(-1)
