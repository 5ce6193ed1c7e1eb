"""The client and the rig against the real GRBL 1.1h firmware in its host simulator.

What a user would notice: a move cut short by a reset (the stop sequence) reported as an
arrival or an off-by-millimetres error, a rig moved although nobody homed it, a limit alarm
the rig does not recover from, a vanished port that hangs the client. The firmware runs in
real time, so each test homes at most twice (with faster homing rates, conftest.py).
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import pytest

from reset_rig import protocol as p
from reset_rig.client import GrblAlarm, GrblCommandError, GrblDisconnected, GrblError
from reset_rig.rig import NotHomedError, Rig, RigError

from conftest import connected, make_rig, on_report


@pytest.fixture
def rig(firmware, firmware_settings):
    """A connected (not yet homed) rig on the firmware."""
    with connected(make_rig(firmware, firmware_settings)) as r:
        yield r


def pump_until(rig: Rig, condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Read what GRBL sends until ``condition()``; the firmware's timing varies with the load."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        rig.client.pump(0.05)


def machine_xy(rig: Rig) -> tuple[float, float]:
    pose = rig.pose()
    return round(pose.x_mm, 3), round(pose.y_deg, 3)


def test_home_goto_and_error_codes(rig):
    assert rig.client.version == "1.1h" and rig.client.locked and not rig.homed
    with pytest.raises(NotHomedError, match="refused and not sent"):
        rig.goto_task(3)
    assert machine_xy(rig) == (0.0, 0.0), "a refused move must not reach the firmware"
    with pytest.raises(GrblCommandError, match=r"error:9 \(G-code lock"):
        rig.client.command("G53 G0 X-5")                     # GRBL's own lock at power-up
    home = rig.home()
    assert (home.x_mm, home.y_deg) == pytest.approx((-1.0, -0.99), abs=0.001)   # -$27, in whole steps
    for task_id in (3, 21):
        arrival = rig.goto_task(task_id)
        task = rig.tasks[task_id]
        assert arrival.error_mm <= 0.05 and arrival.error_deg <= 0.05
        assert arrival.pose.translation_mm == pytest.approx(task.translation_mm, abs=0.05)
        assert arrival.pose.rotation_deg == pytest.approx(task.rotation_deg, abs=0.05)
    for line, code, meaning in [("G5", 20, "Unsupported command"), ("G0 G1 X-1", 24, "More than one"),
                                ("G4 G53 P1", 21, "Modal group"),
                                ("G1 X-10", 22, "Undefined feed rate"), ("$20=abc", 2, "Bad number"),
                                ("$999=1", 3, "Invalid statement"), ("$100=-1", 4, "Value < 0")]:
        with pytest.raises(GrblCommandError, match=rf"error:{code} \({meaning}"):
            rig.client.command(line)
    assert rig.homed and rig.goto_task(5).error_mm <= 0.05, "rejected lines leave the rig usable"


def test_reset_mid_move_is_no_arrival_and_unhomes(rig):
    """The node's stop sends 0x18 from another thread while a move waits on its ``G4 P0``:
    GRBL answers ALARM:3, the G4's ``ok`` and the banner. That ``ok`` is not an arrival."""
    rig.home()
    on_report(rig, lambda r: r.state == "Run" and (rig.client.realtime(p.SOFT_RESET) or True))
    with pytest.raises((GrblAlarm, RigError), match=r"ALARM:3|cut short by a reset"):
        rig.goto_task(4)
    assert not rig.homed
    banners = rig.client.banners
    pump_until(rig, lambda: rig.client.banners > banners and rig.client.locked, 10.0, "ALARM:3, ok, the banner")
    assert rig.state == "alarm" and rig.client.alarm == 3
    where = machine_xy(rig)
    with pytest.raises((NotHomedError, GrblAlarm), match="not sent"):
        rig.goto_task(4)
    assert machine_xy(rig) == where


def test_feed_hold_then_reset_leaves_grbl_idle_but_the_rig_unhomed(rig):
    """Feed hold, then a reset once the hold is complete: GRBL answers ``ok`` (the pending
    G4) and the banner, and stays Idle and unlocked, short of the target. Not an arrival,
    and the next move is refused although GRBL would take it."""
    rig.home()

    def stop(report: p.StatusReport) -> bool:
        if report.state == "Run":
            rig.client.feed_hold()
        elif report.state == "Hold" and report.substate == 0:
            rig.client.realtime(p.SOFT_RESET)
            return True
        return False
    on_report(rig, stop)
    banners = rig.client.banners
    with pytest.raises(RigError, match="cut short by a reset.*home it"):
        rig.goto_task(6)
    pump_until(rig, lambda: rig.client.banners > banners, 10.0, "the banner after the reset")
    report = rig.client.status()
    assert report.state == "Idle" and not rig.client.locked, "GRBL itself would move now"
    assert not rig.homed
    where = machine_xy(rig)
    with pytest.raises(NotHomedError):
        rig.goto_task(6)
    assert machine_xy(rig) == where


def test_limits_hard_and_soft(rig):
    rig.home()
    with pytest.raises(RigError, match=r"X=0.000 mm is on the X limit switch.*ALARM:1.*not sent"):
        rig.goto(0.0, -10.0)
    with pytest.raises(RigError, match=r"Y=-0.500 deg is on the Y limit switch"):
        rig.goto(-10.0, -0.5)
    # Bypassing the rig's checks: the switch trips, GRBL stops with ALARM:1 and waits for a reset.
    with pytest.raises(GrblAlarm, match=r"ALARM:1 \(Hard limit"):
        rig.client.stream(["G90 G53 G0 X0", "G4 P0"], timeout=20.0)
    assert rig.state == "alarm" and not rig.homed
    with pytest.raises(GrblAlarm, match="position is unknown or likely lost"):
        rig.client.unlock()
    rig.home()                                              # from on the switch: the reset, then $H
    assert "Check Limits" in rig.client.messages, "GRBL reports the pressed switch after the reset"
    assert rig.goto_task(2).error_mm <= 0.05
    # A soft limit stops before moving and keeps the position: reset and $X, still homed.
    with pytest.raises(GrblAlarm, match=r"ALARM:2 \(Soft limit"):
        rig.client.stream(["G90 G53 G0 X-50", "G4 P0"], timeout=20.0)
    rig.recover()
    assert rig.homed and rig.state == "idle"
    assert rig.goto_task(7).error_mm <= 0.05


def test_port_vanishes_mid_move_and_comes_back(rig, firmware):
    rig.home()
    pulled = threading.Thread(target=firmware.unplug)
    on_report(rig, lambda r: r.state == "Run" and (pulled.start() or True))
    start = time.monotonic()
    with pytest.raises(GrblError, match="vanished.*home again") as caught:
        rig.goto_task(8)
    assert isinstance(caught.value, GrblDisconnected)
    assert time.monotonic() - start < 20.0
    pulled.join(timeout=60)
    assert rig.state == "disconnected" and not rig.homed
    firmware.start()                                        # plugged back: the board powers up
    rig.connect(reconnect_timeout=30.0)
    assert rig.client.locked and not rig.homed
    with pytest.raises(NotHomedError):
        rig.goto_task(8)
    rig.home()
    assert rig.goto_task(8).error_deg <= 0.05


def test_homing_enabled_without_power_cycle_is_not_homed(fresh_firmware, firmware_settings):
    """Writing $22=1 leaves GRBL Idle and unlocked (its homing lock is for power-up only): the
    rig must still refuse to move until it has seen a homing cycle."""
    rig = make_rig(fresh_firmware, firmware_settings)
    try:
        written = rig.connect(apply_settings=True)
        assert "$22" in written
        assert rig.client.status().state == "Idle" and not rig.client.locked
        assert not rig.homed and rig.state == "idle"
        with pytest.raises(NotHomedError):
            rig.goto_task(0)
        rig.client.close()
        rig.connect()                                       # a new connection: still not homed
        assert rig.client.status().state == "Idle" and not rig.homed
        with pytest.raises(NotHomedError):
            rig.goto_task(0)
        assert machine_xy(rig) == (0.0, 0.0)
    finally:
        rig.client.close()
