"""A run exported to one compact policy file: meta-tested by meld-eval like the full checkpoint, loaded by the
policy node's loader, refused for resuming with a sentence, and watched trial by trial (the paper's figure 6)."""
import json

import pytest
import torch

from meld_policy.checkpoint import CheckpointError, load_policy
from meld_trainer.config import build_config
from meld_trainer.export import export_policy
from meld_trainer.meta_train import MetaTrainer
from test_cli import run

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    cfg = build_config("smoke", ["train.seed=4", "train.iterations=3"])
    tr = MetaTrainer(cfg, "PointGoalSparse-v0", root / "run", tensorboard=False)
    tr.run(progress=False)
    return root, tr.checkpoint_path


def test_policy_file_is_small_and_meta_tests_like_the_checkpoint(trained):
    root, ckpt = trained
    policy = export_policy(ckpt, root / "models" / "policy.pt", command="meld-train ... (test)")
    assert policy.stat().st_size < 0.5 * ckpt.stat().st_size
    raw = torch.load(policy, weights_only=True)
    assert raw["kind"] == "policy" and raw["provenance"]["dtype"] == "float16" and "critic" not in raw
    assert all(v.dtype == torch.float16 for v in raw["model"].values() if v.is_floating_point())
    reports = {}
    for name, path in (("checkpoint", ckpt), ("policy", policy)):
        r = run("meld-eval", "--checkpoint", str(path), "--trials-per-task", "2", "--out", str(root / name))
        assert r.returncode == 0, r.stderr[-2000:]
        reports[name] = json.loads((root / name / "report.json").read_text())
    # Half precision moves the belief by rounding only: the same held-out outcome on these 20 trials.
    assert reports["policy"]["trials"] == reports["checkpoint"]["trials"] == 20
    assert abs(reports["policy"]["success"] - reports["checkpoint"]["success"]) <= 0.1
    assert reports["policy"]["eval_history"] == reports["checkpoint"]["eval_history"]
    pol = load_policy(policy)  # what the policy node calls
    assert next(pol.model.parameters()).dtype == torch.float32 and pol.env_id == "PointGoalSparse-v0"
    with pytest.raises(CheckpointError, match="not resumed"):
        MetaTrainer(build_config("smoke"), "PointGoalSparse-v0", root / "other", tensorboard=False).load_checkpoint(policy)
    again = run("meld-export", "--checkpoint", str(policy), "--out", str(root / "x.pt"))
    assert again.returncode == 2 and "already a policy file" in again.stderr


def test_watch_draws_both_episodes_and_the_predicted_reward(trained):
    root, ckpt = trained
    r = run("meld-eval", "--checkpoint", str(ckpt), "--watch", "23", "--out", str(root / "watch"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (root / "watch" / "strip.png").stat().st_size > 10_000
    import imageio.v3 as iio
    frames = iio.imread(root / "watch" / "trial.gif")
    assert len(frames) > 16  # a sparse trial: two episodes of 15 steps and their reset frames (one is 16 frames;
    # the GIF writer may merge identical consecutive frames)


def test_meld_eval_on_workers_reports_what_it_reports_in_process(trained):
    """`meld-eval --workers N`: the same trials (pure functions of job and weights), only in parallel."""
    root, ckpt = trained
    reports = {}
    for workers in (0, 2):
        out = root / f"eval-workers{workers}"
        r = run("meld-eval", "--checkpoint", str(ckpt), "--trials-per-task", "1", "--workers", str(workers),
                "--out", str(out), timeout=400)  # two spawned workers each import torch: slow on a loaded CI box
        assert r.returncode == 0, r.stderr[-2000:]
        reports[workers] = json.loads((out / "report.json").read_text())
    for key in ("trials", "successes", "per_task", "shaped_return", "median_final_distance"):
        assert reports[2][key] == pytest.approx(reports[0][key], rel=1e-5), key
