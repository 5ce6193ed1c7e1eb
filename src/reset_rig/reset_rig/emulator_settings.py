"""GRBL 1.1h's global settings as the firmware stores and prints them, for the emulator.

Kept apart from the emulator's main loop because this is where emulators usually drift from
the firmware: GRBL truncates every non-axis setting except the rates and distances to one
byte (``uint8_t int_value = trunc(value)``), stores the flags (``$4 $5 $6 $13 $20 $21 $22
$32``) as one bit, and keeps the low eight bits of the masks (``$10=300`` reads back as 44,
which also turns ``MPos`` reports into ``WPos``). Stock 1.1h builds without
``MAX_STEP_RATE_HZ``, so no step rate is refused (no ``error:12``). Numbers are read like
GRBL's ``read_float``: digits, one ``.`` and a sign; anything after them (``1e3``) is
``error:3``. Each rule here was checked against the firmware in its host simulator
(``tests/rig/test_firmware_vs_emulator.py``).
"""
from __future__ import annotations

import math
import re
from typing import Optional

#: GRBL 1.1h defaults (``$RST=$``), keyed by setting number.
DEFAULT_SETTINGS: dict[int, float] = {
    0: 10, 1: 25, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 10: 1, 11: 0.010, 12: 0.002, 13: 0,
    20: 0, 21: 0, 22: 0, 23: 0, 24: 25.0, 25: 500.0, 26: 250, 27: 1.0, 30: 1000.0, 31: 0.0, 32: 0,
    100: 250.0, 101: 250.0, 102: 250.0, 110: 500.0, 111: 500.0, 112: 500.0,
    120: 10.0, 121: 10.0, 122: 10.0, 130: 200.0, 131: 200.0, 132: 200.0,
}
#: Stored as one bit: any non-zero integer part reads back as 1.
FLAG_SETTINGS = frozenset({4, 5, 6, 13, 20, 21, 22, 32})
#: Stored in one byte (masks, microseconds, milliseconds): the integer part's low eight bits.
BYTE_SETTINGS = frozenset({0, 1, 2, 3, 10, 23, 26})
#: Printed without decimals although stored as floats (spindle speeds).
RPM_SETTINGS = frozenset({30, 31})

# Status codes the setting commands answer (GRBL 1.1 report.h numbering).
OK = 0
E_BAD_NUMBER_FORMAT = 2
E_INVALID_STATEMENT = 3
E_NEGATIVE_VALUE = 4
E_SETTING_STEP_PULSE_MIN = 6
E_SOFT_LIMIT_ERROR = 10

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
N_AXIS = 3


def read_float(text: str) -> tuple[Optional[float], str]:
    """GRBL's ``read_float``: the number at the start of ``text`` (None without digits) and the rest."""
    match = _NUMBER.match(text)
    if match is None:
        return None, text
    return float(match.group(0)), text[match.end():]


def setting_command(settings: dict[int, float], rest: str) -> int:
    """``$N=V`` (``rest`` is ``N=V``): parse like GRBL, then store; returns the status code."""
    parameter, after = read_float(rest)
    if parameter is None:
        return E_BAD_NUMBER_FORMAT
    if not after.startswith("="):
        return E_INVALID_STATEMENT
    value, after = read_float(after[1:])
    if value is None:
        return E_BAD_NUMBER_FORMAT
    if after or parameter > 255:
        return E_INVALID_STATEMENT
    return store_setting(settings, int(parameter), value)


def store_setting(settings: dict[int, float], number: int, value: float) -> int:
    """GRBL's ``settings_store_global_setting``: its checks, error codes and storage widths."""
    if value < 0:
        return E_NEGATIVE_VALUE
    if number >= 100:
        axis, kind = number % 10, number // 10 - 10
        if axis >= N_AXIS or kind not in (0, 1, 2, 3):
            return E_INVALID_STATEMENT
        settings[number] = value              # no MAX_STEP_RATE_HZ in stock 1.1h: never error:12
        return OK
    if number not in DEFAULT_SETTINGS:
        return E_INVALID_STATEMENT
    int_value = math.trunc(value) & 0xFF      # uint8_t int_value = trunc(value)
    if number == 0 and int_value < 3:
        return E_SETTING_STEP_PULSE_MIN
    if number == 20 and int_value and not settings[22]:
        return E_SOFT_LIMIT_ERROR
    value = stored_value(number, value)
    if number == 22 and not value:
        settings[20] = 0.0                    # homing off forces soft limits off
    settings[number] = value
    return OK


def stored_value(number: int, value: float) -> float:
    """What the EEPROM holds for ``$number=value`` (flags one bit, bytes eight), checks aside."""
    if number in FLAG_SETTINGS:
        return 1.0 if math.trunc(value) & 0xFF else 0.0
    if number in BYTE_SETTINGS:
        return float(math.trunc(value) & 0xFF)
    return float(value)


def format_setting(number: int, value: float) -> str:
    """One line of the ``$$`` dump, formatted as GRBL prints it."""
    if number in FLAG_SETTINGS or number in BYTE_SETTINGS:
        return f"${number}={int(value)}"
    if number in RPM_SETTINGS:
        return f"${number}={value:.0f}"
    return f"${number}={value:.3f}"
