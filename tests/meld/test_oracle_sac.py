"""The ladder's oracle rung (SAC on a low-dimensional observation) and its reactive variant."""
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from meld_trainer.envs import make_env
from meld_trainer.config import SACConfig
from meld_trainer.oracle_sac import LastRewardObs, OracleConfig, train_oracle


def test_last_reward_obs_shows_the_reward_of_the_step_that_made_the_observation():
    """The reactive baseline sees (observation, last reward): 0 after a reset, then each step's reward,
    and the observation itself unchanged, so the goal port can be read from the pose and the reward."""
    env = LastRewardObs(make_env("WidowXInsertState-v2"))
    check_env(env.unwrapped, skip_render_check=True)
    base = make_env("WidowXInsertState-v2")
    obs, _ = env.reset(seed=3, options={"task": 2})
    plain, _ = base.reset(seed=3, options={"task": 2})
    assert env.observation_space.shape == (base.observation_space.shape[0] + 1,)
    assert obs[-1] == 0.0 and np.array_equal(obs[:-1], plain) and obs in env.observation_space
    rng = np.random.default_rng(0)
    for _ in range(4):
        a = rng.uniform(base.action_space.low, base.action_space.high).astype(np.float32)
        obs, r, _, _, _ = env.step(a)
        plain, r_plain, _, _, _ = base.step(a)
        assert np.array_equal(obs[:-1], plain) and obs[-1] == pytest.approx(r) and r == r_plain
    env.close(), base.close()


@pytest.mark.parametrize("last_reward", [False, True])
def test_oracle_training_runs_and_reports_held_out_success(last_reward):
    """A short run of the rung trains (updates after the random warm-up), evaluates on held-out tasks
    with a trial count and interval, and hands back an actor for the observation it was trained on."""
    cfg = OracleConfig(env_id="WidowXInsertState-v2" if last_reward else "WidowXInsertOracle-v1", env_steps=120,
                       random_steps=80, eval_every=120, eval_trials=2, last_reward_in_obs=last_reward,
                       sac=SACConfig(batch_size=16))
    result = train_oracle(cfg)
    assert result["updates"] == 40
    ((steps, success, trials, (lo, hi)),) = result["curve"]
    assert steps == 120 and trials == 2 and 0.0 <= lo <= success <= hi <= 1.0
    first = next(m for m in result["actor"].net.modules() if isinstance(m, torch.nn.Linear))
    assert first.in_features == make_env(cfg.env_id).observation_space.shape[0] + last_reward
