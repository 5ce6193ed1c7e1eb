"""Hindsight relabelling of the model's and the actor-critic's training trials: what each is shown, and
what is refused."""
import numpy as np
import pytest
import torch

from meld_policy.config import ConfigError
from meld_trainer.config import build_config
from meld_trainer.meta_train import MetaTrainer
from meld_trainer.relabel import relabel_trials

torch.set_num_threads(1)


def _fake_port_rewards(obs: np.ndarray) -> np.ndarray:
    """Port k pays -(k + 1) * the first observation entry: easy to check by hand."""
    return np.stack([-(k + 1) * obs[..., 0] for k in range(4)], axis=-1)


def test_relabelled_trials_carry_the_chosen_ports_rewards_and_keep_episode_openings_at_zero():
    B, L = 64, 9
    obs = torch.rand(B, L, 3) + 0.5
    rewards = torch.full((B, L), 7.0)
    valid = torch.ones(B, L - 1, dtype=torch.bool)
    valid[:, 4] = False  # a 2-episode trial: frame 5 opens the second episode
    (out,), ports = relabel_trials(obs, (rewards,), valid, (_fake_port_rewards,), 0.5, np.random.default_rng(0))
    kept, moved = ports < 0, ports >= 0
    assert 16 < moved.sum() < 48 and set(ports[moved]) == {0, 1, 2, 3}
    assert torch.equal(out[kept], rewards[kept])  # the others as collected
    for i in np.flatnonzero(moved):
        expect = -(ports[i] + 1) * obs[i, :, 0]
        expect[0] = expect[5] = 0.0
        torch.testing.assert_close(out[i], expect)
    assert torch.equal(rewards, torch.full((B, L), 7.0))  # the replay's tensor is not written to
    (same,), none = relabel_trials(obs, (rewards,), valid, (_fake_port_rewards,), 0.0, np.random.default_rng(0))
    assert same is rewards and (none == -1).all()
    # Two rewards (a sparse id's evidence and target) are rescored for the same port of each trial.
    doubled = lambda o: 2 * _fake_port_rewards(o)  # noqa: E731
    (a, b), ports = relabel_trials(obs, (rewards, rewards + 1), valid, (_fake_port_rewards, doubled), 1.0,
                                   np.random.default_rng(1))
    assert (ports >= 0).all()
    torch.testing.assert_close(b, 2 * a)


def test_the_model_is_trained_on_rewards_another_port_would_have_given(tmp_path):
    cfg = build_config("smoke", ["train.seed=3", "train.model_reward_relabel=1", "train.pretrain_episodes=2",
                                 "train.pretrain_model_updates=0", "train.eval_every=0"])
    tr = MetaTrainer(cfg, "WidowXInsertState-v3", tmp_path, tensorboard=False)
    tr.pretrain()
    seen, collected, sample = [], [], tr.replay.sample_trials
    tr.replay.sample_trials = lambda n, rng: collected.append(sample(n, rng)) or collected[-1]
    tr.updater.step = lambda obs, actions, r_in, r_shaped: seen.append((obs, r_in, r_shaped)) or {}
    for _ in range(4):
        tr.model_update()
    as_collected = torch.cat([b.rewards_shaped for b in collected])
    table = tr.env.unwrapped.port_rewards(torch.cat([o for o, _, _ in seen]).numpy())
    r_in, r_shaped = torch.cat([r for _, r, _ in seen]), torch.cat([r for _, _, r in seen])
    assert torch.equal(r_in, r_shaped)
    # Each trial's rewards after its opening frame are one port's column of the table, not always its own.
    match = np.abs(table[:, 1:, :] - r_in[:, 1:, None].numpy()).max(axis=1) < 1e-5  # (trials, ports)
    assert match.any(axis=1).all()
    assert len({int(np.argmax(m)) for m in match}) > 1
    assert (r_in[:, 0] == 0).all()
    changed = (r_in - as_collected).abs().amax(dim=1) > 1e-3  # a port other than the trial's own: 3 in 4
    assert 0.4 < changed.float().mean() < 1.0, changed


@pytest.mark.parametrize("option", ["model_reward_relabel", "ac_reward_relabel"])
@pytest.mark.parametrize("env_id", ["WidowXInsertStateSparse-v0", "WidowXInsertState-v0", "PointGoal-v0"])
def test_relabelling_is_refused_where_the_env_cannot_rescore_a_trial(tmp_path, env_id, option):
    cfg = build_config("smoke", [f"train.{option}=0.5"])
    refusal = rf"{option}=0.5 .*WidowXInsertState-v1, -v2 or -v3 .*, or set train.{option}=0"
    with pytest.raises(ConfigError, match=refusal):
        MetaTrainer(cfg, env_id, tmp_path, tensorboard=False)
    for bad in (1.5, -0.1):
        with pytest.raises(ConfigError, match=rf"{option}={bad}: a probability"):
            build_config("smoke", [f"train.{option}={bad}"])


def test_a_resumed_relabelling_run_lands_on_the_same_parameters(tmp_path):
    """The ports are drawn from the trainer's checkpointed generator, so a resumed run relabels as the
    uninterrupted one did."""
    def trainer(name, iterations):
        cfg = build_config("smoke", ["train.seed=3", "train.model_reward_relabel=0.5", "train.pretrain_episodes=2",
                                     "train.pretrain_model_updates=2", "train.eval_every=0", "train.checkpoint_every=2",
                                     f"train.iterations={iterations}"])
        return MetaTrainer(cfg, "WidowXInsertState-v3", tmp_path / name, tensorboard=False)

    a = trainer("a", 4)
    a.run(progress=False)
    trainer("b", 2).run(progress=False)
    c = trainer("b", 4)
    assert c.maybe_resume() and c.counters["iteration"] == 2
    c.run(progress=False)
    assert c.counters == a.counters
    for (k, v), w in zip(a.model.state_dict().items(), c.model.state_dict().values()):
        assert torch.equal(v, w), k


def _ports_matching(tr, obs: torch.Tensor, r_next: torch.Tensor) -> np.ndarray:
    """(trials, ports): which ports' rewards the transitions' rewards are, from the env's own table."""
    table = tr.env.unwrapped.port_rewards(obs.numpy())[:, 1:, :]  # r_{t+1} of every port
    return np.abs(table - r_next.reshape(table.shape[:2])[..., None].numpy()).max(axis=1) < 1e-5


def test_the_actor_critic_learns_from_trials_rescored_for_another_port_with_beliefs_from_those_rewards(tmp_path):
    """What the critic is shown: before the freeze freshly drawn ports, after it one port per trial that a
    rebuilt pool (a resume) draws again; the beliefs are filtered from the rescored rewards."""
    cfg = build_config("smoke", ["train.seed=5", "train.ac_reward_relabel=1", "train.pretrain_episodes=8",
                                 "train.pretrain_model_updates=2", "train.eval_every=0"])
    tr = MetaTrainer(cfg, "WidowXInsertState-v3", tmp_path, tensorboard=False)
    tr.pretrain()
    keys = tr.replay.trial_keys()
    obs = torch.cat([tr.replay.trial(k).images for k in keys])
    collected = torch.cat([tr.replay.trial(k).rewards_shaped for k in keys])[:, 1:]

    drawn, sample = [], tr.replay.sample_trials
    tr.replay.sample_trials = lambda n, rng: drawn.append(sample(n, rng)) or drawn[-1]
    fresh = [tr.filter_transitions(len(keys)) for _ in range(3)]  # before the freeze: ports drawn per batch
    tr.replay.sample_trials = sample
    b_obs, b_rewards = torch.cat([b.images for b in drawn]), torch.cat([b.rewards_shaped for b in drawn])[:, 1:]
    r_fresh = torch.cat([f[2] for f in fresh]).reshape(b_rewards.shape)
    assert _ports_matching(tr, b_obs, r_fresh).any(axis=1).all()
    assert ((r_fresh - b_rewards).abs().amax(dim=1) > 1e-3).any()

    tr.cfg.train.model_freeze_env_steps = 1  # frozen from here: the pool of every trial, each with its draw
    pool = tr._frozen_transitions()
    r_pool = pool[2].reshape(len(keys), -1)
    match = _ports_matching(tr, obs, r_pool)
    assert match.any(axis=1).all()
    moved = (r_pool - collected).abs().amax(dim=1) > 1e-3
    assert 0 < moved.sum() < len(keys), moved  # ports drawn uniformly: some other than the trial's own
    tr.cfg.train.ac_reward_relabel = 0.0
    for i in np.flatnonzero(moved.numpy()):  # the belief read the rescored rewards, not the collected ones
        with torch.random.fork_rng(devices=[]):  # the pool's seed for this trial: the same posterior samples
            torch.manual_seed(cfg.train.seed * 1_000_003 + 10_007 * keys[i][0] + keys[i][1])
            b_plain, _, r_plain, _, _ = tr._transitions(tr.replay.trial(keys[i]))
        torch.testing.assert_close(r_plain, collected[i])
        assert (pool[0].reshape(len(keys), r_pool.shape[1], -1)[i] - b_plain).abs().max() > 1e-3
    tr.cfg.train.ac_reward_relabel = 1.0
    tr._frozen_features.clear()
    tr._frozen_pool = None
    again = tr._frozen_transitions()
    for x, y in zip(pool, again):
        assert torch.equal(x, y)


def test_a_sparse_trial_is_rescored_as_link_up_evidence_and_shaped_target_of_one_port(tmp_path):
    """On a sparse id the model's evidence is the link-up reward and its target the shaped one: a rescored
    trial must carry both for the same port (the env's `port_sparse_rewards` and `port_rewards`)."""
    cfg = build_config("smoke", ["train.seed=4", "train.model_reward_relabel=1", "train.ac_reward_relabel=1",
                                 "train.pretrain_episodes=2", "train.pretrain_search_episodes=4",
                                 "train.pretrain_model_updates=0", "train.eval_every=0"])
    tr = MetaTrainer(cfg, "WidowXInsertStateSparse-v3", tmp_path, tensorboard=False)
    tr.pretrain()  # random trials, then searches that seat the plug (link up in some frames)
    seen = []
    tr.updater.step = lambda obs, actions, r_in, r_shaped: seen.append((obs, r_in, r_shaped)) or {}
    for _ in range(6):
        tr.model_update()
    obs = torch.cat([o for o, _, _ in seen]).numpy()
    r_in, r_shaped = torch.cat([r for _, r, _ in seen]).numpy(), torch.cat([r for _, _, r in seen]).numpy()
    sparse, shaped = tr.env.unwrapped.port_sparse_rewards(obs), tr.env.unwrapped.port_rewards(obs)
    first = np.zeros(r_in.shape, dtype=bool)
    first[:, 0] = first[:, 41] = True  # each episode's opening frame keeps 0
    for i in range(len(obs)):
        ports = [k for k in range(shaped.shape[-1])
                 if np.abs(shaped[i, ~first[i], k] - r_shaped[i, ~first[i]]).max() < 1e-5]
        assert len(ports) == 1, (i, ports)
        np.testing.assert_array_equal(r_in[i, ~first[i]], sparse[i, ~first[i], ports[0]])
    assert r_in.max() == 1.0  # some rescored trial has link up
