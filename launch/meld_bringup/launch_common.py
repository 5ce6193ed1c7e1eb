"""The launch description behind widowx.launch.py and sim.launch.py (ROS 2 Jazzy launch_ros).

Arguments are the fields of `graph.GraphArgs` (same names, defaults and descriptions as
meld-launch's options) plus `sim` and `use_rviz`; an OpaqueFunction resolves them and turns the
node table of `graph.build_graph` into launch actions, so the launch files and the pip-only
runner start the same graph with the same rules (launch_rules.py). `launch` and `launch_ros` are
imported only here and there: they exist on a robot PC, in the Docker image and where
scripts/setup.sh installed them from ../shared, not on a plain pip-only machine.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import ExecutableInPackage

from .graph import STOP_TIMEOUT, GraphArgs, build_graph, child_environment, config_dir, parameter_files
from .launch_rules import RVIZ, check_startable, watched, when_ready

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
                              description="start rviz2 with launch/rviz/meld.rviz (not required: the graph runs "
                                          "on when it is closed; without rviz2 installed, nothing starts)"),
    ]
    for f in fields(GraphArgs):
        if f.name == "mode":
            continue
        default = str(f.default).lower() if isinstance(f.default, bool) else str(f.default)
        choices = ["true", "false"] if isinstance(f.default, bool) else None
        args.append(DeclareLaunchArgument(f.name, default_value=default, description=_field_doc(f.name),
                                          **({"choices": choices} if choices else {})))
    return args


def graph_args(context) -> GraphArgs:
    values = {}
    for f in fields(GraphArgs):
        if f.name == "mode":
            continue
        text = LaunchConfiguration(f.name).perform(context)
        kind = type(f.default)
        values[f.name] = text.lower() in _TRUE if kind is bool else kind(text)
    sim = LaunchConfiguration("sim").perform(context).lower() in _TRUE
    return GraphArgs(mode="sim" if sim else "robot", **values)


def _graph_actions(context, *_, **__) -> list:
    args = graph_args(context)
    nodes, processes = build_graph(args)
    files = parameter_files(args)
    use_rviz = LaunchConfiguration("use_rviz").perform(context).lower() in _TRUE
    check_startable([*nodes, *processes], rviz=use_rviz)  # before anything starts

    Path(args.run_dir).mkdir(parents=True, exist_ok=True)
    # The environment meld-launch gives its children: DDS on loopback unless set, the Fast DDS
    # profile for large frames, headless GL, unbuffered Python output.
    env = child_environment(dict(context.environment))
    actions: list = [SetEnvironmentVariable(k, v) for k, v in env.items() if context.environment.get(k) != v]
    actions.append(LogInfo(msg=args.banner(env.get("ROS_DOMAIN_ID", "0"))))
    for p in processes:
        proc = ExecuteProcess(cmd=[ExecutableInPackage(p.executable, p.package), *p.arguments], name=p.name,
                              output="screen", sigterm_timeout=str(p.stop_timeout), sigkill_timeout="5")
        actions += watched(proc, p.name, p.required, args.log_dir)
    started: list = []
    for n in nodes:
        node = Node(package=n.package, executable=n.executable, name=n.name,
                    namespace=n.full_namespace(args.namespace) or None,
                    parameters=[*files, dict(n.parameters)], output="screen",
                    sigterm_timeout=str(STOP_TIMEOUT), sigkill_timeout=str(STOP_TIMEOUT))
        started += watched(node, n.label, n.required, args.log_dir)
    if use_rviz:
        rviz = config_dir().parent / "rviz" / "meld.rviz"
        started.append(Node(package=RVIZ[0], executable=RVIZ[1], name="rviz2", namespace=args.namespace or None,
                            arguments=["-d", str(rviz)], output="screen"))
    actions.append(when_ready(processes, started))
    return actions


def generate(sim_default: str = "false") -> LaunchDescription:
    return LaunchDescription([*declare_arguments(sim_default), OpaqueFunction(function=_graph_actions)])
