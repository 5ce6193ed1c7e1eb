"""The bridge's safety rules where a user notices them: the sim arm stops at the workspace wall,
and an emergency stop holds it until ~/enable clears it. Sim and bridge run as real processes."""
import time

import numpy as np
import pytest
from graph_harness import NodeProcess, ProbeNode, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from widowx_bringup.kinematics import ARM_JOINTS, WX200, forward
from meld_ros.qos import COMMAND, STATE
from widowx_bringup.scene import HOME_TIP, PlugGeometry

pytestmark = pytest.mark.timeout(180)
NS = "/safety"
FLOOR = HOME_TIP[2] - 0.03  # a workspace floor 3 cm below the home tip, well above the router


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    logs = tmp_path_factory.mktemp("bridge_safety")
    ns = ["-r", f"__ns:={NS}"]
    sim = NodeProcess("widowx_bringup.sim.node", "sim", logs, {"follow_rig": False, "camera_rate_hz": 2.0}, extra=ns)
    bridge = NodeProcess("widowx_bringup.bridge.node", "pid_bridge", logs,
                         {"driver": "sim", "workspace.lower": f"[0.15, -0.15, {FLOOR}]"}, extra=ns)
    probe = ProbeNode("safety_probe")
    joints = probe.collect(JointState, f"{NS}/joint_states", STATE)
    servo = probe.collect(Float64MultiArray, f"{NS}/sim/servo_velocity", COMMAND)
    cmd = probe.node.create_publisher(Float64MultiArray, f"{NS}/joint_velocity_cmd", COMMAND)
    estop = probe.node.create_publisher(Bool, f"{NS}/emergency_stop", STATE)
    try:
        wait_for(lambda: len(joints) > 10 and len(servo) > 10, 40, "joint states from the sim and servo commands")
        wait_for(lambda: cmd.get_subscription_count() > 0 and estop.get_subscription_count() > 0, 10,
                 "the bridge to subscribe to joint_velocity_cmd and emergency_stop")
        yield dict(sim=sim, bridge=bridge, probe=probe, joints=joints, servo=servo, cmd=cmd, estop=estop)
    finally:
        probe.close()
        bridge.stop()
        sim.stop()


def q_now(g) -> np.ndarray:
    msg = g["joints"][-1][1]
    return np.array([msg.position[list(msg.name).index(n)] for n in ARM_JOINTS])


def tip_now(g) -> np.ndarray:
    return forward(WX200, q_now(g), tool_offset=PlugGeometry().tip_offset)[0]


def drive_tip(g, tip_velocity, seconds: float) -> None:
    """Command joint velocities that move the tip at `tip_velocity` m/s, re-aimed at 3.3 Hz."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        q, h = q_now(g), 1e-6
        J = np.stack([(forward(WX200, q + h * e, PlugGeometry().tip_offset)[0]
                       - forward(WX200, q - h * e, PlugGeometry().tip_offset)[0]) / (2 * h) for e in np.eye(5)], axis=1)
        g["cmd"].publish(Float64MultiArray(data=(np.linalg.pinv(J) @ np.asarray(tip_velocity)).tolist()))
        time.sleep(0.3)


def send_for(g, v, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        g["cmd"].publish(Float64MultiArray(data=list(map(float, v))))
        time.sleep(0.3)


def call(g, srv, name, data=None):
    request = srv.Request() if data is None else srv.Request(data=data)
    return g["probe"].call(srv, f"{NS}/pid_bridge/{name}", request, timeout=30)


def test_commanding_down_stops_at_the_workspace_floor_and_up_moves_away(graph):
    assert tip_now(graph)[2] > FLOOR + 0.02
    heights: list[float] = []

    def push_down() -> bool:  # unchecked, this goes through the floor and into the router
        drive_tip(graph, [0, 0, -0.04], 0.6)
        heights.append(tip_now(graph)[2])
        return heights[-1] < FLOOR + 0.015

    wait_for(push_down, 20, "the tip to come down to the workspace floor")  # generous: a loaded sim runs slow
    drive_tip(graph, [0, 0, -0.04], 1.5)  # keep pushing into the wall
    heights.append(tip_now(graph)[2])
    assert min(heights) > FLOOR - 0.006, f"tip went to z {min(heights):.3f}, floor {FLOOR:.3f}"
    wait_for(lambda: "workspace box: stopped" in graph["bridge"].output(), 5, "the workspace log line")
    drive_tip(graph, [0, 0, -0.04], 1.5)  # stopped on many more ticks: counted, not logged again (issue 13)
    assert graph["bridge"].output().count("workspace box: stopped") == 1
    assert "[WARN]" not in "".join(l for l in graph["bridge"].output().splitlines(True) if "workspace box" in l)
    z = heights[-1]
    wait_for(lambda: (drive_tip(graph, [0, 0, 0.04], 0.6), tip_now(graph)[2] > z + 0.015)[1], 20,
             "the tip to move up, away from the wall (motion back is allowed)")


@pytest.fixture()
def released(graph):
    """The e-stop tests share one bridge: each leaves it released and enabled, so that one failing does
    not fail the next with a stop it left latched."""
    yield graph
    graph["estop"].publish(Bool(data=False))
    wait_for(lambda: call(graph, SetBool, "enable", True).success, 20, "the bridge to enable after the test")


def test_emergency_stop_topic_latches_until_enable(released):
    g = released
    g["estop"].publish(Bool(data=True))
    wait_for(lambda: "EMERGENCY STOP (emergency_stop topic)" in g["bridge"].output(), 10, "the e-stop log line")
    # Torque off is asked for (a no-op on the sim driver), logged just after the e-stop line.
    wait_for(lambda: "the sim driver has no torque switch" in g["bridge"].output(), 10, "the torque-off line")
    q1, n = q_now(g), len(g["servo"])
    send_for(g, [0.3, 0, 0, 0, 0], 1.0)
    g["estop"].publish(Bool(data=False))  # releasing the button does not restart the arm
    send_for(g, [0.3, 0, 0, 0, 0], 1.0)
    assert np.max(np.abs(q_now(g) - q1)) < 0.01
    assert len(g["servo"]) > n and all(not any(m.data) for _, m in g["servo"][n:])
    assert call(g, SetBool, "enable", True).success
    send_for(g, [0.3, 0, 0, 0, 0], 1.0)
    assert q_now(g)[0] - q1[0] > 0.1


def test_enable_refuses_while_the_emergency_stop_topic_reads_true(released):
    g = released
    before = g["bridge"].output().count("EMERGENCY STOP")
    g["estop"].publish(Bool(data=True))
    wait_for(lambda: g["bridge"].output().count("EMERGENCY STOP") > before, 10, "a new e-stop")
    refused = call(g, SetBool, "enable", True)
    assert not refused.success and "release" in refused.message
    g["estop"].publish(Bool(data=False))
    wait_for(lambda: call(g, SetBool, "enable", True).success, 10, "enable once the e-stop is released")


def test_emergency_stop_service_latches_and_blocks_homing(released):
    g = released
    assert call(g, Trigger, "emergency_stop").success
    home = call(g, Trigger, "home")
    assert not home.success and "emergency stop" in home.message
    q1 = q_now(g)
    send_for(g, [-0.3, 0, 0, 0, 0], 1.0)
    assert np.max(np.abs(q_now(g) - q1)) < 0.01
    assert call(g, SetBool, "enable", True).success
    assert call(g, Trigger, "home").success
