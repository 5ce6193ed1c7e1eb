"""Node processes for node tests: each in its own process group, output in a log file, always
stopped at teardown (SIGINT, then SIGKILL after a deadline) so no DDS participant outlives a test."""
from __future__ import annotations

from pathlib import Path

import pytest
from graph_harness import Proc, node_cmd


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
