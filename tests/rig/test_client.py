"""The GRBL client and the rig against the emulator on a pseudo-terminal, faults included.

Every fault test ends in a clear state and message: an exception of the client's own types
(never a hang, never a stray traceback), and the rig usable again after the documented fix.
"""
from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from reset_rig.client import GrblAlarm, GrblCommandError, GrblDisconnected, GrblTimeout
from reset_rig.emulator_pty import PtyEmulator
from reset_rig.rig import NotHomedError, Rig, RigError
from reset_rig.tasks import load_tasks

from conftest import SPEEDUP, make_client, on_report


def moves_sent(emulator) -> list[str]:
    return [line for line in emulator.firmware.received_lines if line.startswith("G")]


def test_connect_reads_banner_settings_and_lock(client, rig_settings):
    assert client.version == "1.1h" and client.locked
    assert rig_settings.mismatches(client.read_settings()) == []
    assert client.status().state == "Alarm"


def test_settings_are_checked_and_applied(tmp_path, rig_settings):
    with PtyEmulator(link=str(tmp_path / "fresh"), speedup=SPEEDUP) as emu:      # factory EEPROM
        rig = Rig(make_client(emu, rig_settings), rig_settings, load_tasks(rig_settings))
        try:
            with pytest.raises(RigError, match=r"\$101 .*is 250, the rig needs 44.444.*settings --apply"):
                rig.connect()
            written = rig.connect(apply_settings=True)
            assert "$22" in written and "$20" in written
            assert written.index("$22") < written.index("$20"), "homing must be on before soft limits"
            assert rig.check_settings() == []
        finally:
            rig.client.close()


def test_streaming_never_overruns_the_receive_buffer(rig, emulator):
    rig.home()
    lines = [f"G90 G53 G1 X-{2 + (i % 30)}.{i:03d} Y-{2 + i % 20}.5 F6000" for i in range(60)]
    rig.client.stream(lines, timeout=20.0)
    assert emulator.firmware.rx_overflow_bytes == 0
    assert len(moves_sent(emulator)) == 60


def test_home_and_goto_tasks_measures_arrival(rig, emulator):
    with pytest.raises(NotHomedError, match="refused and not sent"):
        rig.goto_task(0)
    assert moves_sent(emulator) == [], "a move before homing must not reach the firmware"
    rig.home()
    for task_id in (0, 19, 20, 29):
        arrival = rig.goto_task(task_id)
        task = rig.tasks[task_id]
        assert arrival.error_mm <= 0.05 and arrival.error_deg <= 0.05
        assert arrival.pose.translation_mm == pytest.approx(task.translation_mm, abs=0.05)
        assert arrival.pose.rotation_deg == pytest.approx(task.rotation_deg, abs=0.05)
        fw = [round(v, 2) for v in emulator.firmware.pos[:2]]
        assert fw == pytest.approx([arrival.pose.x_mm, arrival.pose.y_deg], abs=0.02)
    assert rig.state == "idle"


def test_target_outside_travel_is_refused_before_sending(rig, emulator):
    rig.home()
    with pytest.raises(RigError, match=r"outside the rail travel \[-40, 0\].*not sent"):
        rig.goto(-45.0, -15.0)
    with pytest.raises(RigError, match="no task 30"):
        rig.goto_task(30)
    assert moves_sent(emulator) == []


def test_garbage_lines_are_skipped(tmp_path, rig_settings):
    with PtyEmulator(link=str(tmp_path / "noisy"), speedup=SPEEDUP, settings=rig_settings.grbl,
                     garbage_rate=0.3, seed=3) as emu:
        rig = Rig(make_client(emu, rig_settings), rig_settings, load_tasks(rig_settings))
        try:
            rig.connect()
            rig.home()
            for task_id in (3, 4, 25):
                assert rig.goto_task(task_id).error_deg <= 0.05
            assert rig.client.garbage_lines > 3
        finally:
            rig.client.close()


def test_silent_firmware_times_out_with_a_message(emulator, rig_settings):
    emulator.firmware.silent = True
    client = make_client(emulator, rig_settings)
    start = time.monotonic()
    with pytest.raises(GrblTimeout, match="no GRBL banner .* within 1.5 s"):
        client.connect()
    assert time.monotonic() - start < 5.0
    client.close()


def test_firmware_going_silent_mid_move(rig, emulator):
    rig.home()
    timer = threading.Timer(0.02, lambda: setattr(emulator.firmware, "silent", True))
    timer.start()
    start = time.monotonic()
    with pytest.raises(RigError, match="stopped answering during the move to task 1"):
        rig.goto_task(1)
    timer.join()
    assert time.monotonic() - start < rig.settings.reply_timeout_s + 2 * rig.settings.status_timeout_s + 3.0


def test_alarm_mid_move_then_home_recovers(rig, emulator):
    rig.home()
    emulator.firmware.alarm_mid_move = 1
    with pytest.raises(GrblAlarm, match=r"ALARM:1 \(Hard limit.*home again"):
        rig.goto_task(2)
    assert rig.state == "alarm" and not rig.homed
    with pytest.raises(GrblAlarm):
        rig.goto_task(2)                                  # refused: still in alarm
    with pytest.raises(GrblAlarm, match="position is unknown or likely lost"):
        rig.client.unlock()                               # $X is not safe after a hard limit
    rig.home()
    assert rig.goto_task(2).error_mm <= 0.05


def test_soft_limit_alarm_is_unlocked_safely(rig, emulator):
    rig.home()
    rig.goto_task(6)
    with pytest.raises(GrblAlarm, match=r"ALARM:2 \(Soft limit.*reset to continue"):
        rig.client.command("G53 G0 X5")                   # bypassing the rig's own travel check
    with pytest.raises(GrblAlarm, match="ALARM:2"):
        rig.goto_task(7)                                  # refused until recovered
    rig.recover()                                         # reset + $X: the position was retained
    assert rig.homed
    assert rig.goto_task(7).error_mm <= 0.05


def test_port_unplugged_mid_move_then_back(rig, emulator):
    rig.home()
    timer = threading.Timer(0.03, lambda: emulator.unplug(replug_after_s=0.4))
    timer.start()
    start = time.monotonic()
    with pytest.raises(GrblDisconnected, match="vanished.*home again"):
        rig.goto_task(8)
    timer.join()
    assert time.monotonic() - start < 5.0
    assert rig.state == "disconnected"
    rig.connect(reconnect_timeout=5.0)
    assert not rig.homed, "a replugged board has power-cycled: its position is lost"
    with pytest.raises(NotHomedError):
        rig.goto_task(8)
    rig.home()
    assert rig.goto_task(8).error_deg <= 0.05


def test_feed_hold_resume_and_wpos_reports(rig, emulator):
    rig.home()
    rig.client.stream(["$110=300", "$111=300"])           # a slower move, so the hold lands mid-way
    rig.client.command("G53 G0 X-38 Y-28")
    time.sleep(0.02)
    rig.client.feed_hold()
    deadline = time.monotonic() + 2.0
    while rig.client.status().substate != 0:
        assert time.monotonic() < deadline, "feed hold did not complete"
        time.sleep(0.01)
    with pytest.raises(GrblTimeout, match="feed hold active"):
        rig.client.wait_idle(timeout=0.2, poll_interval=0.02)
    rig.client.resume()
    assert rig.client.wait_idle(timeout=3.0, poll_interval=0.02).mpos[:2] == pytest.approx((-38.0, -28.0), abs=0.03)
    rig.client.command("$10=0")                           # WPos reports: MPos = WPos + cached WCO
    rig.client.command("G92 X0 Y0")
    arrival = rig.goto_task(9)
    assert arrival.error_mm <= 0.05 and arrival.error_deg <= 0.05
    assert rig.client.last_status.mpos is None and rig.client.wco is not None


def test_rejected_line_raises_with_the_meaning(client):
    with pytest.raises(GrblCommandError, match=r"error:9 \(G-code lock"):
        client.command("G0 X-1")
    with pytest.raises(ValueError, match="79 characters"):
        client.command("G0 X-" + "1" * 80)


def test_failed_homing_reports_the_alarm(tmp_path, rig_settings):
    from reset_rig.emulator import MachineModel
    settings = dataclasses.replace(rig_settings, home_timeout_s=5.0)
    with PtyEmulator(link=str(tmp_path / "stock"), speedup=200.0, settings=settings.grbl,
                     machine=MachineModel(homing_cycles=("Z", "XY"))) as emu:
        rig = Rig(make_client(emu, settings), settings, load_tasks(settings))
        try:
            rig.connect()
            with pytest.raises(GrblAlarm, match=r"ALARM:9 .*Z.*homing failed"):
                rig.home()
            assert rig.client.locked and not rig.homed
        finally:
            rig.client.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_dropped_and_garbled_bytes_end_in_clear_errors(tmp_path, rig_settings, seed):
    """A noisy line loses replies: every operation either works or raises the client's own
    error with a message, within its deadline; a reconnect (soft reset) gets a working rig back."""
    from reset_rig.client import GrblError
    with PtyEmulator(link=str(tmp_path / "lossy"), speedup=SPEEDUP, settings=rig_settings.grbl,
                     drop_rate=0.003, garble_rate=0.05, seed=seed) as emu:
        rig = Rig(make_client(emu, rig_settings), rig_settings, load_tasks(rig_settings))
        outcomes = []
        start = time.monotonic()
        try:
            for step in ["connect", "home", 0, 1, 2, 3, 4, 5]:
                t0 = time.monotonic()
                try:
                    if step == "connect":
                        rig.connect()
                    elif step == "home":
                        rig.home()
                    else:
                        rig.goto_task(step)
                    outcomes.append("ok")
                except GrblError as exc:
                    assert str(exc), "an error without a message"
                    outcomes.append(f"{type(exc).__name__}: {exc}")
                    rig.client.close()
                    emu.drop_rate = emu.garble_rate = 0.0       # the line is fixed: recover
                    rig.connect(reconnect_timeout=5.0)
                    rig.home()
                    emu.drop_rate, emu.garble_rate = 0.003, 0.05
                assert time.monotonic() - t0 < 25.0
            emu.drop_rate = emu.garble_rate = 0.0
            assert rig.goto_task(10).error_mm <= 0.05, outcomes    # and the rig is still usable
        finally:
            rig.client.close()
        assert time.monotonic() - start < 40.0
        assert len(outcomes) == 8


def test_startup_block_echo_is_not_an_acknowledgement(client, emulator, caplog):
    """``>G21:ok`` after the banner contains "ok" but answers no line of ours."""
    client.command("$N0=G21")
    client.unlock(force=True)                              # start-up blocks only run when not locked
    pushed = []
    client.on_push = pushed.append
    client.soft_reset()
    client.pump(0.1)
    assert [item.line for item in pushed if hasattr(item, "result")] == ["G21"]
    assert "no line is waiting" not in caplog.text
    pushes = client.command("$G")
    assert any(getattr(item, "kind", "") == "GC" for item in pushes)
    client.stream(["G4 P0"] * 20)                          # the reply count is still in step
    assert emulator.firmware.rx_overflow_bytes == 0


def stop_when_moving(rig, hold_first: bool) -> None:
    """Send what the node's stop sends (feed hold, then 0x18) once a report says Run, from the
    reading thread, as another thread would: the client must not take the stale ok for an arrival."""
    def stop(report) -> bool:
        if hold_first and report.state == "Run":
            rig.client.feed_hold()
        elif report.state == ("Hold" if hold_first else "Run") and (not hold_first or report.substate == 0):
            rig.client.realtime(b"\x18")
            return True
        return False
    on_report(rig, stop)


@pytest.mark.parametrize("hold_first", [False, True], ids=["reset", "feed-hold-then-reset"])
def test_stop_mid_move_is_no_arrival_and_unhomes(rig, emulator, hold_first):
    rig.home()
    stop_when_moving(rig, hold_first)
    with pytest.raises((GrblAlarm, RigError), match="ALARM:3|cut short by a reset"):
        rig.goto_task(11)
    assert not rig.homed
    deadline = time.monotonic() + 5.0
    while emulator.firmware.state in ("Run", "Hold") or rig.client.banners < 2:
        assert time.monotonic() < deadline, "no banner after the reset"
        rig.client.pump(0.05)
    assert emulator.firmware.state == ("Idle" if hold_first else "Alarm")
    sent = len(moves_sent(emulator))
    with pytest.raises((NotHomedError, GrblAlarm), match="not sent"):
        rig.goto_task(11)
    assert len(moves_sent(emulator)) == sent, "a move after the stop must wait for homing"


def test_homing_enabled_without_power_cycle_is_not_homed(tmp_path, rig_settings):
    """GRBL's homing lock applies at power-up only: after $22=1 is written it stays Idle."""
    with PtyEmulator(link=str(tmp_path / "fresh"), speedup=SPEEDUP) as emu:      # factory EEPROM, $22=0
        rig = Rig(make_client(emu, rig_settings), rig_settings, load_tasks(rig_settings))
        try:
            rig.connect(apply_settings=True)
            rig.client.close()
            rig.connect()
            assert rig.client.status().state == "Idle" and not rig.client.locked
            assert not rig.homed
            with pytest.raises(NotHomedError, match="refused and not sent"):
                rig.goto_task(0)
            assert moves_sent(emu) == []
        finally:
            rig.client.close()


def test_targets_on_a_limit_switch_are_refused(rig, emulator):
    rig.home()
    for x, y in ((0.0, -10.0), (-10.0, 0.0), (-0.5, -10.0)):
        with pytest.raises(RigError, match=r"limit switch, which trips at . ?=0.*ALARM:1.*not sent"):
            rig.goto(x, y)
    assert moves_sent(emulator) == []
    assert rig.goto(-1.0, -1.0).error_mm <= 0.05, "the homed pose itself is allowed"
