"""Test harness for node tests: node processes in their own process groups, and an in-test
rclpy node spun on a background thread with helpers that wait with deadlines."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


class Proc:
    """A process in its own session; `stop()` signals the whole group and waits with a deadline."""

    def __init__(self, cmd: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.cmd, self.log_path = cmd, log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env=dict(os.environ if env is None else env, PYTHONUNBUFFERED="1"))

    def output(self) -> str:
        if not self._log.closed:
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


class NodeProcess(Proc):
    """A ROS node `python -m module` named `name`, its output in <log_dir>/<name>.log."""

    def __init__(self, module: str, name: str, log_dir: Path, params: dict | None = None, extra: list[str] | None = None):
        self.name = name
        super().__init__(node_cmd(module, name, params) + (extra or []), log_dir / f"{name}.log")


class ProbeNode:
    """An rclpy node of the test itself, spinning in a background thread."""

    def __init__(self, name: str = "test_probe"):
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._running = True
        self._thread.start()

    def _spin(self) -> None:
        while self._running and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def collect(self, msg_type, topic: str, qos) -> list:
        """Subscribe and append every message, with its arrival time, to the returned list."""
        got: list = []
        self.node.create_subscription(msg_type, topic, lambda m: got.append((time.monotonic(), m)), qos)
        return got

    def call(self, srv_type, name: str, request, timeout: float = 30.0):
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {name} not available within {timeout} s")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"service {name} did not answer within {timeout} s")
            time.sleep(0.02)
        return future.result()

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2.0)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def wait_for(predicate, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")
