"""Every error a user can cause in meld-train and meld-eval is a sentence: non-zero exit, the
cause and the fix named, no traceback (tracebacks are behind --debug). Run as subprocesses, as a
user would, on real files (issue 13)."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BIN = Path(sys.executable).parent
SMALL = ["train.iterations=1", "train.pretrain_episodes=1", "train.pretrain_model_updates=1", "train.eval_every=0",
         "train.checkpoint_every=1"]


def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout, env=env)


def refused(r: subprocess.CompletedProcess, *words: str) -> str:
    """The run failed with a sentence containing `words`, and no traceback; returns stderr."""
    out = r.stdout + r.stderr
    assert r.returncode != 0, f"expected a refusal; exit 0:\n{out[-2000:]}"
    assert "Traceback" not in out, out[-3000:]
    assert "weights_only=False" not in out, out[-3000:]
    for w in words:
        assert w in out, f"{w!r} not in:\n{out[-2000:]}"
    return r.stderr


def train(run_dir: Path, *extra: str, env: str = "PointGoal-v0", config: str = "smoke") -> subprocess.CompletedProcess:
    return run("meld-train", "--env", env, "--config", config, "--run-dir", str(run_dir), *extra)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A tiny finished run (its model_lr given as 1e-3, which YAML reads as a string)."""
    run_dir = tmp_path_factory.mktemp("errors") / "run"
    r = train(run_dir, *SMALL, "train.model_lr=1e-3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    return run_dir


def test_model_lr_in_e_notation_works(finished_run):
    ckpt = torch.load(finished_run / "checkpoints" / "latest.pt", weights_only=True)
    assert ckpt["config"]["train"]["model_lr"] == pytest.approx(1e-3)


def test_unknown_env_id(tmp_path):
    refused(train(tmp_path / "r", env="WidowXInsrt-v0"), "WidowXInsrt-v0", "WidowXInsert-v0")
    assert not (tmp_path / "r" / "checkpoints").exists()


@pytest.mark.parametrize("override, words", [
    ("train.iterations=abc", ("iterations", "integer", "'abc'")),
    ("iterations=", ("iterations", "needs a value")),
    ("model.z1_dim=abc", ("z1_dim", "integer")),
    ("train.device=5", ("device", "string")),
    ("train.device=gpu0", ("device", "cuda")),
])
def test_bad_overrides(tmp_path, override, words):
    refused(train(tmp_path / "r", override), *words)


def test_read_only_run_folder_leaves_nothing(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the full-disk case below covers the write path")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        refused(train(ro / "run", *SMALL), str(ro / "run"), "writable")
    finally:
        ro.chmod(0o700)


def test_full_run_folder_names_the_file_and_leaves_no_tmp(tmp_path):
    """A disk that fills up during the run (/dev/full stands in for the checkpoint file): a sentence with the path."""
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    os.symlink("/dev/full", run_dir / "checkpoints" / "latest.pt.tmp")
    err = refused(train(run_dir, *SMALL), "latest.pt", "No space left")
    leftovers = [p.name for p in (run_dir / "checkpoints").iterdir()]
    assert "latest.pt.tmp" not in leftovers and "latest.pt" not in leftovers, leftovers
    assert "--resume" in err


def test_resume_of_a_truncated_checkpoint(finished_run, tmp_path):
    import shutil
    run_dir = tmp_path / "cut"
    shutil.copytree(finished_run, run_dir)
    ckpt = run_dir / "checkpoints" / "latest.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    refused(train(run_dir, *SMALL, "--resume"), "latest.pt", "truncated")


def test_run_folders_own_config_yaml_as_config(finished_run, tmp_path):
    r = train(tmp_path / "again", *SMALL, config=str(finished_run / "config.yaml"))
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.parametrize("folder", ["empty", "missing"])
def test_resume_on_an_empty_or_missing_folder_refuses(tmp_path, folder):
    run_dir = tmp_path / folder
    if folder == "empty":
        run_dir.mkdir()
    refused(train(run_dir, "--resume"), "nothing to resume")
    assert not (run_dir / "episodes").exists()


def test_episode_index_not_reused_after_a_corrupt_newest_file(finished_run, tmp_path):
    import shutil
    from meld_policy.episode_io import parse_filename
    run_dir = tmp_path / "corrupt"
    shutil.copytree(finished_run, run_dir)
    episodes = run_dir / "episodes"
    newest = max(episodes.glob("*.npz"), key=lambda p: parse_filename(p).episode_index)
    newest.write_bytes(b"PK garbage")
    r = train(run_dir, "--resume", "train.iterations=2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert newest.name in r.stderr and "skipped" in r.stderr
    assert newest.read_bytes() == b"PK garbage"  # never overwritten
    indices = sorted(parse_filename(p).episode_index for p in episodes.glob("*.npz"))
    assert len(indices) == len(set(indices))
    assert max(indices) > parse_filename(newest).episode_index


# ----- meld-eval -----------------------------------------------------------------------------------
class Code:
    """Unpickling this runs code: a weights-only load refuses it."""

    def __reduce__(self):
        return (print, ("code ran",))


def bad_checkpoints(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    text = tmp_path / "notes.pt"
    text.write_text("these are my notes\n")
    no_config = tmp_path / "noconfig.pt"
    torch.save({"format_version": 1, "model": {}}, no_config)
    code = tmp_path / "code.pt"
    with open(code, "wb") as f:
        pickle.dump({"format_version": 1, "x": Code()}, f)
    code_torch = tmp_path / "code_torch.pt"
    torch.save({"format_version": 1, "x": Code()}, code_torch)
    return {"folder": tmp_path, "empty": empty, "text": text, "no_config": no_config, "code": code,
            "code_torch": code_torch}


@pytest.mark.parametrize("kind, words", [
    ("folder", ("folder",)), ("empty", ("empty",)), ("text", ("cannot be read",)),
    ("no_config", ("config",)), ("code", ("weights-only",)), ("code_torch", ("weights-only", "could run code")),
])
def test_meld_eval_on_files_that_are_not_checkpoints(tmp_path, kind, words):
    path = bad_checkpoints(tmp_path)[kind]
    r = run("meld-eval", "--checkpoint", str(path), "--out", str(tmp_path / "out"))
    refused(r, *words)
    assert "code ran" not in r.stdout + r.stderr


@pytest.mark.parametrize("n", ["0", "-1", "two"])
def test_meld_eval_trials_per_task(finished_run, n):
    refused(run("meld-eval", "--checkpoint", str(finished_run / "checkpoints" / "latest.pt"), "--trials-per-task", n),
            "trials-per-task")


def test_meld_eval_read_only_out_is_refused_before_evaluating(finished_run, tmp_path):
    out = tmp_path / "out"
    out.symlink_to("/proc/version")  # a path nobody can make a folder at, root included
    r = run("meld-eval", "--checkpoint", str(finished_run / "checkpoints" / "latest.pt"), "--out", str(out / "sub"))
    refused(r, "--out")
    assert "success" not in r.stdout


# ----- meld-launch and meld-rig ------------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["--config", "bogus"], ("bogus", "configs available")),
    (["--run-dir", "/proc/version/run"], ("/proc/version", "writable --run-dir")),
    (["--domain-id", "999"], ("0..232",)),
    (["--cells", "0"], ("cells=0",)),
    (["--rig-speedup", "fast"], ("rig-speedup",)),
])
def test_meld_launch_start_up_errors(args, words):
    refused(run("meld-launch", "sim", "--duration", "5", *args, timeout=60), *words)


@pytest.mark.parametrize("args, words", [
    (["--port", "/nonexistent/tty", "status"], ("/nonexistent/tty",)),
    (["--port", "/dev/null", "--baud", "0", "home"], ("baud",)),
    (["--port", "/dev/null", "goto-task", "999"], ("999",)),
])
def test_meld_rig_errors(args, words):
    refused(run("meld-rig", *args, timeout=60), *words)
