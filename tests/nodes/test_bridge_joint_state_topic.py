"""Where the bridge reads joint states: its `joint_state_topic` parameter, and in Interbotix mode
the driver's /<robot_name>/joint_states, relayed to the graph's `joint_states`.

The bridge runs in this process with a driver that names its own topic as InterbotixDriver does
(interbotix_xs_msgs cannot be installed here), publishing like the sim driver so the test sees
what it commands."""
import threading
import time

import numpy as np
import pytest
import rclpy
from graph_harness import ProbeNode, wait_for
from rclpy.executors import MultiThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from widowx_bringup.bridge import node as bridge_node
from widowx_bringup.bridge.drivers import SimDriver
from widowx_bringup.kinematics import ARM_JOINTS, WX200
from meld_ros.qos import COMMAND, STATE
from widowx_bringup.scene import home_joint_positions

pytestmark = pytest.mark.timeout(60)


class DriverWithItsOwnTopic(SimDriver):
    name = "interbotix"
    joint_state_topic = "/wx200/joint_states"


@pytest.fixture
def bridge_in_process(monkeypatch):
    def start(params: dict):
        args = ["bridge", "--ros-args", "-r", "__ns:=/jst"] + [a for k, v in params.items() for a in ("-p", f"{k}:={v}")]
        monkeypatch.setattr(bridge_node, "make_driver",
                            lambda kind, node, *_: DriverWithItsOwnTopic(node) if kind == "interbotix" else SimDriver(node))
        rclpy.init(args=args)
        bridge = bridge_node.PidBridge()
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(bridge)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        started.append((bridge, executor, thread))
        return bridge

    started: list = []
    try:
        yield start
    finally:
        for bridge, executor, thread in started:
            executor.shutdown()
            thread.join(5)
            bridge.destroy_node()
        rclpy.try_shutdown()


def feed_until(probe: ProbeNode, topic: str, done, timeout: float = 20.0) -> list:
    """Publish joint states on `topic` and a steady command at 100 Hz until `done(servo, cmd)`;
    returns the servo velocities the bridge sent meanwhile. Waiting on a condition, not a fixed
    time, keeps the test honest on a loaded machine where discovery takes seconds."""
    servo = probe.collect(Float64MultiArray, "/jst/sim/servo_velocity", COMMAND)
    joints = probe.node.create_publisher(JointState, topic, STATE)
    cmd = probe.node.create_publisher(Float64MultiArray, "/jst/joint_velocity_cmd", COMMAND)
    q = home_joint_positions(WX200)
    deadline = time.monotonic() + timeout
    while not done(servo, cmd):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s feeding {topic}; {len(servo)} servo messages seen")
        joints.publish(JointState(name=list(ARM_JOINTS), position=q.tolist()))
        cmd.publish(Float64MultiArray(data=[0.3, 0, 0, 0, 0]))
        time.sleep(0.01)
    return servo


def moving(servo, _cmd) -> bool:
    return any(m.data[0] > 0.1 for _, m in servo)


def test_interbotix_mode_reads_the_drivers_topic_and_relays_it(bridge_in_process):
    bridge = bridge_in_process({"driver": "interbotix"})
    assert bridge.joint_state_topic == "/wx200/joint_states"
    probe = ProbeNode("jst_probe")
    try:
        relayed = probe.collect(JointState, "/jst/joint_states", STATE)
        feed_until(probe, "/wx200/joint_states", moving)
        wait_for(lambda: relayed, 5, "joint states relayed to /jst/joint_states")
        assert np.allclose(relayed[-1][1].position, home_joint_positions(WX200))
    finally:
        probe.close()


def test_the_parameter_wins_over_the_drivers_topic(bridge_in_process):
    bridge = bridge_in_process({"driver": "interbotix", "joint_state_topic": "/elsewhere/joint_states"})
    assert bridge.joint_state_topic == "/elsewhere/joint_states" and bridge._relay is None
    probe = ProbeNode("jst_probe2")
    try:
        heard_from: list[int] = []

        def commands_heard_for_half_a_second(servo, cmd) -> bool:
            if not heard_from and cmd.get_subscription_count() > 0:
                heard_from.append(len(servo))
            return bool(heard_from) and len(servo) - heard_from[0] >= 50

        servo = feed_until(probe, "/wx200/joint_states", commands_heard_for_half_a_second)
        # The bridge hears the command but no joint states on the topic it was told to use: zeros.
        assert not any(any(m.data) for _, m in servo)
        feed_until(probe, "/elsewhere/joint_states", moving)
    finally:
        probe.close()
