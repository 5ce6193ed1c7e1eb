"""Task poses and rig settings: the packaged files, and the errors a bad file gives."""
from __future__ import annotations

import dataclasses
import math

import pytest
import yaml

from reset_rig.settings import RigSettings, load_rig_settings
from reset_rig.tasks import load_tasks, parse_tasks


def test_packaged_tasks_are_20_train_and_10_heldout_within_ranges():
    rig = load_rig_settings()
    tasks = load_tasks(rig)
    assert tasks.ids == list(range(30))
    assert [t.id for t in tasks.split("train")] == list(range(20))
    assert [t.id for t in tasks.split("heldout")] == list(range(20, 30))
    for task in tasks.tasks:
        assert -10 <= task.translation_mm <= 10 and -8 <= task.rotation_deg <= 8 and 0 <= task.port <= 3
        x, y = task.machine_target(rig)
        assert x == pytest.approx(rig.centre_x_mm + task.translation_mm)
        assert -rig.grbl[130] <= x <= 0 and -rig.grbl[131] <= y <= 0


def test_packaged_tasks_are_the_simulators_tasks():
    """One task list for the rig, the sim and the reward: task N is the same pose everywhere."""
    from widowx_bringup.sim.tasks import sample_tasks

    rig_tasks = load_tasks(load_rig_settings()).tasks
    for ours, sims in zip(rig_tasks, sample_tasks(), strict=True):
        assert (ours.id, ours.split, ours.port) == (sims.task_id, sims.split, sims.port)
        assert ours.translation_mm == pytest.approx(sims.translation * 1e3, abs=1e-9)
        assert ours.rotation_deg == pytest.approx(math.degrees(sims.rotation), abs=1e-9)


def _doc(**task):
    entry = {"id": 0, "split": "train", "port": 1, "translation_mm": 0.0, "rotation_deg": 0.0, **task}
    return {"translation_range_mm": [-10.0, 10.0], "rotation_range_deg": [-8.0, 8.0], "tasks": [entry]}


@pytest.mark.parametrize("doc, message", [
    (_doc(translation_mm=12.0), "translation 12.0 mm is outside translation_range_mm"),
    (_doc(split="test"), "split 'test' is not one of"),
    (_doc(id="a"), "id and port must be integers"),
    ({"tasks": []}, "translation_range_mm"),
    ([1, 2], "expected a mapping"),
])
def test_bad_task_files_fail_clearly(doc, message):
    with pytest.raises(ValueError, match=message):
        parse_tasks(doc, load_rig_settings(), "tasks.yaml")


def test_task_outside_the_travel_fails_when_loaded(tmp_path):
    rig = dataclasses.replace(load_rig_settings(), centre_x_mm=-35.0)
    path = tmp_path / "tasks.yaml"
    path.write_text(yaml.safe_dump(_doc(translation_mm=-8.0)))
    with pytest.raises(ValueError, match=r"task 0 target X=-43.000 mm is outside the rail travel \[-40, 0\]"):
        load_tasks(rig, path)


def test_settings_checks():
    grbl = load_rig_settings().grbl
    with pytest.raises(ValueError, match=r"soft limits \(\$20=1\) need homing"):
        RigSettings(grbl={**grbl, 22: 0})
    with pytest.raises(ValueError, match="lack GRBL settings .*130"):
        RigSettings(grbl={k: v for k, v in grbl.items() if k != 130})
    with pytest.raises(ValueError, match="not above half a step"):
        RigSettings(grbl={**grbl, 101: 8.889})                # 0.056 deg steps: 0.05 deg unreachable
    rig = RigSettings(grbl=grbl)
    assert rig.mismatches({**grbl, 130: 200.0}) == ["$130 (X max travel (mm)) is 200, the rig needs 40"]


def test_unknown_settings_key_is_reported(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("grbl: {}\ncentre_z: 1\n")
    with pytest.raises(ValueError, match=r"unknown rig settings \['centre_z'\]"):
        load_rig_settings(path)
