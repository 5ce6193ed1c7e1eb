"""The scripted port search (`train.pretrain_search_episodes`): trials in which the plug leaves a wrong port."""
import gymnasium as gym
import numpy as np

import widowx_bringup.sim  # noqa: F401  (registers the ids)
from widowx_bringup.sim.scripted import PortSearch


def _runs(seated: list[int]) -> list[int]:
    """The ports the plug sat in, in order, each stay once."""
    out = []
    for s in seated:
        if s >= 0 and (not out or out[-1] != s):
            out.append(s)
    return out


def test_the_search_seats_in_its_ports_in_order_leaves_the_wrong_ones_and_stays_in_the_goal():
    env = gym.make("WidowXInsertState-v3").unwrapped
    rng = np.random.default_rng(0)
    left_a_wrong_port = found = 0
    for task in range(0, 80, 5):
        env.reset(seed=task, options={"task": task})
        search = PortSearch(env, rng)
        goal = env.sim.goal_port
        assert search.order[-1] == goal and goal not in search.order[:-1]
        assert sorted(search.order) == sorted(set(search.order))
        seated, rewards = [], []
        for _ in range(40):
            _, r, _, _, info = env.step(search.act())
            seated.append(info["seated_port"])
            rewards.append(r)
        visits = _runs(seated)
        assert visits == search.order[:len(visits)], (task, visits, search.order)
        if len(search.order) <= 3:  # three visits fit in an episode of 40 steps
            assert visits == search.order and seated[-1] == goal, (task, seated)
            found += 1
            if len(visits) > 1:
                left_a_wrong_port += 1
                assert rewards[-1] > max(r for r, s in zip(rewards, seated) if s == visits[0])
    assert found >= 8 and left_a_wrong_port >= 4


def test_a_known_goal_is_entered_at_once():
    env = gym.make("WidowXInsertState-v3").unwrapped
    env.reset(seed=1, options={"task": 7})
    search = PortSearch(env, np.random.default_rng(0), known=True)
    assert search.order == [env.sim.goal_port]
    seated = [env.step(search.act())[4]["seated_port"] for _ in range(15)]
    assert _runs(seated) == [env.sim.goal_port]
