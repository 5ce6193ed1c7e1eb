"""The GRBL emulator behind a pseudo-terminal, with fault injection. No ROS.

:class:`PtyEmulator` opens a pty, puts its slave side in raw mode, and serves a
:class:`~reset_rig.emulator.GrblFirmware` on the master side from one thread. A client opens
the slave path (``/dev/pts/N``, or the symlink given as ``link``) exactly like a USB serial
port. Faults, all switchable while running:

- ``drop_rate``: each byte the firmware sends is lost with this probability;
- ``garble_rate``: each line the firmware sends gets one byte replaced with this probability;
- ``garbage_rate``: a line of noise is sent before a line with this probability;
- ``firmware.silent``: the firmware stops answering (a hung board);
- :meth:`unplug` / :meth:`replug`: the port vanishes (the pty is closed, the link removed)
  and comes back as a new pty with a power-cycled firmware (a USB cable pulled and put back);
- ``firmware.alarm_mid_move``: the next block stops halfway with that alarm (1: a limit switch
  tripped by a bump).

Time runs ``speedup`` times faster than the wall clock for motion, dwell and pauses.
"""
from __future__ import annotations

import errno
import fcntl
import os
import random
import select
import termios
import threading
import time
import tty
from pathlib import Path
from typing import Callable, Optional

from .emulator import GrblFirmware, MachineModel


class ScaledClock:
    """Monotonic time running ``speedup`` times faster than the wall clock."""

    def __init__(self, speedup: float = 1.0) -> None:
        if speedup <= 0:
            raise ValueError(f"speedup must be positive, got {speedup}")
        self.speedup = speedup
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return self._t0 + (time.monotonic() - self._t0) * self.speedup


class PtyEmulator:
    """Serve an emulated GRBL board on a pseudo-terminal; use as a context manager."""

    MAX_PENDING_OUTPUT = 65536   # bytes kept when nobody reads the port (older ones are lost)

    def __init__(self, link: Optional[str] = None, speedup: float = 1.0,
                 settings: Optional[dict[int, float]] = None, machine: Optional[MachineModel] = None,
                 drop_rate: float = 0.0, garble_rate: float = 0.0, garbage_rate: float = 0.0,
                 seed: int = 0, tick_s: float = 0.002,
                 on_path: Optional[Callable[[str], None]] = None) -> None:
        self.link = Path(link) if link else None
        self.clock = ScaledClock(speedup)
        self.drop_rate, self.garble_rate, self.garbage_rate = drop_rate, garble_rate, garbage_rate
        self._rng = random.Random(seed)
        self._tick_s = tick_s
        self._on_path = on_path
        self.lock = threading.RLock()
        self._out = bytearray()
        self.firmware = GrblFirmware(self._out.extend, self.clock, machine=machine, settings=settings)
        self._master: Optional[int] = None
        self._slave: Optional[int] = None
        self.path: Optional[str] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pending = bytearray()
        self._partial_line = bytearray()
        self._replug_at: Optional[float] = None

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> "PtyEmulator":
        with self.lock:
            self._open_pty()
        self._thread = threading.Thread(target=self._run, name="grbl-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        with self.lock:
            self._close_pty()

    def __enter__(self) -> "PtyEmulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave, termios.TCSANOW)        # no echo, no CR/LF translation: a plain byte pipe
        flags = fcntl.fcntl(master, fcntl.F_GETFL)
        fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._master, self._slave = master, slave  # keeping the slave open avoids EIO between clients
        self.path = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)
        self._pending.clear()
        if self._on_path:
            self._on_path(self.path)

    def _close_pty(self) -> None:
        if self.link is not None and self.link.is_symlink() and os.readlink(self.link) == self.path:
            self.link.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None

    # --------------------------------------------------------------------------- faults
    def unplug(self, replug_after_s: Optional[float] = None) -> None:
        """Pull the cable: the port disappears; with ``replug_after_s`` (wall seconds) it comes back."""
        with self.lock:
            self._close_pty()
            self.path = None
            self._replug_at = None if replug_after_s is None else time.monotonic() + replug_after_s

    def replug(self) -> None:
        """Put the cable back: a new pty (same link), the board powers up (position lost)."""
        with self.lock:
            self._replug_at = None
            if self._master is None:
                self._out.clear()
                self.firmware.power_up()
                self._open_pty()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    # ----------------------------------------------------------------------------- loop
    def _faults(self, data: bytes) -> bytes:
        if not (self.drop_rate or self.garble_rate or self.garbage_rate):
            return data
        result = bytearray()
        for byte in data:
            if self.drop_rate and self._rng.random() < self.drop_rate:
                continue
            self._partial_line.append(byte)
            if byte == 0x0A:
                line = self._partial_line
                self._partial_line = bytearray()
                if self.garbage_rate and self._rng.random() < self.garbage_rate:
                    result += bytes(self._rng.choice(b"#%&*@^QWERTYzx0123456789") for _ in range(
                        self._rng.randint(1, 20))) + b"\r\n"
                if self.garble_rate and len(line) > 2 and self._rng.random() < self.garble_rate:
                    i = self._rng.randrange(len(line) - 2)
                    line[i] = self._rng.choice(b"#%&*@^~QZ")
                result += line
        return bytes(result)

    def _run(self) -> None:
        while not self._stop.is_set():
            master = self._master
            if master is None:
                if self._replug_at is not None and time.monotonic() >= self._replug_at:
                    self.replug()
                time.sleep(self._tick_s)
                continue
            try:
                readable, _, _ = select.select([master], [], [], self._tick_s)
            except (OSError, ValueError):
                continue                                   # closed by unplug() meanwhile
            with self.lock:
                if self._master != master:
                    continue
                if readable:
                    try:
                        data = os.read(master, 4096)
                    except OSError as exc:
                        if exc.errno not in (errno.EAGAIN, errno.EIO):
                            raise
                        data = b""
                    self.firmware.receive(data)
                self.firmware.tick()
                if self._out:
                    self._pending += self._faults(bytes(self._out))
                    self._out.clear()
                if len(self._pending) > self.MAX_PENDING_OUTPUT:
                    del self._pending[:len(self._pending) - self.MAX_PENDING_OUTPUT]
                if self._pending:
                    try:
                        written = os.write(master, self._pending)
                        del self._pending[:written]
                    except OSError as exc:
                        if exc.errno not in (errno.EAGAIN, errno.EIO):
                            raise
