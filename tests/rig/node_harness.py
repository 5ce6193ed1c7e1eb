"""Helpers for the reset_rig node tests: the node as a subprocess, a test node spinning on
conditions with deadlines (the test node itself is conftest's ``ros`` fixture)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import rclpy

NS = f"/rig_test_{os.getpid()}"      # one namespace per test run: parallel runs never cross-talk
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def spin_until(node, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        rclpy.spin_once(node, timeout_sec=0.05)


def start_node(link, *params, stderr=subprocess.DEVNULL):
    args = [sys.executable, "-m", "reset_rig.node", "--ros-args", "-p", f"port:={link}",
            "-p", "status_poll_hz:=20.0", "-r", f"__ns:={NS}", *sum((["-p", p] for p in params), [])]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr,
                            start_new_session=True, text=True)


def stop_node(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        return None
