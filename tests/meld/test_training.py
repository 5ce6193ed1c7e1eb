"""SAC, the stop-gradient, checkpoints (weights_only, refusal of incompatible configs) and exact resume."""
import copy

import pytest
import torch

from meld_policy.actor import Actor
from meld_policy.checkpoint import CheckpointError, load_policy, load_raw, save_atomic
from meld_policy.config import ActorConfig, ConfigError
from meld_trainer.config import SACConfig, apply_overrides, build_config, preset_names, read_config_file
from meld_trainer.meta_train import MetaTrainer, wilson_interval
from meld_trainer.sac import SAC

torch.set_num_threads(1)


def smoke_trainer(run_dir, *overrides, env_id="PointGoal-v0"):
    cfg = build_config("smoke", ["train.seed=3", *overrides])
    return MetaTrainer(cfg, env_id, run_dir, tensorboard=False)


def test_sac_update_lowers_td_error_on_a_fixed_batch():
    torch.manual_seed(0)
    F, A, N = 12, 2, 256
    sac = SAC(Actor(ActorConfig(hidden_dim=64, action_scale=(1.0, 1.0)), F), F, SACConfig(hidden_dim=64))
    b, a = torch.randn(N, F), torch.rand(N, A) * 2 - 1
    r, b_next, not_done = torch.randn(N), torch.randn(N, F), torch.ones(N)

    def td():
        torch.manual_seed(123)  # the same next-action samples for both measurements
        return sac.td_error(b, a, r, b_next, not_done).item()

    before = td()
    for _ in range(10):
        stats = sac.update(b, a, r, b_next, not_done)
    after = td()
    assert after < 0.9 * before, (before, after)
    assert stats["sac/alpha"] < 1.0  # alpha starts at 1 and moves
    # Target networks trail the online ones (Polyak, tau = 0.005).
    assert not torch.equal(sac.qf1.net[0].weight, sac.qf1_target.net[0].weight)


def test_actor_log_prob_and_bounds():
    torch.manual_seed(0)
    actor = Actor(ActorConfig(hidden_dim=32, action_scale=(2.0, 0.5)), 8)
    a, log_pi = actor.sample(torch.randn(64, 8))
    assert a.abs().max() <= 1.0 and log_pi.shape == (64,) and torch.isfinite(log_pi).all()
    act = actor.act(torch.randn(8), deterministic=True)
    assert act.shape == (2,) and abs(act[0]) <= 2.0 and abs(act[1]) <= 0.5


def test_actor_critic_gradients_never_reach_the_model(tmp_path):
    tr = smoke_trainer(tmp_path)
    tr.pretrain()
    before = copy.deepcopy(tr.model.state_dict())
    for p in tr.model.parameters():
        p.grad = None
    tr.ac_update()
    assert all(p.grad is None for p in tr.model.parameters())
    for k, v in tr.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    b_t, a_t, r, b_next, not_done = tr.ac_batch()
    assert not b_t.requires_grad and b_t.shape[1] == tr.cfg.model.feature_dim
    assert a_t.abs().max() <= 1.0


def test_checkpoint_loads_weights_only_and_as_a_policy(tmp_path):
    tr = smoke_trainer(tmp_path)
    tr.pretrain()
    path = tr.save_checkpoint()
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["format_version"] == 1 and ckpt["config"]["model"]["z1_dim"] == 8
    assert not list(path.parent.glob("*.tmp"))
    pol = load_policy(path)
    b = pol.filter.step(None, tr.env.reset(seed=0, options={"task": 0})[0], 0.0, None, True)
    assert pol.actor.act(b.features, deterministic=True).shape == (1, 2)
    for k, v in tr.model.state_dict().items():
        assert torch.equal(pol.model.state_dict()[k], v)


def test_incompatible_checkpoint_is_refused_naming_the_fields(tmp_path):
    tr = smoke_trainer(tmp_path)
    tr.pretrain()
    path = tr.save_checkpoint()
    other = smoke_trainer(tmp_path / "b", "model.z1_dim=4", "sac.hidden_dim=16")
    with pytest.raises(CheckpointError) as e:
        other.load_checkpoint(path)
    assert "model.z1_dim" in str(e.value) and "sac.hidden_dim" in str(e.value) and "new run folder" in str(e.value)
    old = load_raw(path)                  # a checkpoint from before model.reward_input_dropout existed
    del old["config"]["model"]["reward_input_dropout"]
    save_atomic(old, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="model.reward_input_dropout: checkpoint 0.0 vs now 0.5"):
        smoke_trainer(tmp_path / "d", "model.reward_input_dropout=0.5").load_checkpoint(tmp_path / "old.pt")
    smoke_trainer(tmp_path / "e").load_checkpoint(tmp_path / "old.pt")
    wrong_env = smoke_trainer(tmp_path / "c", env_id="PointGoalSparse-v0")
    with pytest.raises(CheckpointError, match="--env PointGoal-v0"):
        wrong_env.load_checkpoint(path)


def test_unknown_fields_and_versions_are_reported(tmp_path):
    tr = smoke_trainer(tmp_path)
    tr.pretrain()
    ckpt = tr.state_dict()
    ckpt["config"]["model"]["future_knob"] = 3
    save_atomic(ckpt, tmp_path / "x.pt")
    notes = smoke_trainer(tmp_path / "b").load_checkpoint(tmp_path / "x.pt")
    assert any("model.future_knob" in n for n in notes)
    assert any("model.future_knob" in w for w in load_policy(tmp_path / "x.pt").warnings)
    ckpt["format_version"] = 99
    save_atomic(ckpt, tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="format 99"):
        load_raw(tmp_path / "y.pt")


def _params(tr):
    out = {f"model.{k}": v.clone() for k, v in tr.model.state_dict().items()}
    out.update({f"sac.{k}": v.clone() for k, v in tr.sac.state_dict().items()})
    return out


# After a freeze the actor-critic samples a pool of cached features; a resumed run rebuilds it from the
# episode files and must land on the same parameters all the same. 60 pretraining steps + 2 x 15.
FREEZE_AFTER_TWO_ITERATIONS = ("train.model_freeze_env_steps=90", "train.frozen_ac_updates_per_iter=4")


@pytest.mark.parametrize("extra", [(), FREEZE_AFTER_TWO_ITERATIONS, ("train.collect_workers=2",),
                                   FREEZE_AFTER_TWO_ITERATIONS + ("train.freeze_consolidation_updates=5",),
                                   FREEZE_AFTER_TWO_ITERATIONS + ("train.freeze_consolidation_updates=5",
                                                                  "train.reconsolidate_every_env_steps=30")],
                         ids=["paper", "model-freeze", "collection-workers", "freeze-consolidated", "reconsolidated"])
def test_resume_gives_the_same_parameters_as_an_uninterrupted_run(tmp_path, extra):
    N = 3

    def trainer(name, iterations):
        return smoke_trainer(tmp_path / name, f"train.iterations={iterations}", "train.eval_every=2",
                             f"train.checkpoint_every={N}", *extra)

    a = trainer("a", 2 * N)
    a.run(progress=False)
    trainer("b", N).run(progress=False)
    c = trainer("b", 2 * N)
    assert c.maybe_resume() and c.counters["iteration"] == N
    assert c.model_frozen == (FREEZE_AFTER_TWO_ITERATIONS[0] in extra)
    c.run(progress=False)
    assert c.counters == a.counters
    pa, pc = _params(a), _params(c)
    assert pa.keys() == pc.keys()
    for k in pa:
        assert torch.equal(pa[k], pc[k]), k
    assert c.eval_history == a.eval_history
    assert c.replay.num_trials() == a.replay.num_trials()


def test_frozen_pool_holds_every_transition_of_the_replay(tmp_path):
    tr = smoke_trainer(tmp_path, "train.frozen_ac_updates_per_iter=2", "train.eval_every=0")
    tr.pretrain()
    tr.cfg.train.model_freeze_env_steps = tr.counters["env_steps"]
    steps = tr.replay.num_steps()
    b, a, r, b_next, not_done = tr.ac_batch()
    assert len(tr._frozen_pool[0]) == steps and b.shape[0] == min(tr.cfg.sac.batch_size, steps)
    before = {k: [x.clone() for x in v] for k, v in tr._frozen_features.items()}
    tr.iteration()
    assert len(tr._frozen_pool[0]) == steps + 15  # one new 15-step trial
    assert len(tr._frozen_features) == len(before) + 1
    for k, v in before.items():  # the frozen model's features of the older trials are kept as they were
        assert all(torch.equal(x, y) for x, y in zip(v, tr._frozen_features[k]))


def test_model_freeze_stops_model_updates_and_keeps_the_actor_critic_learning(tmp_path):
    tr = smoke_trainer(tmp_path, "train.frozen_ac_updates_per_iter=5", "train.eval_every=0")
    tr.pretrain()
    base = dict(tr.counters)
    # Env steps count the pretraining too; smoke episodes are 15 steps, so the next two iterations still train the model.
    tr.cfg.train.model_freeze_env_steps = base["env_steps"] + 31
    for _ in range(2):
        tr.iteration()
    assert tr.counters["model_updates"] == base["model_updates"] + 2 and not tr.model_frozen
    model_before, sac_before = copy.deepcopy(tr.model.state_dict()), copy.deepcopy(tr.sac.state_dict())
    ac_before = tr.counters["ac_updates"]
    tr.iteration()
    assert tr.model_frozen and tr.counters["model_updates"] == base["model_updates"] + 2
    assert tr.counters["ac_updates"] == ac_before + 5
    assert all(torch.equal(v, tr.model.state_dict()[k]) for k, v in model_before.items())
    assert any(not torch.equal(v, tr.sac.state_dict()[k]) for k, v in sac_before.items())


def test_consolidation_trains_the_model_once_where_it_freezes_with_a_falling_rate(tmp_path):
    tr = smoke_trainer(tmp_path, "train.frozen_ac_updates_per_iter=2", "train.freeze_consolidation_updates=10",
                       "train.eval_every=0")
    tr.pretrain()
    lr, rates, step = tr.cfg.train.model_lr, [], tr.updater.step

    def recording_step(*args):
        rates.append(tr.model_opt.param_groups[0]["lr"])
        return step(*args)

    tr.updater.step = recording_step
    tr.cfg.train.model_freeze_env_steps = tr.counters["env_steps"] + 1  # the next trial reaches it
    base, before = tr.counters["model_updates"], copy.deepcopy(tr.model.state_dict())
    tr.iteration()
    assert tr.model_frozen and tr.counters["consolidated"] == 1
    assert tr.counters["model_updates"] == base + 10 and len(rates) == 10
    assert rates[0] == lr and rates[-1] < 0.05 * lr and all(a >= b for a, b in zip(rates, rates[1:]))
    assert tr.model_opt.param_groups[0]["lr"] == lr  # a resumed or continued run starts from the configured rate
    assert any(not torch.equal(v, tr.model.state_dict()[k]) for k, v in before.items())
    consolidated = copy.deepcopy(tr.model.state_dict())
    tr.iteration()  # frozen from here: no second consolidation, no model update
    assert tr.counters["model_updates"] == base + 10 and len(rates) == 10
    assert all(torch.equal(v, tr.model.state_dict()[k]) for k, v in consolidated.items())
    with pytest.raises(ConfigError, match="freeze_consolidation_updates"):
        build_config("smoke", ["train.freeze_consolidation_updates=-1"])


def test_reconsolidation_trains_the_frozen_model_again_on_the_newer_trials(tmp_path):
    """train.reconsolidate_every_env_steps: the frozen model is consolidated again over the whole replay every
    that many env steps after the last consolidation, and the actor-critic's cached features are refilled."""
    tr = smoke_trainer(tmp_path, "train.frozen_ac_updates_per_iter=2", "train.freeze_consolidation_updates=10",
                       "train.eval_every=0", "train.reconsolidate_every_env_steps=30",
                       "train.model_freeze_env_steps=100000")
    tr.pretrain()
    tr.cfg.train.model_freeze_env_steps = tr.counters["env_steps"] + 1
    base = tr.counters["model_updates"]
    tr.iteration()  # freezes and consolidates
    assert tr.counters["consolidated"] == 1 and tr.counters["model_updates"] == base + 10
    first_at, first = tr.counters["consolidated_at"], copy.deepcopy(tr.model.state_dict())
    tr.iteration()  # 15 env steps later: frozen as it is
    assert tr.counters["model_updates"] == base + 10 and not tr.consolidation_due
    assert all(torch.equal(v, tr.model.state_dict()[k]) for k, v in first.items())
    features = {k: [x.clone() for x in v] for k, v in tr._frozen_features.items()}
    tr.iteration()  # 30 env steps after the first: consolidated again before this trial's updates
    assert tr.counters["consolidated"] == 2 and tr.counters["model_updates"] == base + 20
    assert tr.counters["consolidated_at"] == first_at + 30
    assert any(not torch.equal(v, tr.model.state_dict()[k]) for k, v in first.items())
    old_key = next(iter(features))
    assert not all(torch.equal(x, y) for x, y in zip(features[old_key], tr._frozen_features[old_key]))
    with pytest.raises(ConfigError, match="reconsolidate_every_env_steps=100 repeats the consolidation"):
        build_config("smoke", ["train.reconsolidate_every_env_steps=100"])


def test_config_files_and_overrides():
    assert {"smoke", "point", "paper", "reference"} <= set(preset_names())
    cfg = build_config("point", ["z1_dim=12", "sac.batch_size=64", "train.iterations=5"])
    assert cfg.model.z1_dim == 12 and cfg.sac.batch_size == 64 and cfg.train.iterations == 5
    assert cfg.model.base_depth == read_config_file("point")["model"]["base_depth"]
    ref = build_config("reference")
    assert (ref.model.base_depth, ref.model.hidden_dim, ref.model.z1_dim, ref.model.z2_dim) == (64, 512, 128, 64)
    default = build_config(None)
    assert (default.model.z1_dim, default.model.z2_dim, default.sac.batch_size, default.train.model_lr) == (32, 256, 512, 1e-4)
    with pytest.raises(ConfigError, match="sections"):
        apply_overrides({}, ["hidden_dim=3"])  # in model, actor and sac: must be qualified
    with pytest.raises(ConfigError, match="unknown override"):
        apply_overrides({}, ["nope=3"])
    with pytest.raises(ConfigError, match="train.gamma|sac.gamma"):
        build_config(None, ["gamma=1.5"])
    with pytest.raises(ConfigError, match="presets"):
        build_config("no-such-preset")


def test_wilson_interval():
    lo, hi = wilson_interval(8, 10)
    assert 0.44 < lo < 0.5 and 0.94 < hi < 0.97
