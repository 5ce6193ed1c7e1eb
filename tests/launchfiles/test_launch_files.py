"""The launch files, checked without ROS 2 `launch` (not on PyPI): stand-in modules record what
the files build, and the result is compared with the shared graph table and the packages'
installed executables. Real `ros2 launch` runs happen on robot PCs and in the Docker image."""
from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest

from meld_bringup.graph import GraphArgs, build_graph

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = {"widowx_bringup": ROOT / "src/widowx_bringup", "reset_rig": ROOT / "src/reset_rig",
                "meld_policy": ROOT / "src/meld_policy", "meld_trainer": ROOT / "src/meld_trainer",
                "meld_bringup": ROOT / "launch"}


class Recorded:
    """Any launch action: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration:
    def __init__(self, name, default=None):
        self.name = name

    def perform(self, context):
        return context.launch_configurations[self.name]


@pytest.fixture()
def stub_launch(monkeypatch):
    mods = {name: types.ModuleType(name) for name in
            ("launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions")}
    mods["launch"].LaunchDescription = type("LaunchDescription", (Recorded,), {})
    for cls in ("DeclareLaunchArgument", "ExecuteProcess", "OpaqueFunction", "SetEnvironmentVariable"):
        setattr(mods["launch.actions"], cls, type(cls, (Recorded,), {}))
    mods["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    mods["launch_ros.actions"].Node = type("Node", (Recorded,), {})
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.delitem(sys.modules, "meld_bringup.launch_common", raising=False)
    return mods


def load_launch_file(name: str):
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), ROOT / "launch" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def console_scripts(package: str) -> dict[str, str]:
    text = (PACKAGE_DIRS[package] / "setup.py").read_text()
    return dict(re.findall(r'"([\w\-]+) = ([\w.]+):main"', text))


def run_opaque(description, values: dict[str, str]):
    actions = description.args[0]
    declared = {a.args[0]: a.kwargs for a in actions if type(a).__name__ == "DeclareLaunchArgument"}
    context = types.SimpleNamespace(launch_configurations={k: v["default_value"] for k, v in declared.items()})
    context.launch_configurations.update(values)
    opaque = next(a for a in actions if type(a).__name__ == "OpaqueFunction")
    return declared, opaque.kwargs["function"](context)


@pytest.mark.parametrize("launch_file,sim", [("widowx.launch.py", False), ("sim.launch.py", True)])
def test_launch_file_starts_the_shared_graph(stub_launch, launch_file, sim):
    description = load_launch_file(launch_file)
    declared, actions = run_opaque(description, {"namespace": "cell1", "run_dir": "/tmp/meld_run"})
    for required in ("sim", "robot_model", "namespace", "run_dir", "rig_port", "use_rviz",
                     "scene_camera_device", "wrist_camera_device"):
        assert required in declared, f"{launch_file} lacks the {required} argument"
        assert declared[required]["description"], f"argument {required} has no description"
    assert declared["sim"]["default_value"] == ("true" if sim else "false")

    nodes = [a.kwargs for a in actions if type(a).__name__ == "Node"]
    expected, processes = build_graph(GraphArgs(mode="sim" if sim else "robot", namespace="cell1", run_dir="/tmp/meld_run"))
    assert [n["name"] for n in nodes] == [n.name for n in expected]
    for node, spec in zip(nodes, expected):
        assert node["namespace"] == "cell1"
        scripts = console_scripts(node["package"])
        assert node["executable"] in scripts, f"{node['package']} installs no executable {node['executable']}"
        assert scripts[node["executable"]] == spec.module, "launch file and meld-launch would start different code"
        files = [p for p in node["parameters"] if isinstance(p, str)]
        assert files and all(Path(f).is_file() for f in files)
        assert node["parameters"][-1] == spec.parameters
    emulators = [a for a in actions if type(a).__name__ == "ExecuteProcess"]
    assert len(emulators) == (1 if sim else 0)
    if sim:
        assert emulators[0].kwargs["cmd"][0] in console_scripts("reset_rig")


def test_robot_graph_has_cameras_and_the_interbotix_driver(stub_launch):
    _, actions = run_opaque(load_launch_file("widowx.launch.py"), {})
    nodes = {a.kwargs["name"]: a.kwargs for a in actions if type(a).__name__ == "Node"}
    assert {"scene_camera", "wrist_camera", "link_watcher"} <= nodes.keys() and "sim" not in nodes
    assert nodes["pid_bridge"]["parameters"][-1]["driver"] == "interbotix"


def test_launch_arguments_reach_the_nodes(stub_launch):
    _, actions = run_opaque(load_launch_file("widowx.launch.py"),
                            {"link_interface": "enx001", "meta_test": "true", "rig_port": "/dev/meld_rig"})
    nodes = {a.kwargs["name"]: a.kwargs["parameters"][-1] for a in actions if type(a).__name__ == "Node"}
    assert nodes["link_watcher"]["interface"] == "enx001"
    assert nodes["trainer"]["meta_test"] is True
    assert nodes["reset_rig"]["port"] == "/dev/meld_rig"


def test_two_cells_are_namespaced_under_the_graph(stub_launch):
    _, actions = run_opaque(load_launch_file("sim.launch.py"), {"cells": "2", "namespace": "lab"})
    nodes = [a.kwargs for a in actions if type(a).__name__ == "Node"]
    spaces = {(n["namespace"], n["name"]) for n in nodes}
    for cell in ("lab/cell1", "lab/cell2"):
        assert {(cell, "sim"), (cell, "policy"), (cell, "pid_bridge"), (cell, "reset_rig")} <= spaces
    assert ("lab", "trainer") in spaces
    trainer = next(n for n in nodes if n["name"] == "trainer")
    assert trainer["parameters"][-1]["cells"] == "cell1 cell2"


def test_rviz_only_when_asked(stub_launch):
    _, actions = run_opaque(load_launch_file("sim.launch.py"), {"use_rviz": "true"})
    assert any(a.kwargs.get("executable") == "rviz2" for a in actions if type(a).__name__ == "Node")
    _, actions = run_opaque(load_launch_file("sim.launch.py"), {})
    assert not any(a.kwargs.get("executable") == "rviz2" for a in actions if type(a).__name__ == "Node")
