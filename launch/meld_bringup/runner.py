"""meld-launch: start the node graph without `ros2 launch` (pip-only machines, CI).

Usage:
    meld-launch sim                               # the sim stack, meta-training; Ctrl-C stops it,
                                                  # running it again resumes from runs/sim
    meld-launch sim --quiet                       # terminal: trainer progress and warnings only
    meld-launch sim --config smoke --duration 120 # a short CPU run (tests, CI)
    meld-launch sim --namespace sim1 --domain-id 42 --run-dir runs/sim1
    meld-launch sim --cells 2                     # two simulated cells feeding one trainer
    meld-launch robot --rig-port /dev/ttyRig      # the real robot graph (Interbotix driver running)

It starts the graph of `meld_bringup.graph` (the one the launch files start), one process per
node with its ROS arguments, prefixes each line of their output with the node's name, and shuts
everything down on Ctrl-C, SIGTERM or --duration: SIGINT to every process, then SIGTERM, then
SIGKILL for any that will not stop. Children also get SIGTERM if the runner itself is killed
(PR_SET_PDEATHSIG), so no node outlives it. When a required node ends, the graph stops: exit 0
when it finished its work (the trainer after its last iteration), 1 when it failed or died.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

from .graph import (STOP_TIMEOUT, GraphArgs, NodeSpec, ProcessSpec, build_graph, child_environment,
                    not_ready_message, parameter_files, required_exit_message)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _ros_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else "''"
    return str(value)


def node_command(spec: NodeSpec, args: GraphArgs, param_files: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}"]
    namespace = spec.full_namespace(args.namespace)
    if namespace:
        cmd += ["-r", f"__ns:=/{namespace}"]
    for f in param_files:
        cmd += ["--params-file", f]
    for key, value in spec.parameters.items():
        cmd += ["-p", f"{key}:={_ros_value(value)}"]
    return cmd


_LOUD = ("[WARN]", "[ERROR]", "[FATAL]", "Traceback", "Error:")


class Child:
    """A process of the graph; its output goes to <run_dir>/logs/<name>.log and, prefixed with its
    name, to the terminal (with `quiet`, only the trainer's progress and warnings or worse)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], required: bool, log_dir: Path,
                 quiet: bool = False):
        self.name, self.required = name, required
        self.quiet = quiet and name != "trainer"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(log_dir / f"{name.replace('/', '_')}.log", "a", buffering=1)
        # Own session: a Ctrl-C in the terminal reaches the runner only, which then stops the
        # nodes before the helper processes they talk to (the rig node before its emulator).
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent, text=True, bufsize=1,
                                     start_new_session=True)
        self._pump = threading.Thread(target=self._forward, daemon=True)
        self._pump.start()

    def _forward(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            if not self.quiet or any(word in line for word in _LOUD):
                sys.stdout.write(f"[{self.name}] {line}")
                sys.stdout.flush()
        self._log.close()

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def join_output(self) -> None:
        self._pump.join(timeout=2.0)


class Runner:
    def __init__(self, args: GraphArgs, domain_id: int | None, exclude: tuple[str, ...] = (), quiet: bool = False):
        self.args = args
        self.quiet = quiet
        self.log_dir = args.log_dir
        self.env = child_environment()
        if domain_id is not None:
            self.env["ROS_DOMAIN_ID"] = str(domain_id)
        self.env.setdefault("ROS_DOMAIN_ID", "0")
        nodes, processes = build_graph(args)
        self.nodes = [n for n in nodes if n.name not in exclude and n.label not in exclude]
        self.processes = [p for p in processes if p.name not in exclude]
        self.param_files = parameter_files(args)
        self.children: list[Child] = []
        self._stop = threading.Event()
        self.failed: str | None = None

    def log(self, text: str) -> None:
        print(f"[meld-launch] {text}", flush=True)

    def start(self) -> None:
        Path(self.args.run_dir).mkdir(parents=True, exist_ok=True)
        self.log(self.args.banner(self.env["ROS_DOMAIN_ID"]))
        for p in self.processes:
            self._start_process(p)
        for n in self.nodes:
            self.children.append(Child(n.label, node_command(n, self.args, self.param_files), self.env, n.required,
                                       self.log_dir, self.quiet))
            self.log(f"started {n.label} ({n.package}/{n.executable}) pid {self.children[-1].proc.pid}")

    def _start_process(self, p: ProcessSpec) -> None:
        cmd = [sys.executable, "-m", p.module, *p.arguments]
        self.children.append(Child(p.name, cmd, self.env, p.required, self.log_dir, self.quiet))
        self.log(f"started {p.name} pid {self.children[-1].proc.pid}: {' '.join(cmd)}")
        if p.ready_path:
            deadline = time.monotonic() + p.ready_timeout
            while not os.path.exists(p.ready_path):
                if time.monotonic() > deadline or self.children[-1].proc.poll() is not None:
                    raise RuntimeError(not_ready_message(p))
                time.sleep(0.05)

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def watch(self, duration: float | None) -> None:
        end = None if duration is None else time.monotonic() + duration
        while not self._stop.is_set():
            for c in self.children:
                code = c.proc.poll()
                if code is not None and c.required:
                    if code == 0:
                        self.log(f"{c.name} finished; stopping the graph")
                    else:
                        self.failed = f"{c.name} exited with code {code}"
                        self.log(required_exit_message(c.name, code))
                    return
            if end is not None and time.monotonic() >= end:
                self.log(f"duration of {duration:.0f} s reached; stopping the graph")
                return
            self._stop.wait(0.2)
        self.log("stop requested; stopping the graph")

    def shutdown(self) -> None:
        helpers = {p.name for p in self.processes}
        nodes = [c for c in self.children if c.name not in helpers]
        # Nodes first, then the helper processes they talk to (the rig node before its emulator).
        for group in (nodes, [c for c in self.children if c.name in helpers]):
            for sig, grace in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
                alive = [c for c in group if c.proc.poll() is None]
                if not alive:
                    break
                if sig != signal.SIGINT:
                    self.log(f"{', '.join(c.name for c in alive)} still running; sending {signal.Signals(sig).name}")
                for c in alive:
                    c.signal(sig)
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and any(c.proc.poll() is None for c in alive):
                    time.sleep(0.05)
        for c in self.children:
            c.join_output()
        self.log("all processes stopped")


def _field_docs() -> dict[str, str]:
    try:
        from meld_ros.params import field_docs
        return field_docs(GraphArgs)
    except Exception:  # help text only
        return {}


def parse_args(argv: list[str] | None) -> tuple[GraphArgs, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="meld-launch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["sim", "robot"])
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID for every node (0-232)")
    parser.add_argument("--exclude", default="", help="comma-separated node names not to start")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a start-up error")
    parser.add_argument("--quiet", action="store_true",
                        help="terminal shows the trainer's progress and every warning; full logs in RUN_DIR/logs")
    docs = _field_docs()
    for f in fields(GraphArgs):
        if f.name == "mode":
            continue
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true", default=None, help=docs.get(f.name))
        else:
            parser.add_argument(flag, type=type(f.default), default=None, help=f"{docs.get(f.name, '')} (default {f.default!r})")
    ns = parser.parse_args(argv)
    values = {f.name: getattr(ns, f.name) for f in fields(GraphArgs) if f.name != "mode" and getattr(ns, f.name) is not None}
    if ns.domain_id is not None and not 0 <= ns.domain_id <= 232:
        parser.error("--domain-id must be in 0..232")
    try:
        return GraphArgs(mode=ns.mode, **values), ns
    except ValueError as exc:
        parser.error(str(exc))


def _user_error(exc: BaseException) -> str:
    """One sentence for a start-up error (a missing config, a run folder that cannot be written)."""
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot use {exc.filename} ({exc.strerror}); choose a writable --run-dir or fix the path"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    args, ns = parse_args(argv)
    try:
        runner = Runner(args, ns.domain_id, tuple(x for x in ns.exclude.split(",") if x), quiet=ns.quiet)
    except (OSError, ValueError, RuntimeError) as exc:
        if ns.debug:
            raise
        print(f"meld-launch: error: {_user_error(exc)}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, runner.request_stop)
    signal.signal(signal.SIGTERM, runner.request_stop)
    try:
        runner.start()
        runner.watch(ns.duration)
    except (OSError, ValueError, RuntimeError) as exc:
        if ns.debug:
            raise
        runner.failed = str(exc)
        runner.log(f"error: {_user_error(exc)}")
    finally:
        runner.shutdown()
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
