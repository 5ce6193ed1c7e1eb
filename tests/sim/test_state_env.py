"""The learnability ladder's low-dimensional envs: what their observations hold, and what they do not."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import widowx_bringup.sim  # noqa: F401  (registers the ids)
from widowx_bringup.kinematics import rotation_angle
from widowx_bringup.scene import PLUG_DOWN, RewardConfig, shaped_reward
from widowx_bringup.sim.scripted import PortSearch

LOW_DIM_IDS = ["WidowXInsertState-v0", "WidowXInsertStateSparse-v0", "WidowXInsertState-v1", "WidowXInsertStateSparse-v1",
               "WidowXInsertState-v2", "WidowXInsertStateSparse-v2", "WidowXInsertState-v3", "WidowXInsertStateSparse-v3",
               "WidowXInsertOracle-v0", "WidowXInsertOracle-v1"]


@pytest.mark.parametrize("env_id", LOW_DIM_IDS)
def test_state_envs_pass_the_gymnasium_checker(env_id):
    e = gym.make(env_id)
    check_env(e.unwrapped, skip_render_check=True)
    e.close()


def test_relative_state_gives_every_rig_pose_the_same_reward_geometry():
    """v1 = v0's vector + the plug's pose in the router's frame. From that pose alone, one formula with the
    goal port's fixed place on the router gives the shaped reward on every task: the rig pose no longer
    has to be learnt through. v0's part is unchanged, and the goal is in neither."""
    v0, v1 = gym.make("WidowXInsertState-v0").unwrapped, gym.make("WidowXInsertState-v1").unwrapped
    router = v1.sim.router
    rng = np.random.default_rng(0)
    ports = set()
    for task in range(0, len(v1.tasks), 3):  # training and held-out rig poses
        o0, _ = v0.reset(seed=task, options={"task": task})
        o1, _ = v1.reset(seed=task, options={"task": task})
        port = v1.task.port
        goal = 100.0 * np.array([0.0, router.port_offsets()[port], router.top_height - router.seat_depth])
        for _ in range(8):
            a = rng.uniform(v1.action_space.low, v1.action_space.high).astype(np.float32)
            o0, _, _, _, _ = v0.step(a)
            o1, r, _, _, _ = v1.step(a)
            assert o1.shape == (16,) and np.array_equal(o1[:7], o0)
            x, z = o1[10:13].astype(float), o1[13:16].astype(float)
            rel = np.stack([x, np.cross(z, x), z], axis=1)
            from_relative_pose = -(np.linalg.norm(o1[7:10] - goal) / 100.0 + rotation_angle(rel, PLUG_DOWN))
            assert from_relative_pose == pytest.approx(r, abs=1e-4)
        ports.add(port)
    assert len(ports) >= 3
    v0.close(), v1.close()


def test_funnel_reward_tells_neighbouring_ports_apart():
    """v2 = v1 with the funnel reward. A plug seated in the port next to the goal scores 0.02 below the goal
    on v1 (1% of the reward's range: what kept the state rung's belief from the port) and over 0.25 below it
    on v2; far from the router the two rewards still fall with distance, and the plug in the goal's pose
    scores 0 on both."""
    v1, v2 = gym.make("WidowXInsertState-v1").unwrapped, gym.make("WidowXInsertState-v2").unwrapped
    router = v2.sim.router
    task = v2.tasks[v2.heldout_task_ids[0]]
    goal_tip, goal_R = router.insertion_pose(task.port, task.translation, task.rotation)
    neighbour = task.port + 1 if task.port + 1 < router.num_ports else task.port - 1
    tip, R = router.insertion_pose(neighbour, task.translation, task.rotation)
    gaps = {}
    for name, env in (("v1", v1), ("v2", v2)):
        cfg = env.config.sim.reward
        assert shaped_reward(goal_tip, goal_R, goal_tip, goal_R, cfg)[0] == 0.0
        gaps[name] = -shaped_reward(tip, R, goal_tip, goal_R, cfg)[0]
        far = [shaped_reward(goal_tip + [0, 0, h], goal_R, goal_tip, goal_R, cfg)[0] for h in (0.01, 0.05, 0.1)]
        assert far[0] > far[1] > far[2]
    assert gaps["v1"] == pytest.approx(0.02) and gaps["v2"] > 0.25

    v1.close(), v2.close()


@pytest.mark.parametrize("base_id, funnel_id", [("WidowXInsertState-v1", "WidowXInsertState-v2"),
                                                ("WidowXInsertOracle-v0", "WidowXInsertOracle-v1")])
def test_funnel_ids_differ_from_their_base_by_the_funnel_alone(base_id, funnel_id):
    """In the env: the same physics, observations and info, the reward lower by exactly the funnel of
    the distance (the oracle rung's v1 is to its v0 what the state rung's v2 is to its v1)."""
    v1, v2 = gym.make(base_id).unwrapped, gym.make(funnel_id).unwrapped
    cfg = v2.config.sim.reward
    assert cfg.funnel_weight > 0 and v1.config.sim.reward.funnel_weight == 0
    rng = np.random.default_rng(1)
    v1.reset(seed=4, options={"task": 4}), v2.reset(seed=4, options={"task": 4})
    for _ in range(6):
        a = rng.uniform(v2.action_space.low, v2.action_space.high).astype(np.float32)
        o1, r1, _, _, i1 = v1.step(a)
        o2, r2, _, _, i2 = v2.step(a)
        assert np.array_equal(o1, o2) and i1["distance"] == i2["distance"]
        assert r1 - r2 == pytest.approx(cfg.funnel_weight * np.log1p((i2["distance"] / cfg.funnel_scale) ** 2))
    v1.close(), v2.close()


@pytest.mark.parametrize("base_id, all_ports_id", [("WidowXInsertState-v2", "WidowXInsertState-v3"),
                                                   ("WidowXInsertStateSparse-v2", "WidowXInsertStateSparse-v3")])
def test_all_ports_ids_train_every_port_at_every_pose_and_hold_out_the_same_tasks(base_id, all_ports_id):
    """v3 is v2 meta-trained on the 20 training rig poses with each of the four ports, so the pose in the
    observation no longer names the goal port; its held-out tasks, what is measured, are v2's, and a task
    id means the same in both (ids 0-29; the rig's task file numbers them so)."""
    base, v3 = gym.make(base_id).unwrapped, gym.make(all_ports_id).unwrapped
    assert v3.tasks[:30] == base.tasks and v3.heldout_task_ids == base.heldout_task_ids == list(range(20, 30))
    train = [v3.tasks[i] for i in v3.train_task_ids]
    poses = {(t.translation, t.rotation) for t in base.tasks if t.split == "train"}
    assert len(train) == 80 and {(t.translation, t.rotation) for t in train} == poses
    assert sorted((t.translation, t.rotation, t.port) for t in train) == sorted((*p, port) for p in poses for port in range(4))
    for h in (v3.tasks[i] for i in v3.heldout_task_ids):  # unseen: no training pose is within the separation
        assert all(max(abs(h.translation - t), abs(h.rotation - r)) >= 0.5e-3 for t, r in poses)
    assert v3.sparse == base.sparse and v3.config.sim.reward == base.config.sim.reward
    task = v3.tasks[57]
    obs, info = v3.reset(seed=3, options={"task": 57})
    assert info["goal_port"] == task.port and v3.sim.rig_pose() == pytest.approx((task.translation, task.rotation))
    base.close(), v3.close()


def test_train_ports_refuses_an_unknown_choice():
    from widowx_bringup.sim.tasks import TaskSetConfig
    with pytest.raises(ValueError, match="'drawn'.*'all'"):
        TaskSetConfig(train_ports="every")


@pytest.mark.parametrize("bad", [{"funnel_weight": -0.1}, {"funnel_scale": 0.0}, {"rotation_weight": -1.0}])
def test_reward_config_refuses_what_would_reward_moving_away(bad):
    with pytest.raises(ValueError, match="must be"):
        RewardConfig(**bad)


def test_port_rewards_score_a_recorded_step_for_every_port_as_the_env_would():
    """Hindsight relabelling scores recorded observations for another goal port: on the trial's own port
    it must give the env's reward, and on another port the reward the env gives when that port is the
    goal (the same arm path, driven again on a task whose goal is that port at the same rig pose)."""
    e = gym.make("WidowXInsertState-v3").unwrapped
    rng = np.random.default_rng(1)
    by_pose: dict = {}
    for task_id in e.train_task_ids:
        task = e.tasks[task_id]
        by_pose.setdefault((task.translation, task.rotation), {})[task.port] = task_id
    ports = next(v for v in by_pose.values() if len(v) == e.sim.router.num_ports)
    actions = rng.uniform(e.action_space.low, e.action_space.high, (25, e.action_space.shape[0])).astype(np.float32)
    paths = {}
    for port, task_id in sorted(ports.items()):
        obs, rewards = [], []
        e.reset(seed=3, options={"task": task_id})
        for a in actions:
            o, r, *_ = e.step(a)
            obs.append(o)
            rewards.append(r)
        paths[port] = (np.array(obs), np.array(rewards))
    obs0, _ = paths[0]
    table = e.port_rewards(obs0)
    assert table.shape == (len(actions), e.sim.router.num_ports)
    for port, (obs, rewards) in paths.items():
        np.testing.assert_allclose(obs, obs0, atol=1e-5)  # the goal port does not move the arm
        np.testing.assert_allclose(table[:, port], rewards, atol=2e-4)
    assert np.ptp(table[-1]) > 0.01  # the ports' rewards differ: relabelling changes the evidence


def test_port_sparse_rewards_say_link_up_in_whichever_port_the_plug_is_seated():
    """Relabelling a sparse trial needs the sparse reward every port would have given: along a scripted
    search that seats the plug in several ports, the table's column of the port the env reports seated is
    1 and every other 0, and on the goal's column it is the env's own sparse reward."""
    e = gym.make("WidowXInsertStateSparse-v3").unwrapped
    rng = np.random.default_rng(2)
    seen_ports = set()
    for task in (4, 17, 42, 63):
        obs0, _ = e.reset(seed=task, options={"task": task})
        search = PortSearch(e, rng)
        obs, seated, rewards = [obs0], [-1], [0.0]
        for _ in range(40):
            o, r, _, _, info = e.step(search.act())
            obs.append(o)
            seated.append(info["seated_port"])
            rewards.append(r)
        table = e.port_sparse_rewards(np.array(obs))
        expect = np.array([[float(s == k) for k in range(e.sim.router.num_ports)] for s in seated])
        np.testing.assert_array_equal(table, expect)
        np.testing.assert_array_equal(table[:, e.sim.goal_port], rewards)
        seen_ports |= {s for s in seated if s >= 0}
    assert len(seen_ports) >= 3
