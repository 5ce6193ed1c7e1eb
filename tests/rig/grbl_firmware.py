"""The real GRBL 1.1h firmware in its host simulator (../shared/grbl-sim), on a pseudo-terminal.

`build.sh` compiles it once per session into a temporary folder; `serve.sh` serves it behind
socat, with its simulated EEPROM in a folder of the test's own. The simulator runs in real
time and busy-waits one core, so the fixtures (conftest.py) run one board at a time.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

import serial

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
GRBL_SIM = SHARED / "grbl-sim"
BANNER = b"Grbl 1.1h ['$' for help]"

#: The packaged rig settings, homing faster ($24 locate, $25 seek, $26 debounce), so that a
#: homing cycle takes about 2 s instead of 8 s: the firmware runs in real time.
FAST_HOMING = {24: 300.0, 25: 1500.0, 26: 25}


def build(outdir: Path) -> Path:
    """Compile the firmware (about 3 s; 20 s on a loaded machine); the executable's path."""
    for tool in ("gcc", "make", "patch", "socat"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"'{tool}' is missing: run scripts/setup.sh (it installs gcc, make, patch "
                               "and socat from Debian)")
    result = subprocess.run([str(GRBL_SIM / "build.sh"), str(outdir)], capture_output=True, text=True,
                            timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"grbl-sim build.sh failed ({result.returncode}): {result.stderr[-2000:]}")
    return Path(result.stdout.strip())


class FirmwareBoard:
    """One simulated Arduino: :meth:`start` powers it up, :meth:`stop` pulls its cable (the port
    and its link vanish, the EEPROM is kept); :meth:`start` again is a replug (a power-up)."""

    def __init__(self, exe: Path, folder: Path, eeprom: Optional[Path] = None) -> None:
        self.exe = exe
        self.folder = folder
        self.link = folder / "rig.pty"
        self.state_dir = folder / "eeprom"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if eeprom is not None:
            shutil.copy(eeprom, self.state_dir / "EEPROM.DAT")
        self.proc: Optional[subprocess.Popen] = None
        self._log = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0, read_banner: bool = True) -> "FirmwareBoard":
        """Power up and wait for the link, then for the power-up banner (then the port is free for
        a client). ``read_banner=False`` when a client is already polling the link (a node that
        reconnects): two readers on one pseudo-terminal split its bytes between them, so the
        banner could reach either; the client's own handshake then shows the board is up."""
        assert not self.running, "one simulator per board"
        self._log = open(self.folder / "serve.log", "ab")
        self.proc = subprocess.Popen([str(GRBL_SIM / "serve.sh"), str(self.exe), str(self.link), str(self.state_dir)],
                                     stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.link.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve.sh exited {self.proc.returncode}: {self.log_tail()}")
            assert time.monotonic() < deadline, f"no pseudo-terminal link within {timeout} s: {self.log_tail()}"
            time.sleep(0.02)
        if read_banner:
            self.wait_banner(deadline)
        return self

    def wait_banner(self, deadline: float) -> None:
        """Read the power-up output up to the banner: GRBL takes about 1 s (more when loaded)
        to boot, and a reset sent before then is lost."""
        seen = b""
        with serial.serial_for_url(str(self.link), baudrate=115200, timeout=0.05) as port:
            while BANNER not in seen:
                assert time.monotonic() < deadline, f"no power-up banner; got {seen[-300:]!r}"
                seen += port.read(4096)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to serve.sh: the simulator exits cleanly (EEPROM written), the link goes."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        assert not os.path.lexists(self.link), "serve.sh left its link behind"

    def unplug(self, timeout: float = 30.0) -> None:
        """Pull the cable now, mid-move if need be: SIGKILL to serve.sh, whose socat then gets
        SIGTERM, stops the simulator and removes the link. The EEPROM is not written out."""
        assert self.proc is not None
        group = self.proc.pid
        self.proc.kill()
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            if time.monotonic() > deadline:
                os.killpg(group, signal.SIGKILL)
            time.sleep(0.05)
        if os.path.lexists(self.link) and not self.link.exists():
            self.link.unlink()                      # socat was killed before it could remove it
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self) -> str:
        try:
            return (self.folder / "serve.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""
