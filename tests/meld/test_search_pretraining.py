"""Scripted port searches in the pretraining data (`train.pretrain_search_episodes`)."""
import glob

import gymnasium as gym
import numpy as np
import pytest
import torch

import widowx_bringup.sim  # noqa: F401  (registers the ids)
from meld_policy.config import ConfigError
from meld_trainer.collect import TrialJob, run_trial
from meld_trainer.config import build_config
from meld_trainer.meta_train import MetaTrainer

torch.set_num_threads(1)


def test_pretraining_collects_the_random_trials_then_the_searches(tmp_path):
    cfg = build_config("smoke", ["train.seed=2", "train.pretrain_episodes=3", "train.pretrain_search_episodes=4",
                                 "train.pretrain_model_updates=1", "train.eval_every=0"])
    tr = MetaTrainer(cfg, "WidowXInsertState-v3", tmp_path, tensorboard=False)
    tr.pretrain()
    assert tr.replay.num_trials() == 7 and tr.counters["env_steps"] == 7 * 40
    files = sorted(glob.glob(str(tmp_path / "episodes" / "**" / "*.npz"), recursive=True))
    assert len(files) == 7
    env = tr.env.unwrapped
    best = []  # per trial, the best reward any port paid along it: about 0 only where the plug sat in one
    for f in files:
        obs = np.load(f)["images"]
        best.append(env.port_rewards(obs).max())
    assert max(best[:3]) < -0.1, best  # uniform random actions do not seat the plug
    assert min(best[3:]) > -0.05, best  # every search seats it in some port
    tr.pretrain()  # a second call (a resumed run) collects nothing more
    assert tr.replay.num_trials() == 7


def test_searches_are_refused_where_there_is_no_simulator_to_script(tmp_path):
    cfg = build_config("smoke", ["train.pretrain_search_episodes=10"])
    with pytest.raises(ConfigError, match=r"pretrain_search_episodes=10 needs the simulator's scripted port search, "
                                          r"which PointGoal-v0 does not have; use a WidowXInsert\* env or set it to 0"):
        MetaTrainer(cfg, "PointGoal-v0", tmp_path, tensorboard=False)
    with pytest.raises(ConfigError, match=r"pretrain_search_episodes=-1: must be >= 0"):
        build_config("smoke", ["train.pretrain_search_episodes=-1"])


def test_a_sparse_search_trial_goes_straight_to_the_goal_in_its_second_episode():
    env = gym.make("WidowXInsertStateSparse-v3")
    for seed in (0, 1):
        episodes, summary = run_trial(env, None, None, 2, TrialJob(task_id=4, mode="search", seed=seed))
        assert len(episodes) == 2 and summary["success"]
        second = episodes[1]["success"]
        assert second[15:].all(), second  # seated in the goal within 15 steps and kept there
