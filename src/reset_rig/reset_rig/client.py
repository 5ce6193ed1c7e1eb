"""GRBL 1.1 client over pyserial: lines with ``ok``/``error:N`` flow control, status polling,
real-time commands, alarms turned into readable errors, and reconnection. No ROS.

One thread owns a :class:`GrblClient` (it is not thread-safe), except :meth:`realtime`
(``!``, ``~``, 0x18), which any thread may call to stop the rig while a wait is running.

Flow control is GRBL's character counting: at most ``RX_BUFFER_SIZE - 1`` bytes of lines may
be unacknowledged, and the n-th ``ok``/``error`` answers the n-th line sent. A reset drops
every unacknowledged line, so a banner (or our own 0x18) fails them. Replies that arrive
between a 0x18 sent through this client (from any thread) and the banner are stale and
ignored: GRBL answers the line it was executing when the reset came (a pending ``G4 P0``, a
line stopped by a soft limit, a failed ``$H``) with an ``ok`` that is not the end of a motion.

Whether the rig is homed is this client's own knowledge (:attr:`GrblClient.homed`): a homing
cycle it saw complete, with no reset, restart or position-losing alarm since. GRBL's Idle
state says nothing about it: its homing lock applies at power-up only, so after ``$22=1`` is
written without a power cycle GRBL stays Idle and unlocked although it was never homed.

Usage::

    with GrblClient("/dev/meld_rig") as grbl:     # opens, soft-resets, waits for the banner
        grbl.home()
        grbl.command("G90 G53 G0 X-20 Y-15")
        report = grbl.wait_idle(timeout=30)
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import serial

from . import protocol as p
from .codes import POSITION_RETAINED_ALARMS, describe_alarm, describe_error
from .settings import same_value

log = logging.getLogger("reset_rig.client")


class GrblError(RuntimeError):
    """Base class: something on the GRBL link needs attention. The message says what to do."""


class GrblTimeout(GrblError):
    """A reply, a report or a state did not come within its deadline."""


class GrblDisconnected(GrblError):
    """The serial port is closed or vanished (USB unplugged, board powered off)."""


class GrblCommandError(GrblError):
    """GRBL answered ``error:N`` to a line; the line was not executed."""

    def __init__(self, line: str, code: int, hint: str = "") -> None:
        super().__init__(f"GRBL rejected {line!r}: {describe_error(code)}{hint}")
        self.line, self.code = line, code


class GrblAlarm(GrblError):
    """GRBL is in an alarm (``ALARM:N``); motion stopped."""

    def __init__(self, code: Optional[int], detail: str = "") -> None:
        what = describe_alarm(code) if code is not None else "GRBL is in the Alarm state"
        super().__init__(f"{what}{'; ' + detail if detail else ''}")
        self.code = code


class GrblResetError(GrblError):
    """A line was dropped by a reset before GRBL answered it."""


_DROPPED = object()


@dataclass
class _Pending:
    seq: int
    line: str
    size: int


class GrblClient:
    """A GRBL 1.1 board on a serial port; see the module docstring."""

    def __init__(self, port: str, baud: int = 115200, *, connect_timeout: float = 3.0,
                 reply_timeout: float = 5.0, status_timeout: float = 1.0,
                 on_status: Optional[Callable[[p.StatusReport], None]] = None,
                 on_push: Optional[Callable[[p.Line], None]] = None,
                 serial_factory: Callable[..., serial.SerialBase] = serial.serial_for_url) -> None:
        self.port, self.baud = port, baud
        self.connect_timeout, self.reply_timeout, self.status_timeout = connect_timeout, reply_timeout, status_timeout
        self.on_status, self.on_push = on_status, on_push
        self._factory = serial_factory
        self._ser: Optional[serial.SerialBase] = None
        self._write_lock = threading.Lock()
        self._rx = bytearray()
        self._pending: deque[_Pending] = deque()
        self._inflight = 0
        self._seq = 0
        self._results: dict[int, object] = {}
        self._reset_sent_at: Optional[float] = None   # a 0x18 went out; its banner has not come yet
        self._reset_keeps_position = False            # ... and it was sent at rest (position kept)
        self.resets_sent = 0                          # 0x18 bytes sent through this client, any thread
        self.homed = False                            # a homing cycle seen complete; see the module docstring
        self._collect: Optional[list] = None
        self.banners = 0
        self.version: Optional[str] = None
        self.last_status: Optional[p.StatusReport] = None
        self._status_count = 0
        self.wco: Optional[tuple[float, ...]] = None
        self.alarm: Optional[int] = None          # last ALARM:N since the last reset/homing
        self._alarm_count = 0
        self.needs_reset = False                  # after ALARM:1/2: nothing but 0x18 is answered
        self._critical_message_seen = False       # "[MSG:Reset to continue]" arrived
        self.locked = False                       # "'$H'|'$X' to unlock" seen since the last banner
        self.messages: deque[str] = deque(maxlen=50)
        self.garbage_lines = 0

    # ------------------------------------------------------------------------ connection
    @property
    def alarm_count(self) -> int:
        """How many ``ALARM:N`` lines arrived so far; compare before and after an operation."""
        return self._alarm_count

    @property
    def connected(self) -> bool:
        return self._ser is not None

    def __enter__(self) -> "GrblClient":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Open the port, soft-reset and wait for the banner.

        A real Uno resets when the port opens and prints the banner about 1 s later; a
        pseudo-terminal or a board without the DTR reset does not, hence the 0x18.
        """
        self.close()
        try:
            ser = self._factory(self.port, baudrate=self.baud, timeout=0.02, write_timeout=2.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise GrblDisconnected(
                f"cannot open serial port {self.port}: {exc}. Check the USB cable, the udev link "
                "(docs/reset_rig.md), and that no other program (a G-code sender) holds the port") from exc
        self._ser = ser
        self._rx.clear()
        self.alarm, self.needs_reset, self.locked, self.homed = None, False, False, False
        try:
            ser.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)
        log.info("opened %s at %d baud; soft-resetting and waiting up to %.1f s for the GRBL banner",
                 self.port, self.baud, self.connect_timeout)
        self.soft_reset(what="after opening the port")

    def close(self) -> None:
        ser, self._ser = self._ser, None
        self.homed = False                        # whatever happens to the board now, we do not see it
        self._fail_pending("the port was closed")
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def reconnect(self, timeout: float) -> None:
        """Reopen the port until it answers, for up to ``timeout`` s (a replugged USB cable)."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                self.connect()
                log.info("reconnected to %s after %d attempt(s)", self.port, attempt)
                return
            except GrblError as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GrblDisconnected(f"{self.port} did not come back within {timeout:.1f} s: {exc}") from exc
                log.info("waiting for %s to come back (%.1f s left): %s", self.port, left, exc)
                time.sleep(min(0.5, max(0.0, left)))

    def _lost(self, exc: BaseException) -> None:
        port = self.port
        self.close()
        raise GrblDisconnected(
            f"serial port {port} vanished ({exc}); check the USB cable and power; "
            "the board power-cycles when replugged, so home again after reconnecting") from exc

    # ------------------------------------------------------------------------ writing
    def _write(self, data: bytes) -> None:
        if self._ser is None:
            raise GrblDisconnected(f"serial port {self.port} is not open; connect() first")
        try:
            with self._write_lock:
                self._ser.write(data)
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)

    def realtime(self, byte: bytes) -> None:
        """Send a real-time byte (``?`` ``!`` ``~`` 0x18); safe from any thread.

        A 0x18 sent here may stop a motion, so the rig counts as not homed afterwards; the
        ``ok`` and ``error`` lines that arrive before its banner are ignored as stale."""
        if len(byte) != 1 or byte[0] not in p.REALTIME_BYTES:
            raise ValueError(f"{byte!r} is not a GRBL real-time command")
        if byte == p.SOFT_RESET:
            self._note_reset(keeps_position=False)
        self._write(byte)

    def _note_reset(self, keeps_position: bool) -> None:
        # Set before the byte goes out: a reply that GRBL sends after it is then never taken
        # for the answer to a line. Plain attribute writes, so another thread may do this.
        self._reset_keeps_position = keeps_position
        self._reset_sent_at = time.monotonic()
        self.resets_sent += 1
        if not keeps_position:
            self.homed = False

    def _awaiting_banner(self) -> bool:
        """A reset went out and its banner has not come yet (bounded: a reset can be lost)."""
        sent = self._reset_sent_at
        return sent is not None and time.monotonic() - sent < self.connect_timeout + 1.0

    def feed_hold(self) -> None:
        """``!``: decelerate to a stop, keep the rest of the move; resume with :meth:`resume`."""
        self.realtime(p.FEED_HOLD)

    def resume(self) -> None:
        """``~``: continue after a feed hold."""
        self.realtime(p.CYCLE_START)

    def send_line(self, line: str) -> int:
        """Queue one line, waiting for buffer room (character counting); return its sequence number."""
        if "\n" in line or "\r" in line:
            raise ValueError(f"one line at a time, without line endings: {line!r}")
        if len("".join(line.split())) > p.MAX_LINE_LENGTH:
            raise ValueError(f"line {line!r} is longer than GRBL's {p.MAX_LINE_LENGTH} characters (error:11)")
        if self.needs_reset:
            raise GrblAlarm(self.alarm, "GRBL waits for a reset; call soft_reset() (meld-rig home does it)")
        data = line.encode("ascii") + b"\n"
        deadline = time.monotonic() + self.reply_timeout
        while self._inflight + len(data) > p.RX_BUFFER_SIZE - 1:
            if not self._read_one(deadline):
                raise GrblTimeout(
                    f"GRBL's receive buffer stayed full for {self.reply_timeout:.1f} s "
                    f"({self._inflight} bytes unacknowledged, oldest {self._pending[0].line!r}); "
                    "the firmware is busy or not answering")
        self._seq += 1
        self._pending.append(_Pending(self._seq, line, len(data)))
        self._inflight += len(data)
        self._write(data)
        log.debug("sent %r (%d bytes in flight)", line, self._inflight)
        return self._seq

    def wait_reply(self, seq: int, timeout: Optional[float] = None, line: str = "") -> None:
        """Wait for the ``ok`` of line ``seq``; raise on ``error:N``, reset or timeout."""
        timeout = self.reply_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while seq not in self._results:
            if self.needs_reset:
                raise GrblAlarm(self.alarm, f"while waiting for the reply to {line!r}; reset to continue")
            if not self._read_one(deadline):
                raise GrblTimeout(
                    f"no reply to {line!r} from {self.port} within {timeout:.1f} s; the firmware is "
                    "silent or the reply was lost; check the cable and baud rate, then reconnect")
        result = self._results.pop(seq)
        if result is _DROPPED:
            raise GrblResetError(f"{line!r} was dropped by a GRBL reset before it was answered")
        if isinstance(result, p.ErrorReply):
            raise GrblCommandError(line, result.code)

    def replied(self, seq: int) -> bool:
        """True once the reply (or the reset drop) of line ``seq`` has arrived; see :meth:`wait_reply`."""
        return seq in self._results

    def command(self, line: str, timeout: Optional[float] = None) -> list[p.Line]:
        """Send one line and wait for its reply; return the push lines received meanwhile."""
        collected: list[p.Line] = []
        self._collect = collected
        try:
            seq = self.send_line(line)
            self.wait_reply(seq, timeout, line)
        finally:
            self._collect = None
        return collected

    def stream(self, lines: Iterable[str], timeout: Optional[float] = None) -> None:
        """Send many lines with character counting, then wait for every reply."""
        sent = [(self.send_line(line), line) for line in lines]
        for seq, line in sent:
            self.wait_reply(seq, timeout, line)

    # ------------------------------------------------------------------------ reading
    def _read_one(self, deadline: float) -> bool:
        """Read and handle at most one line before ``deadline``; False on timeout."""
        while True:
            newline = self._rx.find(b"\n")
            if newline >= 0:
                raw = bytes(self._rx[:newline])
                del self._rx[:newline + 1]
                self._handle(raw)
                return True
            if time.monotonic() >= deadline:
                return False
            if self._ser is None:
                raise GrblDisconnected(f"serial port {self.port} is not open; connect() first")
            try:
                chunk = self._ser.read(max(1, self._ser.in_waiting))
            except (serial.SerialException, OSError, TypeError) as exc:
                self._lost(exc)
            self._rx += chunk
            if len(self._rx) > 4096:              # no newline in 4 kB: line noise, not GRBL
                self.garbage_lines += 1
                self._rx.clear()

    def pump(self, duration: float) -> None:
        """Handle whatever arrives during ``duration`` seconds (push messages, late replies)."""
        deadline = time.monotonic() + duration
        while self._read_one(deadline):
            pass

    def _handle(self, raw: bytes) -> None:
        text = raw.decode("ascii", errors="replace").strip()
        if not text:
            return
        item = p.parse_line(text)
        if isinstance(item, (p.Ok, p.ErrorReply)):
            if self._awaiting_banner():
                log.debug("ignoring stale %r received between a reset and the banner", text)
            elif not self._pending:
                log.warning("ignoring %r from GRBL: no line is waiting for a reply", text)
            else:
                pending = self._pending.popleft()
                self._inflight -= pending.size
                self._results[pending.seq] = item
            return
        if self._collect is not None:
            self._collect.append(item)
        if isinstance(item, p.StatusReport):
            if item.wco is not None:
                self.wco = item.wco
            self.last_status = item
            self._status_count += 1
            if self.on_status:
                self.on_status(item)
            return
        if isinstance(item, p.Banner):
            expected = self._awaiting_banner()
            if not expected:
                # The board reset by itself (power cycle, brown-out, failed homing): the position
                # is unknown, so forget an alarm that would have allowed a safe unlock.
                self.alarm = None
                log.warning("GRBL on %s restarted without a reset from us (power cycle?)", self.port)
            if not (expected and self._reset_keeps_position):
                self.homed = False
            self.banners += 1
            self.version = item.version
            self._reset_sent_at = None
            self._reset_keeps_position = False
            self.needs_reset = False
            self._critical_message_seen = False
            self.locked = False
            self.wco = None
            self._fail_pending("GRBL reset")
            log.info("GRBL %s started on %s", item.version, self.port)
        elif isinstance(item, p.AlarmLine):
            self.alarm = item.code
            self._alarm_count += 1
            if item.code not in POSITION_RETAINED_ALARMS:
                self.homed = False
            if item.code in (1, 2):
                self.needs_reset = True
            log.error("%s", describe_alarm(item.code))
        elif isinstance(item, p.Message):
            self.messages.append(item.text)
            if item.text == "Reset to continue":
                self.needs_reset = True
                self._critical_message_seen = True
            elif item.text == "'$H'|'$X' to unlock":
                self.locked = True
            elif item.text == "Caution: Unlocked":
                self.locked = False
            log.info("GRBL says: %s", item.text)
        elif isinstance(item, p.Unknown):
            self.garbage_lines += 1
            log.warning("ignoring unrecognised line from GRBL on %s: %r (line noise? wrong baud rate?)",
                        self.port, text[:80])
        if self.on_push and not isinstance(item, p.SettingLine):
            self.on_push(item)

    def _fail_pending(self, why: str) -> None:
        for pending in self._pending:
            self._results[pending.seq] = _DROPPED
        if self._pending:
            log.warning("%d unacknowledged line(s) dropped: %s", len(self._pending), why)
        self._pending.clear()
        self._inflight = 0

    # ------------------------------------------------------------------------ operations
    def soft_reset(self, what: str = "", keep_position: bool = False) -> None:
        """Send 0x18 and wait for the banner. Unacknowledged lines are dropped by GRBL.

        ``keep_position``: the caller knows the axes are at rest with their position intact
        (Idle, or stopped by a soft limit), so a homed rig stays homed; otherwise it does not."""
        if self.needs_reset and not self._critical_message_seen:
            # GRBL clears any reset that arrives during the 500 ms pause after ALARM:1/2, so a
            # reset sent before "[MSG:Reset to continue]" is lost. Wait for that message first.
            deadline = time.monotonic() + 1.5
            log.info("waiting up to 1.5 s for [MSG:Reset to continue] before resetting")
            while not self._critical_message_seen and self._read_one(deadline):
                pass
        self._fail_pending("soft reset sent")
        banners = self.banners
        self._note_reset(keep_position)
        self._write(p.SOFT_RESET)
        deadline = time.monotonic() + self.connect_timeout
        while self.banners == banners:
            if not self._read_one(deadline):
                raise GrblTimeout(
                    f"no GRBL banner from {self.port} within {self.connect_timeout:.1f} s {what}; "
                    f"check that the board runs GRBL 1.1 at {self.baud} baud and is powered "
                    "(a silent board needs a power cycle)")
        self.pump(0.05)                               # the lock message follows the banner

    def status(self, timeout: Optional[float] = None) -> p.StatusReport:
        """Poll with ``?`` and return the next status report."""
        if self.needs_reset:
            raise GrblAlarm(self.alarm, "GRBL answers nothing but a reset now; reset to continue")
        timeout = self.status_timeout if timeout is None else timeout
        count = self._status_count
        self.realtime(p.STATUS_QUERY)
        deadline = time.monotonic() + timeout
        while self._status_count == count:
            if self.needs_reset:
                raise GrblAlarm(self.alarm, "GRBL answers nothing but a reset now; reset to continue")
            if not self._read_one(deadline):
                raise GrblTimeout(
                    f"no status report from {self.port} within {timeout:.1f} s after '?' "
                    "(GRBL does not answer while homing; otherwise the firmware is silent)")
        assert self.last_status is not None
        return self.last_status

    def machine_position(self, report: p.StatusReport) -> tuple[float, ...]:
        """Machine position of a report (``MPos``, or ``WPos`` plus the cached ``WCO``)."""
        pos = report.machine_position(self.wco)
        if pos is None:
            raise GrblError("status report has WPos but no WCO was seen yet; poll again "
                            "(WCO comes every 10 to 30 reports) or set $10=1 for MPos")
        return pos

    def read_settings(self) -> dict[int, float]:
        """``$$``: the firmware's settings."""
        pushes = self.command("$$")
        return {item.number: item.value for item in pushes if isinstance(item, p.SettingLine)}

    def write_settings(self, wanted: dict[int, float], current: Optional[dict[int, float]] = None) -> list[int]:
        """Write the settings that differ; return their numbers. ``$22`` goes before ``$20``."""
        current = self.read_settings() if current is None else current
        changed = [n for n, v in wanted.items()
                   if n not in current or not same_value(current[n], v)]
        # Homing before soft limits (error:10 otherwise); soft limits off before homing off.
        order = sorted(changed, key=lambda n: (n != 22 if wanted[22] else n != 20, n))
        if order:
            self.homed = False                    # new steps, travel or homing: home again
        for number in order:
            line = p.setting_line(number, wanted[number])
            try:
                self.command(line)
            except GrblCommandError as exc:
                raise GrblCommandError(line, exc.code, f"; fix ${number} in the settings YAML") from None
            log.info("wrote $%d=%g", number, wanted[number])
        return order

    def home(self, timeout: float = 60.0) -> None:
        """``$H``: home all axes; :attr:`homed` once GRBL answers ``ok`` with no alarm or reset.

        A failed homing answers ``ALARM:N``, ``ok`` and resets itself."""
        self.homed = False
        if self.needs_reset:
            self.soft_reset(what="before homing")
        alarms = self._alarm_count
        banners = self.banners
        log.info("homing ($H); waiting up to %.0f s (GRBL answers nothing until it is done)", timeout)
        seq = self.send_line("$H")
        dropped = False
        try:
            self.wait_reply(seq, timeout, "$H")
        except GrblResetError:
            dropped = True
        if self._alarm_count != alarms:
            code = self.alarm
            deadline = time.monotonic() + self.connect_timeout
            while self.banners == banners and self._read_one(deadline):
                pass                                  # the automatic reset after a failed homing
            self.pump(0.05)                           # and the lock message after its banner
            raise GrblAlarm(code, "homing failed; fix the cause, then home again")
        if dropped or self.banners != banners:
            raise GrblResetError("GRBL restarted during homing ($H was cut short by a reset or a power "
                                 "cycle); home again")
        self.alarm = None
        self.locked = False
        self.homed = True

    def unlock(self, force: bool = False) -> None:
        """``$X``: leave the Alarm state without homing. Refused when the position may be lost."""
        if not force and (self.locked or self.alarm is not None) and self.alarm not in POSITION_RETAINED_ALARMS:
            raise GrblAlarm(self.alarm, "refusing to unlock with $X: the position is unknown or likely lost "
                            "(power-up, hard limit, reset in motion); home ($H) instead")
        if self.needs_reset:
            self.soft_reset(what="before unlocking")
        self.command("$X")
        self.locked = False

    def wait_idle(self, timeout: float, poll_interval: float = 0.1,
                  until: Optional[Callable[[p.StatusReport], bool]] = None) -> p.StatusReport:
        """Poll status until Idle (and ``until(report)``); raise on an alarm or at the deadline."""
        deadline = time.monotonic() + timeout
        alarms = self._alarm_count
        report: Optional[p.StatusReport] = None
        while True:
            if self._alarm_count != alarms or self.needs_reset:
                raise GrblAlarm(self.alarm, "motion stopped")
            try:
                report = self.status()
            except GrblTimeout:
                if time.monotonic() >= deadline:
                    raise
                continue
            if self._alarm_count != alarms:
                raise GrblAlarm(self.alarm, "motion stopped")
            if report.state == "Alarm":
                raise GrblAlarm(self.alarm, "GRBL is locked; home ($H) first")
            if report.state == "Idle" and (report.planner_blocks_free in (None, p.PLANNER_BLOCKS)) \
                    and (until is None or until(report)):
                return report
            if time.monotonic() >= deadline:
                hint = " (feed hold active: send '~' to resume)" if report.state == "Hold" else ""
                raise GrblTimeout(f"GRBL still {report.state!r} after {timeout:.1f} s{hint}")
            self.pump(min(poll_interval, max(0.0, deadline - time.monotonic())))
