"""Making meta-envs by id: a misspelt id is answered with the ids that exist."""
import pytest

from meld_trainer.envs import known_ids, make_env


def test_a_misspelt_env_id_is_answered_with_the_ids_that_exist():
    with pytest.raises(RuntimeError) as e:
        make_env("WidowXInsertStat-v2")
    msg = str(e.value)
    assert "cannot make env 'WidowXInsertStat-v2'" in msg
    for env_id in ("PointGoal-v0", "WidowXInsertSparse-v0", "WidowXInsertOracle-v1", "WidowXInsertStateSparse-v2"):
        assert env_id in msg and env_id in known_ids()
    assert all(i.startswith(("PointGoal", "WidowX")) for i in known_ids()), "only this project's ids are listed"
