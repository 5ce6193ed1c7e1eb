"""The README's `ros2 launch` set-up, run as written: the colcon build of this checkout in a scratch
workspace, and shells that source it. Used by tests/test_workspace.py (the build, colcon test) and
tests/launchfiles/test_ros2_launch.py (the real launch system over that build).

The scratch workspace links src/, launch/ and .venv to this checkout, so the README's lines run
verbatim in it, and nothing is built inside the checkout.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ACTIVATE = "source .venv/bin/activate"
BUILD = "python -m colcon build --base-paths src launch"
SOURCE = "source install/setup.bash"
PIP_ROS_PREFIX = 'export AMENT_PREFIX_PATH="$AMENT_PREFIX_PATH:$VIRTUAL_ENV"'
"""Only where ROS 2 comes from the PyPI wheels: the launch system's own share/ and ament index are
in the venv (../shared/ros2-jazzy/README.md)."""
SHELL_SETUP = (ACTIVATE, SOURCE, PIP_ROS_PREFIX)
"""What a shell runs before `ros2 ...`, once the workspace is built."""


@dataclass
class Workspace:
    path: Path
    build: subprocess.CompletedProcess

    def shell(self, command: str) -> list[str]:
        """bash running `command` in the sourced workspace; `exec`, so that a signal to the returned
        process reaches the command itself (SIGINT to `ros2 launch` is a Ctrl-C)."""
        return ["bash", "-c", " && ".join([*SHELL_SETUP, f"exec {command}"])]

    def run(self, command: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        return subprocess.run(self.shell(command), cwd=self.path, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


def colcon_environment(tmp: Path) -> dict[str, str]:
    """The test's environment without a sourced workspace, and colcon's own files under tmp."""
    env = {k: v for k, v in os.environ.items() if k not in ("AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH", "PYTHONPATH")}
    env["COLCON_HOME"] = str(tmp / "colcon_home")
    return env


def build_workspace(path: Path) -> Workspace:
    path.mkdir(parents=True, exist_ok=True)
    for name, target in (("src", ROOT / "src"), ("launch", ROOT / "launch"), (".venv", Path(sys.prefix))):
        (path / name).symlink_to(target)
    build = subprocess.run(["bash", "-c", f"{ACTIVATE} && {BUILD}"], cwd=path, env=colcon_environment(path),
                           capture_output=True, text=True, timeout=600)
    return Workspace(path, build)


def require_launch_system() -> None:
    """Skip where the real ROS 2 launch system is not installed (a user's pip-only machine); in CI
    (CI=true), where scripts/setup.sh installs it from ../shared, fail instead."""
    if importlib.util.find_spec("ros2launch") and (Path(sys.prefix) / "bin" / "ros2").exists():
        return
    why = ("the ROS 2 launch system (ros2launch, launch_ros, ros2cli) is not installed in "
           f"{sys.prefix}: scripts/setup.sh installs it from ../shared/ros2-jazzy/wheels, "
           f"which {(ROOT.parent / 'shared' / 'ros2-jazzy' / 'wheels')} does not provide here")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true, but {why}")
    pytest.skip(why)
