"""meld-launch's rules, as ROS 2 launch actions, for widowx.launch.py and sim.launch.py.

`meld-launch` (runner.py) and the launch files start the same graph and must behave the same:

- nothing starts unless everything can: every executable, and rviz2 when asked for, is looked up
  first, and a missing one is one error line with nothing left running (a launch that fails
  half-way exits at once and orphans what it had started);
- helper processes (the rig emulator) start first and the nodes only once they are ready;
- each process's output also goes to <run_dir>/logs/<name>.log;
- a required process that ends stops the graph: exit 0 when it finished its work (the trainer
  after its last iteration), otherwise a non-zero exit and a line naming it. In `launch`, the
  only way to a non-zero exit is an exception, so that line is the exception's message.

Imports `launch` and `launch_ros`: only launch_common.py (loaded by the launch files) uses it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from launch.actions import LogInfo, OpaqueFunction, RegisterEventHandler, Shutdown, TimerAction
from launch.event_handlers import OnProcessExit, OnProcessIO

from .graph import NodeSpec, ProcessSpec, not_ready_message, required_exit_message

RVIZ = ("rviz2", "rviz2")
"""(package, executable) of rviz."""


class GraphNotStartable(RuntimeError):
    """What `ros2 launch` prints as its one error line before anything started."""


def executable_path(package: str, executable: str) -> str | None:
    """lib/<package>/<executable> under the package's install prefix, as launch_ros resolves it;
    None when the package or the executable is not installed where `ros2 launch` looks."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        path = Path(get_package_prefix(package)) / "lib" / package / executable
    except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH not set at all
        return None
    return str(path) if os.access(path, os.X_OK) else None


def check_startable(specs: list[NodeSpec | ProcessSpec], rviz: bool) -> None:
    """Raise with one line saying what is missing and the fix; start nothing then."""
    if rviz and executable_path(*RVIZ) is None:
        raise GraphNotStartable(
            "use_rviz:=true, but rviz2 is not installed here (a ros-base install, as on the robot image, "
            "has none): install ros-jazzy-rviz2, or launch with use_rviz:=false and run rviz2 where it is "
            "installed (docs/robot.md); nothing was started")
    missing = sorted({f"{s.package}/{s.executable}" for s in specs if executable_path(s.package, s.executable) is None})
    if missing:
        raise GraphNotStartable(
            f"cannot find {', '.join(missing)} in lib/<package>/ of AMENT_PREFIX_PATH: `ros2 launch` needs this "
            "workspace built with colcon and sourced (python -m colcon build --base-paths src launch && "
            "source install/setup.bash; README.md, 'ros2 launch'); a pip install has no lib/<package>/ "
            "(use meld-launch there); nothing was started")


class LogFile:
    """<run_dir>/logs/<name>.log of one process, as meld-launch writes it (stdout and stderr)."""

    def __init__(self, log_dir: Path, label: str):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.path = log_dir / f"{label.replace('/', '_')}.log"
        self._file = None

    def write(self, event) -> None:
        if self._file is None:
            self._file = open(self.path, "ab", buffering=0)
        self._file.write(event.text)

    def close(self, *_) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def watched(action, label: str, required: bool, log_dir: Path) -> list:
    """`action` with its log file and, if required, the rule that its exit stops the graph."""
    log = LogFile(log_dir, label)

    def on_exit(event, context):
        log.close()
        if not required or context.is_shutdown:
            return None  # stopping anyway (Ctrl-C, or another process's exit)
        if event.returncode == 0:
            return [LogInfo(msg=f"{label} finished; stopping the graph"), Shutdown(reason=f"{label} finished")]
        raise RuntimeError(required_exit_message(label, event.returncode))

    return [RegisterEventHandler(OnProcessIO(target_action=action, on_stdout=log.write, on_stderr=log.write)),
            RegisterEventHandler(OnProcessExit(target_action=action, on_exit=on_exit)),
            action]


def when_ready(processes: list[ProcessSpec], then: list, poll_s: float = 0.1) -> OpaqueFunction:
    """`then` once every process's ready path exists; an error after its ready timeout. A helper that
    dies first stops the graph by the required rule, which also cancels this wait."""
    waiting = [p for p in processes if p.ready_path]
    deadline: list[float] = []

    def check(context) -> list:
        deadline or deadline.append(time.monotonic())
        late = [p for p in waiting if not os.path.exists(p.ready_path)]
        if not late:
            names = ", ".join(p.name for p in waiting)
            return ([LogInfo(msg=f"{names} ready; starting the nodes")] if waiting else []) + then
        for p in late:
            if time.monotonic() > deadline[0] + p.ready_timeout:
                raise RuntimeError(not_ready_message(p))
        return [TimerAction(period=poll_s, actions=[OpaqueFunction(function=check)])]

    return OpaqueFunction(function=check)
