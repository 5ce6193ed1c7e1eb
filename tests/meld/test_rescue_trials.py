"""Meta-training trials taken over at a wrong port (`train.rescue_trials`, `WrongPortRescue`)."""
import gymnasium as gym
import numpy as np
import pytest
import torch

import widowx_bringup.sim  # noqa: F401  (registers the ids)
from meld_policy.config import ConfigError
from meld_trainer.collect import TrialJob, run_trial
from meld_trainer.config import build_config
from meld_trainer.meta_train import MetaTrainer
from widowx_bringup.sim.scripted import ScriptedInserter

torch.set_num_threads(1)
TASK = 4


class WrongPortPolicy:
    """Stands in for a learned policy that commits to a wrong port: the scripted inserter aimed at one."""

    def __init__(self, env, port: int):
        self.inserter = ScriptedInserter(env.unwrapped, port=port)

    def act(self, features, deterministic=False):
        return self.inserter.act()[None]


def trainer(tmp_path, *overrides, env_id="WidowXInsertState-v3"):
    cfg = build_config("smoke", ["train.pretrain_episodes=2", "train.pretrain_model_updates=1", "train.eval_every=0",
                                 *overrides])
    return MetaTrainer(cfg, env_id, tmp_path, tensorboard=False)


def goal_and_wrong_port(env) -> tuple[int, int]:
    env.reset(seed=0, options={"task": TASK})
    goal = env.unwrapped.sim.goal_port
    return goal, (goal + 1) % env.unwrapped.sim.router.num_ports


def test_a_rescue_lifts_the_plug_out_of_a_wrong_port_and_seats_it_in_the_goal(tmp_path):
    tr = trainer(tmp_path)
    env = gym.make("WidowXInsertState-v3")
    goal, wrong = goal_and_wrong_port(env)
    for seed in (0, 1):
        kept, kept_summary = run_trial(env, tr.filter, WrongPortPolicy(env, wrong), 1, TrialJob(TASK, "policy", seed))
        rescued, summary = run_trial(env, tr.filter, WrongPortPolicy(env, wrong), 1, TrialJob(TASK, "rescue", seed))
        assert not kept_summary["success"] and kept_summary["rescued_episodes"] == 0
        assert summary["success"] and summary["rescued_episodes"] == 1
        ports = env.unwrapped.port_rewards(rescued[0]["images"])  # every port's reward along the trial
        first_wrong = int(np.argmax(ports[:, wrong] > -0.02))
        assert 0 < first_wrong, ports[:, wrong]
        # the same path as the policy's own trial until the plug sat in the wrong port; the goal's afterwards
        np.testing.assert_array_equal(rescued[0]["actions"][:first_wrong], kept[0]["actions"][:first_wrong])
        assert rescued[0]["success"][first_wrong:].any() and rescued[0]["success"][-1]
        assert not kept[0]["success"].any()


def test_a_rescue_leaves_a_policy_that_seats_in_the_goal_alone(tmp_path):
    tr = trainer(tmp_path)
    env = gym.make("WidowXInsertState-v3")
    goal, _ = goal_and_wrong_port(env)
    own, own_summary = run_trial(env, tr.filter, WrongPortPolicy(env, goal), 1, TrialJob(TASK, "policy", 3))
    rescued, summary = run_trial(env, tr.filter, WrongPortPolicy(env, goal), 1, TrialJob(TASK, "rescue", 3))
    assert own_summary["success"] and summary["success"] and summary["rescued_episodes"] == 0
    np.testing.assert_array_equal(rescued[0]["actions"], own[0]["actions"])


def test_rescue_trials_are_a_share_of_meta_training_fixed_by_each_trials_seed(tmp_path):
    tr = trainer(tmp_path, "train.rescue_trials=0.3")
    jobs = [tr._training_job(ahead=i) for i in range(1000)]
    assert 0.25 < [j.mode for j in jobs].count("rescue") / 1000 < 0.35
    again = [tr._training_job(ahead=i) for i in range(1000)]  # other tasks drawn, the same seeds and modes
    assert [(j.seed, j.mode) for j in again] == [(j.seed, j.mode) for j in jobs]
    assert {j.mode for j in (trainer(tmp_path / "none")._training_job(ahead=i) for i in range(200))} == {"policy"}


def test_meta_training_collects_a_rescue_trial_and_counts_it(tmp_path):
    tr = trainer(tmp_path, "train.rescue_trials=1", "train.model_updates_per_iter=1", "train.ac_updates_per_iter=1")
    tr.pretrain()
    goal, wrong = goal_and_wrong_port(tr.env)
    tr.train_tasks = [TASK]
    stand_in = WrongPortPolicy(tr.env, wrong)
    stand_in.action_scale = tr.actor.action_scale
    tr.actor = stand_in  # the trainer acts with self.actor; SAC keeps its own
    summary = tr.iteration()
    assert summary["success"] and summary["rescued_episodes"] == 1
    assert tr.replay.num_trials() == 3


def test_rescue_trials_are_refused_without_a_simulator_and_outside_0_to_1(tmp_path):
    with pytest.raises(ConfigError, match=r"rescue_trials=0.5 needs the simulator's scripted inserter, which "
                                          r"PointGoal-v0 does not have; use a WidowXInsert\* env or set it to 0"):
        trainer(tmp_path, "train.rescue_trials=0.5", env_id="PointGoal-v0")
    with pytest.raises(ConfigError, match=r"rescue_trials=1.5: a probability, in \[0, 1\]"):
        build_config("smoke", ["train.rescue_trials=1.5"])
