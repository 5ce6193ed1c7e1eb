"""Latent model: shapes, the analytic KL, the ELBO's gradients, and filter == batch posterior."""
import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from meld_policy.config import ConfigError, ModelConfig
from meld_policy.filter import BeliefFilter
from meld_policy.model import LatentModel, gaussian_kl

torch.set_num_threads(1)


def tiny(**kw) -> ModelConfig:
    base = dict(image_width=64, action_dim=2, base_depth=4, z1_dim=6, z2_dim=10, hidden_dim=16)
    base.update(kw)
    return ModelConfig(**base)


def random_trial(cfg, B=3, L=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (B, L, 64, cfg.image_width, 3), dtype=torch.uint8, generator=g)
    actions = torch.randn(B, L - 1, cfg.action_dim, generator=g)
    rewards = torch.randn(B, L, generator=g)
    return images, actions, rewards


@pytest.mark.parametrize("width", [64, 128])
def test_shapes(width):
    cfg = tiny(image_width=width)
    m = LatentModel(cfg)
    images, actions, rewards = random_trial(cfg)
    assert m.encode(images).shape == (3, 9, 8 * cfg.base_depth)
    steps = m.posterior(images, actions, rewards)
    assert len(steps) == 9
    assert steps[0].z1.shape == (3, cfg.z1_dim) and steps[0].z2.shape == (3, cfg.z2_dim)
    assert m.features(images, actions, rewards).shape == (3, 9, cfg.feature_dim)
    z = torch.cat([steps[4].z1, steps[4].z2], -1)
    assert m.decoder(z).shape == (3, 3, 64, width)
    loss, stats = m.loss(images, actions, rewards, rewards)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert {"model/kl_z1", "model/log_px", "model/log_pr"} <= set(stats)


def test_paper_default_sizes():
    cfg = ModelConfig()
    m = LatentModel(cfg)
    convs = [l for l in m.encoder.net if isinstance(l, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256, 256]
    assert [c.kernel_size for c in convs] == [(5, 5), (3, 3), (3, 3), (3, 3), (4, 8)]
    assert cfg.feature_dim == 2 * (32 + 256)
    # Reward tiled 32 times enters only the z1 posteriors.
    assert m.z1_posterior_first.net[0].in_features == 256 + 32
    assert m.z1_prior.net[0].in_features == 256 + 5


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mq, mp = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    sq, sp = torch.rand(7, 5, generator=g) + 0.1, torch.rand(7, 5, generator=g) + 0.1
    ref = kl_divergence(Normal(mq, sq), Normal(mp, sp)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mq, sq, mp, sp), ref, rtol=1e-5, atol=1e-6)


def test_reward_switch_changes_only_the_posterior_input():
    meld, slac = LatentModel(tiny(reward_input=True)), LatentModel(tiny(reward_input=False))
    assert meld.z1_posterior.net[0].in_features - slac.z1_posterior.net[0].in_features == 32
    assert meld.z1_prior.net[0].in_features == slac.z1_prior.net[0].in_features
    # SLAC ignores the reward: its posterior is the same for any reward sequence.
    cfg = tiny(reward_input=False)
    images, actions, rewards = random_trial(cfg)
    eps1, eps2 = torch.randn(3, 9, cfg.z1_dim), torch.randn(3, 9, cfg.z2_dim)
    f1 = torch.stack([s.features() for s in slac.posterior(images, actions, rewards, eps1, eps2)], 1)
    f2 = torch.stack([s.features() for s in slac.posterior(images, actions, rewards * 5 + 1, eps1, eps2)], 1)
    torch.testing.assert_close(f1, f2)
    g1 = torch.stack([s.features() for s in meld.posterior(images, actions, rewards, eps1, eps2)], 1)
    g2 = torch.stack([s.features() for s in meld.posterior(images, actions, rewards * 5 + 1, eps1, eps2)], 1)
    assert not torch.allclose(g1, g2)


def test_reward_target_is_separate_from_reward_input():
    """Sparse tasks: the model reads one reward and reconstructs another (Appendix C)."""
    cfg = tiny()
    m = LatentModel(cfg)
    images, actions, rewards = random_trial(cfg)
    torch.manual_seed(0)
    _, s1 = m.loss(images, actions, rewards, rewards)
    torch.manual_seed(0)
    _, s2 = m.loss(images, actions, rewards, rewards + 3.0)
    assert s1["model/kl_z1"] == s2["model/kl_z1"]
    assert s1["model/log_pr"] > s2["model/log_pr"] + 1.0


def test_reward_input_scale_is_the_same_model_as_scaled_rewards():
    """`reward_input_scale` multiplies what the posterior reads and nothing else: a model fed r with scale
    10 filters exactly as the same weights fed 10 r with scale 1, and reconstructs the unscaled r."""
    cfg = tiny(reward_input_scale=10.0)
    torch.manual_seed(5)
    scaled = LatentModel(cfg).eval()
    plain = LatentModel(tiny()).eval()
    plain.load_state_dict(scaled.state_dict())
    images, actions, rewards = random_trial(cfg, seed=6)
    eps1, eps2 = torch.randn(3, 9, cfg.z1_dim), torch.randn(3, 9, cfg.z2_dim)
    with torch.no_grad():
        a = torch.stack([s.features() for s in scaled.posterior(images, actions, rewards, eps1, eps2)], 1)
        b = torch.stack([s.features() for s in plain.posterior(images, actions, 10.0 * rewards, eps1, eps2)], 1)
        torch.testing.assert_close(a, b)
        belief = BeliefFilter(scaled).step(None, images[:, 0].numpy(), rewards[:, 0], None, is_first=True,
                                           eps1=eps1[:, 0], eps2=eps2[:, 0])
        torch.testing.assert_close(belief.features, a[:, 0], rtol=1e-5, atol=1e-5)
        torch.manual_seed(0)
        _, s1 = scaled.loss(images, actions, rewards, rewards)
        torch.manual_seed(0)
        _, s2 = plain.loss(images, actions, 10.0 * rewards, rewards)
    torch.testing.assert_close(s1["model/reward_mse"], s2["model/reward_mse"])


def test_reward_input_dropout_withholds_rewards_in_training_only():
    """With `reward_input_dropout` the training loss hides some rewards from the posterior, so the model
    must predict them from what the belief carried: a withheld r_t changes nothing the posterior sees,
    the loss's reward gradient reaches only the rewards it was given (about 1 - p of them), and the
    online filter, which always has the reward, equals the batch posterior with every reward present."""
    cfg = tiny(reward_input_dropout=0.5)
    torch.manual_seed(7)
    m = LatentModel(cfg).eval()
    images, actions, rewards = random_trial(cfg, B=4, L=9, seed=8)
    eps1, eps2 = torch.randn(4, 9, cfg.z1_dim), torch.randn(4, 9, cfg.z2_dim)
    hidden = torch.ones(4, 9)
    hidden[:, 3] = 0.0
    other = rewards.clone()
    other[:, 3] += 5.0
    with torch.no_grad():
        a = torch.stack([s.features() for s in m.posterior(images, actions, rewards, eps1, eps2, present=hidden)], 1)
        b = torch.stack([s.features() for s in m.posterior(images, actions, other, eps1, eps2, present=hidden)], 1)
        torch.testing.assert_close(a, b)
        full = torch.stack([s.features() for s in m.posterior(images, actions, rewards, eps1, eps2)], 1)
        seen = torch.stack([s.features() for s in m.posterior(images, actions, other, eps1, eps2)], 1)
        assert not torch.allclose(full[:, 3:], seen[:, 3:]), "a reward the posterior is given must count"
        belief = BeliefFilter(m).step(None, images[:, 0].numpy(), rewards[:, 0], None, is_first=True,
                                      eps1=eps1[:, 0], eps2=eps2[:, 0])
        torch.testing.assert_close(belief.features, full[:, 0], rtol=1e-5, atol=1e-5)
    r_in = rewards.clone().requires_grad_(True)
    torch.manual_seed(9)
    loss, _ = m.loss(images, actions, r_in, rewards)
    loss.backward()
    given = (r_in.grad != 0).float().mean().item()
    assert 0.3 < given < 0.7, f"{given:.0%} of rewards reached the posterior with dropout 0.5"
    assert (LatentModel(tiny()).evidence(torch.zeros(2, 5), torch.zeros(2)).shape[-1]
            == m.evidence(torch.zeros(2, 5), torch.zeros(2)).shape[-1] - 1), "the presence flag is one channel"


def test_suffix_dropout_withholds_the_rest_of_a_trial():
    """`reward_input_dropout_mode=suffix` hides every reward after a cut, in about p of the trials, and
    never the first: the belief must carry the task forward instead of the last reward. The loss's
    reward gradient reaches exactly the rewards before each trial's cut."""
    cfg = tiny(reward_input_dropout=0.5, reward_input_dropout_mode="suffix")
    torch.manual_seed(11)
    m = LatentModel(cfg)
    present = m.reward_presence(torch.zeros(4000, 9))
    assert torch.all(present[:, 0] == 1), "the first reward of a trial is always given"
    assert torch.all(present[:, 1:] <= present[:, :-1]), "once withheld, the rest of the trial stays withheld"
    cut = (present.sum(1) < 9).float().mean().item()
    assert 0.45 < cut < 0.55, f"{cut:.0%} of trials were cut with probability 0.5"
    assert set(present.sum(1).unique().tolist()) == set(range(1, 10)), "cuts fall anywhere in 1..L-1 (L: none)"
    images, actions, rewards = random_trial(cfg, B=64, L=9, seed=12)
    r_in = rewards.clone().requires_grad_(True)
    torch.manual_seed(13)
    expect = m.reward_presence(rewards)
    torch.manual_seed(13)
    loss, _ = m.loss(images, actions, r_in, rewards)
    loss.backward()
    assert torch.equal(r_in.grad != 0, expect.bool())
    with pytest.raises(ConfigError, match="reward_input_dropout_mode"):
        ModelConfig(reward_input_dropout=0.5, reward_input_dropout_mode="episode")


def test_filter_step_equals_batch_posterior():
    """The online filter, one frame at a time across a 2-episode trial, equals batch inference to 1e-5."""
    cfg = tiny()
    torch.manual_seed(3)
    m = LatentModel(cfg).eval()
    B, L = 2, 2 * 6
    images, actions, rewards = random_trial(cfg, B=B, L=L, seed=4)
    actions[:, 5] = 0.0  # the episode boundary inside the trial carries no action
    eps1, eps2 = torch.randn(B, L, cfg.z1_dim), torch.randn(B, L, cfg.z2_dim)
    with torch.no_grad():
        batch = torch.stack([s.features() for s in m.posterior(images, actions, rewards, eps1, eps2)], 1)
    filt = BeliefFilter(m)
    belief = None
    for t in range(L):
        belief = filt.step(belief, images[:, t].numpy(), rewards[:, t], actions[:, t - 1] if t else None,
                           is_first=(t == 0), eps1=eps1[:, t], eps2=eps2[:, t])
        assert belief.t == t
        torch.testing.assert_close(belief.features, batch[:, t], rtol=1e-5, atol=1e-5)


def test_filter_single_image_and_reset():
    cfg = tiny(image_width=128)
    m = LatentModel(cfg)
    filt = BeliefFilter(m)
    img = np.zeros((64, 128, 3), np.uint8)
    b = filt.step(None, img, 0.0, None, is_first=True)
    assert b.features.shape == (1, cfg.feature_dim)
    b = filt.step(b, img, -0.5, np.zeros(2, np.float32), is_first=False)
    assert b.t == 1
    b = filt.step(b, img, 0.0, np.zeros(2, np.float32), is_first=True)
    assert b.t == 0


def test_elbo_gradients_reach_every_model_part():
    cfg = tiny()
    m = LatentModel(cfg)
    images, actions, rewards = random_trial(cfg)
    loss, _ = m.loss(images, actions, rewards, rewards)
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_config_checks_say_the_fix():
    with pytest.raises(ConfigError, match="image_width"):
        ModelConfig(image_width=100)
    with pytest.raises(ConfigError, match="z1_dim"):
        ModelConfig(z1_dim=0)
    with pytest.raises(ConfigError, match="reward_input_scale"):
        ModelConfig(reward_input_scale=0.0)
    with pytest.raises(ConfigError, match="reward_input_dropout"):
        ModelConfig(reward_input_dropout=1.0)
    with pytest.raises(ConfigError, match="reward_input=true"):
        ModelConfig(reward_input=False, reward_input_dropout=0.5)


def test_the_state_preset_belief_knows_where_the_arm_is():
    """A state-vector model trained with the `state` preset's likelihood decodes the arm's joints from its
    belief to a fraction of their spread. With the image preset's variance (0.1) the same training leaves
    the error equal to the spread (checked by hand): the model is not paid for knowing where the arm is,
    and on the state rung that was 0% success (docs/meld.md, "State rung")."""
    from meld_trainer.config import build_config
    from meld_trainer.fast_update import ModelUpdater

    preset = build_config("state").model
    cfg = ModelConfig(encoder="mlp", obs_dim=7, action_dim=5, base_depth=8, z1_dim=8, z2_dim=32, hidden_dim=32,
                      pixel_var=preset.pixel_var, reward_std=preset.reward_std)

    def trials(B: int, g: torch.Generator):
        """Joint positions integrating velocity actions from a random start; reward = -distance to a goal."""
        L = 10
        a = torch.rand(B, L - 1, 5, generator=g) * 2 - 1
        x = (torch.randn(B, 1, 7, generator=g) * 0.3).expand(B, L, 7).clone()
        x[..., :5] += torch.cat([torch.zeros(B, 1, 5), 0.1 * a], 1).cumsum(1)
        r = -(x[..., :5] - torch.randn(B, 1, 5, generator=g) * 0.3).norm(dim=-1)
        return x, a, r

    torch.manual_seed(0)
    model, g = LatentModel(cfg), torch.Generator().manual_seed(0)
    updater = ModelUpdater(model, 2e-3, fast=False)
    for _ in range(1200):
        x, a, r = trials(16, g)
        updater.step(x, a, r, r)
    x, a, r = trials(64, torch.Generator().manual_seed(99))
    with torch.no_grad():
        steps = model.posterior(x, a, r, x=x)
        z = torch.cat([model.stack(steps, "mean1"), model.stack(steps, "mean2")], -1)
        decoded = model.decoder(z.reshape(-1, z.shape[-1])).reshape(x.shape)
    error, spread = (decoded - x)[..., :5].pow(2).mean().sqrt(), x[..., :5].std()
    assert error < 0.5 * spread, f"belief decodes the joints to {error:.3f} rad RMS; their spread is {spread:.3f}"
