"""Building blocks of the latent state model: conv encoder/decoder, MLPs, Gaussian heads."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def mlp(in_dim: int, out_dim: int, hidden_dim: int, hidden_layers: int, act=nn.LeakyReLU) -> nn.Sequential:
    """hidden_layers x (Linear + activation), then a linear output."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(hidden_layers):
        layers += [nn.Linear(d, hidden_dim), act(0.2) if act is nn.LeakyReLU else act()]
        d = hidden_dim
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class GaussianMLP(nn.Module):
    """Diagonal Gaussian whose mean and std are an MLP of the inputs; std = softplus + 1e-5 as in SLAC."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int, hidden_layers: int):
        super().__init__()
        self.net = mlp(in_dim, 2 * out_dim, hidden_dim, hidden_layers)
        self.out_dim = out_dim

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(torch.cat(inputs, dim=-1) if len(inputs) > 1 else inputs[0])
        mean, raw_std = h.split(self.out_dim, dim=-1)
        return mean, F.softplus(raw_std) + 1e-5


class ConvEncoder(nn.Module):
    """Five conv layers, filters d-2d-4d-8d-8d, kernels 5-3-3-3-4 (the last 4x8 for 64x128 images): image -> vector."""

    def __init__(self, base_depth: int, image_width: int):
        super().__init__()
        d = base_depth
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        self.net = nn.Sequential(
            nn.Conv2d(3, d, 5, 2, 2), act(),            # 64 x W    -> 32 x W/2
            nn.Conv2d(d, 2 * d, 3, 2, 1), act(),        # -> 16 x W/4
            nn.Conv2d(2 * d, 4 * d, 3, 2, 1), act(),    # -> 8 x W/8
            nn.Conv2d(4 * d, 8 * d, 3, 2, 1), act(),    # -> 4 x W/16
            nn.Conv2d(8 * d, 8 * d, (4, image_width // 16)), act(),  # -> 1 x 1 (rectangular for two cameras)
        )
        self.feature_dim = 8 * d

        self.fast = False
        """Fast path (same math, same parameters): channels-last convolutions, and the last layer, whose
        kernel covers its whole 4 x W/16 input, as one matrix product."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, 64, W) float in [-0.5, 0.5] -> (N, 8d)."""
        if not self.fast:
            return self.net(x).flatten(1)
        h = self.net[:-2](x.contiguous(memory_format=torch.channels_last))
        last: nn.Conv2d = self.net[-2]
        h = F.linear(h.contiguous().flatten(1), last.weight.flatten(1), last.bias)
        return F.leaky_relu(h, 0.2)


class ConvDecoder(nn.Module):
    """The encoder's transpose: latent [z1, z2] -> pixel means (N, 3, 64, W)."""

    def __init__(self, in_dim: int, base_depth: int, image_width: int):
        super().__init__()
        d = base_depth
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        self.net = nn.Sequential(
            nn.ConvTranspose2d(in_dim, 8 * d, (4, image_width // 16)), act(),   # 1x1 -> 4 x W/16
            nn.ConvTranspose2d(8 * d, 4 * d, 3, 2, 1, output_padding=1), act(),  # -> 8 x W/8
            nn.ConvTranspose2d(4 * d, 2 * d, 3, 2, 1, output_padding=1), act(),  # -> 16 x W/4
            nn.ConvTranspose2d(2 * d, d, 3, 2, 1, output_padding=1), act(),      # -> 32 x W/2
            nn.ConvTranspose2d(d, 3, 5, 2, 2, output_padding=1),                 # -> 64 x W
        )

        self.fast = False
        """Fast path (same math, same parameters): the first layer, a transposed conv of a 1 x 1 input, as
        one matrix product, and channels-last convolutions after it."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if not self.fast:
            return self.net(z[:, :, None, None])
        first: nn.ConvTranspose2d = self.net[0]
        c_in, c_out, kh, kw = first.weight.shape
        h = (z @ first.weight.reshape(c_in, -1)).reshape(-1, c_out, kh, kw) + first.bias[:, None, None]
        h = F.leaky_relu(h, 0.2).contiguous(memory_format=torch.channels_last)
        return self.net[2:](h).contiguous()


class MLPEncoder(nn.Module):
    """The state rung's encoder: an observation vector -> a feature of the conv encoder's size (8d)."""

    def __init__(self, obs_dim: int, base_depth: int):
        super().__init__()
        self.feature_dim = 8 * base_depth
        self.net = nn.Sequential(mlp(obs_dim, self.feature_dim, self.feature_dim, 2), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    """The MLP encoder's counterpart: latent [z1, z2] -> observation mean (N, obs_dim)."""

    def __init__(self, in_dim: int, obs_dim: int, base_depth: int):
        super().__init__()
        self.net = mlp(in_dim, obs_dim, 8 * base_depth, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def images_to_float(images_uint8: torch.Tensor) -> torch.Tensor:
    """(..., H, W, 3) uint8 -> (..., 3, H, W) float32 in [-0.5, 0.5]."""
    # contiguous: a channels-last view sends the conv down a path about 10x slower on the CPU
    x = images_uint8.movedim(-1, -3).to(torch.float32).contiguous()
    return x / 255.0 - 0.5
