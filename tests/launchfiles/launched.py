"""A graph started as a user starts it (`ros2 launch ...` or `meld-launch ...`), watched from outside:
its output, every process it started, what is left of them after it ends.

Started in a session of its own, with stdin closed as CI runs it (`interrupt()`: SIGINT to the
launcher, which passes it on to its processes), or with a terminal as stdin (`terminal=True`;
`interrupt()` then does what a terminal's Ctrl-C does: SIGINT to the whole process group at once,
and `ros2 launch` relies on that). Whatever happens, the teardown kills the whole process group,
so a failing test leaves no DDS participant behind.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil


class Launched:
    def __init__(self, cmd: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None,
                 terminal: bool = False):
        self.log = log
        self._out = open(log, "w")
        self.terminal = terminal
        self._tty = os.openpty() if terminal else None
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=self._tty[1] if self._tty else subprocess.DEVNULL, start_new_session=True)
        self.start = time.monotonic()
        self.seen: dict[int, str] = {}
        """pid -> command line of every process seen under the launcher."""

    # ------------------------------------------------------------------ watching
    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")

    def track(self) -> None:
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                try:
                    self.seen.setdefault(child.pid, " ".join(child.cmdline()))
                except psutil.Error:
                    continue
        except psutil.Error:
            pass

    def wait_for(self, predicate, timeout: float, what: str):
        """Poll `predicate` (and note the processes) until it is true; fail if the launcher ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.track()
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"the launch ended (exit {self.proc.returncode}) before {what}:\n"
                                     + self.output()[-4000:])
            time.sleep(0.5)
        raise AssertionError(f"waited {timeout:.0f} s for {what}:\n" + self.output()[-4000:])

    def pid_of(self, word: str) -> int:
        self.track()
        pids = [pid for pid, cmd in self.seen.items() if word in cmd and psutil.pid_exists(pid)]
        assert pids, f"no process running {word}"
        return pids[0]

    # ------------------------------------------------------------------ ending
    def interrupt(self, timeout: float = 90.0) -> int:
        """Ctrl-C; the launcher's exit code."""
        self.track()
        if self.terminal:
            os.killpg(self.proc.pid, signal.SIGINT)
        else:
            self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float = 90.0) -> int:
        """The launcher's exit code; the processes it starts meanwhile are noted."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the launch did not end within {timeout:.0f} s:\n" + self.output()[-4000:])
            self.track()
            time.sleep(0.2)
        return self.proc.returncode

    def left_running(self) -> list[str]:
        """Processes of this launch still alive after it ended: the ones it started, and any other
        member of its process group (an orphan it never reported)."""
        alive = []
        for pid, cmd in self.seen.items():
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{pid} {cmd}")
            except psutil.Error:
                continue
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if p.pid not in self.seen and os.getpgid(p.pid) == self.proc.pid and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{p.pid} {' '.join(p.info['cmdline'] or [])}")
            except (psutil.Error, ProcessLookupError):
                continue
        return alive

    def close(self) -> None:
        """Teardown: whatever still runs in the launch's process group is killed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for pid, cmd in self.seen.items():  # only if the pid still runs what it ran
            try:
                p = psutil.Process(pid)
                if " ".join(p.cmdline()) == cmd:
                    p.kill()
            except psutil.Error:
                continue
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything else left in the launch's process group
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        self._out.close()
        for fd in self._tty or ():
            os.close(fd)
