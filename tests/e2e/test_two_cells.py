"""Scale: two simulated cells, each under its own namespace with its own rig, arm and policy,
feed one trainer (`meld-launch sim --cells 2`) until the smoke run finishes."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from meld_policy.episode_io import scan_episodes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def test_two_namespaced_sims_feed_one_trainer(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [str(Path(sys.executable).parent / "meld-launch"), "sim", "--cells", "2", "--config", "smoke",
           "--run-dir", str(run_dir), "--duration", "240"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=330)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail("the two-cell run did not finish: " + out[-3000:])
    assert proc.returncode == 0, out[-3000:]
    # The trainer finished its iterations (it, not the duration, ended the graph).
    assert "meta-training finished after 6 iterations" in out and "trainer finished; stopping the graph" in out
    for cell in ("cell1", "cell2"):
        assert re.search(rf"started {cell}/sim .*pid", out) and re.search(rf"started {cell}/policy .*pid", out)
        ingested = re.findall(rf"\[trainer\].*{cell}: ingested 1 episode file", out)
        assert len(ingested) >= 2, f"{cell} contributed {len(ingested)} episodes"
        assert re.search(rf"\[{cell}/reset_rig\].*task \d+ reached", out), f"{cell}'s rig never moved"
    episodes, _ = scan_episodes(run_dir / "episodes")
    indices = [m.episode_index for m in episodes]
    assert len(indices) == len(set(indices)) >= 10  # 4 pretraining + 6 iterations, none duplicated
    assert (run_dir / "checkpoints" / "latest.pt").is_file()
