"""`meld-rig` as a user runs it, against the real GRBL 1.1h firmware in its host simulator.

A fresh board (factory EEPROM) is brought up the way docs/reset_rig.md says: settings, status,
settings --apply, home, goto-task. Every error is a sentence on stderr with a non-zero exit,
never a traceback.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent


def meld_rig(link, *args, timeout=120):
    result = subprocess.run([str(BIN / "meld-rig"), "--port", str(link), *args], capture_output=True,
                            text=True, timeout=timeout)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    if result.returncode:
        assert result.stderr.startswith("meld-rig: error: ") and result.stderr.count("\n") == 1, result.stderr
    return result


def test_bring_up_a_fresh_board(fresh_firmware):
    link = fresh_firmware.link
    listing = meld_rig(link, "settings")
    assert listing.returncode == 0
    marked = listing.stdout.count("<- rig needs")
    assert marked == 14 and f"{marked} setting(s) differ from the rig's (11 of them checked" in listing.stdout
    status = meld_rig(link, "status")                       # a diagnostic: runs whatever the settings
    assert status.returncode == 0 and "state Idle" in status.stdout
    assert "settings: 11 differ from the rig's" in status.stdout and "$101 (Y steps/deg (rotation)) is 250" in status.stdout
    refused = meld_rig(link, "goto-task", "3", "--home")
    assert refused.returncode == 1 and "settings --apply" in refused.stderr
    applied = meld_rig(link, "settings", "--apply")
    assert applied.returncode == 0 and applied.stdout.rstrip().splitlines()[-1].startswith("wrote $22, $1, ")
    assert meld_rig(link, "settings").stdout.rstrip().endswith("settings match the rig")
    # $22=1 written without a power cycle: GRBL is Idle and unlocked, yet nobody homed the rig.
    status = meld_rig(link, "status")
    assert "state Idle" in status.stdout and "locked: no" in status.stdout
    refused = meld_rig(link, "goto-task", "3")
    assert refused.returncode == 1 and "not homed" in refused.stderr and "goto-task 3 --home" in refused.stderr
    assert "machine X=0.000 mm Y=0.000 deg" in meld_rig(link, "status").stdout, "the rig must not have moved"
    home = meld_rig(link, "home")                           # the rig's own homing rates: about 8 s
    assert home.returncode == 0 and home.stdout.strip() == "homed: X=-1.000 mm Y=-0.990 deg", home.stdout


def test_goto_tasks_and_errors(firmware, firmware_settings_file, tmp_path):
    link, fast = firmware.link, ["--settings", str(firmware_settings_file)]
    moved = meld_rig(link, *fast, "goto-task", "3", "21", "--home")
    assert moved.returncode == 0, moved.stderr
    errors = [(float(mm), float(deg)) for mm, deg in re.findall(r"error (\d+\.\d+) mm (\d+\.\d+) deg", moved.stdout)]
    assert len(errors) == 2 and max(max(e) for e in errors) <= 0.05
    assert re.search(r"worst error over 2 tasks: 0\.0\d+ mm, 0\.0\d+ deg", moved.stdout)

    # Bad usage: exit 2 before the port is opened.
    assert "no task 30" in meld_rig(link, *fast, "goto-task", "30").stderr
    bad = meld_rig(link, *fast, "goto-task", "three")
    assert bad.returncode == 2 and "'three' is not a task id" in bad.stderr
    missing = meld_rig(link, "--settings", str(tmp_path / "nope.yaml"), "status")
    assert missing.returncode == 2 and "cannot read the rig settings file" in missing.stderr
    tasks = yaml.safe_load((Path(__file__).parents[2] / "src/reset_rig/reset_rig/config/tasks.yaml").read_text())
    tasks["tasks"][0]["translation_mm"] = 19.5                # X=-0.5: on the switch, where ALARM:1 trips
    tasks["translation_range_mm"] = [-20.0, 20.0]
    (tmp_path / "tasks.yaml").write_text(yaml.safe_dump(tasks))
    on_switch = meld_rig(link, *fast, "--tasks", str(tmp_path / "tasks.yaml"), "goto-task", "0", "--home")
    assert on_switch.returncode == 2 and "task 0 target X=-0.500 mm is on the X limit switch" in on_switch.stderr

    # GRBL refuses a setting (error:6): exit 1 with its meaning.
    settings = yaml.safe_load(firmware_settings_file.read_text())
    settings["grbl"][0] = 2
    (tmp_path / "pulse.yaml").write_text(yaml.safe_dump(settings))
    rejected = meld_rig(link, "--settings", str(tmp_path / "pulse.yaml"), "settings", "--apply")
    assert rejected.returncode == 1 and "error:6 (Value < 3 usec" in rejected.stderr
    absent = meld_rig(tmp_path / "no-such-port", "status")
    assert absent.returncode == 1 and "cannot open serial port" in absent.stderr
