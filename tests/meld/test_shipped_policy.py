"""The policy shipped under models/: what a newcomer runs first, on a CPU-only machine (README; docs/meld.md,
"The shipped policy"). It loads weights-only, stays small, says where it came from, meta-tests and draws a
held-out trial with meld-eval, still seats the plug where it did when it was shipped, and is refused with a
sentence where it cannot act: the ROS graph's policy reads the cameras, this one a state vector."""
import json
import re
from pathlib import Path

import pytest
import torch

from meld_policy.checkpoint import camera_policy_problem, load_policy
from test_cli import run

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "meld_widowx_state_v3.pt"


def test_the_shipped_file_is_small_and_says_where_it_came_from():
    assert SHIPPED.stat().st_size < 15e6
    raw = torch.load(SHIPPED, weights_only=True)
    assert raw["kind"] == "policy" and raw["env_id"] == "WidowXInsertState-v3"
    assert raw["provenance"]["dtype"] == "float16" and "meld-train --env WidowXInsertState-v3" in raw["provenance"]["command"]
    assert 0 < raw["counters"]["env_steps"] <= 84_000  # within the ladder's 80k-step budget (+ pretraining)
    assert raw["eval_history"], "the held-out curve it was trained with travels in the file"
    policy = load_policy(SHIPPED)  # what the policy node calls
    assert policy.model_config.encoder == "mlp" and policy.actor.action_dim == 5


def test_meld_eval_meta_tests_it_and_draws_a_trial_on_the_cpu(tmp_path):
    r = run("meld-eval", "--checkpoint", str(SHIPPED), "--tasks", "heldout", "--device", "cpu", "--out", str(tmp_path / "eval"))
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r"heldout success: (\d+)% \((\d+)/10 trials", r.stdout)
    assert m, r.stdout[-1000:]
    # Shipped at 83% on 30 held-out trials (25/30) and 84% on 100, 9/10 on these ten; a change to the sim, the
    # observation or the filter that the file no longer fits shows as a collapse, not a point or two.
    assert int(m.group(2)) >= 5, r.stdout[-1500:]
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["trials"] == 10 and set(report["per_task"]) == {str(t) for t in range(20, 30)}
    w = run("meld-eval", "--checkpoint", str(SHIPPED), "--watch", "23", "--out", str(tmp_path / "watch"))
    assert w.returncode == 0, w.stderr[-2000:]
    assert (tmp_path / "watch" / "strip.png").stat().st_size > 10_000 and (tmp_path / "watch" / "trial.gif").exists()


def test_the_ros_graph_refuses_it_with_a_sentence_that_names_meld_eval():
    pytest.importorskip("rclpy")
    from meld_trainer.node import policy_file_problem
    problem = policy_file_problem(SHIPPED, "WidowXInsertSparse-v0")
    assert "state vector" in problem and f"meld-eval --checkpoint {SHIPPED}" in problem
    assert "env_id:=" not in problem  # not sent to start an image graph on a state env id
    assert camera_policy_problem({"encoder": "conv"}, "WidowXInsertSparse-v0", "x.pt") == ""
