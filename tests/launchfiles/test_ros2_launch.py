"""`ros2 launch meld_bringup ...` with the real ROS 2 Jazzy launch system (launch 3.4.3,
launch_ros 0.26.6, ros2cli 0.32.2 from ../shared/ros2-jazzy) over the README's colcon build: the
commands of README.md and docs/robot.md, run as written, compared with `meld-launch`.

Skipped, with the reason, where the launch system is not installed; in CI (CI=true) it must be.
"""
from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest
from ros2_workspace import ROOT, SHELL_SETUP, BUILD, require_launch_system
from sensor_msgs.msg import Image

from launched import Launched
from meld_ros.qos import SENSOR

sys.path.insert(0, str(ROOT / "tests" / "nodes"))
from graph_harness import ProbeNode  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SIM = "ros2 launch meld_bringup sim.launch.py config:=smoke"
WIDOWX_SIM = "ros2 launch meld_bringup widowx.launch.py sim:=true config:=smoke"
ROBOT = "ros2 launch meld_bringup widowx.launch.py robot_model:=wx200 rig_port:=/dev/meld_rig"
RVIZ = "ros2 launch meld_bringup widowx.launch.py sim:=true use_rviz:=true"
MELD_LAUNCH = "meld-launch sim --config smoke"
NODE_LIST = "ros2 node list --no-daemon --spin-time 3"
TOPIC_LIST = "ros2 topic list --no-daemon --spin-time 3"
LOGS = {"rig_emulator", "sim", "pid_bridge", "reward", "reset_rig", "policy", "trainer"}
"""<run_dir>/logs/<name>.log of the sim graph, as meld-launch writes them."""
SIM_NODES = {"/sim", "/pid_bridge", "/reward", "/reset_rig", "/policy", "/trainer"}
"""The sim graph's nodes (graph.build_graph, one cell, root namespace)."""
CHECKPOINT_WAIT = 300.0
"""Seconds for the smoke config's first checkpoint (about 40 s on an idle 2-core machine)."""


@pytest.fixture(scope="module")
def ws(colcon_workspace):
    require_launch_system()
    assert colcon_workspace.build.returncode == 0, colcon_workspace.build.stderr[-3000:]
    return colcon_workspace


def start(ws, command: str, tmp_path_factory, name: str, terminal: bool = False) -> Launched:
    log = tmp_path_factory.mktemp(name) / "launch.log"
    return Launched(ws.shell(command), ws.path, log, terminal=terminal)


def graph_lists(ws, expected_nodes: set[str], samples: int = 6, stable_rounds: int = 2) -> tuple[set[str], set[str]]:
    """`ros2 node list` and `ros2 topic list` of the running graph, without the launch system's own
    node (launch_ros_<pid>, which `ros2 launch` adds and meld-launch has no reason to). Discovery on
    a loaded machine can miss a participant's endpoints in one listing, and in two in a row (a CI run
    once lacked one topic in two): listings are merged until every node of the table has been seen and
    the topic list has not grown for `stable_rounds` rounds (at most `samples` rounds)."""
    nodes: set[str] = set()
    topics: set[str] = set()
    unchanged = 0
    for _ in range(samples):
        node_out, topic_out = ws.run(NODE_LIST), ws.run(TOPIC_LIST)
        assert node_out.returncode == 0 and topic_out.returncode == 0, node_out.stderr + topic_out.stderr
        before = set(topics)
        nodes |= {n for n in node_out.stdout.split() if not n.startswith("/launch_ros_")}
        topics |= set(topic_out.stdout.split())
        unchanged = unchanged + 1 if before == topics else 0
        if expected_nodes <= nodes and unchanged >= stable_rounds:
            break
    return nodes, topics


def trained(run_dir: Path):
    """The first checkpoint and at least two episode files, once both have landed."""
    episodes = list((run_dir / "episodes").glob("*")) if (run_dir / "episodes").is_dir() else []
    return (run_dir / "checkpoints" / "latest.pt").is_file() and len(episodes) >= 2 and episodes


def run_until_trained(launched: Launched, run_dir: Path, ws) -> dict:
    episodes = launched.wait_for(lambda: trained(run_dir), CHECKPOINT_WAIT, f"a checkpoint and episodes in {run_dir}")
    nodes, topics = graph_lists(ws, SIM_NODES)
    return {"episodes": episodes, "nodes": nodes, "topics": topics}


@pytest.fixture(scope="module")
def sim_launch(ws, tmp_path_factory):
    """The README's `ros2 launch meld_bringup sim.launch.py config:=smoke`, as written (run folder:
    the default runs/sim), in a terminal, until it has trained; then Ctrl-C, which the terminal
    sends to every process at once (the emulator and the rig node too)."""
    probe = ProbeNode("_launch_probe")
    images = {cam: probe.collect(Image, f"{cam}/image_raw", SENSOR) for cam in ("scene_camera", "wrist_camera")}
    launched = start(ws, SIM, tmp_path_factory, "sim_launch", terminal=True)
    try:
        result = run_until_trained(launched, ws.path / "runs/sim", ws)
        result["code"] = launched.interrupt()
        result.update(output=launched.output(), left=launched.left_running(), images=images,
                      run_dir=ws.path / "runs/sim", seen=dict(launched.seen))
        yield result
    finally:
        launched.close()
        probe.close()


@pytest.fixture(scope="module")
def meld_launch_lists(ws, tmp_path_factory):
    """meld-launch's node and topic lists at the same point of the same smoke run."""
    run_dir = tmp_path_factory.mktemp("meld_launch_run")
    launched = start(ws, f"{MELD_LAUNCH} --run-dir {run_dir}", tmp_path_factory, "meld_launch")
    try:
        result = run_until_trained(launched, run_dir, ws)
        assert launched.interrupt() == 0, launched.output()[-3000:]
        return result
    finally:
        launched.close()


@pytest.fixture(scope="module")
def widowx_sim_launch(ws, tmp_path_factory):
    """`ros2 launch meld_bringup widowx.launch.py sim:=true config:=smoke` until it has trained; then
    the trainer is killed, as by the OOM killer."""
    launched = start(ws, f"{WIDOWX_SIM} run_dir:=runs/widowx_sim", tmp_path_factory, "widowx_sim")
    try:
        result = run_until_trained(launched, ws.path / "runs/widowx_sim", ws)
        os.kill(launched.pid_of("lib/meld_trainer/trainer_node"), signal.SIGKILL)
        result["code"] = launched.wait(timeout=90)
        result.update(output=launched.output(), left=launched.left_running())
        yield result
    finally:
        launched.close()


def test_readme_and_robot_doc_give_the_commands_ci_runs():
    readme, robot = (ROOT / "README.md").read_text(), (ROOT / "docs/robot.md").read_text()
    for line in (*SHELL_SETUP, BUILD, SIM, WIDOWX_SIM, NODE_LIST):
        assert line in readme, f"README.md lacks `{line}`, which CI runs"
    for line in (SHELL_SETUP[0], SHELL_SETUP[1], BUILD, ROBOT):
        assert line in robot, f"docs/robot.md lacks `{line}`, which CI runs"


def test_sim_launch_trains_and_stops_cleanly_on_ctrl_c(sim_launch):
    out = sim_launch["output"]
    assert sim_launch["code"] == 0, out[-4000:]
    assert (sim_launch["run_dir"] / "checkpoints" / "latest.pt").is_file() and len(sim_launch["episodes"]) >= 2
    assert "loaded checkpoint" in out, "the policy never loaded the trainer's checkpoint"
    assert not sim_launch["left"], f"left running after Ctrl-C: {sim_launch['left']}"
    assert len(sim_launch["seen"]) >= 7, sim_launch["seen"]


def test_sim_launch_waits_for_the_emulator_and_stops_it_after_the_rig_node(sim_launch):
    out = sim_launch["output"]
    ready = out.index("rig_emulator ready; starting the nodes")
    first_node = re.search(r"\[(sim_node|reset_rig_node|trainer_node)-\d+\]: process started", out)
    assert first_node and first_node.start() > ready, "a node started before the emulator's port existed"
    rig_done = re.search(r"\[reset_rig_node-\d+\]: process has finished cleanly", out)
    emulator_done = re.search(r"\[rig_emulator-\d+\]: process has finished cleanly", out)
    assert rig_done and emulator_done and rig_done.start() < emulator_done.start(), out[-3000:]
    assert "vanished" not in out, "the rig node lost its port during the Ctrl-C"


def test_sim_launch_writes_each_process_log_in_the_run_folder(sim_launch):
    logs = sim_launch["run_dir"] / "logs"
    assert {p.stem for p in logs.glob("*.log")} == LOGS
    assert "checkpoint written" in (logs / "trainer.log").read_text()
    assert "GRBL 1.1h on /dev/pts/" in (logs / "rig_emulator.log").read_text()


def test_sim_launch_publishes_both_cameras_at_their_rate(sim_launch):
    for cam, got in sim_launch["images"].items():
        times = [t for t, _ in got]
        assert len(times) > 20, f"{cam}: {len(times)} images"
        inside = [t for t in times if times[0] + 10.0 <= t]
        rate = (len(inside) - 1) / (inside[-1] - inside[0])
        assert rate > 0.8 * 15.0, f"{cam} at {rate:.1f} Hz, configured 15 Hz"
        assert (got[-1][1].height, got[-1][1].width, got[-1][1].encoding) == (64, 64, "rgb8")


def test_launch_files_start_the_graph_meld_launch_starts(sim_launch, meld_launch_lists, widowx_sim_launch):
    for kind in ("nodes", "topics"):
        meld = meld_launch_lists[kind]
        for name, launched in (("sim.launch.py", sim_launch), ("widowx.launch.py sim:=true", widowx_sim_launch)):
            assert launched[kind] == meld, (f"{name} {kind} differ from meld-launch's: only in {name}: "
                                            f"{sorted(launched[kind] - meld)}; only in meld-launch: {sorted(meld - launched[kind])}")
    assert sim_launch["nodes"] == SIM_NODES


def test_a_killed_required_node_ends_the_launch_non_zero(widowx_sim_launch):
    out = widowx_sim_launch["output"]
    assert widowx_sim_launch["code"] != 0, out[-3000:]
    assert "required process trainer exited with code -9; stopping the graph" in out
    assert not widowx_sim_launch["left"], f"left running after the trainer died: {widowx_sim_launch['left']}"


def test_robot_mode_without_hardware_stops_with_one_line_errors(ws, tmp_path_factory):
    """docs/robot.md's command on a machine without the arm, cameras, rig and link interface: the
    first node that cannot start says why in one line, and the graph stops with it."""
    launched = start(ws, ROBOT, tmp_path_factory, "robot")
    try:
        code = launched.wait(timeout=180)
        out = launched.output()
        assert code != 0, out[-3000:]
        assert re.search(r"required process (link_watcher|pid_bridge) exited with code", out), out[-3000:]
        assert "parameter `interface` is required" in out or "needs the Interbotix ROS 2 packages" in out
        assert (ws.path / "runs/robot/logs").is_dir(), "robot mode's run folder defaults to runs/robot"
        assert not launched.left_running()
    finally:
        launched.close()


@pytest.mark.parametrize("command,message", [
    (RVIZ, "use_rviz:=true, but rviz2 is not installed here"),
    ("ros2 launch meld_bringup widowx.launch.py", "rig_port is empty: the robot graph needs the reset rig's serial port"),
])
def test_a_launch_that_cannot_start_says_why_and_starts_nothing(ws, tmp_path_factory, command, message):
    if "use_rviz" in command and ws.run("ros2 pkg prefix rviz2").returncode == 0:
        pytest.skip("rviz2 is installed here")
    launched = start(ws, command, tmp_path_factory, "refused")
    try:
        code = launched.wait(timeout=60)
        out = launched.output()
        assert code != 0 and message in out, out
        assert "process started" not in out and not launched.left_running()
        assert len([line for line in out.splitlines() if "[ERROR]" in line]) == 1 and "Traceback" not in out
    finally:
        launched.close()


def test_show_args_describes_every_argument(ws):
    for command, sim_default in (("ros2 launch meld_bringup sim.launch.py --show-args", "true"),
                                 ("ros2 launch meld_bringup widowx.launch.py --show-args", "false")):
        out = ws.run(command).stdout
        args = re.findall(r"^    '(\w+)':\n        (.+)\n", out, re.M)
        assert {"sim", "use_rviz", "run_dir", "rig_port", "config", "namespace", "cells"} <= {a for a, _ in args}
        assert all(description.strip() and not description.startswith("(default") for _, description in args)
        assert re.search(rf"'sim':\n.*\n        \(default: '{sim_default}'\)", out)
