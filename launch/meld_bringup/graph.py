"""The node graph, written once: read by widowx.launch.py, sim.launch.py and `meld-launch`.

Each entry says which node runs, from which package and executable (for `ros2 launch` on a robot
PC) or Python module (for the pip-only runner), with which parameters. Parameter files live in
launch/config/ and are installed to share/meld_bringup/config; the runner finds them in the
source tree or in that share folder.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MODES = ("sim", "robot")
ONLY = ("both", "cell", "trainer")
STOP_TIMEOUT = 10.0
"""Seconds a node has to end after SIGINT before it gets SIGTERM (and as many again before SIGKILL),
in meld-launch and in the launch files alike."""


@dataclass(frozen=True)
class NodeSpec:
    """One ROS 2 node of the graph."""

    name: str
    package: str
    executable: str
    """Console script installed in lib/<package>/ (what launch_ros.actions.Node runs)."""
    module: str
    """`python -m` entry of the same node, for the pip-only runner."""
    parameters: dict = field(default_factory=dict)
    namespace: str = ""
    """Namespace of the node inside the graph's namespace (a cell of a multi-cell graph)."""
    required: bool = True
    """The runner stops the graph and exits non-zero when a required node dies."""
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def full_namespace(self, graph_namespace: str) -> str:
        """The node's namespace under the graph's, without slashes at the ends ('' for the root)."""
        return "/".join(part for part in (graph_namespace.strip("/"), self.namespace) if part)


@dataclass(frozen=True)
class ProcessSpec:
    """A helper process that is not a ROS node (the rig's firmware emulator in the sim)."""

    name: str
    package: str
    executable: str
    """Console script installed in lib/<package>/ (what `ros2 launch` runs)."""
    module: str
    """`python -m` entry of the same program, for the pip-only runner."""
    arguments: tuple[str, ...] = ()
    required: bool = True
    ready_path: str = ""
    """Path that exists once the process is ready (the emulator's pseudo-terminal link): the nodes
    start only then."""
    ready_timeout: float = 10.0
    """Seconds to wait for `ready_path` before the graph stops with an error."""
    stop_timeout: float = 25.0
    """Seconds it may take to stop after SIGINT: the emulator keeps answering until the rig node
    has closed the port (a Ctrl-C in a terminal reaches both at once), so that node stops cleanly."""


@dataclass(frozen=True)
class GraphArgs:
    """Launch arguments shared by widowx.launch.py, sim.launch.py and meld-launch."""

    mode: str = "sim"
    """sim: the MuJoCo sim stands in for cameras, arm and rig; robot: the real hardware."""
    robot_model: str = "wx200"
    """Interbotix arm model (wx200 or wx250)."""
    namespace: str = ""
    """Namespace of the whole graph (several sims, or two robots)."""
    run_dir: str = ""
    """Run folder: episodes, checkpoints, node logs (logs/). Running again with the same folder
    resumes. Empty: runs/<mode> (runs/sim or runs/robot), runs/<mode>_<namespace> with a namespace."""
    config: str = "default"
    """Training config: default (the paper's numbers) or smoke (minutes on a CPU)."""
    rig_port: str = ""
    """Serial port of the reset rig's Arduino (robot: required, e.g. /dev/meld_rig) or the
    emulator's link (sim; empty: a per-run path under the run folder)."""
    rig_speedup: float = 20.0
    """Sim only: the rig emulator runs this many times faster than real steppers."""
    scene_camera_device: str = "/dev/v4l/by-id/scene-camera"
    """Robot only: the scene camera's stable device path, stream URL or video file."""
    wrist_camera_device: str = "/dev/v4l/by-id/wrist-camera"
    """Robot only: the wrist camera's stable device path, stream URL or video file."""
    link_interface: str = ""
    """Robot only: the network interface at the far end of the cable, whose carrier is the sparse
    "link up" reward (the link watcher's `interface`; find it with `ip link`)."""
    cells: int = 1
    """This many cells (namespaces cell1..cellN, each with its own rig, arm and policy) feeding one
    trainer: simulated on this host, or (with only=trainer) robots or sims on other hosts."""
    meta_test: bool = False
    """Meta-test instead of meta-training: held-out trials with the newest checkpoint, a report
    (eval_report.json in the run folder), then the graph stops."""
    policy_file: str = ""
    """With meta_test: meta-test this policy file (meld-export, e.g. models/NAME.pt) or checkpoint
    instead of the run folder's newest checkpoint."""
    only: str = "both"
    """Which part of the graph runs here: both (one host), cell (the robot PC: cameras or sim, arm,
    rig, reward, policy) or trainer (the training box). Each part keeps its own run_dir; episodes
    and checkpoints cross over ROS (docs/robot.md, "Two machines")."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: use one of {MODES}")
        if not 1 <= self.cells <= 16 or (self.cells > 1 and self.mode != "sim" and self.only != "trainer"):
            raise ValueError(f"cells={self.cells}: 1 to 16 simulated cells; a robot graph has one cell (a trainer "
                             "for several robots: --only trainer --cells N, each robot PC --only cell --namespace cellK)")
        if self.namespace and not self.namespace.replace("/", "").replace("_", "").isalnum():
            raise ValueError(f"namespace {self.namespace!r}: letters, digits, _ and / only")
        if self.only not in ONLY:
            raise ValueError(f"only={self.only!r}: use one of {', '.join(ONLY)}")
        if self.mode == "robot" and not self.rig_port and self.only != "trainer":
            raise ValueError("rig_port is empty: the robot graph needs the reset rig's serial port "
                             "(rig_port:=/dev/meld_rig, or meld-launch robot --rig-port /dev/meld_rig; docs/reset_rig.md)")
        if not self.run_dir:  # frozen: the per-mode default is filled in once, here
            tag = self.namespace.strip("/").replace("/", "_")
            object.__setattr__(self, "run_dir", f"runs/{self.mode}" + (f"_{tag}" if tag else ""))

    @property
    def log_dir(self) -> Path:
        """Each process's output, <name>.log, as the terminal shows it."""
        return Path(self.run_dir) / "logs"

    def banner(self, domain_id: str) -> str:
        """The first line of a launch: what runs where, and where its logs are."""
        part = "" if self.only == "both" else f" ({self.only} part only)"
        return (f"{self.mode} graph{part} in namespace '{self.namespace or '/'}', ROS_DOMAIN_ID={domain_id}, run folder "
                f"{Path(self.run_dir).resolve()}, logs in {self.log_dir.resolve()}; Ctrl-C stops everything")

    @property
    def rig_link(self) -> str:
        if self.rig_port:
            return self.rig_port
        tag = self.namespace.strip("/").replace("/", "_") or "rig"
        return str(Path(self.run_dir).resolve() / f"{tag}.pty")


def not_ready_message(p: ProcessSpec) -> str:
    return f"{p.name} did not create {p.ready_path} within {p.ready_timeout:.0f} s; its log says why"


def required_exit_message(label: str, code: int) -> str:
    """The line that names a required process whose exit stopped the graph (runner and launch files)."""
    return f"required process {label} exited with code {code}; stopping the graph"


def config_dir() -> Path:
    """launch/config in a source checkout, else the installed share/meld_bringup/config."""
    here = Path(__file__).resolve().parent.parent / "config"
    if here.is_dir():
        return here
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory("meld_bringup")) / "config"
    except Exception as exc:  # pragma: no cover - depends on the install
        raise FileNotFoundError(
            "cannot find meld_bringup's config folder: run from the source tree or install the "
            "meld_bringup package (colcon build, or scripts/setup.sh)"
        ) from exc


def parameter_files(args: GraphArgs) -> list[str]:
    """YAML parameter files for every node, general first (later files override earlier ones)."""
    d = config_dir()
    files = [d / "common.yaml", d / f"{args.mode}.yaml"]
    if args.config != "default":
        files.append(d / f"{args.config}.yaml")
    for f in files:
        if not f.is_file():
            known = sorted(p.stem for p in d.glob("*.yaml") if p.stem not in ("common", "sim", "robot"))
            raise FileNotFoundError(f"no parameter file {f}; configs available: default, {', '.join(known)}")
    return [str(f) for f in files]


def _cell(args: GraphArgs, cell: str, rig_link: str, run_dir: str) -> tuple[list[NodeSpec], list[ProcessSpec]]:
    """The nodes of one cell: what acts on one arm, one rig and one pair of cameras."""
    common = {"robot_model": args.robot_model}
    nodes: list[NodeSpec] = []
    processes: list[ProcessSpec] = []
    if args.mode == "sim":
        processes.append(ProcessSpec(
            f"{cell}/rig_emulator" if cell else "rig_emulator", "reset_rig", "meld-rig-emulator",
            "reset_rig.emulator_cli",
            ("--link", rig_link, "--speedup", str(args.rig_speedup), "--wait-for-clients", "20"),
            ready_path=rig_link))
        nodes.append(NodeSpec("sim", "widowx_bringup", "sim_node", "widowx_bringup.sim.node", dict(common),
                              namespace=cell, description="MuJoCo cell: cameras, joint states, link signal"))
    else:
        for cam, device in (("scene_camera", args.scene_camera_device), ("wrist_camera", args.wrist_camera_device)):
            nodes.append(NodeSpec(cam, "widowx_bringup", "camera_node", "widowx_bringup.camera.node",
                                  {"device": device, "frame_id": cam}, namespace=cell, description=f"{cam} webcam"))
        nodes.append(NodeSpec("link_watcher", "widowx_bringup", "link_watcher", "widowx_bringup.link.node",
                              {"interface": args.link_interface}, namespace=cell,
                              description="sparse reward: carrier of the interface at the cable's far end"))
    nodes += [
        NodeSpec("pid_bridge", "widowx_bringup", "pid_bridge", "widowx_bringup.bridge.node",
                 dict(common, driver="sim" if args.mode == "sim" else "interbotix"), namespace=cell,
                 description="joint velocities -> PID-tracked servo commands, safety"),
        NodeSpec("reward", "widowx_bringup", "reward_node", "widowx_bringup.reward_node", dict(common),
                 namespace=cell, description="shaped reward from kinematics and rig pose, sparse from the link"),
        NodeSpec("reset_rig", "reset_rig", "reset_rig_node", "reset_rig.node", {"port": rig_link}, namespace=cell,
                 description="GRBL reset rig: moves the router between tasks"),
        NodeSpec("policy", "meld_policy", "policy_node", "meld_policy.node", {"run_dir": run_dir}, namespace=cell,
                 description="3.3 Hz MELD belief filter and actor"),
    ]
    return nodes, processes


def build_graph(args: GraphArgs) -> tuple[list[NodeSpec], list[ProcessSpec]]:
    """The nodes (and helper processes) of the graph for these arguments."""
    run_dir = str(Path(args.run_dir).resolve())
    nodes: list[NodeSpec] = []
    processes: list[ProcessSpec] = []
    if args.cells == 1:
        cells = [("", args.rig_link)]
    else:
        cells = [(f"cell{i}", str(Path(run_dir) / f"cell{i}.pty")) for i in range(1, args.cells + 1)]
    for cell, link in cells if args.only != "trainer" else ():
        n, p = _cell(args, cell, link, run_dir)
        nodes += n
        processes += p
    if args.only == "cell":
        return nodes, processes
    nodes.append(NodeSpec(
        "trainer", "meld_trainer", "trainer_node", "meld_trainer.node",
        {"run_dir": run_dir, "config": "paper" if args.config == "default" else args.config,
         "cells": " ".join(cell for cell, _ in cells), "meta_test": args.meta_test,
         "policy_file": str(Path(args.policy_file).resolve()) if args.policy_file else ""},
        description="meta-training orchestrator" + (f" for {args.cells} cells" if args.cells > 1 else "")))
    return nodes, processes


def child_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment every process of the graph needs: DDS on loopback unless told otherwise,
    the Fast DDS profile with a shared-memory segment large enough for 640x480 frames, headless GL."""
    env = dict(os.environ if base is None else base)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    profile = config_dir() / "fastdds_large_frames.xml"
    if profile.is_file():
        env.setdefault("FASTRTPS_DEFAULT_PROFILES_FILE", str(profile))
        env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))
    env.setdefault("MUJOCO_GL", "egl")
    env.setdefault("PYOPENGL_PLATFORM", "egl")
    env["PYTHONUNBUFFERED"] = "1"
    return env
