"""The reset_rig node as a real subprocess, over DDS, talking to the emulator on a pty.

A task request leads to the pose being published and arrival confirmed with the measured
pose; home is a Trigger service; a refused request is reported on goto_failed.
"""
from __future__ import annotations

import math
import subprocess

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Int32, String
from std_srvs.srv import Trigger

from reset_rig.settings import load_rig_settings
from reset_rig.tasks import load_tasks

from node_harness import NS, spin_until, start_node, stop_node


def test_goto_task_publishes_pose_and_confirms_arrival(ros, emulator):
    got = {"arrived": [], "failed": [], "state": [], "pose": [], "diag": []}
    latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros.create_subscription(Int32, f"{NS}/rig/arrived", lambda m: got["arrived"].append(m.data), 10)
    ros.create_subscription(String, f"{NS}/rig/goto_failed", lambda m: got["failed"].append(m.data), 10)
    ros.create_subscription(String, f"{NS}/rig/state", lambda m: got["state"].append(m.data), latched)
    ros.create_subscription(PoseStamped, f"{NS}/rig/pose", lambda m: got["pose"].append(m), 10)
    ros.create_subscription(DiagnosticArray, "/diagnostics", lambda m: got["diag"].append(m), 10)
    goto = ros.create_publisher(Int32, f"{NS}/rig/goto_task", 10)
    home = ros.create_client(Trigger, f"{NS}/rig/home")
    proc = start_node(emulator.link)
    try:
        spin_until(ros, lambda: got["state"] and got["state"][-1] == "alarm", 20.0, "state 'alarm' (locked)")
        spin_until(ros, lambda: goto.get_subscription_count() > 0, 10.0, "the node's goto_task subscription")
        goto.publish(Int32(data=4))
        spin_until(ros, lambda: got["failed"], 10.0, "goto_failed for a move before homing")
        assert got["failed"][-1].startswith("task 4: ") and "not homed" in got["failed"][-1]
        assert not [line for line in emulator.firmware.received_lines if line.startswith("G")]

        assert home.wait_for_service(timeout_sec=10.0)
        future = home.call_async(Trigger.Request())
        spin_until(ros, future.done, 20.0, "the home service")
        assert future.result().success, future.result().message

        task = load_tasks(load_rig_settings())[21]
        got["pose"].clear()
        goto.publish(Int32(data=21))
        spin_until(ros, lambda: 21 in got["arrived"], 20.0, "arrived == 21")
        spin_until(ros, lambda: got["pose"] and abs(got["pose"][-1].pose.position.x * 1000
                                                    - task.translation_mm) < 0.05, 5.0, "the pose at task 21")
        pose = got["pose"][-1]
        assert pose.header.frame_id == "reset_rig_centre"
        yaw = 2 * math.atan2(pose.pose.orientation.z, pose.pose.orientation.w)
        assert math.degrees(yaw) == pytest.approx(task.rotation_deg, abs=0.05)
        fw = emulator.firmware.pos
        assert fw[0] == pytest.approx(load_rig_settings().centre_x_mm + task.translation_mm, abs=0.02)
        spin_until(ros, lambda: got["state"][-1] == "idle", 5.0, "state 'idle' after arrival")
        assert "moving" in got["state"]
        spin_until(ros, lambda: any(s.values and s.hardware_id == str(emulator.link)
                                    for d in got["diag"] for s in d.status), 5.0, "a diagnostics message")
        stop = ros.create_client(Trigger, f"{NS}/rig/stop")
        assert stop.wait_for_service(timeout_sec=10.0)
        future = stop.call_async(Trigger.Request())
        spin_until(ros, future.done, 10.0, "the stop service")
        assert future.result().success and "home before the next move" in future.result().message
    finally:
        assert stop_node(proc) == 0, "the node must exit 0 on Ctrl-C"


def test_node_reports_disconnection_and_reconnects(ros, emulator):
    states = []
    latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros.create_subscription(String, f"{NS}/rig/state", lambda m: states.append(m.data), latched)
    arrived = []
    ros.create_subscription(Int32, f"{NS}/rig/arrived", lambda m: arrived.append(m.data), 10)
    goto = ros.create_publisher(Int32, f"{NS}/rig/goto_task", 10)
    proc = start_node(emulator.link, "home_on_start:=true", "reconnect_interval_s:=0.2")
    try:
        spin_until(ros, lambda: states and states[-1] == "idle", 20.0, "state 'idle' after home_on_start")
        emulator.unplug(replug_after_s=1.0)
        spin_until(ros, lambda: states[-1] == "disconnected", 10.0, "state 'disconnected'")
        spin_until(ros, lambda: states[-1] == "idle" and "homing" in states[states.index("disconnected"):],
                   20.0, "reconnection and homing again")
        spin_until(ros, lambda: goto.get_subscription_count() > 0, 10.0, "the goto_task subscription")
        goto.publish(Int32(data=0))
        spin_until(ros, lambda: 0 in arrived, 20.0, "arrived == 0 after the reconnection")
    finally:
        assert stop_node(proc) == 0


@pytest.mark.parametrize("param, says", [
    ("settings_file:=/nonexistent/rig.yaml", "cannot read the rig settings file /nonexistent/rig.yaml"),
    ("status_poll_hz:=500.0", "status_poll_hz must be within [0.5, 50]"),
])
def test_bad_parameters_end_the_node_with_a_sentence(tmp_path, param, says):
    proc = start_node(tmp_path / "no-port", param, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        stop_node(proc)
    assert proc.returncode == 1 and says in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
