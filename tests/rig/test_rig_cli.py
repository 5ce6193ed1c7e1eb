"""The console commands as a user runs them: meld-rig-emulator and meld-rig, as subprocesses.

The acceptance figure: `meld-rig goto-task all --home` visits all 30 tasks and every measured
pose is within 0.05 mm and 0.05 degrees of its target.
"""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def line_reader(stream) -> "queue.Queue[str]":
    """Lines of a child's output, read by a thread so that every wait can have a deadline."""
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


@pytest.fixture
def emulator_process(tmp_path):
    link = tmp_path / "rig"
    proc = subprocess.Popen([str(BIN / "meld-rig-emulator"), "--link", str(link), "--speedup", "25"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = line_reader(proc.stdout)
    proc.lines = lines
    try:
        first = lines.get(timeout=10.0)         # the emulator prints its path at start-up
        assert re.match(r"meld-rig-emulator: GRBL 1.1h on /dev/pts/\d+ \(link .*rig\)", first), first
        deadline = time.monotonic() + 5.0
        while not link.is_symlink():
            assert time.monotonic() < deadline, "emulator link did not appear"
            time.sleep(0.02)
        yield link, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    assert not link.is_symlink(), "the emulator must remove its link when it stops"


def meld_rig(link, *args, timeout=60):
    return subprocess.run([str(BIN / "meld-rig"), "--port", str(link), *args], capture_output=True,
                          text=True, timeout=timeout)


def test_goto_task_all_30_within_tolerance(emulator_process):
    link, _ = emulator_process
    refused = meld_rig(link, "goto-task", "3")
    assert refused.returncode == 1 and "not homed" in refused.stderr and "Traceback" not in refused.stderr
    result = meld_rig(link, "goto-task", "all", "--home")
    assert result.returncode == 0, result.stderr
    errors = [(float(mm), float(deg)) for mm, deg in re.findall(r"error (\d+\.\d+) mm (\d+\.\d+) deg", result.stdout)]
    assert len(errors) == 30
    assert max(e[0] for e in errors) <= 0.05 and max(e[1] for e in errors) <= 0.05
    assert re.search(r"worst error over 30 tasks: 0\.0\d+ mm, 0\.0\d+ deg", result.stdout)
    # GRBL is Idle and unlocked now, but this new command has not seen a homing: refused, not sent.
    single = meld_rig(link, "goto-task", "12")
    assert single.returncode == 1 and "goto-task 12 --home" in single.stderr, single.stderr
    single = meld_rig(link, "goto-task", "12", "--home")
    assert single.returncode == 0 and "task 12 (train): target X=" in single.stdout
    status = meld_rig(link, "status")
    assert status.returncode == 0 and "state Idle" in status.stdout and "locked: no" in status.stdout
    assert "homed: not known to this command" in status.stdout


def test_settings_status_and_errors(emulator_process):
    link, _ = emulator_process
    out = meld_rig(link, "settings")
    assert out.returncode == 0 and "$101=44.444" in out.stdout and "settings match the rig" in out.stdout
    assert meld_rig(link, "goto-task", "30").returncode == 2
    missing = meld_rig(link.parent / "nothing", "status")
    assert missing.returncode == 1 and "cannot open serial port" in missing.stderr
    assert "Traceback" not in missing.stderr
    debug = meld_rig(link.parent / "nothing", "--debug", "status")
    assert debug.returncode == 1 and "Traceback" in debug.stderr, "--debug shows where an error came from"
    assert debug.stderr.rstrip().splitlines()[-1] == missing.stderr.rstrip()


def test_emulator_unplug_signal_and_relink(emulator_process):
    link, proc = emulator_process
    before = os.readlink(link)
    os.kill(proc.pid, signal.SIGUSR1)                    # pull the cable for 2 s
    line = proc.lines.get(timeout=10.0)
    assert line.startswith("meld-rig-emulator: GRBL 1.1h on /dev/pts/"), line
    assert link.is_symlink()
    status = meld_rig(link, "status")
    assert status.returncode == 0 and "locked: yes" in status.stdout, (before, status)


CLIENT = """
import sys
from reset_rig.client import GrblClient
client = GrblClient(sys.argv[1])
client.connect()
print("connected", flush=True)
for line in sys.stdin:
    print("state", client.status(timeout=5.0).state, flush=True)
client.close()
"""


def test_emulator_on_sigint_waits_for_its_client_to_close_the_port(tmp_path):
    """In a launched graph a Ctrl-C reaches the rig node and the emulator at once: with
    --wait-for-clients the board keeps answering until the node has closed the port and ended, so
    the node never logs that its port vanished. The run folder of the link need not exist yet."""
    link = tmp_path / "new_run" / "rig.pty"
    proc = subprocess.Popen([str(BIN / "meld-rig-emulator"), "--link", str(link), "--wait-for-clients", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = line_reader(proc.stdout)
    client = None
    try:
        assert lines.get(timeout=10.0).startswith("meld-rig-emulator: GRBL 1.1h on /dev/pts/")
        client = subprocess.Popen([sys.executable, "-c", CLIENT, str(link)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert client.stdout.readline().startswith("connected")
        os.kill(proc.pid, signal.SIGINT)
        # The board still answers after the Ctrl-C, as long as its client runs.
        for _ in range(2):
            client.stdin.write("status\n")
            client.stdin.flush()
            assert client.stdout.readline().startswith("state"), "the emulator stopped answering its client"
        assert proc.poll() is None
        client.stdin.close()
        assert client.wait(timeout=20) == 0
        assert proc.wait(timeout=20) == 0, "the emulator did not stop once its client had ended"
        assert not link.is_symlink()
    finally:
        for p in (client, proc):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=5)
