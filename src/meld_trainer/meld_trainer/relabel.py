"""Hindsight task relabelling of the model's training trials (`train.model_reward_relabel`).

On the state rung the policy soon heads for the goal port it guesses, so in the replay where the arm
went and which port paid go together, and a model can predict the rewards from the path rather than
from the rewards it was shown: its belief then holds the port poorly once rewards are withheld
(docs/meld.md, the leave probe). Scoring some trials as if another port had been the goal, from the
plug's pose in each recorded observation, shows the model every path under every goal (hindsight
task relabelling: Packer et al., NeurIPS 2021; Li et al., "Generalized Hindsight", NeurIPS 2020).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

PortRewards = Callable[[np.ndarray], np.ndarray]
"""Observations (..., D) to the shaped reward of every port there (..., ports): the env's `port_rewards`."""


def relabel_trials(obs: torch.Tensor, rewards: torch.Tensor, transition_valid: torch.Tensor,
                   port_rewards: PortRewards, p: float, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
    """Rewards (B, L) with each trial, with probability p, rescored for a port drawn uniformly.

    Returns the new rewards and the port given to each trial (-1: kept as collected). A frame that
    opens an episode keeps its reward of 0 (the filter's first tick has none); obs (B, L, D) are the
    state vectors and transition_valid (B, L-1) is False across the episode boundary of a trial.
    """
    picks = np.flatnonzero(rng.random(rewards.shape[0]) < p)
    chosen = np.full(rewards.shape[0], -1)
    if picks.size == 0:
        return rewards, chosen
    table = port_rewards(obs[picks].detach().cpu().numpy())  # (n, L, ports)
    ports = rng.integers(table.shape[-1], size=picks.size)
    chosen[picks] = ports
    new = torch.as_tensor(table[np.arange(picks.size), :, ports], dtype=rewards.dtype, device=rewards.device)
    first = torch.ones_like(rewards, dtype=torch.bool)
    first[:, 1:] = ~transition_valid.to(torch.bool)
    out = rewards.clone()
    out[picks] = torch.where(first[picks], torch.zeros_like(new), new)
    return out, chosen
