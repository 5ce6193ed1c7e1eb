"""The learnability ladder's low-dimensional envs: what their observations hold, and what they do not."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import widowx_bringup.sim  # noqa: F401  (registers the ids)
from widowx_bringup.kinematics import rotation_angle
from widowx_bringup.scene import PLUG_DOWN

STATE_IDS = ["WidowXInsertState-v0", "WidowXInsertStateSparse-v0", "WidowXInsertState-v1", "WidowXInsertStateSparse-v1"]


@pytest.mark.parametrize("env_id", STATE_IDS)
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
