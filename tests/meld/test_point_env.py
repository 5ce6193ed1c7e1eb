"""PointGoal meta-env: the protocol both the point env and the WidowX env implement, and its speed."""
import time

import gymnasium as gym
import numpy as np
import pytest

from meld_trainer.envs import make_env
from meld_trainer.point_env import EPISODE_STEPS


def test_protocol_and_rewards():
    env = make_env("PointGoal-v0")
    u = env.unwrapped
    assert len(u.train_task_ids) == 20 and len(u.heldout_task_ids) == 10
    assert not set(u.train_task_ids) & set(u.heldout_task_ids)
    obs, info = env.reset(seed=0, options={"task": 5})
    assert obs.dtype == np.uint8 and obs.shape == (64, 64, 3) and info["task_id"] == 5
    assert env.action_space.shape == (2,) and np.allclose(env.action_space.low, -env.action_space.high)
    steps = 0
    while True:
        obs, r, term, trunc, info = env.step(np.array([0.0, 1.0], np.float32))
        steps += 1
        assert not term
        assert r == pytest.approx(info["shaped_reward"]) and r <= 0
        assert info["sparse_reward"] in (0.0, 1.0) and info["success"] == (info["sparse_reward"] == 1.0)
        if trunc:
            break
    assert steps == env.spec.max_episode_steps == EPISODE_STEPS


def test_goals_on_semicircle_and_disjoint():
    u = make_env("PointGoal-v0").unwrapped
    goals = []
    for t in u.train_task_ids + u.heldout_task_ids:
        u.set_task(t)
        assert np.linalg.norm(u.goal) == pytest.approx(1.0) and u.goal[1] >= -1e-9
        goals.append(tuple(np.round(u.goal, 6)))
    assert len(set(goals)) == 30


def test_sparse_variant_and_reaching_the_goal():
    env = make_env("PointGoalSparse-v0")
    env.reset(seed=1, options={"task": 9})
    u = env.unwrapped
    rewards = []
    for _ in range(EPISODE_STEPS):
        d = u.goal - u.pos
        _, r, _, _, info = env.step(np.clip(d / u.step_size, -1, 1))
        rewards.append(r)
    assert rewards[-1] == 1.0 and info["success"] and set(rewards) <= {0.0, 1.0}
    assert info["shaped_reward"] > -0.2


def test_image_shows_the_point_not_the_goal():
    env = make_env("PointGoal-v0")
    a, _ = env.reset(seed=0, options={"task": 0})
    b, _ = env.reset(seed=0, options={"task": 19})
    np.testing.assert_array_equal(a, b)  # the goal is invisible: only rewards reveal the task
    c, *_ = env.step(np.array([1.0, 1.0]))
    assert (c != a).any()


def test_set_task_mid_episode():
    env = make_env("PointGoal-v0")
    env.reset(seed=0, options={"task": 0})
    env.step(np.zeros(2))
    env.unwrapped.set_task(19)
    _, _, _, _, info = env.step(np.zeros(2))
    assert info["task_id"] == 19


def test_two_camera_width():
    env = gym.make("PointGoal-v0", image_width=128)
    obs, _ = env.reset(seed=0, options={"task": 0})
    assert obs.shape == (64, 128, 3)


def test_cheap_enough():
    env = make_env("PointGoal-v0")
    env.reset(seed=0, options={"task": 0})
    n, t0 = 2000, time.perf_counter()
    a = np.array([0.3, 0.2], np.float32)
    for _ in range(n):
        _, _, _, trunc, _ = env.step(a)
        if trunc:
            env.reset()
    rate = n / (time.perf_counter() - t0)
    assert rate > 1000, f"{rate:.0f} steps/s"


def test_unknown_env_id_says_which_exist():
    with pytest.raises(RuntimeError, match="PointGoal-v0"):
        make_env("PointGoalX-v0")
