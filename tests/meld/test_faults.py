"""Faults stop at the door (issue 13): property tests over malformed episode files and checkpoints,
non-finite training steps skipped and counted, and no non-finite weights written over a good
checkpoint. Real files in a real folder; the replay and the trainer as the run uses them."""
from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meld_policy.checkpoint import CheckpointError, TrainingDiverged, load_policy, load_raw
from meld_policy.episode_io import episode_filename, read_episode, write_episode
from meld_policy.validation import episode_problem, reward_problem
from meld_trainer.config import ReplayConfig, build_config
from meld_trainer.replay import Replay

FRAME = (64, 16, 3)
ACTIONS = 2
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def good_episode(T: int = 4, seed: int = 0, state: bool = False) -> dict:
    r = np.random.default_rng(seed)
    shaped = np.concatenate([[0.0], -r.random(T)]).astype(np.float32)
    images = (r.standard_normal((T + 1, 7)).astype(np.float32) if state
              else r.integers(0, 256, (T + 1, *FRAME), dtype=np.uint8))
    return {"images": images, "actions": r.uniform(-1, 1, (T, ACTIONS)).astype(np.float32), "rewards": shaped,
            "shaped_rewards": shaped.copy(), "sparse_rewards": np.zeros(T + 1, np.float32),
            "success": np.zeros(T + 1, bool)}


# One way to break an episode: (name, function of the episode returning the broken one).
def _nan(key: str, index: int):
    def f(ep):
        a = np.array(ep[key], dtype=np.float32 if key != "images" else ep[key].dtype)
        a.reshape(-1)[index % a.size] = np.nan
        return {**ep, key: a}
    return f


# (name, breaker, intrinsic): intrinsic faults make an episode invalid anywhere (the writer refuses it);
# the others only make it foreign to this run (the replay, which knows the run's sizes, skips it).
FAULTS = st.one_of(
    st.builds(lambda k, i: (f"NaN in {k}", _nan(k, i), True),
              st.sampled_from(["actions", "rewards", "shaped_rewards", "sparse_rewards"]), st.integers(0, 100)),
    st.builds(lambda k, v: (f"inf in {k}", lambda ep: {**ep, k: np.where(np.arange(len(ep[k])).reshape(
        (-1,) + (1,) * (np.ndim(ep[k]) - 1)) == 1, v, ep[k]).astype(np.float32)}, True),
              st.sampled_from(["actions", "rewards", "shaped_rewards"]), st.sampled_from([np.inf, -np.inf])),
    st.builds(lambda h, w, c: ("other image size", lambda ep: {**ep, "images": np.zeros((len(ep["images"]), h, w, c),
                                                                                      np.uint8)}, 3 not in (h, c)),
              st.integers(1, 70), st.integers(1, 70), st.sampled_from([1, 3, 4])).filter(
        lambda f: f[1](good_episode())["images"].shape[1:] != FRAME),
    st.builds(lambda a: ("other action size", lambda ep: {**ep, "actions": np.zeros((len(ep["actions"]), a), np.float32)},
                         a == 0), st.integers(0, 6).filter(lambda a: a != ACTIONS)),
    st.just(("no steps", lambda ep: {k: v[:1] if k != "actions" else v[:0] for k, v in ep.items()}, True)),
    st.just(("one frame short", lambda ep: {**ep, "images": ep["images"][:-1]}, True)),
    st.just(("float images", lambda ep: {**ep, "images": ep["images"].astype(np.float64)}, True)),
    st.just(("rewards as text", lambda ep: {**ep, "rewards": np.array(["a"] * len(ep["rewards"]))}, True)),
)


def raw_save(path, ep: dict, task_id: int = 0) -> None:
    """Save arrays as a file would hold them, bypassing the writer's checks (a foreign or old writer)."""
    np.savez_compressed(path, **ep, format_version=np.int64(1), task_id=np.int64(task_id))


@SETTINGS
@given(fault=FAULTS, seed=st.integers(0, 5))
def test_writer_refuses_and_replay_skips_every_broken_episode(tmp_path_factory, fault, seed):
    name, breaker, intrinsic = fault
    folder = tmp_path_factory.mktemp("eps")
    good = good_episode(seed=seed)
    bad = breaker(good)
    if intrinsic:
        with pytest.raises(ValueError):
            write_episode(folder, bad, episode_index=5, task_id=0, trial_index=5)
        assert not list(folder.iterdir()), "the writer left a file behind"
    # The same arrays on disk (written by something else): the replay names and skips the file.
    write_episode(folder, good, episode_index=0, task_id=0, trial_index=0)
    T = len(bad["actions"]) if np.ndim(bad["actions"]) >= 1 else 0
    bad_name = episode_filename(1, 0, 1, 1, 1, max(T, 0))
    raw_save(folder / bad_name, bad)
    replay = Replay(folder, ReplayConfig(), episodes_per_trial=1)
    replay.frame_shape, replay.action_dim = FRAME, ACTIONS
    replay.open()
    assert replay.num_trials() == 1, name
    assert any(bad_name in note for note in replay.skipped), (name, replay.skipped)
    assert replay.next_episode_index == 2  # the skipped file's index is never reused
    batch = replay.sample_trials(4, np.random.default_rng(0))
    assert torch.isfinite(batch.rewards_in).all() and torch.isfinite(batch.actions).all()


@SETTINGS
@given(T=st.integers(1, 6), state=st.booleans())
def test_valid_image_and_state_episodes_pass(tmp_path_factory, T, state):
    ep = good_episode(T, state=state)
    assert episode_problem(ep) is None
    p = write_episode(tmp_path_factory.mktemp("ok"), ep, episode_index=0, task_id=0, trial_index=0)
    assert len(read_episode(p)["actions"]) == T


def test_other_frame_size_in_one_trial_is_named_not_a_crash(tmp_path):
    """Two episodes of a trial with different image sizes: before, concatenating them raised
    'all input arrays must have the same shape' on every resume."""
    write_episode(tmp_path, good_episode(seed=1), episode_index=0, task_id=0, trial_index=0, part=1, num_parts=2)
    other = {**good_episode(seed=2), "images": np.zeros((5, 32, 32, 3), np.uint8)}
    write_episode(tmp_path, other, episode_index=1, task_id=0, trial_index=0, part=2, num_parts=2)
    replay = Replay(tmp_path, ReplayConfig(), episodes_per_trial=2)
    replay.frame_shape, replay.action_dim = FRAME, ACTIONS
    replay.open()
    assert replay.num_trials() == 0
    assert any("ep0000001" in n and "(32, 32, 3)" in n for n in replay.skipped), replay.skipped


def test_reward_problem():
    assert reward_problem(-0.3, 0.0) is None
    assert "non-finite" in reward_problem(float("nan"), 0.0)
    assert "sparse" in reward_problem(0.0, float("inf"))


# ----- checkpoints --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    from meld_trainer.meta_train import MetaTrainer
    cfg = build_config("smoke", ["train.pretrain_episodes=2", "train.pretrain_model_updates=1"])
    tr = MetaTrainer(cfg, "PointGoal-v0", tmp_path_factory.mktemp("run"), tensorboard=False)
    tr.pretrain()
    tr.save_checkpoint()
    return tr


@SETTINGS
@given(cut=st.floats(0.0, 0.999), junk=st.binary(max_size=64))
def test_any_damaged_checkpoint_is_a_checkpoint_error(trainer, tmp_path_factory, cut, junk):
    data = trainer.checkpoint_path.read_bytes()
    p = tmp_path_factory.mktemp("ck") / "latest.pt"
    p.write_bytes(data[: int(len(data) * cut)] + junk)
    with pytest.raises(CheckpointError) as info:
        load_raw(p)
    assert "weights_only=False" not in str(info.value)


@SETTINGS
@given(obj=st.one_of(st.integers(), st.text(), st.lists(st.integers()),
                     st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
                     st.just({"format_version": 1}), st.just({"format_version": 1, "config": "x"})))
def test_foreign_pickles_are_checkpoint_errors(tmp_path_factory, obj):
    folder = tmp_path_factory.mktemp("pk")
    for p, save in ((folder / "a.pt", lambda p: torch.save(obj, p)),
                    (folder / "b.pt", lambda p: p.write_bytes(pickle.dumps(obj)))):
        save(p)
        with pytest.raises(CheckpointError):
            load_raw(p)


def test_non_finite_weights_never_overwrite_a_good_checkpoint(trainer):
    good = trainer.checkpoint_path.read_bytes()
    saved = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    try:
        with torch.no_grad():
            next(trainer.model.parameters()).fill_(float("nan"))
        with pytest.raises(TrainingDiverged, match="training diverged") as info:
            trainer.save_checkpoint()
        assert "nothing was written" in str(info.value) and "last good weights" in str(info.value)
        assert trainer.checkpoint_path.read_bytes() == good
        assert not list(trainer.checkpoint_path.parent.glob("*.tmp"))
        # A checkpoint with non-finite weights written by anything else is refused by the policy side.
        state = torch.load(trainer.checkpoint_path, weights_only=True)
        state["model"] = trainer.model.state_dict()
        bad = trainer.checkpoint_path.with_name("nan.pt")
        torch.save(state, bad)
        with pytest.raises(TrainingDiverged, match="older checkpoint"):
            load_policy(bad)
        with pytest.raises(TrainingDiverged, match="older checkpoint"):  # nor resumed into the same NaNs
            trainer.load_checkpoint(bad)
    finally:
        trainer.model.load_state_dict(saved)


def test_non_finite_steps_are_skipped_and_counted(trainer):
    before_model = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    before_q = {k: v.clone() for k, v in trainer.sac.qf1.state_dict().items()}
    b_t, a_t, r, b_next, not_done = trainer.ac_batch()
    r = r.clone()
    r[0] = float("nan")
    skipped = trainer.sac.skipped
    stats = trainer.sac.update(b_t, a_t, r, b_next, not_done)
    assert trainer.sac.skipped == skipped + 1 and stats["sac/skipped"] == 1.0
    for k, v in trainer.sac.qf1.state_dict().items():
        assert torch.equal(v, before_q[k])
    batch = trainer.replay.sample_trials(2, np.random.default_rng(0))
    rewards = batch.rewards_shaped.clone()
    rewards[0, 1] = float("nan")
    trainer.updater.step(batch.images, batch.actions, batch.rewards_in, rewards)
    assert trainer.updater.skipped_total == 1
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, before_model[k]), k
    assert trainer.skipped_updates == 2
    trainer.save_checkpoint()  # the weights stayed finite: the checkpoint is written


@pytest.mark.parametrize("fast", [False, True])
def test_sac_skips_a_non_finite_step_on_both_paths(fast):
    """The fused-Adam path skips on the device (no host sync per update); the plain path on the host."""
    from meld_policy.actor import Actor
    from meld_policy.config import ActorConfig
    from meld_trainer.config import SACConfig
    from meld_trainer.sac import SAC
    torch.manual_seed(0)
    F, A, B = 6, 2, 32
    sac = SAC(Actor(ActorConfig(hidden_dim=16, hidden_layers=1, action_scale=(1.0, 1.0)), F),
              F, SACConfig(hidden_dim=16, hidden_layers=1), fast=fast)
    b, a, b_next = torch.randn(B, F), torch.rand(B, A) * 2 - 1, torch.randn(B, F)
    r, not_done = torch.randn(B), torch.ones(B)
    sac.update(b, a, r, b_next, not_done)
    critic = [p.detach().clone() for p in sac.qf1.parameters()]
    state = sac.critic_opt.state_dict()["state"][0]["exp_avg"].clone()
    bad = r.clone()
    bad[3] = float("nan")
    stats = sac.update(b, a, bad, b_next, not_done)
    assert sac.skipped == 1 and float(stats["sac/skipped"]) == 1.0
    assert all(torch.equal(p, q) for p, q in zip(sac.qf1.parameters(), critic))
    assert torch.equal(sac.critic_opt.state_dict()["state"][0]["exp_avg"], state)
    sac.update(b, a, r, b_next, not_done)
    assert sac.skipped == 1
    assert not all(torch.equal(p, q) for p, q in zip(sac.qf1.parameters(), critic))
