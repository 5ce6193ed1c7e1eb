"""Property and example tests of the GRBL 1.1 line parsers (no serial port, no ROS)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from reset_rig import protocol as p

coord = st.floats(min_value=-9999.999, max_value=9999.999, allow_nan=False).map(lambda v: round(v, 3))
axes = st.tuples(coord, coord, coord)
states = st.sampled_from(["Idle", "Run", "Jog", "Alarm", "Check", "Home", "Sleep", "Hold:0", "Hold:1",
                          "Door:0", "Door:1", "Door:2", "Door:3"])


def fmt(values) -> str:
    return ",".join(f"{v:.3f}" for v in values)


@st.composite
def status_reports(draw):
    """A status report as GRBL 1.1h writes it, with the fields it may carry, in its order."""
    fields = {"state": draw(states), "machine": draw(st.booleans()), "pos": draw(axes)}
    text = fields["state"] + ("|MPos:" if fields["machine"] else "|WPos:") + fmt(fields["pos"])
    if draw(st.booleans()):
        fields["bf"] = (draw(st.integers(0, 15)), draw(st.integers(0, 128)))
        text += f"|Bf:{fields['bf'][0]},{fields['bf'][1]}"
    if draw(st.booleans()):
        fields["ln"] = draw(st.integers(0, 99999))
        text += f"|Ln:{fields['ln']}"
    fields["fs"] = (draw(st.integers(0, 30000)), draw(st.integers(0, 30000)))
    text += f"|FS:{fields['fs'][0]},{fields['fs'][1]}"
    fields["pins"] = "".join(draw(st.lists(st.sampled_from("XYZPDHRS"), unique=True)))
    if fields["pins"]:
        text += f"|Pn:{fields['pins']}"
    if draw(st.booleans()):
        fields["wco"] = draw(axes)
        text += "|WCO:" + fmt(fields["wco"])
    if draw(st.booleans()):
        fields["ov"] = (draw(st.integers(10, 200)), draw(st.integers(25, 100)), draw(st.integers(10, 200)))
        text += "|Ov:{},{},{}".format(*fields["ov"])
    return "<" + text + ">", fields


@settings(max_examples=300, deadline=None)
@given(status_reports())
def test_status_report_round_trip(case):
    text, f = case
    report = p.parse_line(text)
    assert isinstance(report, p.StatusReport), text
    state, _, sub = f["state"].partition(":")
    assert report.state == state and report.substate == (int(sub) if sub else None)
    assert (report.mpos if f["machine"] else report.wpos) == pytest.approx(f["pos"])
    assert (report.wpos if f["machine"] else report.mpos) is None
    assert (report.feed, report.spindle) == f["fs"]
    assert report.pins == f["pins"]
    assert (report.planner_blocks_free, report.rx_bytes_free) == f.get("bf", (None, None))
    assert report.line_number == f.get("ln")
    assert report.overrides == f.get("ov")
    assert report.wco == (pytest.approx(f["wco"]) if "wco" in f else None)


@settings(max_examples=200, deadline=None)
@given(axes, axes)
def test_machine_position_from_wpos_and_cached_wco(wpos, wco):
    report = p.parse_status("<Idle|WPos:" + fmt(wpos) + "|FS:0,0>")
    assert report.machine_position() is None, "no WCO seen yet: the position is unknown"
    assert report.machine_position(wco) == pytest.approx([w + o for w, o in zip(wpos, wco)])
    with_wco = p.parse_status("<Idle|WPos:" + fmt(wpos) + "|FS:0,0|WCO:" + fmt(wco) + ">")
    assert with_wco.machine_position((1e6, 1e6, 1e6)) == pytest.approx([w + o for w, o in zip(wpos, wco)])


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=120))
def test_parse_line_never_raises_and_ok_is_exact(text):
    item = p.parse_line(text)
    if isinstance(item, p.Ok):
        assert text.strip("\r\n ") == "ok"


@settings(max_examples=300, deadline=None)
@given(status_reports(), st.integers(0, 200), st.sampled_from("#%&*@^~QZ<>|:,"))
def test_garbled_status_report_is_unknown_or_valid(case, index, char):
    """A corrupted report never crashes the parser and never yields a state GRBL does not have."""
    text, _ = case
    index %= len(text)
    garbled = text[:index] + char + text[index + 1:]
    item = p.parse_line(garbled)
    assert isinstance(item, (p.StatusReport, p.Unknown))
    if isinstance(item, p.StatusReport):
        assert item.state in p.STATES


@given(st.integers(0, 999))
def test_error_and_alarm_codes(code):
    assert p.parse_line(f"error:{code}") == p.ErrorReply(code)
    assert p.parse_line(f"ALARM:{code}\r") == p.AlarmLine(code)


@pytest.mark.parametrize("line, expected", [
    ("ok", p.Ok()),
    ("ok\r", p.Ok()),
    ("Grbl 1.1h ['$' for help]", p.Banner("1.1h")),
    ("[MSG:Reset to continue]", p.Message("Reset to continue")),
    ("[MSG:'$H'|'$X' to unlock]", p.Message("'$H'|'$X' to unlock")),
    ("[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]", p.Feedback("GC", "G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0")),
    ("[OPT:V,15,128]", p.Feedback("OPT", "V,15,128")),
    ("$101=44.444", p.SettingLine(101, 44.444)),
    ("$22=1", p.SettingLine(22, 1.0)),
    (">G20G54:ok", p.StartupEcho("G20G54", "ok")),
    (">G21:error:20", p.StartupEcho("G21", "error:20")),
    ("okay", p.Unknown("okay")),
    ("error:", p.Unknown("error:")),
    ("error:x", p.Unknown("error:x")),
    ("<Idle|MPos:1,2>", p.StatusReport("Idle", mpos=(1.0, 2.0))),
    ("<Bogus|MPos:0.000,0.000,0.000>", p.Unknown("<Bogus|MPos:0.000,0.000,0.000>")),
    ("<Idle|FS:0,0>", p.Unknown("<Idle|FS:0,0>")),
    ("<Idle|MPos:0.000,nan,0.000>", p.Unknown("<Idle|MPos:0.000,nan,0.000>")),
    ("<Run|MPos:-0.000,1.5,2|FS:500,0|Pn:XZ>", p.StatusReport("Run", mpos=(0.0, 1.5, 2.0), feed=500.0,
                                                             spindle=0.0, pins="XZ")),
])
def test_examples(line, expected):
    assert p.parse_line(line) == expected


def test_formatting():
    assert p.move_line(-20, -15.0004) == "G90 G53 G0 X-20.000 Y-15.000"
    assert p.move_line(-0.0001, 0) == "G90 G53 G0 X0.000 Y0.000"
    assert p.setting_line(101, 44.444) == "$101=44.444"
    assert p.setting_line(22, 1.0) == "$22=1"
    with pytest.raises(ValueError):
        p.setting_line(130, -1)
    with pytest.raises(ValueError):
        p.move_line(float("nan"), 0)
