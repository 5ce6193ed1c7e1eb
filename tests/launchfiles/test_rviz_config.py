"""launch/rviz/meld.rviz, checked without rviz2 (not on PyPI): it parses as an rviz2 config, every
display it holds is one whose message type we know, and every topic it subscribes to is published
by a node of the graph, with that type, in the sim and on the robot. The live check of the same
list against the running sim graph is in tests/e2e/test_sim_graph.py; both use `subscriptions()`.
The markers that rviz draws are checked here too: where the goal box sits and what the belief
bar says."""
from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RVIZ = ROOT / "launch" / "rviz" / "meld.rviz"

DISPLAY_TOPICS = {
    # display class: (property holding its topic, message type it subscribes to)
    "rviz_default_plugins/Image": ("Topic", "sensor_msgs/msg/Image"),
    "rviz_default_plugins/Marker": ("Topic", "visualization_msgs/msg/Marker"),
    "rviz_default_plugins/Pose": ("Topic", "geometry_msgs/msg/PoseStamped"),
    "rviz_default_plugins/RobotModel": ("Description Topic", "std_msgs/msg/String"),
    "rviz_default_plugins/Grid": None,  # draws in the fixed frame, subscribes to nothing
}
"""From rviz_default_plugins' plugins_description.xml and robot_model_display.cpp (ros2/rviz)."""

NOT_IN_SIM = {
    "/wx200/robot_description": "robot_state_publisher of the Interbotix xsarm_control launch "
                                "publishes it in the /<robot_name> namespace on the robot PC; the sim "
                                "has no URDF and no TF, so rviz shows the arm only on the robot",
}
NOT_ON_ROBOT_GRAPH = dict(NOT_IN_SIM)
"""Published by the Interbotix driver's launch, which runs beside the MELD graph, not in it."""


@dataclass(frozen=True)
class Subscription:
    display: str
    display_class: str
    topic: str
    msg_type: str
    reliability: str
    durability: str


def load(path: Path = RVIZ) -> dict:
    return yaml.safe_load(path.read_text())


def displays(config: dict) -> list[dict]:
    """Every display, groups (rviz_common/Group) flattened."""
    out, todo = [], list(config["Visualization Manager"]["Displays"])
    while todo:
        d = todo.pop(0)
        if d.get("Class") == "rviz_common/Group":
            todo += d.get("Displays", [])
        else:
            out.append(d)
    return out


def subscriptions(config: dict | None = None) -> list[Subscription]:
    """(topic, message type, QoS) of every enabled display that subscribes to a topic."""
    subs = []
    for d in displays(config or load()):
        known = DISPLAY_TOPICS.get(d["Class"], "unknown")
        if known == "unknown":
            raise KeyError(f"display {d.get('Name')!r} has class {d['Class']!r}, unknown to this test: add its "
                           "topic property and message type to DISPLAY_TOPICS")
        if known is None or not d.get("Enabled", True):
            continue
        prop, msg_type = known
        topic = d[prop]
        subs.append(Subscription(d["Name"], d["Class"], topic["Value"], msg_type,
                                 topic.get("Reliability Policy", "Reliable"), topic.get("Durability Policy", "Volatile")))
    return subs


def test_config_is_an_rviz2_config_with_fixed_frame_world():
    config = load()
    assert {"Panels", "Visualization Manager"} <= config.keys()
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "world", "markers are published in frame `world`"
    for d in displays(config):
        # rviz/Image and friends are ROS 1 names: rviz2 loads nothing for them.
        assert d["Class"] in DISPLAY_TOPICS, f"display {d.get('Name')!r}: unknown class {d['Class']!r}"
        assert d.get("Enabled") is True and d.get("Name")
    assert manager["Views"]["Current"]["Class"] == "rviz_default_plugins/Orbit"


def test_config_shows_cameras_arm_goal_belief_and_rig():
    topics = {s.topic: s for s in subscriptions()}
    assert set(topics) == {"/scene_camera/image_raw", "/wrist_camera/image_raw", "/wx200/robot_description",
                           "/goal_marker", "/belief/marker", "/rig/pose"}
    for s in topics.values():
        assert s.topic.startswith("/"), f"{s.display}: rviz topics are absolute here (see the file's header)"
    # The cameras publish best effort (sensor-data QoS): a Reliable rviz subscription would get nothing.
    assert topics["/scene_camera/image_raw"].reliability == topics["/wrist_camera/image_raw"].reliability == "Best Effort"
    # robot_state_publisher publishes the description once, latched: only Transient Local receives it late.
    assert topics["/wx200/robot_description"].durability == "Transient Local"


PUBLISH = re.compile(r'create_publisher\(\s*(\w+)\s*,\s*"([^"]+)"')


def published_by_graph(mode: str) -> dict[str, set[str]]:
    """Absolute topic -> message class names, read from the sources of the nodes that
    `graph.build_graph` starts in this mode (root namespace), without running them."""
    from meld_bringup.graph import GraphArgs, build_graph

    nodes, _ = build_graph(GraphArgs(mode=mode, run_dir="/tmp/meld_rviz_check", rig_port="/dev/meld_rig"))
    out: dict[str, set[str]] = {}
    for n in nodes:
        source = Path(importlib.util.find_spec(n.module).origin).read_text()
        for cls, name in PUBLISH.findall(source):
            if name.startswith("~/"):
                topic = f"/{n.label}/{name[2:]}"
            elif name.startswith("/"):
                topic = name
            else:
                topic = "/" + "/".join(p for p in (n.namespace, name) if p)
            out.setdefault(topic, set()).add(cls)
    return out


@pytest.mark.parametrize("mode", ["sim", "robot"])
def test_every_rviz_topic_has_a_publisher_in_the_graph(mode):
    published = published_by_graph(mode)
    for s in subscriptions():
        if s.topic in NOT_ON_ROBOT_GRAPH:
            continue
        assert s.topic in published, (f"rviz display {s.display!r} subscribes to {s.topic}, which no node of the "
                                      f"{mode} graph publishes; published: {sorted(published)}")
        assert published[s.topic] == {s.msg_type.rsplit("/", 1)[1]}, (s, published[s.topic])


def test_launch_file_finds_this_config():
    """launch_common starts rviz2 with config_dir().parent / rviz / meld.rviz."""
    from meld_bringup.graph import config_dir

    assert (config_dir().parent / "rviz" / "meld.rviz").resolve() == RVIZ


# --- what the markers show ----------------------------------------------------------------------
def rotation_of(q) -> np.ndarray:
    x, y, z, w = q.x, q.y, q.z, q.w
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_goal_marker_is_the_plug_in_the_goal_insertion_pose_for_every_task():
    from builtin_interfaces.msg import Time
    from visualization_msgs.msg import Marker
    from widowx_bringup.reward_node import goal_marker
    from widowx_bringup.scene import PlugGeometry, RouterGeometry
    from widowx_bringup.sim.tasks import TaskSetConfig, sample_tasks

    router, plug = RouterGeometry(), PlugGeometry()
    for task in sample_tasks(TaskSetConfig(seed=0)):
        tip, R = router.insertion_pose(task.port, task.translation, task.rotation)
        m = goal_marker(tip, R, plug, Time(sec=1))
        assert (m.header.frame_id, m.type, m.action) == ("world", Marker.CUBE, Marker.ADD)
        q = m.pose.orientation
        assert math.isclose(q.x ** 2 + q.y ** 2 + q.z ** 2 + q.w ** 2, 1.0, abs_tol=1e-9)
        np.testing.assert_allclose(rotation_of(q), R, atol=1e-9)
        centre = np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z])
        # The box's leading face is the plug tip, seat_depth below the router's top face.
        np.testing.assert_allclose(centre + 0.5 * m.scale.x * R[:, 0], tip, atol=1e-9)
        assert math.isclose(tip[2], router.top_height - router.seat_depth)
        assert (m.scale.x, m.scale.y, m.scale.z) == (plug.length, plug.width, plug.thickness)
        assert m.color.a > 0 and m.lifetime.sec > 0


def test_belief_marker_shows_mean_and_std():
    from builtin_interfaces.msg import Time
    from meld_policy.node import BELIEF_BAR_SCALE, belief_markers
    from visualization_msgs.msg import Marker

    bar, text = belief_markers(-0.42, 0.05, Time(sec=1))
    assert {bar.header.frame_id, text.header.frame_id} == {"world"} and bar.id != text.id
    assert (bar.type, text.type) == (Marker.CYLINDER, Marker.TEXT_VIEW_FACING)
    assert text.text == "predicted reward -0.420 +- 0.050"
    assert math.isclose(bar.scale.z, 0.42 * BELIEF_BAR_SCALE)
    assert math.isclose(bar.scale.x, 2 * 0.05 * BELIEF_BAR_SCALE)
    assert math.isclose(bar.pose.position.z - bar.scale.z / 2, 0.0, abs_tol=1e-12), "the bar stands on the table"
    assert text.pose.position.z > bar.scale.z
    # A zero prediction with no spread still draws something, and a positive one another colour.
    flat, _ = belief_markers(0.0, 0.0, Time())
    assert flat.scale.z > 0 and flat.scale.x > 0
    assert (flat.color.r, flat.color.b) != (bar.color.r, bar.color.b)


def test_rig_pose_frame_transform_in_the_docs_puts_the_router_where_the_reward_node_has_it():
    """rviz draws rig/pose (frame reset_rig_centre, x = rail offset, yaw = rotation) through the static
    transform world -> reset_rig_centre that meld.rviz and docker/compose.yaml give: x 0.30, yaw pi/2."""
    from widowx_bringup.scene import RouterGeometry

    text = RVIZ.read_text()
    m = re.search(r"static_transform_publisher --x ([\d.]+) --yaw ([\d.]+) --frame-id world", text)
    assert m, "meld.rviz's comment lost the static transform rviz needs for rig/pose"
    x, yaw = float(m.group(1)), float(m.group(2))
    router = RouterGeometry()
    for translation, rotation in ((0.0, 0.0), (0.01, 0.14), (-0.01, -0.14)):
        c, s = math.cos(yaw), math.sin(yaw)
        where = np.array([x, 0.0, 0.0]) + np.array([c * translation, s * translation, 0.0])
        np.testing.assert_allclose(where, np.asarray(router.rig_origin) + [0.0, translation, 0.0], atol=1e-4)
        # The arrow (the pose's x axis) runs along the row of ports, the router's y axis.
        arrow = np.array([math.cos(yaw + rotation), math.sin(yaw + rotation), 0.0])
        centre, R = router.port_frame(0, translation, rotation)
        np.testing.assert_allclose(arrow, R[:, 1], atol=1e-4)
