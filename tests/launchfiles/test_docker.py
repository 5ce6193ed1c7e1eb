"""docker/: the two images and the compose file, checked without a Docker engine (none on CI or
here): both images set up with the README's scripts/setup.sh, every command they and compose.yaml
run exists in the repository, compose.yaml is valid YAML with the host network and IPC the robot
needs, and setup.sh's mode for an apt ROS installs requirements.txt minus the ROS wheels. Building
the images is the check this file cannot make (docs/docker.md says what was verified)."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from meld_bringup.graph import GraphArgs

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILES = {"robot": DOCKER / "robot.Dockerfile", "sim": DOCKER / "sim.Dockerfile"}
EXTERNAL_LAUNCH = {
    ("interbotix_xsarm_control", "xsarm_control.launch.py"): "built from source in robot.Dockerfile",
}
"""Launch files of other packages that a container may start, and where they come from."""
LAUNCH_ARGS = {f.name for f in fields(GraphArgs) if f.name != "mode"} | {"sim", "use_rviz"}
"""Arguments widowx.launch.py declares (launch_common.declare_arguments)."""


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuation lines joined, comments dropped (Docker
    drops comment lines inside a continued instruction too)."""
    out, current = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, args = current.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        current = ""
    assert not current, f"{path.name} ends inside a continued instruction"
    return out


def command_text(args: str) -> str:
    """An exec-form (JSON array) or shell-form command as one string; RUN's --mount flags dropped."""
    if args.startswith("["):
        return " ".join(json.loads(args))
    return re.sub(r"^(--\S+\s+)+", "", args)


def commands(path: Path) -> list[str]:
    return [command_text(a) for k, a in instructions(path) if k in ("RUN", "CMD", "ENTRYPOINT")]


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def compose_commands() -> list[str]:
    out = []
    for service in compose()["services"].values():
        cmd = service.get("command")
        if cmd:
            out.append(" ".join(cmd) if isinstance(cmd, list) else cmd)
    return out


def console_scripts() -> set[str]:
    names = set()
    for setup in [*ROOT.glob("src/*/setup.py"), ROOT / "launch/setup.py"]:
        names |= set(re.findall(r'"([\w\-]+) = [\w.]+:main"', setup.read_text()))
    return names


def repo_path(path: str) -> Path:
    """A path as a container sees it (/meld/... or relative to WORKDIR /meld) in the repository."""
    return ROOT / path.removeprefix("/meld/")


def check_command(text: str, where: str) -> None:
    """Every launch file, repository script and meld-* command that `text` runs exists."""
    for package, launch_file in re.findall(r"ros2 launch (\S+) (\S+)", text):
        if package == "meld_bringup":
            assert (ROOT / "launch" / launch_file).is_file(), f"{where}: no launch/{launch_file}"
        else:
            assert (package, launch_file) in EXTERNAL_LAUNCH, f"{where}: launches {package} {launch_file}, unknown"
    for path in re.findall(r"(?:/meld/)?((?:scripts|docker|src|launch)/[\w./-]*\w)", text):
        p = repo_path(path)
        assert p.exists(), f"{where}: {path} is not in the repository"
        if path.startswith(("scripts/", "docker/")) and p.suffix in ("", ".sh"):
            assert os.access(p, os.X_OK), f"{where}: {path} is not executable (chmod +x {path})"
    for cmd in re.findall(r"(?<![\w/.-])(meld-[a-z][\w-]*)", text):
        assert cmd in console_scripts(), f"{where}: {cmd} is no console script of any setup.py"
    for script in re.findall(r"(?:/meld/)?(scripts/[\w.-]+\.sh)", text):
        # What a repository script runs counts too (run.sh execs meld-launch).
        for cmd in re.findall(r"(?<![\w/.-])(meld-[a-z][\w-]*)", (ROOT / script).read_text()):
            assert cmd in console_scripts(), f"{script} (from {where}) runs {cmd}, no console script"


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_sets_up_with_the_readmes_script_and_runs_only_what_exists(image):
    path = DOCKERFILES[image]
    assert "scripts/setup.sh" in (ROOT / "README.md").read_text(), "the README no longer names scripts/setup.sh"
    runs = [a for k, a in instructions(path) if k == "RUN"]
    assert any(re.search(r"(^|\s)scripts/setup\.sh\b", command_text(r)) for r in runs), \
        f"{path.name} does not set up with scripts/setup.sh"
    assert ("COPY", ". /meld") in instructions(path), "the image must hold the whole repository at /meld"
    assert ("VOLUME", '["/meld/runs"]') in instructions(path), "runs/ must be a volume, not image content"
    for text in commands(path):
        check_command(text, path.name)


def test_sim_image_runs_the_readmes_main_job():
    steps = instructions(DOCKERFILES["sim"])
    base = next(a for k, a in steps if k == "FROM")
    assert re.fullmatch(r"python:3\.11(-slim)?(-\w+)?", base), f"{base}: setup.sh's pins are tested on Python 3.11"
    entry = next(a for k, a in steps if k == "ENTRYPOINT")
    assert json.loads(entry) == ["/meld/scripts/run.sh"]
    assert re.search(r"exec \S*meld-launch sim\b", (ROOT / "scripts/run.sh").read_text())


def test_robot_image_builds_interbotix_then_this_workspace_and_launches_the_robot_graph():
    steps = instructions(DOCKERFILES["robot"])
    assert next(a for k, a in steps if k == "FROM") == "ros:jazzy-ros-base"
    runs = " ".join(command_text(a) for k, a in steps if k == "RUN")
    for repo in ("interbotix_ros_core", "interbotix_ros_manipulators", "interbotix_ros_toolboxes"):
        assert repo in runs
    assert "rosdep install" in runs and "colcon build --packages-up-to interbotix_xsarm_control" in runs
    setup = next(command_text(a) for k, a in steps if k == "RUN" and "scripts/setup.sh" in a)
    assert re.search(r"source /opt/ros/jazzy/setup\.bash .*MELD_SYSTEM_ROS=1 scripts/setup\.sh", setup), \
        "setup.sh's apt-ROS mode needs ROS sourced first (it checks that rclpy imports)"
    # The venv's python runs colcon, so the nodes' scripts start with it (torch, mujoco).
    assert re.search(r"\.venv/bin/python -m colcon build --base-paths src launch", runs)
    entry = json.loads(next(a for k, a in steps if k == "ENTRYPOINT"))
    assert entry == ["/meld/docker/robot_entrypoint.sh"]
    sourced = re.findall(r"^source (\S+)", (ROOT / "docker/robot_entrypoint.sh").read_text(), re.M)
    assert sourced == ["/opt/ros/jazzy/setup.bash", "/interbotix_ws/install/setup.bash", "/meld/install/setup.bash"]
    cmd = command_text(next(a for k, a in steps if k == "CMD"))
    assert "ros2 launch meld_bringup widowx.launch.py" in cmd
    env = " ".join(a for k, a in steps if k == "ENV")
    for arg, var in re.findall(r"(\w+):=\"?\$(\w+)", cmd):
        assert arg in LAUNCH_ARGS, f"CMD passes {arg}:=, which widowx.launch.py does not declare"
        assert re.search(rf"\b{var}=\S", env), f"CMD reads ${var}, which no ENV sets"


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_host_venv_and_runs_stay_out_of_the_build_context(image):
    ignored = (DOCKER / f"{image}.Dockerfile.dockerignore").read_text().split()
    assert {".venv/", "runs/", "build/", "install/"} <= set(ignored)


def test_compose_file_builds_existing_images_with_host_network_and_ipc():
    services = compose()["services"]
    assert {"robot", "sim", "xs_sdk"} <= services.keys()
    for name, s in services.items():
        if "build" in s:
            context = (DOCKER / s["build"]["context"]).resolve()
            assert context == ROOT, f"{name}: build context must be the repository root"
            assert (context / s["build"]["dockerfile"]).is_file(), f"{name}: no {s['build']['dockerfile']}"
        for volume in s.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(".."):
                assert (DOCKER / source).exists() or source == "../runs", f"{name}: mounts missing {source}"
    for name in ("robot", "xs_sdk"):
        assert services[name]["network_mode"] == "host" and services[name]["ipc"] == "host", name
    assert services["sim"]["ipc"] == "host"
    for name in ("robot", "sim"):
        assert "../runs:/meld/runs" in services[name]["volumes"], f"{name}: runs/ must be a host volume"
    for text in compose_commands():
        check_command(text, "compose.yaml")


def test_compose_robot_devices_match_what_the_graph_and_driver_open():
    services = compose()["services"]
    robot, driver = services["robot"], services["xs_sdk"]
    targets = {d.split(":")[1] for d in robot["devices"]}
    env = robot["environment"]
    assert {env["MELD_RIG_PORT"], env["MELD_SCENE_CAMERA"], env["MELD_WRIST_CAMERA"]} <= targets
    assert set(env) & {f"MELD_{a.upper()}" for a in ("robot_model", "run_dir", "config")} == \
        {"MELD_ROBOT_MODEL", "MELD_RUN_DIR", "MELD_CONFIG"}
    assert env["MELD_RUN_DIR"].startswith("/meld/runs/")
    cmd = " ".join(driver["command"])
    assert "use_rviz:=false" in cmd
    mode_config = re.search(r"mode_configs:=(\S+)", cmd).group(1)
    modes = yaml.safe_load(repo_path(mode_config).read_text())
    assert modes["groups"]["arm"]["operating_mode"] == "velocity", "the bridge sends velocities to group arm"
    assert f"{modes['port']}:{modes['port']}" in driver["devices"]


def test_compose_rviz_transform_matches_the_rviz_config_and_the_rig_geometry():
    from widowx_bringup.scene import RouterGeometry

    service = compose()["services"]["rviz"]
    assert "../launch/rviz/meld.rviz:/meld.rviz:ro" in service["volumes"]
    pattern = r"static_transform_publisher\s+--x ([\d.]+)\s+--yaw ([\d.]+)\s+--frame-id world\s+--child-frame-id reset_rig_centre"
    in_compose = re.search(pattern, " ".join(service["command"]))
    # In meld.rviz the command is a comment continued over two lines ("\", newline, "#").
    rviz_text = re.sub(r"\\\s*\n\s*#\s*", " ", (ROOT / "launch/rviz/meld.rviz").read_text())
    in_rviz = re.search(pattern, rviz_text)
    assert in_compose and in_rviz
    assert in_compose.groups() == in_rviz.groups()
    assert math.isclose(float(in_compose.group(1)), RouterGeometry().rig_origin[0])
    assert math.isclose(float(in_compose.group(2)), math.pi / 2, abs_tol=1e-4)


# --- setup.sh's mode for images that have ROS 2 from apt -----------------------------------------
def print_requirements(tmp_path: Path, system_ros: bool) -> list[str]:
    """Run `scripts/setup.sh --print-requirements` from a copy of the script and requirements.txt,
    so that the test also proves the option touches nothing (no .venv, no apt)."""
    (tmp_path / "scripts").mkdir(exist_ok=True)
    shutil.copy2(ROOT / "scripts/setup.sh", tmp_path / "scripts/setup.sh")
    shutil.copy2(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    env = {k: v for k, v in os.environ.items() if k != "MELD_SYSTEM_ROS"}
    if system_ros:
        env["MELD_SYSTEM_ROS"] = "1"
    r = subprocess.run([str(tmp_path / "scripts/setup.sh"), "--print-requirements"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requirements.txt", "scripts"], "it installed something"
    return [line.strip() for line in r.stdout.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_system_ros_mode_installs_requirements_without_the_ros_wheels_and_colcon(tmp_path):
    every = print_requirements(tmp_path, system_ros=False)
    assert every == [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                     if line.strip() and not line.lstrip().startswith("#")], "the default mode must install all of it"
    assert any(r.startswith("ros-jazzy-") for r in every) and any(r.startswith("colcon") for r in every)

    filtered = print_requirements(tmp_path, system_ros=True)
    assert not [r for r in filtered if r.startswith(("ros-jazzy-", "colcon"))]
    assert "torch==2.13.0" in filtered
    assert filtered == [r for r in every if not r.startswith(("ros-jazzy-", "colcon"))], "nothing else may go"
