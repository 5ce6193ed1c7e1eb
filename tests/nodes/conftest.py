"""Node processes for node tests: each in its own process group, output in a log file, always
stopped at teardown (SIGINT, then SIGKILL after a deadline) so no DDS participant outlives a test."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


class Proc:
    """A process in its own session; `stop()` signals the whole group and waits with a deadline."""

    def __init__(self, cmd: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.cmd, self.log_path = cmd, log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env=dict(os.environ if env is None else env, PYTHONUNBUFFERED="1"))

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


def node_cmd(module: str, name: str, params: dict | None = None) -> list[str]:
    """`python -m module --ros-args -r __node:=name -p k:=v ...`"""
    cmd = [sys.executable, "-m", module, "--ros-args", "-r", f"__node:={name}"]
    for k, v in (params or {}).items():
        cmd += ["-p", f"{k}:={('true' if v else 'false') if isinstance(v, bool) else v}"]
    return cmd


class Spawner:
    """Starts processes for one test and remembers them for teardown."""

    def __init__(self, log_dir: Path):
        self.log_dir, self.started = log_dir, []

    def __call__(self, cmd: list[str], name: str, env: dict[str, str] | None = None) -> Proc:
        p = Proc(cmd, self.log_dir / f"{name}.log", env)
        self.started.append(p)
        return p

    def node(self, module: str, name: str, params: dict | None = None, env: dict[str, str] | None = None) -> Proc:
        """A ROS node `python -m module` under the node name `name`, with parameters."""
        return self(node_cmd(module, name, params), name, env)


@pytest.fixture
def spawn(tmp_path):
    """spawn(cmd, name, env=None) or spawn.node(module, name, params) -> Proc; all stopped at teardown."""
    spawner = Spawner(tmp_path)
    try:
        yield spawner
    finally:
        for p in reversed(spawner.started):
            p.stop()
