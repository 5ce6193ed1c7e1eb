"""The whole sim graph started the way a user starts it (`meld-launch sim --config smoke`), watched
from outside over DDS: what a user would look at to know the stack works."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Int32, String
from visualization_msgs.msg import Marker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nodes"))
from graph_harness import ProbeNode  # noqa: E402

from meld_policy.episode_protocol import EpisodeReport  # noqa: E402
from meld_ros.qos import EVENTS, LATCHED, SENSOR  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
DURATION = 60.0
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
GRAPH_SAMPLED_AT = DURATION - 10.0
"""Seconds into the run when the live graph's topics are listed: every node long up, none stopping."""


def live_graph(node) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, str, str]]]]:
    """The live graph's topics -> their types, and topic -> (type, reliability, durability) of each
    of its publishers (a topic that only has subscribers has none)."""
    topics = dict(node.get_topic_names_and_types())
    publishers = {name: [(i.topic_type, i.qos_profile.reliability.name, i.qos_profile.durability.name)
                         for i in node.get_publishers_info_by_topic(name)] for name in topics}
    return topics, publishers


def rviz_subscriptions():
    """What launch/rviz/meld.rviz subscribes to, parsed by tests/launchfiles/test_rviz_config.py."""
    path = Path(__file__).resolve().parents[1] / "launchfiles" / "test_rviz_config.py"
    spec = importlib.util.spec_from_file_location("meld_rviz_config_check", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module.subscriptions(), module.NOT_IN_SIM


def rate_between(times: list[float], start: float, end: float) -> float:
    inside = [t for t in times if start <= t <= end]
    return (len(inside) - 1) / (inside[-1] - inside[0]) if len(inside) > 2 else 0.0


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("smoke_run")
    probe = ProbeNode("e2e_probe")
    seen = {
        "scene": probe.collect(Image, "scene_camera/image_raw", SENSOR),
        "wrist": probe.collect(Image, "wrist_camera/image_raw", SENSOR),
        "diag": probe.collect(DiagnosticArray, "/diagnostics", RELIABLE),
        "arrived": probe.collect(Int32, "rig/arrived", RELIABLE),
        "pose": probe.collect(PoseStamped, "rig/pose", RELIABLE),
        "episodes": probe.collect(String, "episodes", EVENTS),
        "loaded": probe.collect(String, "policy/loaded_checkpoint", LATCHED),
        "goal_marker": probe.collect(Marker, "goal_marker", RELIABLE),
    }
    topics, publishers = {}, {}
    log = run_dir / "meld-launch.log"
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "meld-launch"), "sim", "--config", "smoke",
                                 "--duration", str(DURATION), "--run-dir", str(run_dir)],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while proc.poll() is None and time.monotonic() < start + GRAPH_SAMPLED_AT:
                time.sleep(0.5)
            if proc.poll() is None:
                topics, publishers = live_graph(probe.node)
            code = proc.wait(timeout=max(1.0, start + DURATION + 120 - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            pytest.fail(f"meld-launch did not stop within {DURATION + 120:.0f} s; see {log}")
    time.sleep(1.0)
    probe.close()
    yield {"code": code, "log": log.read_text(), "run_dir": run_dir, "seen": seen, "start": start,
           "topics": topics, "publishers": publishers}


def test_runner_exits_cleanly_and_leaves_nothing_running(smoke):
    assert smoke["code"] == 0, smoke["log"][-3000:]
    assert "all processes stopped" in smoke["log"]
    pids = [int(p) for p in re.findall(r"started \S+.*? pid (\d+)", smoke["log"])]
    assert len(pids) >= 7, "expected the emulator and six nodes"
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_both_cameras_publish_at_their_rate(smoke):
    start = smoke["start"]
    for camera in ("scene", "wrist"):
        times = [t for t, _ in smoke["seen"][camera]]
        assert times, f"no {camera} camera images"
        rate = rate_between(times, start + 20, start + DURATION - 5)
        assert rate > 0.8 * 15.0, f"{camera} camera at {rate:.1f} Hz, configured 15 Hz"
        msg = smoke["seen"][camera][-1][1]
        assert (msg.height, msg.width, msg.encoding) == (64, 64, "rgb8")


def test_policy_loop_holds_3_3_hz(smoke):
    statuses = [s for _, d in smoke["seen"]["diag"] for s in d.status if s.name == "policy: control loop"]
    assert statuses, "the policy published no loop diagnostics"
    values = {kv.key: float(kv.value) for kv in statuses[-1].values}
    assert values["ticks"] >= 66, f"only {values['ticks']} ticks: less than 20 s of the loop"
    assert abs(values["rate_hz"] - 3.3) <= 0.33, f"policy loop at {values['rate_hz']:.2f} Hz (3.3 Hz +-10%)"


def test_rig_moves_to_the_requested_task_through_the_emulator(smoke):
    assert smoke["seen"]["arrived"], "the rig never confirmed arrival at a task"
    xs = {round(m.pose.position.x, 4) for _, m in smoke["seen"]["pose"]}
    assert len(xs) > 2, "the rig's measured pose never changed"
    assert re.search(r"task \d+ reached: X=", smoke["log"])


def test_episode_files_land_and_the_trainer_ingests_them(smoke):
    reports = [EpisodeReport.from_json(m.data) for _, m in smoke["seen"]["episodes"]]
    written = [r for r in reports if r.path]
    assert len(written) >= 4, f"{len(written)} episodes reported"
    for r in written:
        assert Path(r.path).is_file() and Path(r.path).parent.parent == smoke["run_dir"]
    # Only the episode cut off by the end of the run may be abandoned.
    assert not [r for r in reports if r.aborted and r.aborted != "policy node stopped"], [r.aborted for r in reports]
    ingested = re.findall(r"\[trainer\].*ingested 1 episode file\(s\): (\S+)", smoke["log"])
    assert {Path(r.path).name for r in written if "/episodes/" in r.path} >= set(ingested) and len(ingested) >= 4


def test_checkpoint_is_written_and_the_policy_loads_it(smoke):
    loaded = [m.data for _, m in smoke["seen"]["loaded"]]
    assert loaded, "the policy never reported loading a checkpoint"
    assert Path(loaded[-1]).is_file() and Path(loaded[-1]).parent == smoke["run_dir"] / "checkpoints"
    assert (smoke["run_dir"] / "checkpoints" / "latest.pt").is_file()
    assert "[policy]" in smoke["log"] and f"loaded checkpoint {loaded[0]}" in smoke["log"]
    # Policy episodes after the first checkpoint act with it.
    reports = [EpisodeReport.from_json(m.data) for _, m in smoke["seen"]["episodes"]]
    assert any(r.checkpoint for r in reports)


def test_every_topic_rviz_shows_is_published_with_the_type_and_qos_it_expects(smoke):
    publishers = smoke["publishers"]
    assert publishers, f"the graph was not listed at {GRAPH_SAMPLED_AT:.0f} s: meld-launch had stopped"
    subscriptions, not_in_sim = rviz_subscriptions()
    for s in subscriptions:
        if s.topic in not_in_sim:
            continue  # the reason is in test_rviz_config.NOT_IN_SIM
        pubs = publishers.get(s.topic, [])
        assert pubs, f"rviz display {s.display!r} subscribes to {s.topic}: nobody publishes it in the sim graph"
        types = {t for t, _, _ in pubs}
        assert types == {s.msg_type}, f"{s.topic}: rviz expects {s.msg_type}, the graph publishes {types}"
        for _, reliability, durability in pubs:
            # A request the offer does not meet connects nothing, silently (rviz shows no message).
            if s.reliability == "Reliable":
                assert reliability == "RELIABLE", f"{s.topic} is {reliability}: set {s.display!r} to Best Effort"
            if s.durability == "Transient Local":
                assert durability == "TRANSIENT_LOCAL", f"{s.topic} is {durability}: set {s.display!r} to Volatile"
    markers = [m for _, m in smoke["seen"]["goal_marker"]]
    assert markers, "the reward node published no goal_marker"
    assert {m.header.frame_id for m in markers} == {"world"}


def test_meta_test_on_heldout_tasks_reports_and_stops(smoke):
    """The same run folder, meta-tested: held-out trials with the newest checkpoint, a report."""
    import json

    out = subprocess.run([str(Path(sys.executable).parent / "meld-launch"), "sim", "--meta-test", "--config", "smoke",
                          "--quiet", "--run-dir", str(smoke["run_dir"]), "--duration", "200"],
                         capture_output=True, text=True, timeout=260)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "trainer finished; stopping the graph" in out.stdout
    assert re.search(r"heldout success: \d+% \(\d+/3 trials, 95% CI", out.stdout)
    report = json.loads((smoke["run_dir"] / "eval_report.json").read_text())
    assert report["trials"] == 3 and set(report["per_task"]) <= {str(t) for t in range(20, 30)}
    assert report["checkpoint"].endswith("latest.pt") and 0.0 <= report["success"] <= 1.0


def test_meta_test_of_a_shipped_policy_file_in_a_fresh_run_folder(smoke, tmp_path):
    """What a newcomer does with a file under models/: meta-test it on the sim graph, no training run."""
    import json

    from meld_trainer.export import export_policy
    policy = export_policy(smoke["run_dir"] / "checkpoints" / "latest.pt", tmp_path / "models" / "smoke.pt")
    fresh = tmp_path / "fresh"
    out = subprocess.run([str(Path(sys.executable).parent / "meld-launch"), "sim", "--meta-test", "--config", "smoke",
                          "--policy-file", str(policy), "--quiet", "--run-dir", str(fresh), "--duration", "200"],
                         capture_output=True, text=True, timeout=260)
    assert out.returncode == 0, out.stdout[-3000:]
    assert re.search(r"heldout success: \d+% \(\d+/3 trials, 95% CI", out.stdout)
    report = json.loads((fresh / "eval_report.json").read_text())
    assert report["checkpoint"] == str(policy.resolve()) and report["trials"] == 3
    assert not (fresh / "checkpoints" / "latest.pt").exists()  # nothing was trained here
