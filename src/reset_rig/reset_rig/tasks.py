"""Task poses of the reset rig: task id -> (translation mm, rotation deg) around the rig centre.

``config/tasks.yaml`` holds 30 tasks: ids 0-19 for meta-training, 20-29 held out. Each pose
is an offset from the rig centre of :class:`~reset_rig.settings.RigSettings`, so the machine
target is ``centre + offset``. Loading checks every task against the ranges the file declares
and against the travel limits ($130/$131), so a bad file fails when read, not as ALARM:2 in
the middle of a training run.

Regenerate the file with ``python -m reset_rig.tasks --seed 0 > tasks.yaml`` (uniform sampler).
"""
from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import yaml

from .settings import RigSettings, read_config_text

SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class Task:
    """One task pose; ``port`` is the goal port (used by the reward, not by the rig)."""

    id: int
    split: str
    port: int
    translation_mm: float
    rotation_deg: float

    def machine_target(self, rig: RigSettings) -> tuple[float, float]:
        """Machine coordinates (X mm, Y deg) the rig moves to for this task."""
        return rig.centre_x_mm + self.translation_mm, rig.centre_y_deg + self.rotation_deg


@dataclass(frozen=True)
class TaskSet:
    """All task poses, checked; index with ``tasks[task_id]``."""

    tasks: tuple[Task, ...]
    translation_range_mm: tuple[float, float]
    rotation_range_deg: tuple[float, float]

    def __getitem__(self, task_id: int) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"no task {task_id}; the task file has ids {self.ids[0]}..{self.ids[-1]}")

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tasks]

    def split(self, name: str) -> list[Task]:
        return [t for t in self.tasks if t.split == name]


def _pair(data: dict, key: str, source: str) -> tuple[float, float]:
    value = data.get(key)
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
            and value[0] < value[1]):
        raise ValueError(f"{source}: `{key}` must be [low, high] with low < high, got {value!r}")
    return float(value[0]), float(value[1])


def parse_tasks(data: object, rig: RigSettings, source: str = "tasks") -> TaskSet:
    """Check a parsed task YAML document and return its :class:`TaskSet`."""
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise ValueError(f"{source}: expected a mapping with a `tasks:` list")
    t_range = _pair(data, "translation_range_mm", source)
    r_range = _pair(data, "rotation_range_deg", source)
    tasks = []
    for i, entry in enumerate(data["tasks"]):
        where = f"{source}: task entry {i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not a mapping")
        missing = {"id", "split", "port", "translation_mm", "rotation_deg"} - set(entry)
        unknown = set(entry) - {"id", "split", "port", "translation_mm", "rotation_deg"}
        if missing or unknown:
            raise ValueError(f"{where} lacks {sorted(missing)} / has unknown {sorted(unknown)}")
        if not isinstance(entry["id"], int) or not isinstance(entry["port"], int):
            raise ValueError(f"{where}: id and port must be integers")
        if entry["split"] not in SPLITS:
            raise ValueError(f"{where}: split {entry['split']!r} is not one of {SPLITS}")
        task = Task(entry["id"], entry["split"], entry["port"],
                    float(entry["translation_mm"]), float(entry["rotation_deg"]))
        where = f"{source}: task {task.id}"
        if not t_range[0] <= task.translation_mm <= t_range[1]:
            raise ValueError(f"{where}: translation {task.translation_mm} mm is outside translation_range_mm {list(t_range)}")
        if not r_range[0] <= task.rotation_deg <= r_range[1]:
            raise ValueError(f"{where}: rotation {task.rotation_deg} deg is outside rotation_range_deg {list(r_range)}")
        x, y = task.machine_target(rig)
        try:
            rig.check_target(x, y, what=f"task {task.id} target")
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
        tasks.append(task)
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{source}: task ids repeat: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    if not tasks:
        raise ValueError(f"{source}: no tasks")
    return TaskSet(tuple(sorted(tasks, key=lambda t: t.id)), t_range, r_range)


def load_tasks(rig: RigSettings, path: Union[str, Path, None] = None) -> TaskSet:
    """Load and check the task file ``path``, or the packaged ``config/tasks.yaml``."""
    if path:
        source, text = str(path), read_config_text(path, "task poses")
    else:
        source = "reset_rig/config/tasks.yaml"
        text = (importlib.resources.files("reset_rig") / "config" / "tasks.yaml").read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML ({' '.join(str(exc).split())}); fix the file") from None
    return parse_tasks(data, rig, source)
