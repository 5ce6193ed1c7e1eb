"""The fast update path computes what the plain one does: same losses, same gradients, same Adam step;
non-finite updates are skipped; trials live in a preallocated store with slots reused after eviction."""
import copy

import numpy as np
import pytest
import torch

from meld_policy.config import ModelConfig
from meld_policy.model import LatentModel
from meld_trainer.config import ReplayConfig
from meld_trainer.fast_update import ModelUpdater
from meld_trainer.replay import Replay, concat_trial

torch.set_num_threads(1)

CONFIGS = {
    "two-cameras": ModelConfig(image_width=128, action_dim=5, base_depth=4, z1_dim=8, z2_dim=16, hidden_dim=16),
    "one-camera": ModelConfig(image_width=64, action_dim=3, base_depth=4, z1_dim=8, z2_dim=16, hidden_dim=16),
    "state": ModelConfig(encoder="mlp", obs_dim=7, action_dim=5, base_depth=4, z1_dim=8, z2_dim=16, hidden_dim=16),
}


def batch(cfg: ModelConfig, B=3, L=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    if cfg.encoder == "conv":
        obs = torch.randint(0, 256, (B, L, *cfg.obs_shape), dtype=torch.uint8, generator=g)
    else:
        obs = torch.randn(B, L, cfg.obs_dim, generator=g)
    return obs, torch.rand(B, L - 1, cfg.action_dim, generator=g) * 2 - 1, -torch.rand(B, L, generator=g), \
        -torch.rand(B, L, generator=g)


def loss_and_grads(model, inputs):
    torch.manual_seed(7)  # the same posterior noise for both paths
    loss, stats = model.loss(*inputs)
    model.zero_grad(set_to_none=True)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fast_path_gives_the_plain_losses_gradients_and_adam_step(name):
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    plain = LatentModel(cfg)
    fast = copy.deepcopy(plain)
    fast.set_fast(True)
    inputs = batch(cfg)
    l_plain, g_plain = loss_and_grads(plain, inputs)
    l_fast, g_fast = loss_and_grads(fast, inputs)
    torch.testing.assert_close(l_fast, l_plain, rtol=1e-5, atol=1e-4)
    for n in g_plain:
        torch.testing.assert_close(g_fast[n], g_plain[n], rtol=1e-4, atol=1e-5, msg=f"gradient of {n}")
    # One optimizer step each way, through the updaters the trainer uses: the parameters agree.
    up_plain, up_fast = ModelUpdater(plain, 1e-3, fast=False), ModelUpdater(fast, 1e-3, fast=True)
    assert up_fast.opt.param_groups[0]["fused"] and not up_plain.opt.param_groups[0]["fused"]
    for up in (up_plain, up_fast):
        torch.manual_seed(7)
        up.step(*inputs)
    for (n, p), q in zip(plain.named_parameters(), fast.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-6, msg=f"parameter {n} after one Adam step")


@pytest.mark.parametrize("fast", [False, True], ids=["plain", "fast"])
def test_a_non_finite_update_is_skipped_and_counted(fast):
    cfg = CONFIGS["one-camera"]
    torch.manual_seed(0)
    model = LatentModel(cfg)
    up = ModelUpdater(model, 1e-3, fast=fast)
    obs, actions, r_in, r_target = batch(cfg)
    before = copy.deepcopy(model.state_dict())
    r_target[1, 2] = float("nan")
    up.step(obs, actions, r_in, r_target)
    assert up.skipped == 1 and not up.opt.state  # Adam never stepped: no moments were made
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    r_target[1, 2] = 0.0
    up.step(obs, actions, r_in, r_target)
    assert up.skipped == 1 and any(not torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA-graph step needs a CUDA device (CI has none)")
@pytest.mark.parametrize("name", ["one-camera", "state"])
def test_each_graph_replay_uses_its_own_gradient_only(name):
    """With lr=0 the weights stay put, so every replay on the same batch sees the same gradient size; a
    graph that accumulated into .grad would show it growing with each replay (that diverged a GPU run)."""
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    model = LatentModel(cfg).cuda()
    up = ModelUpdater(model, 0.0, fast=True)
    inputs = [x.cuda() for x in batch(cfg)]
    norms = []
    for _ in range(6):
        up.step(*inputs)
        norms.append(float(torch.stack([p.grad.norm() for p in model.parameters()]).norm()))
    assert max(norms) < 1.5 * min(norms), norms


def test_bf16_autocast_keeps_the_loss_within_tolerance():
    """What `train.amp` does on CUDA, checked here with the CPU's bf16 autocast: the loss moves < 1%."""
    cfg = CONFIGS["two-cameras"]
    torch.manual_seed(0)
    model = LatentModel(cfg)
    model.set_fast(True)
    inputs = batch(cfg)
    torch.manual_seed(7)
    full = model.loss(*inputs)[0].item()
    torch.manual_seed(7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = model.loss(*inputs)[0].float().item()
    assert abs(half - full) < 0.01 * abs(full), (full, half)


def episode(T=4, seed=0, width=16, A=2):
    r = np.random.default_rng(seed)
    shaped = np.concatenate([[0.0], -r.random(T)]).astype(np.float32)
    return {"images": r.integers(0, 256, (T + 1, 64, width, 3), dtype=np.uint8),
            "actions": r.uniform(-1, 1, (T, A)).astype(np.float32), "rewards": shaped, "shaped_rewards": shaped,
            "sparse_rewards": np.zeros(T + 1, np.float32), "success": np.zeros(T + 1, bool)}


def test_trial_store_grows_reuses_evicted_slots_and_gathers_the_trials(tmp_path):
    replay = Replay(tmp_path, ReplayConfig(max_steps_per_task=8), episodes_per_trial=1, initial_capacity=2)
    eps = [episode(seed=i) for i in range(6)]
    for i, ep in enumerate(eps[:4]):
        replay.add_trial([ep], task_id=i % 2)  # two tasks, two 4-step trials each: at the cap, none evicted
    assert replay.store.capacity == 4 and replay.num_trials() == 4
    replay.add_trial([eps[4]], task_id=0)       # task 0 over the cap: its oldest trial goes, its slot is reused
    assert replay.store.capacity == 4 and list(replay.trials[0]) == [2, 4]
    b = replay.trial((0, 4))
    np.testing.assert_array_equal(b.images[0].numpy(), eps[4]["images"])
    np.testing.assert_array_equal(b.rewards_shaped[0].numpy(), eps[4]["shaped_rewards"])
    # A trial of another length or image size cannot share the store: skipped and named, nothing else lost.
    replay.add_trial([episode(T=6, seed=9)], task_id=1)
    replay.add_trial([episode(seed=10, width=32)], task_id=1)
    assert replay.num_trials() == 4 and len(replay.skipped) == 2
    assert "7 frames" in replay.skipped[0] and "(64, 32, 3)" in replay.skipped[1]
    again = Replay(tmp_path, ReplayConfig(max_steps_per_task=8), 1).open()
    assert again.trial_keys() == replay.trial_keys()
    for key in replay.trial_keys():
        assert torch.equal(again.trial(key).images, replay.trial(key).images)
    joined = concat_trial([eps[1]])
    np.testing.assert_array_equal(replay.trial((1, 1)).actions[0].numpy(), joined["actions"])
