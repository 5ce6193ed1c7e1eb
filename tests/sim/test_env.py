"""The gymnasium environment: API, tasks, rewards, determinism and bad input."""
import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import widowx_bringup.sim  # noqa: F401  (registers the ids)
from widowx_bringup.kinematics import downward_ik
from widowx_bringup.sim.env import WidowXInsertEnv
from widowx_bringup.sim.scripted import run_scripted_episode


@pytest.fixture(scope="module")
def env():
    e = WidowXInsertEnv()
    yield e
    e.close()


@pytest.fixture(scope="module")
def blind_env():
    e = WidowXInsertEnv(cameras=False)
    yield e
    e.close()


@pytest.mark.parametrize("env_id", ["WidowXInsert-v0", "WidowXInsertSparse-v0"])
def test_passes_the_gymnasium_checker(env_id):
    e = gym.make(env_id)
    check_env(e.unwrapped, skip_render_check=True)
    e.close()


def test_observation_is_two_cameras_side_by_side(env):
    obs, info = env.reset(seed=0, options={"task": 0})
    assert obs.shape == (64, 128, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    # Both halves show a lit scene, and they differ (two different cameras).
    left, right = obs[:, :64], obs[:, 64:]
    assert left.mean() > 30 and right.mean() > 30
    assert np.abs(left.astype(int) - right.astype(int)).mean() > 10
    obs2, *_ = env.step(np.array([0.5, 0, 0, 0, 0], dtype=np.float32))
    assert np.abs(obs2.astype(int) - obs.astype(int)).sum() > 0  # the arm moved in the image


def test_registered_ids_end_episodes_after_40_steps():
    e = gym.make("WidowXInsert-v0", cameras=False)
    e.reset(seed=1)
    for t in range(40):
        _, _, terminated, truncated, _ = e.step(np.zeros(5, dtype=np.float32))
        assert not terminated
        assert truncated == (t == 39)
    e.close()


def test_train_and_heldout_tasks_are_disjoint_and_in_range(blind_env):
    e = blind_env
    assert len(e.train_task_ids) == 20 and len(e.heldout_task_ids) == 10
    assert not set(e.train_task_ids) & set(e.heldout_task_ids)
    train = {(t.port, t.translation, t.rotation) for t in e.tasks if t.split == "train"}
    heldout = {(t.port, t.translation, t.rotation) for t in e.tasks if t.split == "heldout"}
    assert not train & heldout
    for t in e.tasks:
        assert abs(t.translation) <= 0.01 and abs(t.rotation) <= math.radians(8.0)
        assert 0 <= t.port < 4
    assert len({t.port for t in e.tasks if t.split == "train"}) == 4  # every port is a training goal


def test_same_seed_same_episode():
    def rollout(seed):
        e = WidowXInsertEnv()
        obs, _ = e.reset(seed=seed, options={"task": 5})
        rng = np.random.default_rng(0)
        frames, rewards = [obs], []
        for _ in range(5):
            obs, r, *_ = e.step(rng.uniform(-0.5, 0.5, 5).astype(np.float32))
            frames.append(obs)
            rewards.append(r)
        q = e.sim.joint_positions()
        e.close()
        return np.stack(frames), np.array(rewards), q

    a, b, c = rollout(3), rollout(3), rollout(4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    assert not np.array_equal(a[2], c[2])  # another seed perturbs the home pose differently


def test_nan_action_raises_and_does_not_move_the_arm(blind_env):
    blind_env.reset(seed=0)
    q = blind_env.sim.joint_positions()
    with pytest.raises(ValueError, match="not finite"):
        blind_env.step(np.array([np.nan, 0, 0, 0, 0], dtype=np.float32))
    assert np.array_equal(q, blind_env.sim.joint_positions())
    with pytest.raises(ValueError, match="shape"):
        blind_env.step(np.zeros(3, dtype=np.float32))


def test_out_of_range_action_is_clipped_to_the_bounds(blind_env):
    high = blind_env.action_space.high
    blind_env.reset(seed=0, options={"task": 0})
    _, _, _, _, info = blind_env.step(high * 10)
    q_big = blind_env.sim.joint_positions()
    assert info["action_clipped"]
    blind_env.reset(seed=0, options={"task": 0})
    _, _, _, _, info = blind_env.step(high)
    assert not info["action_clipped"]
    assert np.array_equal(q_big, blind_env.sim.joint_positions())


def test_shaped_reward_rises_as_the_plug_nears_the_goal(blind_env):
    e = blind_env
    e.reset(seed=0, options={"task": 7})
    goal_tip, _ = e.sim.goal_pose()
    yaw = math.pi / 2 + e.task.rotation
    start = np.array([0.26, -0.06, 0.13])
    rewards = []
    for s in np.linspace(0.0, 1.0, 8):
        tip = (1 - s) * start + s * (goal_tip + [0, 0, 0.02])
        e.sim.reset_arm(downward_ik(e.sim.arm, tip, yaw + (1 - s) * 0.4, e.sim.config.plug.tip_offset))
        rewards.append(e.sim.score().shaped_reward)
    assert all(b > a for a, b in zip(rewards, rewards[1:])), rewards
    assert rewards[-1] == pytest.approx(-0.02, abs=1e-6)  # 2 cm above the seat, aligned


def test_sparse_reward_only_in_the_goal_port():
    e = WidowXInsertEnv(sparse=True, cameras=False)
    task = e.task_by_id(21)
    for port in range(4):
        result = run_scripted_episode(e, 21, port=port)
        assert result["seated"][-1] == port  # the plug really is seated in that port
        expected = 1.0 if port == task.port else 0.0
        assert result["sparse"][-1] == expected
        if port != task.port:
            assert max(result["sparse"]) == 0.0 and result["final"]["wrong_port"]
    e.close()


def test_sparse_env_reward_is_the_sparse_signal():
    e = WidowXInsertEnv(sparse=True, cameras=False)
    e.reset(seed=0, options={"task": 2})
    _, r, _, _, info = e.step(np.zeros(5, dtype=np.float32))
    assert r == info["sparse_reward"] == 0.0 and info["shaped_reward"] < 0
    e.close()


def test_task_can_change_in_the_middle_of_an_episode(blind_env):
    e = blind_env
    e.reset(seed=0, options={"task": 0})
    e.step(np.zeros(5, dtype=np.float32))
    before = e.sim.rig_pose()
    other = next(t for t in e.tasks if t.port != e.task.port and abs(t.translation - e.task.translation) > 0.003)
    e.set_task(other.task_id)
    _, _, _, _, info = e.step(np.zeros(5, dtype=np.float32))
    assert info["task_id"] == other.task_id and info["goal_port"] == other.port
    assert e.sim.rig_pose() != before
    assert e.sim.rig_pose()[0] == pytest.approx(other.translation, abs=2e-4)
    assert e.sim.rig_pose()[1] == pytest.approx(other.rotation, abs=2e-3)


def test_unknown_task_is_a_clear_error(blind_env):
    with pytest.raises(ValueError, match="unknown task"):
        blind_env.reset(options={"task": 99})
