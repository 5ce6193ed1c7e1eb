"""The latent model's update step: the plain path, and a fast path with the same math.

    updater = ModelUpdater(model, lr=1e-4, fast=True)
    stats = updater.step(images, actions, rewards_in, rewards_target)   # one Adam step on the negative ELBO

Plain: `LatentModel.loss`, backward, `torch.optim.Adam` - the reference the tests compare against.

Fast, on any device (same parameters, same loss, same Adam):
  - the encoder's last layer and the decoder's first, whose kernels cover their whole input or
    output, as matrix products, and channels-last convolutions (oneDNN's faster layout on a CPU);
  - Adam's fused implementation: one pass over all parameters instead of ~10 per tensor.
Fast, on CUDA, in addition:
  - the whole step (forward, backward, Adam) captured once as a CUDA graph and replayed: the model's
    posterior runs step by step over 41-82 frames, thousands of small kernels whose launch cost, not
    their arithmetic, bounds the update on a GPU;
  - optional bf16 autocast (`amp`), for the convolutions; tests bound its effect on the loss.
A captured step needs fixed shapes: a batch of another shape is captured again (each shape once).
"""
from __future__ import annotations

import torch

from meld_policy.model import LatentModel

STAT_KEYS = ("model/loss", "model/log_px", "model/log_pr", "model/kl_z1", "model/reward_mse")


def adam_flags(fast: bool, device: torch.device) -> dict:
    """Adam's implementation flags: fused on the fast path (and graph-capturable on CUDA)."""
    if not fast:
        return {"fused": None, "foreach": None, "capturable": False}
    return {"fused": True, "foreach": None, "capturable": device.type == "cuda"}


def adam(params, lr: float, fast: bool, device: torch.device) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, **adam_flags(fast, device))


class ModelUpdater:
    """Owns the model's optimizer and performs one update per `step` call; `opt` is checkpointed by the trainer."""

    def __init__(self, model: LatentModel, lr: float, fast: bool = False, amp: bool = False):
        self.model = model
        self.device = next(model.parameters()).device
        self.fast = fast
        self.amp = amp and fast and self.device.type == "cuda"
        model.set_fast(fast)
        self.opt = adam(model.parameters(), lr, fast, self.device)
        self.skipped = 0
        """Updates skipped because the loss or a gradient was not finite (parameters and Adam untouched)."""
        self._graphs: dict[tuple, tuple] = {}

    def set_lr(self, lr: float) -> None:
        """Change the learning rate. A captured CUDA graph holds the old rate, so its graphs are dropped
        and captured again at the next step: change the rate in a few steps, not at every update."""
        for group in self.opt.param_groups:
            if group["lr"] != lr:
                group["lr"] = lr
                self.skipped = self.skipped_total  # the dropped graphs' device-side counts kept
                self._graphs.clear()

    def flags(self) -> dict:
        """The implementation flags of this updater's Adam (restored after loading a checkpoint's state)."""
        return adam_flags(self.fast, self.device)

    def step(self, images: torch.Tensor, actions: torch.Tensor, rewards_in: torch.Tensor,
             rewards_target: torch.Tensor) -> dict[str, torch.Tensor]:
        """One Adam step on a batch of whole trials; returns the loss terms (detached tensors)."""
        if self.fast and self.device.type == "cuda":
            return self._graph_step(images, actions, rewards_in, rewards_target)
        loss, stats = self.model.loss(images, actions, rewards_in, rewards_target)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if not self._finite(loss):
            self.skipped += 1
            self.opt.zero_grad(set_to_none=True)
            return stats
        self.opt.step()
        return stats

    def _finite(self, loss: torch.Tensor) -> bool:
        """Loss and every gradient finite: one host sync, after backward (the gradients are there anyway)."""
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norms = torch._foreach_norm(grads) if grads else []
        total = torch.stack([loss.detach().reshape(()), *[n.reshape(()) for n in norms]]).sum()
        return bool(torch.isfinite(total))

    # ----- CUDA: the whole step as one graph -----------------------------------------------------------
    @property
    def skipped_total(self) -> int:
        """Skipped updates, the graph's device-side count included (reading it syncs with the GPU)."""
        dev = sum(int(g[4].item()) for g in self._graphs.values())
        return self.skipped + dev

    def _graph_step(self, images, actions, rewards_in, rewards_target) -> dict[str, torch.Tensor]:
        key = (tuple(images.shape), tuple(actions.shape))
        if key not in self._graphs:
            self._graphs[key] = self._capture(images, actions, rewards_in, rewards_target)
        graph, inputs, stats, _, _ = self._graphs[key]
        for dst, src in zip(inputs, (images, actions, rewards_in, rewards_target)):
            dst.copy_(src, non_blocking=True)
        graph.replay()
        return stats

    def _loss(self, images, actions, rewards_in, rewards_target):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            return self.model.loss(images, actions, rewards_in, rewards_target)

    def _capture(self, images, actions, rewards_in, rewards_target):
        """Warm up on a side stream (Adam's state must exist before capture), restore the weights and
        Adam's state the warm-up changed, then capture forward, backward and Adam's step.

        A non-finite loss or gradient is skipped without a host sync: the flag is computed on the
        device and handed to fused Adam as `found_inf`, which then leaves parameters, moments and
        step count untouched; a device counter adds it up for `skipped_total`.
        """
        inputs = [x.clone() for x in (images, actions, rewards_in, rewards_target)]
        weights = {k: v.clone() for k, v in self.model.state_dict().items()}
        fresh = not self.opt.state
        opt_state = None if fresh else _clone_state(self.opt.state_dict())
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self.opt.zero_grad(set_to_none=False)
                loss, _ = self._loss(*inputs)
                loss.backward()
                self.opt.step()
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(weights[k])
            if fresh:  # as if no step had been taken: zero moments and counts, in place (the graph keeps addresses)
                for st in self.opt.state.values():
                    for v in st.values():
                        v.zero_()
            else:
                _copy_state_(self.opt, opt_state)
        found_inf = torch.zeros((), device=self.device)
        skipped = torch.zeros((), device=self.device)
        self.opt.found_inf = found_inf
        graph = torch.cuda.CUDAGraph()
        # Gradients set to None, not zeroed: backward inside the capture then *assigns* each .grad (a
        # tensor of the graph's pool) on every replay. Zeroed tensors would be *accumulated into*, and
        # each replay would add its gradient to all earlier ones (a GPU run diverged that way, the
        # state model's KL reaching 1e9 within 1,500 updates, while the plain path trained).
        self.opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            loss, stats = self._loss(*inputs)
            loss.backward()
            grads = [p.grad for p in self.model.parameters()]
            total = torch.stack([loss.detach().float(), *torch._foreach_norm(grads)]).sum()
            found_inf.copy_((~torch.isfinite(total)).float())
            skipped.add_(found_inf)
            self.opt.step()
        return graph, inputs, stats, found_inf, skipped


def _clone_state(state_dict: dict) -> dict:
    return {"state": {k: {n: t.clone() for n, t in v.items()} for k, v in state_dict["state"].items()}}


def _copy_state_(opt: torch.optim.Optimizer, saved: dict) -> None:
    """Copy saved moments and counts into the optimizer's own state tensors, in place."""
    for (_, st), (_, sv) in zip(sorted(opt.state_dict()["state"].items()), sorted(saved["state"].items())):
        for n, t in st.items():
            t.copy_(sv[n])


class FeatureFilter:
    """Belief features of whole trials for the actor-critic (no gradient): `LatentModel.features`, and on
    CUDA with the fast path, the same call captured once per batch shape as a CUDA graph (filtering
    13 trials is 41-82 sequential posterior steps, launch-bound like the model update)."""

    def __init__(self, model: LatentModel, fast: bool = False):
        self.model = model
        self.device = next(model.parameters()).device
        self.graphed = fast and self.device.type == "cuda"
        self._graphs: dict[tuple, tuple] = {}

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        if not self.graphed:
            return self.model.features(images, actions, rewards)
        key = (tuple(images.shape), tuple(actions.shape))
        if key not in self._graphs:
            inputs = [images.clone(), actions.clone(), rewards.clone()]
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.model.features(*inputs)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = self.model.features(*inputs)
            self._graphs[key] = (graph, inputs, out)
        graph, inputs, out = self._graphs[key]
        for dst, src in zip(inputs, (images, actions, rewards)):
            dst.copy_(src, non_blocking=True)
        graph.replay()
        return out.clone()
