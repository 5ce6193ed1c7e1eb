"""A GRBL 1.1h firmware emulator for tests and the simulator: no serial port, no ROS.

:class:`GrblFirmware` is the firmware's behaviour on the serial line as a state machine with
an injectable clock. Bytes go in with :meth:`GrblFirmware.receive` (what the serial interrupt
does: real-time bytes ``?`` ``!`` ``~`` 0x18 act at once, the rest fills a 128-byte receive
buffer and overflow is dropped); :meth:`GrblFirmware.tick` runs the main loop and moves the
axes; output is handed to the ``write`` callback. The main loop is a generator written like
GRBL's C code: every place where the firmware spins (planner full, ``G4`` dwell, homing, the
500 ms pause after an alarm, the critical-event loop after ``ALARM:1``/``ALARM:2``) is a
``yield``. The transport (pseudo-terminal, fault injection) lives in ``emulator_pty.py``.

What is emulated: ``ok``/``error:N`` per line with GRBL's line rules (whitespace and comments
removed, upper-cased, 79 characters, ``\\r`` and ``\\n`` both end a line), ``$$ $N=V $H $X $G
$I $N $#``, G0 G1 G4 G20 G21 G53 G90 G91 G92 G92.1 G94 G17 G54, M3 M4 M5 M8 M9, F S P N words,
a 15-block planner with trapezoid profiles from ``$11x``/``$12x`` (blocks start and stop at
rest: positions at block ends are exact, timing slightly pessimistic), positions quantized to
steps, status reports with ``MPos`` or ``WPos``, ``Bf``, ``FS``, ``Pn``, ``WCO``/``Ov`` every
N reports, homing cycles with search/pull-off failures (``ALARM:8``/``9``), soft limits
(``ALARM:2``), hard limits from the switch model (``ALARM:1``, then ``[MSG:Check Limits]``
after the reset while the switch is pressed), reset in motion (``ALARM:3``; none after a
completed feed hold), and the ``ok`` GRBL gives the line a reset interrupts (a ``G4 P0``
waiting for the planner), after any alarm and before the banner. Settings are stored as GRBL
stores them (``emulator_settings.py``). ``tests/rig/test_firmware_vs_emulator.py`` runs one
script here and on the real firmware and compares. Not emulated (answered ``error:3``):
``$C``, ``$J=``, ``$SLP``, ``$RST``.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

from .emulator_settings import DEFAULT_SETTINGS, format_setting, setting_command, stored_value

N_AXIS = 3
AXES = "XYZ"
RX_BUFFER_SIZE = 128
LINE_BUFFER_SIZE = 80
PLANNER_SIZE = 15
VERSION = "1.1h"


# Status codes (GRBL 1.1 report.h / system.h numbering).
OK = 0
E_EXPECTED_COMMAND_LETTER = 1
E_BAD_NUMBER_FORMAT = 2
E_INVALID_STATEMENT = 3
E_NEGATIVE_VALUE = 4
E_SETTING_DISABLED = 5
E_IDLE_ERROR = 8
E_SYSTEM_GC_LOCK = 9
E_OVERFLOW = 11
E_UNSUPPORTED_COMMAND = 20
E_MODAL_GROUP_VIOLATION = 21
E_UNDEFINED_FEED_RATE = 22
E_COMMAND_VALUE_NOT_INTEGER = 23
E_AXIS_COMMAND_CONFLICT = 24
E_WORD_REPEATED = 25
E_NO_AXIS_WORDS = 26
E_VALUE_WORD_MISSING = 28
E_G53_INVALID_MOTION_MODE = 30
E_AXIS_WORDS_EXIST = 31
E_UNUSED_WORDS = 36

MSG_RESET_TO_CONTINUE = "[MSG:Reset to continue]"
MSG_ALARM_LOCK = "[MSG:'$H'|'$X' to unlock]"
MSG_UNLOCKED = "[MSG:Caution: Unlocked]"
MSG_CHECK_LIMITS = "[MSG:Check Limits]"
ALARM_PAUSE_S = 0.5
BOOT_DELAY_S = 0.03


@dataclass
class MachineModel:
    """The mechanics behind the firmware: where the switches are and where the axes start.

    Physical coordinates are the machine coordinates a correct homing gives. Each axis in
    ``switch_axes`` has one switch at its positive end that is pressed at physical position
    >= 0 (so homing with ``$23=0`` finds it). A hard stop at ``+hard_stop`` and at
    ``-physical_travel`` stalls the motor: steps are lost and the firmware's count drifts.
    """

    switch_axes: str = "XY"
    """Axes with a homing/limit switch (the rig has none on Z)."""
    homing_cycles: tuple[str, ...] = ("XY",)
    """Axes homed together, cycle by cycle; the stock build's ``("Z", "XY")`` fails on this rig."""
    start_position: tuple[float, float, float] = (-20.0, -15.0, 0.0)
    """Physical position at the first power-up (the firmware then believes it is at 0)."""
    physical_travel: tuple[float, float, float] = (45.0, 35.0, 250.0)
    """Distance from the switch to the far hard stop, per axis."""
    hard_stop: float = 1.5
    """How far past its switch an axis can move before it hits the hard stop."""

    def __post_init__(self) -> None:
        if any(a not in AXES for a in self.switch_axes):
            raise ValueError(f"switch_axes {self.switch_axes!r} must name axes among {AXES}")
        if not self.homing_cycles or any(not c or any(a not in AXES for a in c) for c in self.homing_cycles):
            raise ValueError(f"homing_cycles {self.homing_cycles!r} must be non-empty groups of {AXES}")


class _Abort(Exception):
    """A reset unwinds the main loop back to initialisation (GRBL's ``sys.abort``)."""


@dataclass
class _Block:
    target: list[float]          # mm, quantized to steps
    rate: float                  # nominal speed along the path, mm/s
    accel: float                 # mm/s^2 along the path


@dataclass
class _Segment:
    """Motion from rest to rest (or a deceleration to a stop when ``decel_from`` is set)."""

    start: list[float]
    unit: list[float]
    length: float
    t0: float
    rate: float
    accel: float
    decel_from: Optional[float] = None   # initial speed of a feed-hold deceleration
    t_acc: float = 0.0
    t_cruise: float = 0.0
    v_peak: float = 0.0
    duration: float = 0.0

    def __post_init__(self) -> None:
        a = self.accel
        if self.decel_from is not None:
            self.v_peak = self.decel_from
            self.duration = self.decel_from / a
            self.length = self.decel_from ** 2 / (2 * a)
            return
        t_acc = self.rate / a
        d_acc = 0.5 * a * t_acc ** 2
        if 2 * d_acc >= self.length:
            t_acc = math.sqrt(self.length / a)
            self.v_peak, self.t_cruise = a * t_acc, 0.0
        else:
            self.v_peak, self.t_cruise = self.rate, (self.length - 2 * d_acc) / self.rate
        self.t_acc = t_acc
        self.duration = 2 * t_acc + self.t_cruise

    def distance_speed(self, t: float) -> tuple[float, float]:
        """Distance along the path and speed, ``t`` seconds after the segment started."""
        a = self.accel
        t = min(max(t, 0.0), self.duration)
        if self.decel_from is not None:
            return self.decel_from * t - 0.5 * a * t * t, self.decel_from - a * t
        if t < self.t_acc:
            return 0.5 * a * t * t, a * t
        if t < self.t_acc + self.t_cruise:
            return 0.5 * a * self.t_acc ** 2 + self.v_peak * (t - self.t_acc), self.v_peak
        left = self.duration - t
        return self.length - 0.5 * a * left * left, a * left


@dataclass
class _Modal:
    motion: int = 0            # 0 or 1
    absolute: bool = True      # G90 / G91
    inches: bool = False       # G20 / G21
    feed: float = 0.0          # mm/min
    spindle: float = 0.0
    spindle_mode: int = 5      # M3/M4/M5
    coolant: int = 9           # M8/M9
    g92: list[float] = field(default_factory=lambda: [0.0] * N_AXIS)


class GrblFirmware:
    """GRBL 1.1h's serial behaviour; see the module docstring. Not thread-safe: one owner calls it."""

    def __init__(self, write: Callable[[bytes], None], clock: Callable[[], float] = time.monotonic,
                 machine: Optional[MachineModel] = None, settings: Optional[dict[int, float]] = None) -> None:
        self._write = write
        self._clock = clock
        self.machine = machine or MachineModel()
        self.settings: dict[int, float] = dict(DEFAULT_SETTINGS)
        if settings:
            self.settings.update({int(k): stored_value(int(k), float(v)) for k, v in settings.items()})
        self.startup_lines = ["", ""]
        self.received_lines: list[str] = []     # every complete line the main loop executed, for tests
        self.rx_overflow_bytes = 0              # bytes dropped because the receive buffer was full
        self.silent = False                     # fault: the firmware hangs (no input, no output)
        self.alarm_mid_move: Optional[int] = None   # fault: raise this alarm halfway through the next block
        self._phys_offset = list(self.machine.start_position)   # physical = position + offset
        self.pos = [0.0] * N_AXIS
        self.state = "Idle"
        self._program: Iterator[None] = iter(())
        self.power_up()

    # ----------------------------------------------------------------- serial interrupt side
    def receive(self, data: bytes) -> None:
        """What GRBL's serial receive interrupt does with incoming bytes."""
        if self.silent:
            return
        for byte in data:
            if byte == 0x3F:                         # '?'
                self._rt_status = True
            elif byte == 0x21:                       # '!'
                self._rt_hold = True
            elif byte == 0x7E:                       # '~'
                self._rt_cycle_start = True
            elif byte == 0x18:                       # ctrl-x
                self._mc_reset()
            elif byte >= 0x80:
                pass                                 # extended real-time overrides: ignored here
            elif len(self._rx) < RX_BUFFER_SIZE - 1:
                self._rx.append(byte)
            else:
                self.rx_overflow_bytes += 1          # the ring buffer is full: the byte is lost

    def _mc_reset(self) -> None:
        if self._reset:
            return
        self._reset = True
        if self.state in ("Run", "Home") or self._segment is not None:
            if self.state == "Home":
                if self._alarm is None:
                    self._alarm = 6
            else:
                self._alarm = 3
            self._kill_motion()

    # ------------------------------------------------------------------------- power and time
    def power_up(self) -> None:
        """Power on (or a USB replug): position counter 0, locked if homing is enabled."""
        self._phys_offset = [p + o for p, o in zip(self.pos, self._phys_offset)]
        self.pos = [0.0] * N_AXIS
        self.homed = False
        self.state = "Alarm" if self.settings[22] else "Idle"    # HOMING_INIT_LOCK
        self._rx = bytearray()
        self._reset = False
        self._alarm: Optional[int] = None
        self._planner: deque[_Block] = deque()
        self._segment: Optional[_Segment] = None
        self._hold_complete = False
        self._boot_at = self._clock() + BOOT_DELAY_S
        self._program = self._firmware()

    def tick(self) -> None:
        """Advance motion to now and run the main loop until it waits."""
        if self.silent:
            return
        self._step_motion(self._clock())
        next(self._program)

    def physical_position(self) -> list[float]:
        return [p + o for p, o in zip(self.pos, self._phys_offset)]

    def pins(self) -> str:
        phys = self.physical_position()
        return "".join(a for i, a in enumerate(AXES) if a in self.machine.switch_axes and phys[i] >= 0.0)

    # ------------------------------------------------------------------------------- output
    def _emit(self, text: str) -> None:
        if not self.silent:
            self._write(text.encode("ascii"))

    def _report_status(self, status: int) -> None:
        self._emit("ok\r\n" if status == OK else f"error:{status}\r\n")

    def _fmt(self, values: list[float]) -> str:
        scale = 1 / 25.4 if self.settings[13] else 1.0
        return ",".join(f"{v * scale:.3f}" for v in values)

    def _steps(self, axis: int, value: float) -> float:
        spm = self.settings[100 + axis]
        return round(value * spm) / spm

    def _status_report(self) -> None:
        state = self.state
        if state == "Hold":
            state += ":0" if self._hold_complete else ":1"
        mpos = [self._steps(i, p) for i, p in enumerate(self.pos)]
        wco = list(self._modal.g92)
        parts = [state]
        if int(self.settings[10]) & 1:
            parts.append("MPos:" + self._fmt(mpos))
        else:
            parts.append("WPos:" + self._fmt([m - w for m, w in zip(mpos, wco)]))
        if int(self.settings[10]) & 2:
            parts.append(f"Bf:{PLANNER_SIZE - len(self._planner)},{RX_BUFFER_SIZE - len(self._rx)}")
        speed = 0.0
        if self._segment is not None:
            speed = self._segment.distance_speed(self._clock() - self._segment.t0)[1] * 60.0
        parts.append(f"FS:{speed:.0f},{self._modal.spindle if self._modal.spindle_mode != 5 else 0:.0f}")
        pins = self.pins()
        if pins:
            parts.append("Pn:" + pins)
        busy = self.state in ("Home", "Run", "Hold", "Jog", "Door")
        if self._wco_counter > 0:
            self._wco_counter -= 1
        else:
            self._wco_counter = (30 if busy else 10) - 1
            if self._ovr_counter == 0:
                self._ovr_counter = 1
            parts.append("WCO:" + self._fmt(wco))
        if self._ovr_counter > 0:
            self._ovr_counter -= 1
        else:
            self._ovr_counter = (20 if busy else 10) - 1
            parts.append("Ov:100,100,100")
        self._emit("<" + "|".join(parts) + ">\r\n")

    # ----------------------------------------------------------------------- the main loop
    def _firmware(self) -> Iterator[None]:
        while True:
            try:
                yield from self._boot()
                yield from self._main_loop()
            except _Abort:
                pass

    def _boot(self) -> Iterator[None]:
        # GRBL's initialisation after power-up or reset: clear input, planner and parser.
        prior = self.state
        self._rx.clear()
        self._line = bytearray()
        self._line_flags = set()
        self._planner.clear()
        self._kill_motion()
        self._modal = _Modal()
        self._rt_status = self._rt_hold = self._rt_cycle_start = False
        self._reset = False
        self._alarm = None
        self._wco_counter = self._ovr_counter = 0
        while self._clock() < self._boot_at:
            yield
        self._emit(f"\r\nGrbl {VERSION} ['$' for help]\r\n")
        if int(self.settings[21]) and self.pins():       # CHECK_LIMITS_AT_INIT: a switch is pressed
            prior = "Alarm"
            self._emit(MSG_CHECK_LIMITS + "\r\n")
        if prior in ("Alarm", "Sleep"):
            self.state = "Alarm"
            self._emit(MSG_ALARM_LOCK + "\r\n")
        else:
            self.state = "Idle"
            for stored in self.startup_lines:
                if stored:
                    status = yield from self._execute_gcode(stored)
                    self._emit(f">{stored}:" + ("ok\r\n" if status == OK else f"error:{status}\r\n"))

    def _main_loop(self) -> Iterator[None]:
        while True:
            yield from self._realtime()
            line = self._take_line()
            if line is None:
                self._auto_cycle_start()
                yield
                continue
            try:
                status = yield from self._execute_line(line)
            except _Abort:
                # A reset unwinds the line being executed (a G4 waiting for the planner, a move
                # waiting for room, a failed $H, a soft-limit hold): GRBL still prints its status,
                # ``ok``, after any alarm and before the banner. It is not the end of a motion.
                self._report_status(OK)
                raise
            self._report_status(status)

    def _take_line(self) -> Optional[object]:
        """Pull bytes from the receive buffer into the line buffer; return a finished line."""
        while self._rx:
            c = self._rx.pop(0)
            if c in (0x0A, 0x0D):
                flags, line = self._line_flags, self._line.decode("ascii", "replace")
                self._line, self._line_flags = bytearray(), set()
                if "overflow" in flags:
                    return ("overflow", line)
                return line
            if self._line_flags - {"overflow"}:
                if c == ord(")") and "paren" in self._line_flags:
                    self._line_flags.discard("paren")
                continue
            if "overflow" in self._line_flags:
                continue
            if c <= 0x20 or c == ord("/"):
                continue
            if c == ord("("):
                self._line_flags.add("paren")
            elif c == ord(";"):
                self._line_flags.add("semicolon")
            elif len(self._line) >= LINE_BUFFER_SIZE - 1:
                self._line_flags.add("overflow")
            else:
                self._line.append(c - 32 if ord("a") <= c <= ord("z") else c)
        return None

    def _execute_line(self, line: object) -> Iterator[None]:
        if isinstance(line, tuple):
            self.received_lines.append(line[1])
            return E_OVERFLOW
        assert isinstance(line, str)
        self.received_lines.append(line)
        if line == "":
            return OK
        if line.startswith("$"):
            return (yield from self._system_command(line))
        if self.state in ("Alarm", "Jog"):
            return E_SYSTEM_GC_LOCK
        return (yield from self._execute_gcode(line))

    # -------------------------------------------------------------------- real-time checks
    def _realtime(self) -> Iterator[None]:
        """GRBL's ``protocol_execute_realtime``: alarms, reset, status, hold and resume."""
        if self._alarm is not None:
            code, self._alarm = self._alarm, None
            self.state = "Alarm"
            self._emit(f"ALARM:{code}\r\n")
            until = self._clock() + ALARM_PAUSE_S
            while self._clock() < until:          # delay_ms(500): nothing else runs
                yield
            if code in (1, 2):
                self._emit(MSG_RESET_TO_CONTINUE + "\r\n")
                self._reset = False               # only a new reset gets out of here
                self._rt_status = False
                while not self._reset:
                    self._rt_status = False       # status requests are not answered
                    yield
        if self._reset:
            raise _Abort()
        if self._rt_status:
            self._rt_status = False
            self._status_report()
        if self._rt_hold:
            self._rt_hold = False
            if self.state == "Run":
                self._start_hold()
            elif self.state == "Idle":
                self.state, self._hold_complete = "Hold", True
        if self._rt_cycle_start:
            self._rt_cycle_start = False
            if self.state == "Hold" and self._hold_complete:
                self._hold_complete = False
                self.state = "Run" if self._planner else "Idle"

    def _wait(self, condition: Callable[[], bool]) -> Iterator[None]:
        """Spin like GRBL: keep real-time commands alive until ``condition`` holds."""
        while True:
            yield from self._realtime()
            if condition():
                return
            self._auto_cycle_start()
            yield

    # ------------------------------------------------------------------------------ motion
    def _auto_cycle_start(self) -> None:
        if self.state == "Idle" and self._planner:
            self.state = "Run"

    def _kill_motion(self) -> None:
        self._segment = None
        self._segment_t0 = None
        self._alarm_at = None
        self._planner.clear()

    def _start_hold(self) -> None:
        self.state, self._hold_complete = "Hold", False
        seg = self._segment
        if seg is None:
            self._hold_complete = True
            return
        now = self._clock()
        dist, speed = seg.distance_speed(now - seg.t0)
        self._step_motion(now)
        if self._segment is not seg:
            return                                   # the block ended just now: nothing to slow down
        # Stop within this block (GRBL would decelerate across blocks; the end state is the same).
        speed = min(speed, math.sqrt(2 * seg.accel * max(0.0, seg.length - dist)))
        self._segment = _Segment(list(self.pos), seg.unit, 0.0, now, seg.rate, seg.accel, decel_from=speed)

    def _step_motion(self, now: float) -> None:
        """The stepper interrupt: move along the current block, start the next one."""
        while True:
            if self._segment is None:
                if self.state != "Run" or not self._planner:
                    if self.state == "Run" and not self._planner:
                        self.state = "Idle"
                    return
                block = self._planner[0]
                delta = [t - p for t, p in zip(block.target, self.pos)]
                length = math.sqrt(sum(d * d for d in delta))
                if length < 1e-9:
                    self._planner.popleft()
                    continue
                self._segment = _Segment(list(self.pos), [d / length for d in delta], length,
                                         self._segment_t0 if self._segment_t0 else now, block.rate, block.accel)
                self._segment_t0 = None
                self._alarm_at = self._segment.duration / 2 if self.alarm_mid_move is not None else None
            seg = self._segment
            t = now - seg.t0
            if self._alarm_at is not None and t >= self._alarm_at:
                t = self._alarm_at
            dist, _ = seg.distance_speed(t)
            before = self.pins()
            self.pos = [s + u * dist for s, u in zip(seg.start, seg.unit)]
            self._apply_hard_stops()
            if self._alarm_at is not None and t >= self._alarm_at:
                code, self.alarm_mid_move, self._alarm_at = self.alarm_mid_move, None, None
                self._hard_limit(code)
                return
            if int(self.settings[21]) and self.pins() != before and self.state != "Home":
                self._hard_limit(1)
                return
            if t < seg.duration:
                return
            self._segment_t0 = seg.t0 + seg.duration      # next block starts where this one ended
            self._segment = None
            if seg.decel_from is not None:                 # feed hold finished: wait for '~'
                self._hold_complete = True
                self._segment_t0 = None
                return
            self.pos = list(self._planner.popleft().target)
            if not self._planner:
                self._segment_t0 = None
            if self.state == "Hold":
                self._hold_complete = True
                self._segment_t0 = None
                return

    _segment_t0: Optional[float] = None
    _alarm_at: Optional[float] = None

    def _apply_hard_stops(self) -> None:
        for i in range(N_AXIS):
            phys = self.pos[i] + self._phys_offset[i]
            high, low = self.machine.hard_stop, -self.machine.physical_travel[i]
            if phys > high:                       # the motor stalls: steps counted but not made
                self._phys_offset[i] -= phys - high
            elif phys < low:
                self._phys_offset[i] += low - phys

    def _hard_limit(self, code: int) -> None:
        self._kill_motion()
        self._reset = False
        self._alarm = code
        self.homed = False

    def _plan_line(self, target: list[float], rapid: bool, feed_mm_min: float) -> Optional[_Block]:
        target = [self._steps(i, v) for i, v in enumerate(target)]
        start = self._planner[-1].target if self._planner else self.pos
        delta = [t - s for t, s in zip(target, start)]
        length = math.sqrt(sum(d * d for d in delta))
        if length < 1e-9:
            return None
        unit = [abs(d) / length for d in delta]
        rate = min(self.settings[110 + i] / 60.0 / u for i, u in enumerate(unit) if u > 0)
        accel = min(self.settings[120 + i] / u for i, u in enumerate(unit) if u > 0)
        if not rapid:
            rate = min(rate, feed_mm_min / 60.0)
        return _Block(target, rate, accel)

    def _motion(self, target: list[float], rapid: bool) -> Iterator[None]:
        """GRBL's ``mc_line``: soft-limit check, then wait for planner room and queue the block."""
        if int(self.settings[20]) and any(t > 0.0 or t < -self.settings[130 + i] for i, t in enumerate(target)):
            if self.state == "Run":
                self._start_hold()
                while self._segment is not None:
                    yield
            self._kill_motion()
            self._hold_complete = False
            self._alarm = 2
            self.state = "Idle"
            yield from self._realtime()         # its line gets a stale 'ok' after the reset
            return
        yield from self._wait(lambda: len(self._planner) < PLANNER_SIZE)
        block = self._plan_line(target, rapid, self._modal.feed)
        if block is not None:
            self._planner.append(block)
            self._auto_cycle_start()

    # -------------------------------------------------------------------------------- G-code
    def _execute_gcode(self, line: str) -> Iterator[None]:
        words: list[tuple[str, float]] = []
        i = 0
        while i < len(line):
            letter = line[i]
            if not ("A" <= letter <= "Z"):
                return E_EXPECTED_COMMAND_LETTER
            j = i + 1
            while j < len(line) and (line[j].isdigit() or line[j] in ".-+"):
                j += 1
            try:
                value = float(line[i + 1:j])
            except ValueError:
                return E_BAD_NUMBER_FORMAT
            words.append((letter, value))
            i = j
        modal = self._modal
        motion = None
        dwell = g53 = g92 = g92_clear = False
        distance = units = None
        values: dict[str, float] = {}
        groups: set[str] = set()
        axis_command = False
        for letter, value in words:
            if letter == "G":
                code = round(value * 10)
                group = {0: "motion", 10: "motion", 40: "nonmodal", 530: "nonmodal", 920: "nonmodal",
                         921: "nonmodal", 900: "distance", 910: "distance", 200: "units", 210: "units",
                         940: "feedmode", 170: "plane", 540: "coord"}.get(code)
                if group is None:
                    return E_UNSUPPORTED_COMMAND
                if code in (0, 10, 920):              # GRBL checks axis commands before modal groups
                    if axis_command:
                        return E_AXIS_COMMAND_CONFLICT
                    axis_command = True
                if group in groups:
                    return E_MODAL_GROUP_VIOLATION
                groups.add(group)
                if code in (0, 10):
                    motion = code // 10
                elif code == 40:
                    dwell = True
                elif code == 530:
                    g53 = True
                elif code == 920:
                    g92 = True
                elif code == 921:
                    g92_clear = True
                elif code in (900, 910):
                    distance = code == 900
                elif code in (200, 210):
                    units = code == 200
            elif letter == "M":
                if value != int(value) or int(value) not in (2, 3, 4, 5, 8, 9, 30):
                    return E_UNSUPPORTED_COMMAND
                group = "coolant" if int(value) in (8, 9) else "spindle" if int(value) in (3, 4, 5) else "stop"
                if group in groups:
                    return E_MODAL_GROUP_VIOLATION
                groups.add(group)
                if group == "spindle":
                    modal.spindle_mode = int(value)
                elif group == "coolant":
                    modal.coolant = int(value)
            elif letter in "XYZFSPN":
                if letter in values:
                    return E_WORD_REPEATED
                if letter in "FSP" and value < 0:
                    return E_NEGATIVE_VALUE
                values[letter] = value
            else:
                return E_UNSUPPORTED_COMMAND
        if "N" in values and values["N"] != int(values["N"]):
            return E_COMMAND_VALUE_NOT_INTEGER
        if dwell and "P" not in values:
            return E_VALUE_WORD_MISSING
        if "P" in values and not dwell:
            return E_UNUSED_WORDS
        axis_words = {a: values[a] for a in AXES if a in values}
        if g92 and not axis_words:
            return E_NO_AXIS_WORDS
        if units is not None:
            modal.inches = units
        if distance is not None:
            modal.absolute = distance
        if motion is not None:
            modal.motion = motion
        scale = 25.4 if modal.inches else 1.0
        if "F" in values:
            modal.feed = values["F"] * scale
        if "S" in values:
            modal.spindle = values["S"]
        if g53 and modal.motion not in (0, 1):
            return E_G53_INVALID_MOTION_MODE
        if g53 and not modal.absolute:
            # G53 ignores G91 in GRBL: machine-coordinate targets are always absolute.
            pass
        if axis_words and not g92 and modal.motion == 1 and modal.feed <= 0:
            return E_UNDEFINED_FEED_RATE
        if dwell:
            yield from self._wait(lambda: not self._planner and self.state != "Run")
            until = self._clock() + values["P"]
            yield from self._wait(lambda: self._clock() >= until)
        if g92_clear:
            modal.g92 = [0.0] * N_AXIS
            self._wco_counter = 0                      # system_flag_wco_change(): next report has WCO
        if g92:
            self._wco_counter = 0
            current = self._planner[-1].target if self._planner else self.pos
            for i, a in enumerate(AXES):
                if a in axis_words:
                    modal.g92[i] = current[i] - axis_words[a] * scale
            return OK
        if axis_words:
            base = self._planner[-1].target if self._planner else self.pos
            target = list(base)
            for i, a in enumerate(AXES):
                if a not in axis_words:
                    continue
                v = axis_words[a] * scale
                if g53:
                    target[i] = v
                elif modal.absolute:
                    target[i] = v + modal.g92[i]
                else:
                    target[i] = base[i] + v
            yield from self._motion(target, rapid=modal.motion == 0)
        return OK

    # ------------------------------------------------------------------------ $ commands
    def _system_command(self, line: str) -> Iterator[None]:
        if line == "$":
            self._emit("[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]\r\n")
            return OK
        if line[1:2] in ("$", "G", "C", "X") and len(line) > 1:
            if len(line) != 2:
                return E_INVALID_STATEMENT
            if line == "$$":
                if self.state in ("Run", "Hold"):
                    return E_IDLE_ERROR
                for number in sorted(self.settings):
                    self._emit(format_setting(number, self.settings[number]) + "\r\n")
            elif line == "$G":
                m = self._modal
                self._emit(f"[GC:G{m.motion} G54 G17 {'G20' if m.inches else 'G21'} {'G90' if m.absolute else 'G91'} "
                           f"G94 M{m.spindle_mode} M{m.coolant} T0 F{m.feed:.0f} S{m.spindle:.0f}]\r\n")
            elif line == "$X":
                if self.state == "Alarm":
                    self._emit(MSG_UNLOCKED + "\r\n")
                    self.state = "Idle"
            else:
                return E_INVALID_STATEMENT            # $C check mode is not emulated
            return OK
        if self.state not in ("Idle", "Alarm"):
            return E_IDLE_ERROR
        rest = line[1:]
        if rest == "#":
            zero = self._fmt([0.0] * N_AXIS)          # no G10/G28.1/G30.1 here: the stored ones stay 0
            for name in ("G54", "G55", "G56", "G57", "G58", "G59", "G28", "G30"):
                self._emit(f"[{name}:{zero}]\r\n")
            self._emit(f"[G92:{self._fmt(self._modal.g92)}]\r\n[TLO:{self._fmt([0.0])}]\r\n[PRB:{zero}:0]\r\n")
            return OK
        if rest == "H":
            if not int(self.settings[22]):
                return E_SETTING_DISABLED
            return (yield from self._home())
        if rest == "I":
            self._emit(f"[VER:{VERSION}.20190830:]\r\n[OPT:V,{PLANNER_SIZE},{RX_BUFFER_SIZE}]\r\n")
            return OK
        if rest == "N":
            for n, stored in enumerate(self.startup_lines):
                self._emit(f"$N{n}={stored}\r\n")
            return OK
        if rest.startswith("N") and len(rest) > 2 and rest[1] in "01" and rest[2] == "=":
            self.startup_lines[int(rest[1])] = rest[3:]
            return OK
        if rest[:1] in ("J", "S", "R"):
            return E_INVALID_STATEMENT                 # $J= jog, $SLP, $RST: not emulated
        return setting_command(self.settings, rest)

    # ------------------------------------------------------------------------------ homing
    def _home(self) -> Iterator[None]:
        """``$H``: per cycle, seek the switches, pull off, locate slowly, pull off, set position."""
        self.state = "Home"
        s = self.settings
        status_requested = False
        for cycle in self.machine.homing_cycles:
            idx = [AXES.index(a) for a in cycle]
            search = 1.5 * max(s[130 + i] for i in idx)
            phys = self.physical_position()
            distances = []
            found = True
            for i in idx:
                positive = not (int(s[23]) >> i) & 1
                if AXES[i] not in self.machine.switch_axes or not positive or -phys[i] > search:
                    found = False
                distances.append(max(0.0, -phys[i]))
            seek_time = (max(distances) if found else search) / (s[25] / 60.0)
            until = self._clock() + seek_time
            while self._clock() < until:
                status_requested |= self._rt_status
                self._rt_status = False
                if self._reset:
                    break
                yield
            if not self._reset and found:
                for i in idx:                          # the axes now sit on their switches
                    self._phys_offset[i] = -self.pos[i]
                if s[27] <= 0.0:
                    self._alarm = 8                    # pull-off cannot clear the switch
                else:
                    locate = s[27] / (s[24] / 60.0) + 2 * s[27] / (s[25] / 60.0)   # approach slowly, pull off twice
                    until = self._clock() + locate
                    while self._clock() < until and not self._reset:
                        status_requested |= self._rt_status
                        self._rt_status = False
                        yield
            elif not self._reset:
                self._alarm = 9
            if self._reset or self._alarm is not None:
                if self._reset and self._alarm is None:
                    self._alarm = 6
                self._reset = True
                yield from self._realtime()            # "ALARM:N, then ok, then an automatic reset"
            for i in idx:
                self.pos[i] = -s[27]
                self._phys_offset[i] = 0.0
        if status_requested:
            self._status_report()                      # the '?' held back during homing
        self.state = "Idle"
        self.homed = True
        return OK
