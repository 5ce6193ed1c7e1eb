"""Is the far end of the cable connected? Plain functions over sysfs, so tests use a fake folder.

On the robot the plug's cable runs to a USB Ethernet adapter on the robot PC. When the plug seats
in a powered router port the two PHYs negotiate and the kernel sets
`/sys/class/net/<iface>/carrier` to 1; pulled out, 0. Three ways a reading can fail, all "link
down" with a reason a person can act on:
  - the interface folder is missing (adapter unplugged, renamed, wrong name);
  - the carrier file cannot be read: the kernel answers EINVAL while the interface is
    administratively down (`sudo ip link set <iface> up` fixes it);
  - the operstate says down although the carrier file was not read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SYSFS_NET = "/sys/class/net"
DOWN_STATES = ("down", "lowerlayerdown", "notpresent", "dormant")
"""operstate values that mean no link even if carrier read 1 a moment ago (RFC 2863 names)."""


@dataclass(frozen=True)
class LinkReading:
    """One look at an interface."""

    up: bool
    carrier: bool | None
    """The carrier file: True, False, or None when it could not be read."""
    operstate: str
    """The operstate file ('up', 'down', 'unknown', ...), '' when it could not be read."""
    problem: str | None = None
    """Why the interface could not be read, with the fix; None when it could."""


def interfaces(sysfs_root: str = SYSFS_NET) -> list[str]:
    """Names of the interfaces present, for error messages ('' list when sysfs is missing)."""
    try:
        return sorted(os.listdir(sysfs_root))
    except OSError:
        return []


def _read(path: Path) -> str:
    return path.read_text().strip()


def read_link(interface: str, sysfs_root: str = SYSFS_NET) -> LinkReading:
    """Carrier and operstate of `interface` under `sysfs_root`; never raises."""
    base = Path(sysfs_root) / interface
    if not base.is_dir():
        present = ", ".join(interfaces(sysfs_root)) or "none"
        return LinkReading(False, None, "", (
            f"network interface {interface!r} not found in {sysfs_root} (present: {present}). Is the USB Ethernet "
            f"adapter plugged in? Find its name with `ip link` (the entry whose state changes when you plug the "
            f"cable into a powered port) and set the link watcher's `interface` parameter"))
    try:
        operstate = _read(base / "operstate")
    except OSError:
        operstate = ""
    try:
        carrier = _read(base / "carrier") == "1"
    except OSError as exc:  # EINVAL while the interface is administratively down
        return LinkReading(False, None, operstate, (
            f"cannot read the carrier of {interface!r} ({exc.strerror or exc}); the interface is probably "
            f"administratively down: `sudo ip link set {interface} up` (no address needed)"))
    return LinkReading(carrier and operstate not in DOWN_STATES, carrier, operstate)


class Debouncer:
    """A boolean that changes only after the raw value has held for `hold` seconds.

    Contacts chatter while a plug slides into a port, and a link can flap during negotiation; the
    sparse reward should see one clean edge. The first value is taken at once."""

    def __init__(self, hold: float):
        if hold < 0:
            raise ValueError(f"debounce hold={hold} s must be >= 0")
        self.hold = hold
        self.value: bool | None = None
        self._candidate: bool | None = None
        self._since = 0.0

    def update(self, raw: bool, now: float) -> bool:
        """Feed a raw reading taken at `now` (s, monotonic); returns the debounced value."""
        if self.value is None:
            self.value = raw
        if raw == self.value:
            self._candidate = None
        elif raw != self._candidate:
            self._candidate, self._since = raw, now
        if self._candidate is not None and now - self._since >= self.hold:
            self.value, self._candidate = self._candidate, None
        return self.value
