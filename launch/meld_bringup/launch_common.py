"""The launch description behind widowx.launch.py and sim.launch.py (ROS 2 Jazzy launch_ros).

Arguments are the fields of `graph.GraphArgs` (same names, defaults and descriptions as
meld-launch's options) plus `sim` and `use_rviz`; an OpaqueFunction resolves them and turns the
node table of `graph.build_graph` into launch_ros Nodes, so the launch files and the pip-only
runner start the same graph. `launch` and `launch_ros` are imported only here: they exist on a
robot PC or in the Docker image, not on pip-only machines.
"""
from __future__ import annotations

from dataclasses import fields

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from .graph import GraphArgs, build_graph, child_environment, config_dir, parameter_files

_TRUE = ("true", "1", "yes", "on")


def _field_doc(name: str) -> str:
    from meld_ros.params import field_docs  # the same docstring reader the nodes use

    return field_docs(GraphArgs).get(name, "")


def declare_arguments(sim_default: str) -> list:
    args = [
        DeclareLaunchArgument("sim", default_value=sim_default, choices=["true", "false"],
                              description="true: the MuJoCo sim node replaces the cameras, the Interbotix "
                                          "driver and the rig hardware (the rig node talks to its emulator)"),
        DeclareLaunchArgument("use_rviz", default_value="false", choices=["true", "false"],
                              description="start rviz2 with launch/rviz/meld.rviz"),
    ]
    for f in fields(GraphArgs):
        if f.name == "mode":
            continue
        default = str(f.default).lower() if isinstance(f.default, bool) else str(f.default)
        choices = ["true", "false"] if isinstance(f.default, bool) else None
        args.append(DeclareLaunchArgument(f.name, default_value=default, description=_field_doc(f.name),
                                          **({"choices": choices} if choices else {})))
    return args


def _graph_actions(context, *_, **__) -> list:
    values = {}
    for f in fields(GraphArgs):
        if f.name == "mode":
            continue
        text = LaunchConfiguration(f.name).perform(context)
        kind = type(f.default)
        values[f.name] = text.lower() in _TRUE if kind is bool else kind(text)
    sim = LaunchConfiguration("sim").perform(context).lower() in _TRUE
    args = GraphArgs(mode="sim" if sim else "robot", **values)
    nodes, processes = build_graph(args)
    files = parameter_files(args)
    actions: list = []
    env = child_environment({})
    for key in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        if key in env:
            actions.append(SetEnvironmentVariable(key, env[key]))
    for p in processes:
        actions.append(ExecuteProcess(cmd=list(p.cmd), name=p.name, output="screen"))
    for n in nodes:
        namespace = "/".join(part for part in (args.namespace.strip("/"), n.namespace) if part)
        actions.append(Node(package=n.package, executable=n.executable, name=n.name,
                            namespace=namespace or None, parameters=[*files, dict(n.parameters)],
                            output="screen", emulate_tty=True))
    if LaunchConfiguration("use_rviz").perform(context).lower() in _TRUE:
        rviz = config_dir().parent / "rviz" / "meld.rviz"
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", namespace=args.namespace or None,
                            arguments=["-d", str(rviz)], output="screen"))
    return actions


def generate(sim_default: str = "false") -> LaunchDescription:
    return LaunchDescription([*declare_arguments(sim_default), OpaqueFunction(function=_graph_actions)])
