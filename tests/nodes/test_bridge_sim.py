"""The PID bridge driving the sim node, both started as real processes, over DDS."""
import signal
import time

import numpy as np
import pytest
from graph_harness import NodeProcess, ProbeNode, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from widowx_bringup.kinematics import ARM_JOINTS, WX200
from meld_ros.qos import COMMAND, STATE
from widowx_bringup.scene import home_joint_positions

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    logs = tmp_path_factory.mktemp("bridge_sim")
    sim = NodeProcess("widowx_bringup.sim.node", "sim", logs, {"follow_rig": False, "camera_rate_hz": 5.0})
    bridge = NodeProcess("widowx_bringup.bridge.node", "pid_bridge", logs, {"driver": "sim"})
    probe = ProbeNode()
    joints = probe.collect(JointState, "joint_states", STATE)
    servo = probe.collect(Float64MultiArray, "sim/servo_velocity", COMMAND)
    cmd = probe.node.create_publisher(Float64MultiArray, "joint_velocity_cmd", COMMAND)
    try:
        wait_for(lambda: len(joints) > 10 and len(servo) > 10, 30, "joint states from the sim and servo commands from the bridge")
        wait_for(lambda: cmd.get_subscription_count() > 0, 10, "the bridge to subscribe to joint_velocity_cmd")
        yield {"sim": sim, "bridge": bridge, "probe": probe, "joints": joints, "servo": servo, "cmd": cmd}
    finally:
        probe.close()
        bridge.stop()
        sim.stop()


def q_now(joints):
    msg = joints[-1][1]
    return np.array([msg.position[list(msg.name).index(n)] for n in ARM_JOINTS])


def send_for(graph, v, seconds, rate=3.3):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        graph["cmd"].publish(Float64MultiArray(data=list(map(float, v))))
        time.sleep(1.0 / rate)


def test_velocity_commands_move_the_arm(graph):
    q0 = q_now(graph["joints"])
    n = len(graph["servo"])
    send_for(graph, [0.3, 0, 0, 0, 0], 1.5)
    moved = q_now(graph["joints"]) - q0
    # ~0.45 rad in 1.5 s of wall time; less when a loaded machine slows the sim's clock.
    assert 0.15 < moved[0] < 0.6, moved
    assert np.all(np.abs(moved[1:]) < 0.05)
    waist = np.array([m.data[0] for _, m in graph["servo"][n:]])
    assert waist.size > 20 and 0.2 < np.median(waist) < 0.45  # tracking: feed-forward plus a small correction


def test_watchdog_holds_the_arm_when_commands_stop(graph):
    send_for(graph, [-0.3, 0, 0, 0, 0], 0.7)
    time.sleep(1.0)  # > command_timeout of 0.6 s
    q1 = q_now(graph["joints"])
    time.sleep(1.0)
    q2 = q_now(graph["joints"])
    assert np.max(np.abs(q2 - q1)) < 0.01, q2 - q1
    assert "no fresh velocity command" not in graph["bridge"].output()  # (diagnostics only, not a log flood)


def test_nan_command_is_rejected_and_the_arm_holds(graph):
    q1 = q_now(graph["joints"])
    send_for(graph, [float("nan"), 0.5, 0, 0, 0], 1.0)
    q2 = q_now(graph["joints"])
    assert np.max(np.abs(q2 - q1)) < 0.01
    wait_for(lambda: "velocity command rejected (non-finite" in graph["bridge"].output(), 5, "the rejection in the log")


def test_out_of_range_command_is_clamped_below_the_velocity_limit(graph):
    servo = graph["servo"]
    n = len(servo)
    send_for(graph, [0, 50.0, 0, 0, 0], 1.0)  # shoulder limit is 1.0 rad/s
    shoulder = [abs(m.data[1]) for _, m in servo[n:]]
    assert shoulder, "no servo commands seen"
    assert 0.5 < max(shoulder) <= WX200.velocity_limits[1]
    send_for(graph, [0, -50.0, 0, 0, 0], 1.0)  # and back, away from the limit


def test_home_service_drives_home(graph):
    send_for(graph, [0.4, -0.2, 0.2, 0, 0.3], 1.0)
    result = graph["probe"].call(Trigger, "pid_bridge/home", Trigger.Request(), timeout=40)
    assert result.success, result.message
    assert np.allclose(q_now(graph["joints"]), home_joint_positions(WX200), atol=0.03)


def test_disable_zeroes_the_servos_and_ignores_commands(graph):
    probe = graph["probe"]
    assert probe.call(SetBool, "pid_bridge/enable", SetBool.Request(data=False)).success
    servo = graph["servo"]
    n = len(servo)
    q1 = q_now(graph["joints"])
    send_for(graph, [0.3, 0, 0, 0, 0], 0.8)
    assert all(not any(m.data) for _, m in servo[n:]), "servo commands while disabled"
    assert np.max(np.abs(q_now(graph["joints"]) - q1)) < 0.02
    assert probe.call(SetBool, "pid_bridge/enable", SetBool.Request(data=True)).success


def test_bridge_sends_zero_when_it_exits(tmp_path):
    probe = ProbeNode("exit_probe")
    # Its own namespace: the module's graph is still running.
    servo = probe.collect(Float64MultiArray, "/exit_test/sim/servo_velocity", COMMAND)
    joints_pub = probe.node.create_publisher(JointState, "/exit_test/joint_states", STATE)
    cmd = probe.node.create_publisher(Float64MultiArray, "/exit_test/joint_velocity_cmd", COMMAND)
    bridge = NodeProcess("widowx_bringup.bridge.node", "pid_bridge", tmp_path, {"driver": "sim"},
                         extra=["-r", "__ns:=/exit_test"])
    try:
        q = home_joint_positions(WX200)
        def feed(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                joints_pub.publish(JointState(name=list(ARM_JOINTS), position=q.tolist()))
                cmd.publish(Float64MultiArray(data=[0.3, 0, 0, 0, 0]))
                time.sleep(0.01)
        wait_for(lambda: (feed(0.2), any(m.data[0] > 0.1 for _, m in servo))[1], 20, "the bridge commanding motion")
        feed(0.2)
        assert bridge.stop(signal.SIGINT) == 0
        time.sleep(0.3)
        assert list(servo[-1][1].data) == [0.0] * 5, servo[-1][1].data
    finally:
        bridge.stop(signal.SIGKILL)
        probe.close()
