"""The reset_rig node (a real process, over DDS) against the real GRBL 1.1h firmware.

One session of a rig's life: locked at power-up, homed through the service, tasks reached,
stopped mid-move by the stop service (not an arrival, and no move until homed again), the USB
cable pulled and put back (a power-cycled board: locked, homed again, tasks reached).
"""
from __future__ import annotations

import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Int32, String
from std_srvs.srv import Trigger

from node_harness import NS, spin_until, start_node, stop_node

LATCHED = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def test_node_home_goto_stop_and_replug(ros, firmware, firmware_settings_file):
    got = {"arrived": [], "failed": [], "state": [], "pose": []}
    ros.create_subscription(Int32, f"{NS}/rig/arrived", lambda m: got["arrived"].append(m.data), 10)
    ros.create_subscription(String, f"{NS}/rig/goto_failed", lambda m: got["failed"].append(m.data), 10)
    ros.create_subscription(String, f"{NS}/rig/state", lambda m: got["state"].append(m.data), LATCHED)
    ros.create_subscription(PoseStamped, f"{NS}/rig/pose", lambda m: got["pose"].append(m.pose.position.x), 10)
    goto = ros.create_publisher(Int32, f"{NS}/rig/goto_task", 10)
    home = ros.create_client(Trigger, f"{NS}/rig/home")
    stop = ros.create_client(Trigger, f"{NS}/rig/stop")

    def call(client, what, timeout=60.0):
        assert client.wait_for_service(timeout_sec=20.0), f"no {what} service"
        future = client.call_async(Trigger.Request())
        spin_until(ros, future.done, timeout, f"the {what} service")
        return future.result()

    def failure(task_id: int, timeout: float = 30.0) -> str:
        spin_until(ros, lambda: any(f.startswith(f"task {task_id}: ") for f in got["failed"]), timeout,
                   f"goto_failed for task {task_id}")
        message = next(f for f in got["failed"] if f.startswith(f"task {task_id}: "))
        got["failed"].clear()
        return message

    def refused_without_moving(task_id: int) -> None:
        got["pose"].clear()
        spin_until(ros, lambda: len(got["pose"]) >= 3, 10.0, "pose reports")
        before = got["pose"][-1]
        goto.publish(Int32(data=task_id))
        assert "not sent" in failure(task_id)
        got["pose"].clear()
        spin_until(ros, lambda: len(got["pose"]) >= 3, 10.0, "pose reports after the refusal")
        assert got["pose"][-1] == pytest.approx(before, abs=1e-6), "a refused move reached the firmware"

    proc = start_node(firmware.link, f"settings_file:={firmware_settings_file}", "reconnect_interval_s:=0.5")
    try:
        spin_until(ros, lambda: got["state"][-1:] == ["alarm"], 30.0, "state 'alarm' (locked at power-up)")
        spin_until(ros, lambda: goto.get_subscription_count() > 0, 20.0, "the node's goto_task subscription")
        refused_without_moving(4)
        result = call(home, "home")
        assert result.success, result.message
        goto.publish(Int32(data=21))
        spin_until(ros, lambda: 21 in got["arrived"], 60.0, "arrived == 21")

        # The stop sequence mid-move: feed hold and reset. Not an arrival; no move until homed.
        got["state"].clear()
        goto.publish(Int32(data=3))
        spin_until(ros, lambda: "moving" in got["state"], 30.0, "state 'moving'")
        result = call(stop, "stop")
        assert result.success and "home before the next move" in result.message
        assert "reset" in failure(3)
        assert 3 not in got["arrived"]
        refused_without_moving(3)

        # The cable pulled and put back: the board has power-cycled, so it is locked again.
        firmware.unplug()
        spin_until(ros, lambda: got["state"][-1:] == ["disconnected"], 30.0, "state 'disconnected'")
        got["state"].clear()
        firmware.start(read_banner=False)                   # the node is polling the link: it reads the banner
        spin_until(ros, lambda: got["state"][-1:] == ["alarm"], 60.0, "state 'alarm' after the replug")
        refused_without_moving(0)
        result = call(home, "home")
        assert result.success, result.message
        goto.publish(Int32(data=0))
        spin_until(ros, lambda: 0 in got["arrived"], 60.0, "arrived == 0 after the replug")
    finally:
        assert stop_node(proc) == 0, "the node must exit 0 on Ctrl-C"
