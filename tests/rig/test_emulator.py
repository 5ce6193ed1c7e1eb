"""The firmware emulator against GRBL 1.1h's documented behaviour, on a simulated clock."""
from __future__ import annotations

import pytest

from reset_rig import protocol as p
from reset_rig.emulator import GrblFirmware, MachineModel
from reset_rig.settings import load_rig_settings


class Board:
    """A firmware instance on a fake clock, read line by line."""

    def __init__(self, settings=None, machine=None, rig=True):
        self.t = 0.0
        self.out = bytearray()
        grbl = load_rig_settings().grbl if rig else {}
        grbl.update(settings or {})
        self.fw = GrblFirmware(self.out.extend, lambda: self.t, machine=machine, settings=grbl)
        self.lines: list[str] = []
        self.run(0.1)

    def run(self, seconds: float, dt: float = 0.002) -> list[str]:
        end = self.t + seconds
        while self.t < end:
            self.t += dt
            self.fw.tick()
        text = self.out.decode()
        self.out.clear()
        new = [line for line in text.replace("\r", "").split("\n") if line]
        self.lines += new
        return new

    def send(self, data: bytes, seconds: float = 0.05) -> list[str]:
        self.fw.receive(data)
        return self.run(seconds)

    def status(self) -> p.StatusReport:
        lines = self.send(b"?", 0.01)
        reports = [p.parse_line(line) for line in lines if line.startswith("<")]
        assert len(reports) == 1, lines
        return reports[0]

    def homed(self) -> "Board":
        assert self.send(b"$H\n", 6.0)[-1] == "ok"
        return self


def test_boot_banner_and_alarm_lock_when_homing_is_enabled():
    board = Board()
    assert board.lines == ["Grbl 1.1h ['$' for help]", "[MSG:'$H'|'$X' to unlock]"]
    assert board.status().state == "Alarm"
    assert board.send(b"G0 X-1\n") == ["error:9"]
    assert board.send(b"$X\n") == ["[MSG:Caution: Unlocked]", "ok"]
    assert board.status().state == "Idle"


def test_no_lock_without_homing():
    board = Board({22: 0, 20: 0})
    assert board.lines == ["Grbl 1.1h ['$' for help]"]
    assert board.send(b"$H\n") == ["error:5"]


@pytest.mark.parametrize("line, reply", [
    (b"G5\n", "error:20"), (b"G0 G1 X-1\n", "error:24"), (b"G4 G53 P1\n", "error:21"), (b"X-1 X-2\n", "error:25"),
    (b"G1 X-1\n", "error:22"), (b"G4\n", "error:28"), (b"$20=1\n", None), (b"$0=2\n", "error:6"),
    (b"$100=-1\n", "error:4"), (b"$999=1\n", "error:3"), (b"1\n", "error:1"), (b"GX\n", "error:2"),
    (b"$101=50000\n", "ok"), (b"$24=1e3\n", "error:3"), (b"$24=abc\n", "error:2"), (b"G53 G91 X-1\n", "ok"), (b"(comment) ; \n", "ok"),
    (b"G0 X-" + b"1" * 80 + b"\n", "error:11"), (b"\n", "ok"), (b"$$$\n", "error:3"),
])
def test_error_codes(line, reply):
    board = Board().homed()
    if line == b"$20=1\n":                           # soft limits need homing: error:10
        board.send(b"$22=0\n")
        line, reply = b"$20=1\n", "error:10"
    assert board.send(line, 0.2)[-1] == reply


def test_cr_lf_gives_two_replies_and_line_rules():
    board = Board().homed()
    assert board.send(b"g4 p0\r\n") == ["ok", "ok"]
    assert board.fw.received_lines[-2:] == ["G4P0", ""]


def test_not_idle_during_motion():
    board = Board().homed()
    board.send(b"G0 X-30\n")
    assert board.send(b"$$\n", 0.01) == ["error:8"]


def test_motion_time_and_step_quantization():
    board = Board({101: 8.889}).homed()
    t0 = board.t
    board.send(b"G90 G53 G0 X-11 Y-5\n", 0.01)
    assert board.status().state == "Run"
    for _ in range(1000):
        if board.status().state == "Idle":
            break
        board.run(0.01)
    elapsed = board.t - t0
    # X: 10 mm at 25 mm/s with 100 mm/s^2 -> 0.65 s (Y's 4 deg at 30 deg/s is shorter and limits nothing).
    assert 0.6 < elapsed < 0.75
    report = board.status()
    assert report.mpos == pytest.approx((-11.0, -4.95, 0.0)), "Y5 at 8.889 steps/deg reads back 4.950"


def test_planner_full_blocks_the_receive_buffer_and_overflow_drops_bytes():
    board = Board().homed()
    moves = b"".join(b"G0 X-%d\n" % (2 + i % 20) for i in range(40))
    board.send(moves, 0.01)
    assert board.fw.rx_overflow_bytes > 0
    assert board.lines.count("ok") < 40


def test_soft_limit_alarm_then_reset_gives_stale_ok_and_keeps_position():
    board = Board().homed()
    board.send(b"G53 G0 X-10 Y-10\n", 1.5)
    assert board.send(b"G0 X5\n", 1.0) == ["ALARM:2", "[MSG:Reset to continue]"]
    assert board.send(b"?", 0.1) == [], "no status report until reset"
    assert board.send(b"\x18", 0.2) == ["ok", "Grbl 1.1h ['$' for help]", "[MSG:'$H'|'$X' to unlock]"]
    assert board.status().mpos == pytest.approx((-10.0, -10.0, 0.0), abs=0.03)
    assert board.send(b"$X\n")[-1] == "ok"


def test_soft_limit_during_motion_stops_with_a_controlled_hold():
    board = Board().homed()
    board.send(b"G53 G0 X-30\n", 0.3)
    assert board.send(b"X5\n", 1.5)[-2:] == ["ALARM:2", "[MSG:Reset to continue]"]
    assert "ALARM:2" in board.lines
    x = board.send(b"\x18", 0.2) and board.status().mpos[0]
    assert -30.0 < x < -1.0


def test_hard_limit_when_a_switch_is_hit():
    board = Board({20: 0}).homed()
    lines = board.send(b"G53 G0 X0.5\n", 1.0)
    assert lines == ["ok", "ALARM:1", "[MSG:Reset to continue]"]
    # The switch is still pressed after the reset: GRBL says so before its lock message.
    assert board.send(b"\x18", 0.1) == ["Grbl 1.1h ['$' for help]", "[MSG:Check Limits]", "[MSG:'$H'|'$X' to unlock]"]
    report = board.status()
    assert report.state == "Alarm" and "X" in report.pins
    assert not board.fw.homed
    assert board.homed().status().mpos[0] == pytest.approx(-1.0), "$H works from the switch"


def test_hard_limit_with_a_pending_line_gets_its_ok_after_the_reset():
    board = Board().homed()
    assert board.send(b"G53 G0 X0\nG4 P0\n", 1.0) == ["ok", "ALARM:1", "[MSG:Reset to continue]"]
    assert board.send(b"\x18", 0.1) == ["ok", "Grbl 1.1h ['$' for help]", "[MSG:Check Limits]",
                                         "[MSG:'$H'|'$X' to unlock]"]


def test_alarm_mid_move_fault():
    board = Board().homed()
    board.fw.alarm_mid_move = 1
    board.send(b"G53 G0 X-21\n", 2.0)
    assert board.lines[-2:] == ["ALARM:1", "[MSG:Reset to continue]"]
    board.send(b"\x18", 0.1)
    assert -20.0 < board.status().mpos[0] < -2.0


def test_failed_homing_alarm_ok_and_automatic_reset():
    board = Board(machine=MachineModel(homing_cycles=("Z", "XY")))
    lines = board.send(b"$H\n", 40.0)
    assert lines == ["ALARM:9", "ok", "Grbl 1.1h ['$' for help]", "[MSG:'$H'|'$X' to unlock]"]
    board = Board({27: 0})
    assert board.send(b"$H\n", 30.0)[:2] == ["ALARM:8", "ok"]


def test_status_during_homing_comes_after_it():
    board = Board()
    board.send(b"$H\n", 0.05)
    lines = board.send(b"?", 0.5)
    assert lines == []
    lines = board.run(6.0)
    assert lines[0].startswith("<Home|") and lines[1] == "ok"


def test_feed_hold_and_resume():
    board = Board().homed()
    board.send(b"G53 G0 X-35\n", 0.3)
    board.send(b"!", 0.01)
    assert board.status().state == "Hold" and board.status().substate == 1
    board.run(0.5)
    held = board.status()
    assert held.substate == 0 and -35.0 < held.mpos[0] < -1.0
    board.run(0.5)
    assert board.status().mpos == held.mpos
    board.send(b"~", 2.0)
    assert board.status().state == "Idle" and board.status().mpos[0] == pytest.approx(-35.0)


def test_reset_in_motion_is_alarm_3():
    board = Board().homed()
    board.send(b"G53 G0 X-35\n", 0.2)
    assert board.send(b"\x18", 1.0) == ["ALARM:3", "Grbl 1.1h ['$' for help]", "[MSG:'$H'|'$X' to unlock]"]


def test_reset_in_motion_answers_the_pending_g4_before_the_banner():
    """GRBL answers the line it was executing (the G4 P0 waiting for the planner) with ``ok``."""
    board = Board().homed()
    assert board.send(b"G53 G0 X-35\nG4 P0\n", 0.2) == ["ok"]
    assert board.send(b"\x18", 1.0) == ["ALARM:3", "ok", "Grbl 1.1h ['$' for help]", "[MSG:'$H'|'$X' to unlock]"]
    assert board.status().state == "Alarm"


@pytest.mark.parametrize("hold_s, after", [
    (0.6, ["ok", "Grbl 1.1h ['$' for help]"]),                          # hold complete: position kept, Idle
    (0.05, ["ALARM:3", "ok", "Grbl 1.1h ['$' for help]", "[MSG:'$H'|'$X' to unlock]"]),  # still slowing down
])
def test_feed_hold_then_reset_with_a_pending_g4(hold_s, after):
    board = Board().homed()
    board.send(b"G53 G0 X-35\nG4 P0\n", 0.3)
    board.send(b"!", hold_s)
    assert board.send(b"\x18", 1.0) == after
    assert board.status().state == ("Idle" if len(after) == 2 else "Alarm")


def test_wco_and_overrides_come_every_n_reports():
    board = Board().homed()
    board.send(b"\x18", 0.1)
    reports = [board.status() for _ in range(22)]
    assert [i for i, r in enumerate(reports) if r.wco is not None] == [0, 10, 20]
    assert [i for i, r in enumerate(reports) if r.overrides is not None] == [1, 11, 21]


def test_wpos_reports_with_g92_offset():
    board = Board({10: 2}).homed()
    board.send(b"G53 G0 X-10 Y-10\n", 1.0)
    board.send(b"G92 X0 Y0\n")
    reports = [board.status() for _ in range(12)]
    assert all(r.mpos is None and r.wpos == pytest.approx((0.0, 0.0, 0.0)) for r in reports)
    wco = next(r.wco for r in reports if r.wco is not None)
    assert reports[-1].machine_position(wco) == pytest.approx((-10.0, -10.0, 0.0), abs=0.03)
    assert reports[0].planner_blocks_free == 15 and reports[0].rx_bytes_free == 128


def test_settings_are_stored_as_grbl_stores_them():
    board = Board()
    for line in (b"$20=5\n", b"$10=300\n", b"$0=300\n", b"$26=300\n", b"$13=2\n", b"$27=0.0004\n"):
        assert board.send(line) == ["ok"], line
    assert board.send(b"$0=258\n") == ["error:6"], "the pulse check sees the stored byte (2)"
    settings = {item.number: item.value for item in map(p.parse_line, board.send(b"$$\n"))
                if isinstance(item, p.SettingLine)}
    assert (settings[20], settings[10], settings[0], settings[26], settings[13], settings[27]) == (1, 44, 44, 44, 1, 0)
    board.send(b"$X\n")
    report = board.status()
    assert report.mpos is None and report.wpos is not None, "$10=44 has bit 0 clear: WPos reports"


def test_ngc_parameters_list_every_coordinate_system():
    lines = Board().send(b"$#\n")
    assert [line.split(":")[0] for line in lines] == ["[G54", "[G55", "[G56", "[G57", "[G58", "[G59", "[G28",
                                                      "[G30", "[G92", "[TLO", "[PRB", "ok"]


def test_settings_dump_and_info():
    board = Board()
    lines = board.send(b"$$\n")
    settings = {item.number: item.value for item in map(p.parse_line, lines) if isinstance(item, p.SettingLine)}
    assert settings[101] == pytest.approx(44.444) and settings[22] == 1 and lines[-1] == "ok"
    assert board.send(b"$I\n") == ["[VER:1.1h.20190830:]", "[OPT:V,15,128]", "ok"]
    assert board.send(b"$N0=G21\n") == ["ok"]
    board.send(b"$X\n")
    assert ">G21:ok" in board.send(b"\x18", 0.1)
