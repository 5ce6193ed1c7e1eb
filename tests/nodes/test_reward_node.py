"""The reward node as a process: its shaped reward (forward kinematics) equals the simulator's
own score (MuJoCo) for the same arm and rig pose, and its sparse reward is the link signal."""
import math
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, Vector3Stamped
from graph_harness import NodeProcess, ProbeNode, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Int32

from widowx_bringup.kinematics import ARM_JOINTS, downward_ik
from meld_ros.qos import LATCHED, STATE
from widowx_bringup.scene import RewardConfig
from widowx_bringup.sim import FUNNEL_REWARD
from widowx_bringup.sim.core import SimConfig, WidowXSim
from widowx_bringup.sim.tasks import sample_tasks

pytestmark = pytest.mark.timeout(120)


def rig_pose(translation, rotation):
    msg = PoseStamped()
    msg.header.frame_id = "rig"
    msg.pose.position.x = translation
    msg.pose.orientation.z, msg.pose.orientation.w = math.sin(rotation / 2), math.cos(rotation / 2)
    return msg


@pytest.mark.parametrize("reward_config", [RewardConfig(), FUNNEL_REWARD], ids=["paper", "funnel"])
def test_reward_matches_the_simulator_and_follows_the_link(tmp_path, reward_config):
    """With the paper's reward and with the funnel of the v2 state envs (node parameters funnel_weight and
    funnel_scale), the node scores the arm as the simulator does."""
    task = sample_tasks()[12]
    sim = WidowXSim(SimConfig(cameras=False, reward=reward_config))
    sim.goal_port = task.port
    sim.set_rig_pose(task.translation, task.rotation)
    goal_tip, _ = sim.goal_pose()
    q = downward_ik(sim.arm, goal_tip + np.array([0.01, -0.02, 0.05]), math.pi / 2 + 0.2, sim.config.plug.tip_offset)
    sim.reset_arm(q)
    expected = sim.score()
    sim.close()

    params = {"funnel_weight": reward_config.funnel_weight, "funnel_scale": reward_config.funnel_scale}
    reward = NodeProcess("widowx_bringup.reward_node", "reward", tmp_path, params=params)
    probe = ProbeNode()
    got = probe.collect(Vector3Stamped, "reward", STATE)
    joints = probe.node.create_publisher(JointState, "joint_states", STATE)
    rig = probe.node.create_publisher(PoseStamped, "rig/pose", STATE)
    task_pub = probe.node.create_publisher(Int32, "task", LATCHED)
    link = probe.node.create_publisher(Bool, "link_up", STATE)
    try:
        task_pub.publish(Int32(data=12))

        def feed(link_up: bool, seconds: float):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                # Joint order scrambled on purpose: the node must index by name.
                names = list(reversed(ARM_JOINTS)) + ["gripper"]
                joints.publish(JointState(name=names, position=[*q[::-1].tolist(), 0.0]))
                rig.publish(rig_pose(task.translation, task.rotation))
                link.publish(Bool(data=link_up))
                time.sleep(0.02)

        wait_for(lambda: (feed(False, 0.2), got)[1], 30, "a reward message")
        feed(False, 0.3)
        msg = got[-1][1]
        assert msg.vector.x == pytest.approx(expected.shaped_reward, abs=1e-6)
        assert msg.vector.z == pytest.approx(expected.distance, abs=1e-6)
        assert msg.vector.y == 0.0 and msg.header.stamp.sec > 0
        feed(True, 0.5)
        assert got[-1][1].vector.y == 1.0
    finally:
        probe.close()
        reward.stop()


def test_reward_waits_with_a_message_when_inputs_are_missing(tmp_path):
    reward = NodeProcess("widowx_bringup.reward_node", "reward", tmp_path)
    try:
        wait_for(lambda: "waiting for a task on `task`" in reward.output(), 30, "the node to say what it waits for")
        assert reward.proc.poll() is None
    finally:
        reward.stop()
