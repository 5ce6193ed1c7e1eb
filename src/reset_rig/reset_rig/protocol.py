"""GRBL 1.1 serial protocol: what the firmware sends, parsed into values; what we send, formatted.

No serial port and no ROS here: :func:`parse_line` turns one received line into a typed
value and never raises (garbage becomes :class:`Unknown`), so the client can log and skip a
corrupted line instead of crashing. The rules follow GRBL 1.1's interface documentation and
``/work/shared/GRBL.md``: every line sent gets exactly one ``ok`` or ``error:N``; everything
else is a push message.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Optional, Union

#: Size of GRBL's serial receive buffer; keep at most ``RX_BUFFER_SIZE - 1`` bytes unacknowledged.
RX_BUFFER_SIZE = 128
#: GRBL's line buffer holds 80 bytes; a line over 79 characters gets ``error:11``.
MAX_LINE_LENGTH = 79
#: Blocks the planner holds (``Bf:`` reports the free ones).
PLANNER_BLOCKS = 15

# Real-time commands: single bytes, no newline, never acknowledged with ``ok``.
STATUS_QUERY = b"?"
FEED_HOLD = b"!"
CYCLE_START = b"~"
SOFT_RESET = b"\x18"
REALTIME_BYTES = frozenset({ord("?"), ord("!"), ord("~"), 0x18})

#: States a status report can carry (``Hold`` and ``Door`` carry a sub-state ``:N``).
STATES = frozenset({"Idle", "Run", "Hold", "Jog", "Alarm", "Door", "Check", "Home", "Sleep"})


class ProtocolError(ValueError):
    """A line that claims to be a GRBL message but does not follow its format."""


@dataclass(frozen=True)
class Ok:
    """``ok``: the oldest unacknowledged line was accepted (queued, not finished)."""


@dataclass(frozen=True)
class ErrorReply:
    """``error:N``: the oldest unacknowledged line was rejected and not executed."""

    code: int


@dataclass(frozen=True)
class AlarmLine:
    """``ALARM:N``: a push message; GRBL is now in the Alarm state."""

    code: int


@dataclass(frozen=True)
class Banner:
    """``Grbl 1.1h ['$' for help]``: the firmware just (re)started; unacknowledged lines are gone."""

    version: str


@dataclass(frozen=True)
class Message:
    """``[MSG:text]``: feedback such as ``Reset to continue`` or ``'$H'|'$X' to unlock``."""

    text: str


@dataclass(frozen=True)
class Feedback:
    """Other bracketed push lines: ``[GC:...]``, ``[OPT:...]``, ``[VER:...]``, ``[HLP:...]``, ``[G54:...]``..."""

    kind: str
    text: str


@dataclass(frozen=True)
class SettingLine:
    """``$N=value`` from a ``$$`` dump."""

    number: int
    value: float


@dataclass(frozen=True)
class StartupEcho:
    """``>G20:ok``: a start-up block ran. Contains "ok" but is not an acknowledgement."""

    line: str
    result: str


@dataclass(frozen=True)
class Unknown:
    """Anything else: noise on the line, a garbled message. Logged and skipped."""

    text: str


@dataclass(frozen=True)
class StatusReport:
    """One ``<...>`` real-time status report.

    Positions are tuples with one value per axis as reported (three on a stock build). GRBL
    sends either ``MPos`` (machine position) or ``WPos`` (work position) depending on ``$10``;
    ``WCO`` (work coordinate offset, ``MPos = WPos + WCO``) arrives only every 10 to 30
    reports, so the client caches it and calls :meth:`machine_position` with the cache.
    """

    state: str
    substate: Optional[int] = None
    mpos: Optional[tuple[float, ...]] = None
    wpos: Optional[tuple[float, ...]] = None
    wco: Optional[tuple[float, ...]] = None
    feed: Optional[float] = None
    spindle: Optional[float] = None
    planner_blocks_free: Optional[int] = None
    rx_bytes_free: Optional[int] = None
    line_number: Optional[int] = None
    pins: str = ""
    overrides: Optional[tuple[int, int, int]] = None
    extra: dict = field(default_factory=dict, compare=False)

    def machine_position(self, cached_wco: Optional[tuple[float, ...]] = None) -> Optional[tuple[float, ...]]:
        """Machine position: ``MPos`` itself, or ``WPos + WCO`` (this report's WCO, else the cache)."""
        if self.mpos is not None:
            return self.mpos
        wco = self.wco if self.wco is not None else cached_wco
        if self.wpos is None or wco is None or len(wco) != len(self.wpos):
            return None
        return tuple(w + o for w, o in zip(self.wpos, wco))


Reply = Union[Ok, ErrorReply]
Line = Union[Ok, ErrorReply, AlarmLine, Banner, Message, Feedback, SettingLine, StartupEcho,
             StatusReport, Unknown]

_BANNER = re.compile(r"^Grbl (\d+\.\d+[a-z]?) \['\$' for help\]$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)"
_SETTING = re.compile(rf"^\$(\d{{1,3}})=({_NUMBER})$")
_ECHO = re.compile(r"^>(.*):(ok|error:\d{1,3})$")
_FLOAT = re.compile(rf"^{_NUMBER}$")


def _floats(text: str, name: str) -> tuple[float, ...]:
    parts = text.split(",")
    if not parts or any(not _FLOAT.match(p) for p in parts):
        raise ProtocolError(f"status field {name}:{text!r} is not a list of numbers")
    values = tuple(float(p) for p in parts)
    if not all(math.isfinite(v) for v in values):
        raise ProtocolError(f"status field {name}:{text!r} holds a non-finite number")
    return values


def _ints(text: str, name: str, count: int) -> tuple[int, ...]:
    parts = text.split(",")
    if len(parts) != count or any(not p.isdigit() for p in parts):
        raise ProtocolError(f"status field {name}:{text!r} is not {count} integers")
    return tuple(int(p) for p in parts)


def parse_status(text: str) -> StatusReport:
    """Parse ``<State|MPos:x,y,z|FS:f,s|...>``; raise :class:`ProtocolError` if malformed."""
    if not (text.startswith("<") and text.endswith(">")) or len(text) < 3:
        raise ProtocolError(f"status report {text!r} is not enclosed in <...>")
    fields = text[1:-1].split("|")
    state_text = fields[0]
    state, _, sub = state_text.partition(":")
    if state not in STATES:
        raise ProtocolError(f"status report {text!r} has unknown state {state_text!r}")
    substate = None
    if sub:
        if not sub.isdigit() or state not in ("Hold", "Door"):
            raise ProtocolError(f"status report {text!r} has a bad sub-state {state_text!r}")
        substate = int(sub)
    values: dict = {}
    extra: dict = {}
    for item in fields[1:]:
        name, sep, data = item.partition(":")
        if not sep:
            raise ProtocolError(f"status field {item!r} in {text!r} has no ':'")
        if name in ("MPos", "WPos", "WCO"):
            values[name.lower()] = _floats(data, name)
        elif name == "FS":
            feed, spindle = _floats(data, name) if data.count(",") == 1 else (None, None)
            if feed is None:
                raise ProtocolError(f"status field FS:{data!r} is not feed,speed")
            values["feed"], values["spindle"] = feed, spindle
        elif name == "F":
            (values["feed"],) = _floats(data, name)[:1]
        elif name == "Bf":
            values["planner_blocks_free"], values["rx_bytes_free"] = _ints(data, name, 2)
        elif name == "Ln":
            (values["line_number"],) = _ints(data, name, 1)
        elif name == "Pn":
            if not re.fullmatch(r"[XYZPDHRS]*", data):
                raise ProtocolError(f"status field Pn:{data!r} names unknown pins")
            values["pins"] = data
        elif name == "Ov":
            values["overrides"] = _ints(data, name, 3)
        elif name and name.isalpha():
            extra[name] = data  # e.g. A: accessory state; kept, not interpreted
        else:
            raise ProtocolError(f"status field {item!r} in {text!r} has a bad name")
    if "mpos" not in values and "wpos" not in values:
        raise ProtocolError(f"status report {text!r} has neither MPos nor WPos")
    return StatusReport(state=state, substate=substate, extra=extra, **values)


def parse_line(raw: Union[str, bytes]) -> Line:
    """Classify one received line (without its line ending). Never raises."""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", errors="replace")
    text = raw.strip("\r\n ")
    if text == "ok":
        return Ok()
    try:
        if text.startswith("error:"):
            code = text[6:]
            if code.isdigit() and len(code) <= 3:
                return ErrorReply(int(code))
        elif text.startswith("ALARM:"):
            code = text[6:]
            if code.isdigit() and len(code) <= 3:
                return AlarmLine(int(code))
        elif text.startswith("<"):
            return parse_status(text)
        elif text.startswith("[") and text.endswith("]"):
            kind, sep, body = text[1:-1].partition(":")
            if sep and kind.isalnum():
                if kind == "MSG":
                    return Message(body)
                return Feedback(kind, body)
        elif text.startswith("Grbl "):
            match = _BANNER.match(text)
            if match:
                return Banner(match.group(1))
        elif text.startswith("$"):
            match = _SETTING.match(text)
            if match:
                return SettingLine(int(match.group(1)), float(match.group(2)))
        elif text.startswith(">"):
            match = _ECHO.match(text)
            if match:
                return StartupEcho(match.group(1), match.group(2))
    except (ProtocolError, ValueError):
        pass
    return Unknown(text)


def format_value(value: float) -> str:
    """A coordinate as GRBL reads it best: fixed point, three decimals (the step quantum is larger)."""
    if not math.isfinite(value):
        raise ValueError(f"cannot send non-finite coordinate {value!r}")
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def move_line(x: float, y: float) -> str:
    """Absolute rapid move in machine coordinates: ``G90 G53 G0 X.. Y..``.

    ``G53`` makes the target independent of any work offset someone set by hand; the speed
    is the machine's maximum rates ``$110``/``$111`` (limited by ``$120``/``$121``).
    """
    return f"G90 G53 G0 X{format_value(x)} Y{format_value(y)}"


def setting_line(number: int, value: float) -> str:
    """``$N=V`` with the value as GRBL prints it (integers without decimals)."""
    if value < 0:
        raise ValueError(f"GRBL setting ${number} cannot be negative (got {value})")
    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}".rstrip("0")
    return f"${number}={text}"
