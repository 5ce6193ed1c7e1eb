"""GRBL 1.1 error and alarm codes with the explanations a person at the rig needs.

The numbers and short names follow GRBL 1.1's ``error_codes_en_US.csv`` and
``alarm_codes_en_US.csv``; the hints after them say what to do on *this* rig.
"""
from __future__ import annotations

ERROR_CODES: dict[int, str] = {
    1: "Expected command letter: a G-code word has no letter.",
    2: "Bad number format: a word's value is missing or not a number.",
    3: "Invalid statement: the '$' system command is not recognised or supported.",
    4: "Value < 0: a negative value was given where a positive one is expected.",
    5: "Setting disabled: homing is not enabled ($22=0), so '$H' is refused.",
    6: "Value < 3 usec: the step pulse time ($0) must be at least 3 microseconds.",
    7: "EEPROM read fail: settings were restored to defaults; re-apply the rig settings.",
    8: "Not idle: this '$' command can only be used while GRBL is Idle.",
    9: "G-code lock: G-code is refused in the Alarm or Jog state; home ($H) or unlock ($X) first.",
    10: "Homing not enabled: soft limits ($20) cannot be enabled without homing ($22=1).",
    11: "Line overflow: more than 79 characters in a line; the line was not executed.",
    12: "Step rate > 30 kHz: the $10x/$11x settings give a step rate above the firmware's maximum.",
    13: "Check door: the safety door input is open.",
    14: "Line length exceeded: a build-info or start-up line is too long for the EEPROM.",
    15: "Travel exceeded: the jog target is outside the machine travel.",
    16: "Invalid jog command: the jog line has no '=' or contains prohibited G-code.",
    17: "Setting disabled: laser mode requires PWM output.",
    20: "Unsupported command: an unsupported or invalid G-code command is in the block.",
    21: "Modal group violation: two G-code commands of the same modal group in one block.",
    22: "Undefined feed rate: a feed move (G1) has no F word and no feed rate was set.",
    23: "A G-code command in the block requires an integer value.",
    24: "More than one G-code command in the block needs axis words.",
    25: "A G-code word is repeated in the block.",
    26: "No axis words in a block whose command needs them.",
    27: "Line number value is invalid.",
    28: "A G-code command is missing a required value word.",
    29: "G59.x work coordinate systems are not supported.",
    30: "G53 is only allowed with G0 and G1 motion modes.",
    31: "Axis words found in a block where no command or modal state uses them.",
    32: "G2/G3 arcs need at least one in-plane axis word.",
    33: "Motion command target is invalid.",
    34: "Arc radius value is invalid.",
    35: "G2/G3 arcs need at least one in-plane offset word.",
    36: "Unused value words found in the block.",
    37: "G43.1 dynamic tool length offset is not assigned to the tool length axis.",
    38: "Tool number greater than the maximum supported value.",
}

ALARM_CODES: dict[int, str] = {
    1: ("Hard limit: a limit switch was triggered. Machine position is likely lost; "
        "check the rig for an obstruction or a loose switch, then reset and home again."),
    2: ("Soft limit: a motion target exceeds the machine travel ($130/$131). "
        "Position was retained; reset, then the alarm may be safely unlocked."),
    3: ("Abort during cycle: reset while in motion. Machine position is likely lost; home again."),
    4: "Probe fail: the probe was not in the expected initial state.",
    5: "Probe fail: the probe did not contact within the programmed travel.",
    6: "Homing fail: the homing cycle was reset.",
    7: "Homing fail: the safety door was opened during homing.",
    8: ("Homing fail: the pull-off ($27) did not clear the limit switch; "
        "increase $27 or check the switch wiring."),
    9: ("Homing fail: a limit switch was not found within the search distance; check the "
        "switch wiring, increase $130/$131, or check that the firmware's homing cycle does "
        "not include Z (a stock build homes Z first; see docs/reset_rig.md)."),
    10: "Homing fail: the second switch of a dual-motor axis was not found.",
}


def describe_error(code: int) -> str:
    """Return ``error:N`` with its meaning, for messages and logs."""
    return f"error:{code} ({ERROR_CODES.get(code, 'unknown GRBL error code; see the GRBL 1.1 error table')})"


def describe_alarm(code: int) -> str:
    """Return ``ALARM:N`` with its meaning and what to do next."""
    return f"ALARM:{code} ({ALARM_CODES.get(code, 'unknown GRBL alarm code; see the GRBL 1.1 alarm table')})"


#: Alarms after which GRBL keeps its position, so unlocking with ``$X`` is safe.
POSITION_RETAINED_ALARMS = frozenset({2})
