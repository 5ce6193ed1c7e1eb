"""Rig settings: the GRBL settings the rig relies on, its centre pose and tolerances.

Loaded from ``config/settings.yaml`` (shipped with the package) or a file given by the user.
The GRBL values there are the ones ``meld-rig settings --apply`` writes to the firmware's
EEPROM; :meth:`RigSettings.mismatches` compares a ``$$`` dump with them, so the client can
refuse to move a rig whose steps per mm or travel differ from what the task poses assume.
"""
from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

import yaml

#: Settings the client checks before it moves (steps, rates, accelerations, travel, limits, homing).
RELIED_ON = (100, 101, 110, 111, 120, 121, 130, 131, 20, 21, 22)

_SETTING_NAMES = {
    0: "step pulse (us)", 1: "step idle delay (ms)", 2: "step port invert mask",
    3: "direction port invert mask", 4: "step enable invert", 5: "limit pins invert",
    6: "probe pin invert", 10: "status report mask", 11: "junction deviation (mm)",
    12: "arc tolerance (mm)", 13: "report inches", 20: "soft limits", 21: "hard limits",
    22: "homing cycle", 23: "homing direction invert mask", 24: "homing feed (mm/min)",
    25: "homing seek (mm/min)", 26: "homing debounce (ms)", 27: "homing pull-off (mm)",
    30: "max spindle speed", 31: "min spindle speed", 32: "laser mode",
    100: "X steps/mm (rail)", 101: "Y steps/deg (rotation)", 102: "Z steps/mm",
    110: "X max rate (mm/min)", 111: "Y max rate (deg/min)", 112: "Z max rate",
    120: "X acceleration (mm/s^2)", 121: "Y acceleration (deg/s^2)", 122: "Z acceleration",
    130: "X max travel (mm)", 131: "Y max travel (deg)", 132: "Z max travel",
}


def setting_name(number: int) -> str:
    """Human name of a GRBL setting, e.g. ``$130 (X max travel (mm))``."""
    return f"${number} ({_SETTING_NAMES.get(number, 'unknown setting')})"


@dataclass
class RigSettings:
    """Everything the client needs to know about the rig beyond the serial port."""

    grbl: dict[int, float] = field(default_factory=dict)
    """GRBL settings ``$N: value`` the rig is built for; applied on request, checked on connect."""
    centre_x_mm: float = -20.0
    """Rail position of the task-space centre, in GRBL machine coordinates (mm). GRBL's machine
    space is negative: homing to the switch at the positive end sets ``-$27``, and soft limits
    allow ``[-$130, 0]``."""
    centre_y_deg: float = -15.0
    """Rotation of the task-space centre in machine coordinates (degrees, negative like X)."""
    tolerance_mm: float = 0.05
    """Arrival tolerance on the rail: the measured position must be this close to the target."""
    tolerance_deg: float = 0.05
    """Arrival tolerance on the rotation (degrees). Must exceed half a step (0.5 / $101)."""
    reply_timeout_s: float = 5.0
    """Longest wait for the ``ok``/``error`` of one line (``G4 P0`` waits for motion, see below)."""
    connect_timeout_s: float = 3.0
    """Longest wait for the banner after opening the port and sending a soft reset."""
    status_timeout_s: float = 1.0
    """Longest wait for the answer to one ``?`` status query."""
    move_timeout_s: float = 30.0
    """Longest wait for a move to end (state Idle at the target)."""
    home_timeout_s: float = 60.0
    """Longest wait for ``$H`` to finish (search at $25 over 1.5 x travel, then locate at $24)."""
    poll_interval_s: float = 0.1
    """Time between ``?`` status queries while waiting for motion (10 Hz is gentle on an Uno)."""

    def __post_init__(self) -> None:
        self.grbl = {int(k): float(v) for k, v in self.grbl.items()}
        missing = [n for n in RELIED_ON if n not in self.grbl]
        if missing:
            raise ValueError(
                "rig settings lack GRBL settings " + ", ".join(setting_name(n) for n in missing)
                + "; add them under `grbl:` in the settings YAML")
        for number, value in self.grbl.items():
            if value < 0:
                raise ValueError(f"{setting_name(number)} = {value} is negative; GRBL rejects it (error:4)")
        if self.grbl[20] and not self.grbl[22]:
            raise ValueError("soft limits ($20=1) need homing ($22=1); GRBL answers error:10 otherwise")
        for number in (100, 101, 110, 111, 120, 121, 130, 131):
            if self.grbl[number] <= 0:
                raise ValueError(f"{setting_name(number)} must be positive, got {self.grbl[number]}")
        for name in ("tolerance_mm", "tolerance_deg", "reply_timeout_s", "connect_timeout_s",
                     "status_timeout_s", "move_timeout_s", "home_timeout_s", "poll_interval_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"rig setting {name} must be positive, got {getattr(self, name)}")
        half_step = 0.5 / self.grbl[101]
        if self.tolerance_deg <= half_step:
            raise ValueError(
                f"tolerance_deg {self.tolerance_deg} is not above half a step ({half_step:.4f} deg at "
                f"$101={self.grbl[101]} steps/deg): positions are quantized to steps, so arrival could "
                "never be confirmed; raise the tolerance or the steps per degree")
        half_step = 0.5 / self.grbl[100]
        if self.tolerance_mm <= half_step:
            raise ValueError(f"tolerance_mm {self.tolerance_mm} is not above half a step ({half_step:.4f} mm)")
        self.check_target(self.centre_x_mm, self.centre_y_deg, what="rig centre")

    @property
    def homing_enabled(self) -> bool:
        return bool(self.grbl[22])

    @property
    def travel(self) -> tuple[float, float]:
        """Travel of X (mm) and Y (deg): machine positions must lie in ``[-travel, 0]``."""
        return self.grbl[130], self.grbl[131]

    @property
    def switch_clearance(self) -> float:
        """How far below 0 a target must stay: the homing pull-off ``$27``. Homing finds each
        switch tripping at machine 0 and backs off to ``-$27``; soft limits allow 0, but a
        target there (or between) presses the switch and GRBL stops with ALARM:1."""
        return self.grbl.get(27, 1.0)

    def check_target(self, x_mm: float, y_deg: float, what: str = "target") -> None:
        """Raise ``ValueError`` if a machine-coordinate target lies outside the travel or on a switch."""
        tx, ty = self.travel
        clear = self.switch_clearance
        if not -tx <= x_mm:
            raise ValueError(
                f"{what} X={x_mm:.3f} mm is outside the rail travel [-{tx:g}, 0] mm ($130={tx:g}); "
                "GRBL would stop with ALARM:2. Change the centre or the task, or $130 if the rail is longer")
        if not -ty <= y_deg:
            raise ValueError(
                f"{what} Y={y_deg:.3f} deg is outside the rotation travel [-{ty:g}, 0] deg ($131={ty:g}); "
                "GRBL would stop with ALARM:2. Change the centre or the task, or $131")
        for axis, value, unit in (("X", x_mm, "mm"), ("Y", y_deg, "deg")):
            if value > -clear:
                raise ValueError(
                    f"{what} {axis}={value:.3f} {unit} is on the {axis} limit switch, which trips at {axis}=0 "
                    f"(GRBL would stop with ALARM:1); keep {axis} at or below the homing pull-off, "
                    f"-{clear:g} {unit} ($27). Change the centre or the task")

    def differing(self, firmware: dict[int, float], numbers: Optional[Iterable[int]] = None) -> list[int]:
        """Settings (all of the rig's, or ``numbers``) whose ``$$`` value differs or is missing,
        compared as GRBL prints them (three decimals)."""
        return [n for n in (self.grbl if numbers is None else numbers)
                if n not in firmware or not same_value(firmware[n], self.grbl[n])]

    def mismatches(self, firmware: dict[int, float]) -> list[str]:
        """Differences between the firmware's ``$$`` dump and the settings the rig relies on."""
        problems = []
        for number in self.differing(firmware, RELIED_ON):
            if number not in firmware:
                problems.append(f"{setting_name(number)} missing from the $$ dump")
            else:
                problems.append(f"{setting_name(number)} is {firmware[number]:g}, the rig needs {self.grbl[number]:g}")
        return problems


def same_value(have: float, want: float) -> bool:
    """A ``$$`` value equals a wanted one: GRBL prints three decimals (``44.444``)."""
    return abs(have - want) <= max(1e-3, 1e-4 * abs(want))


def load_rig_settings(path: Union[str, Path, None] = None) -> RigSettings:
    """Load rig settings from ``path``, or the packaged ``config/settings.yaml`` when None or ''."""
    if path:
        text = read_config_text(path, "rig settings")
        source = str(path)
    else:
        ref = importlib.resources.files("reset_rig") / "config" / "settings.yaml"
        text = ref.read_text()
        source = "reset_rig/config/settings.yaml"
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML ({' '.join(str(exc).split())}); fix the file") from None
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping of rig settings")
    known = set(RigSettings.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown rig settings {unknown}; known ones are {sorted(known)}")
    try:
        return RigSettings(**data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from exc


def read_config_text(path: Union[str, Path], what: str) -> str:
    """The text of a user's YAML file, or a ``ValueError`` that names the file and the fix."""
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot read the {what} file {path}: {reason}; give an existing YAML file, "
                         "or none for the packaged one") from None


def default_settings_path() -> Optional[Path]:
    """Path of the packaged settings file (for messages and docs)."""
    return Path(str(importlib.resources.files("reset_rig") / "config" / "settings.yaml"))
