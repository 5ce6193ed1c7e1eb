"""Hindsight task relabelling of the model's and the actor-critic's training trials
(`train.model_reward_relabel`, `train.ac_reward_relabel`).

On the state rung the policy soon heads for the goal port it guesses, so in the replay where the arm
went and which port paid go together, and a model can predict the rewards from the path rather than
from the rewards it was shown: its belief then holds the port poorly once rewards are withheld
(docs/meld.md, the leave probe). Scoring some trials as if another port had been the goal, from the
plug's pose in each recorded observation, shows the model every path under every goal (hindsight
task relabelling: Packer et al., NeurIPS 2021; Li et al., "Generalized Hindsight", NeurIPS 2020). The
arm and the router move the same whatever the goal, so a rescored trial is a trial of the other task,
for the actor-critic as much as for the model.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

PortRewards = Callable[[np.ndarray], np.ndarray]
"""Observations (..., D) to the reward every port would give there (..., ports): the env's `port_rewards`
(shaped) or `port_sparse_rewards` (link up)."""


def relabel_trials(obs: torch.Tensor, rewards: tuple[torch.Tensor, ...], transition_valid: torch.Tensor,
                   port_rewards: tuple[PortRewards, ...], p: float,
                   rng: np.random.Generator) -> tuple[tuple[torch.Tensor, ...], np.ndarray]:
    """Rewards (B, L) with each trial, with probability p, rescored for a port drawn uniformly.

    `rewards[i]` is rescored with `port_rewards[i]`, all for the same port of a trial (a sparse id's
    link-up evidence and its shaped target). Returns the new rewards and the port given to each trial
    (-1: kept as collected). A frame that opens an episode keeps its reward of 0 (the filter's first tick
    has none); obs (B, L, D) are the state vectors and transition_valid (B, L-1) is False across the
    episode boundary of a trial.
    """
    picks = np.flatnonzero(rng.random(rewards[0].shape[0]) < p)
    chosen = np.full(rewards[0].shape[0], -1)
    if picks.size == 0:
        return rewards, chosen
    seen = obs[picks].detach().cpu().numpy()
    first = torch.ones_like(rewards[0], dtype=torch.bool)
    first[:, 1:] = ~transition_valid.to(torch.bool)
    ports = None
    out = []
    for r, table_of in zip(rewards, port_rewards):
        table = table_of(seen)  # (n, L, ports)
        if ports is None:
            ports = rng.integers(table.shape[-1], size=picks.size)
            chosen[picks] = ports
        new = torch.as_tensor(table[np.arange(picks.size), :, ports], dtype=r.dtype, device=r.device)
        r = r.clone()
        r[picks] = torch.where(first[picks], torch.zeros_like(new), new)
        out.append(r)
    return tuple(out), chosen


def relabel_batch(batch: dict[str, torch.Tensor], port_rewards: PortRewards, port_sparse_rewards: PortRewards | None,
                  p: float, rng: np.random.Generator) -> np.ndarray:
    """Rescore a trainer's batch in place (`rewards_in`, `rewards_shaped`): on a dense id both are the
    shaped reward; on a sparse id (`port_sparse_rewards` given) the evidence is the link-up reward and the
    target the shaped one, both for the same drawn port. Returns the ports given (-1: kept)."""
    if port_sparse_rewards is None:
        (r,), chosen = relabel_trials(batch["images"], (batch["rewards_shaped"],), batch["transition_valid"],
                                      (port_rewards,), p, rng)
        batch["rewards_in"] = batch["rewards_shaped"] = r
    else:
        (batch["rewards_in"], batch["rewards_shaped"]), chosen = relabel_trials(
            batch["images"], (batch["rewards_in"], batch["rewards_shaped"]), batch["transition_valid"],
            (port_sparse_rewards, port_rewards), p, rng)
    return chosen
