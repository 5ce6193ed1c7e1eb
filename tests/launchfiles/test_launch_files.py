"""The launch files' arguments and the node table, checked in-process against the real ROS 2 launch
library (the processes themselves run in test_ros2_launch.py): the arguments of `ros2 launch` build
the same graph as meld-launch's options, and each executable runs the code meld-launch runs."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from ros2_workspace import require_launch_system

from meld_bringup.graph import GraphArgs, build_graph
from meld_bringup.runner import parse_args

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = {"widowx_bringup": ROOT / "src/widowx_bringup", "reset_rig": ROOT / "src/reset_rig",
                "meld_policy": ROOT / "src/meld_policy", "meld_trainer": ROOT / "src/meld_trainer",
                "meld_bringup": ROOT / "launch"}


def console_scripts(package: str) -> dict[str, str]:
    text = (PACKAGE_DIRS[package] / "setup.py").read_text()
    return dict(re.findall(r'"([\w\-]+) = ([\w.]+):main"', text))


@pytest.mark.parametrize("args", [GraphArgs(mode="sim", cells=2), GraphArgs(mode="robot", rig_port="/dev/meld_rig")],
                         ids=["sim", "robot"])
def test_each_executable_runs_the_module_meld_launch_runs(args):
    nodes, processes = build_graph(args)
    for spec in [*nodes, *processes]:
        scripts = console_scripts(spec.package)
        assert spec.executable in scripts, f"{spec.package} installs no executable {spec.executable}"
        assert scripts[spec.executable] == spec.module, "the launch files and meld-launch would start different code"


def launch_context(launch_file: str, values: dict[str, str]):
    """A real LaunchContext holding the launch file's declared defaults, overridden by `values`."""
    require_launch_system()
    import importlib.util

    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location(launch_file.replace(".", "_"), ROOT / "launch" / launch_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = LaunchContext()
    for entity in module.generate_launch_description().entities:
        if isinstance(entity, DeclareLaunchArgument):
            context.launch_configurations[entity.name] = entity.default_value[0].perform(context) \
                if entity.default_value else ""
    context.launch_configurations.update(values)
    return context


@pytest.mark.parametrize("launch_file,arguments,options", [
    ("sim.launch.py", {}, ["sim"]),
    ("widowx.launch.py", {"sim": "true"}, ["sim"]),
    ("sim.launch.py", {"cells": "2", "namespace": "lab", "config": "smoke"},
     ["sim", "--cells", "2", "--namespace", "lab", "--config", "smoke"]),
    ("widowx.launch.py", {"rig_port": "/dev/meld_rig"}, ["robot", "--rig-port", "/dev/meld_rig"]),
    ("sim.launch.py", {"only": "cell", "run_dir": "/data/robot_pc"}, ["sim", "--only", "cell", "--run-dir", "/data/robot_pc"]),
    ("sim.launch.py", {"only": "trainer", "cells": "2"}, ["sim", "--only", "trainer", "--cells", "2"]),
    ("widowx.launch.py", {"only": "trainer", "cells": "3", "run_dir": "runs/box"},
     ["robot", "--only", "trainer", "--cells", "3", "--run-dir", "runs/box"]),
    ("widowx.launch.py", {"rig_port": "/dev/meld_rig", "link_interface": "enx001", "meta_test": "true",
                          "robot_model": "wx250", "run_dir": "runs/lab"},
     ["robot", "--rig-port", "/dev/meld_rig", "--link-interface", "enx001", "--meta-test",
      "--robot-model", "wx250", "--run-dir", "runs/lab"]),
])
def test_launch_arguments_build_the_graph_meld_launch_options_build(launch_file, arguments, options):
    """Same defaults per mode (robot: runs/robot), same values reaching the same nodes."""
    from meld_bringup.launch_common import graph_args

    launched = graph_args(launch_context(launch_file, arguments))
    assert launched == parse_args(options)[0]
    assert build_graph(launched) == build_graph(parse_args(options)[0])


def test_only_splits_the_graph_into_the_robot_pcs_part_and_the_training_boxs_part():
    """only:=cell is everything but the trainer; only:=trainer is the trainer alone (no rig port
    needed, several robot cells allowed); both, the default, is today's one-host graph."""
    from meld_bringup.launch_common import graph_args

    both_nodes, both_procs = build_graph(graph_args(launch_context("sim.launch.py", {"cells": "2"})))
    cell_nodes, cell_procs = build_graph(graph_args(launch_context("sim.launch.py", {"cells": "2", "only": "cell"})))
    trainer_nodes, trainer_procs = build_graph(graph_args(launch_context("sim.launch.py",
                                                                         {"cells": "2", "only": "trainer"})))
    assert [n.label for n in cell_nodes] + [n.label for n in trainer_nodes] == [n.label for n in both_nodes]
    assert [n.label for n in trainer_nodes] == ["trainer"] and trainer_procs == []
    assert cell_procs == both_procs and "trainer" not in [n.name for n in cell_nodes]
    assert trainer_nodes[0].parameters["cells"] == "cell1 cell2"
    robot_trainer = build_graph(graph_args(launch_context("widowx.launch.py", {"only": "trainer", "cells": "2"})))[0]
    assert [n.name for n in robot_trainer] == ["trainer"]
    with pytest.raises(ValueError, match="only='laptop'"):
        GraphArgs(only="laptop")
    with pytest.raises(ValueError, match="rig_port is empty"):
        GraphArgs(mode="robot", only="cell")


def test_run_folder_and_rig_port_defaults_per_mode():
    """A robot run never resumes from sim data, and never talks to a pty in place of the rig."""
    assert GraphArgs(mode="sim").run_dir == "runs/sim" and GraphArgs(mode="sim").rig_link.endswith("runs/sim/rig.pty")
    assert GraphArgs(mode="sim", namespace="lab/a").run_dir == "runs/sim_lab_a"
    assert GraphArgs(mode="robot", rig_port="/dev/meld_rig").run_dir == "runs/robot"
    with pytest.raises(ValueError, match="rig_port is empty"):
        GraphArgs(mode="robot")


def test_meld_launch_robot_without_a_rig_port_says_so_in_one_line():
    import subprocess
    import sys

    r = subprocess.run([str(Path(sys.executable).parent / "meld-launch"), "robot"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "rig_port is empty" in r.stderr and "Traceback" not in r.stderr, r.stderr
