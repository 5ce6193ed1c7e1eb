"""MuJoCo simulator of the WidowX cable-insertion cell (no ROS import).

Importing this package registers the gymnasium ids:
  - `WidowXInsert-v0`: shaped reward (minus the plug's translation + rotation distance to the
    goal port's insertion pose);
  - `WidowXInsertSparse-v0`: sparse reward, 1 while the plug is seated in the goal port ("link
    up"); the shaped reward stays in `info["shaped_reward"]`.
Both end episodes by truncation after 40 steps at 3.3 Hz. Low-dimensional variants for the
learnability ladder (`state_env.py`): `WidowXInsertOracle-v0` (privileged state with the goal;
`-v1` the same with the funnel reward),
`WidowXInsertState-v0` and `WidowXInsertStateSparse-v0` (joint positions and rig pose, no goal),
`WidowXInsertState-v1` and `WidowXInsertStateSparse-v1` (and the plug's pose relative to the router),
`WidowXInsertState-v2` and `WidowXInsertStateSparse-v2` (v1 with the funnel reward, `FUNNEL_REWARD`),
`WidowXInsertState-v3` and `WidowXInsertStateSparse-v3` (v2 meta-trained on every port at each training
pose, `ALL_PORTS_TASKS`: 80 training tasks; the same 10 held-out tasks).

    import gymnasium as gym, widowx_bringup.sim
    env = gym.make("WidowXInsert-v0")
    obs, info = env.reset(seed=0, options={"task": 3})
"""
from gymnasium.envs.registration import register, registry

from ..scene import RewardConfig
from .env import EPISODE_STEPS, EnvConfig, WidowXInsertEnv
from .tasks import Task, TaskSetConfig, sample_tasks

for _id, _sparse in (("WidowXInsert-v0", False), ("WidowXInsertSparse-v0", True)):
    if _id not in registry:
        register(id=_id, entry_point="widowx_bringup.sim.env:WidowXInsertEnv",
                 kwargs={"sparse": _sparse}, max_episode_steps=EPISODE_STEPS)

FUNNEL_REWARD = RewardConfig(funnel_weight=0.1, funnel_scale=0.005)
"""The shaped reward of the v2 state ids and the oracle's v1: the paper's plus a log-distance funnel
(scene.RewardConfig)."""
ALL_PORTS_TASKS = TaskSetConfig(train_ports="all")
"""The task set of the v3 state ids: the 20 training rig poses with each of the four ports (tasks.py says why)."""
_STATE_IDS = (  # id, entry point, sparse, reward (None: the paper's), task set (None: the drawn 20 + 10)
    ("WidowXInsertOracle-v0", "WidowXInsertOracleEnv", False, None, None),
    ("WidowXInsertOracle-v1", "WidowXInsertOracleEnv", False, FUNNEL_REWARD, None),
    ("WidowXInsertState-v0", "WidowXInsertStateEnv", False, None, None),
    ("WidowXInsertStateSparse-v0", "WidowXInsertStateEnv", True, None, None),
    ("WidowXInsertState-v1", "WidowXInsertRelativeStateEnv", False, None, None),
    ("WidowXInsertStateSparse-v1", "WidowXInsertRelativeStateEnv", True, None, None),
    ("WidowXInsertState-v2", "WidowXInsertRelativeStateEnv", False, FUNNEL_REWARD, None),
    ("WidowXInsertStateSparse-v2", "WidowXInsertRelativeStateEnv", True, FUNNEL_REWARD, None),
    ("WidowXInsertState-v3", "WidowXInsertRelativeStateEnv", False, FUNNEL_REWARD, ALL_PORTS_TASKS),
    ("WidowXInsertStateSparse-v3", "WidowXInsertRelativeStateEnv", True, FUNNEL_REWARD, ALL_PORTS_TASKS),
)
for _id, _entry, _sparse, _reward, _tasks in _STATE_IDS:
    if _id not in registry:
        register(id=_id, entry_point=f"widowx_bringup.sim.state_env:{_entry}",
                 kwargs={"sparse": _sparse, "reward": _reward, "tasks": _tasks}, max_episode_steps=EPISODE_STEPS)

__all__ = ["ALL_PORTS_TASKS", "EPISODE_STEPS", "FUNNEL_REWARD", "EnvConfig", "Task", "TaskSetConfig", "WidowXInsertEnv",
           "sample_tasks"]
