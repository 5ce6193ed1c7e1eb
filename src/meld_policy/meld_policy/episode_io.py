"""The episode file: one compressed .npz per episode in a run folder, written atomically.

Shared by whoever records episodes (the trainer's own loop, later the ROS policy node) and the replay
that reads them. The metadata is in the file name, so a folder listing says what is there:

    ep0000042_task007_trial0000021_part1of2_steps040.npz

A file is written as `.<name>.partial`, fsynced, then renamed: a crash leaves at most a `.partial`
file, which readers report and skip. A complete-looking file that fails to load is skipped too.

Arrays (T steps, T+1 frames; index 0 is the reset frame, whose rewards are 0):
  images (T+1, H, W, 3) uint8 (or (T+1, D) float32 observation vectors of a state env); actions (T, A) float32 (env units, a_t acts after frame t);
  rewards, shaped_rewards, sparse_rewards (T+1,) float32 (`rewards` is what the env returned);
  success (T+1,) bool; format_version, task_id () int64.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from meld_ros.durable import fsync_dir

from .validation import episode_problem

EPISODE_FORMAT_VERSION = 1
_NAME = re.compile(r"^ep(\d{7})_task(\d{3})_trial(\d{7})_part(\d)of(\d)_steps(\d{3,})\.npz$")
ARRAYS = ("images", "actions", "rewards", "shaped_rewards", "sparse_rewards", "success")


@dataclass(frozen=True)
class EpisodeMeta:
    """What an episode file's name says about it."""

    path: Path
    episode_index: int   # global, increasing; orders episodes oldest first
    task_id: int
    trial_index: int     # episodes of one trial share it
    part: int            # 1-based position in the trial
    num_parts: int       # episodes per trial
    steps: int           # T

    @property
    def frames(self) -> int:
        return self.steps + 1


def episode_filename(episode_index: int, task_id: int, trial_index: int, part: int, num_parts: int, steps: int) -> str:
    return f"ep{episode_index:07d}_task{task_id:03d}_trial{trial_index:07d}_part{part}of{num_parts}_steps{steps:03d}.npz"


def parse_filename(path: str | os.PathLike) -> EpisodeMeta | None:
    m = _NAME.match(Path(path).name)
    if m is None:
        return None
    e, task, trial, part, n, steps = (int(g) for g in m.groups())
    return EpisodeMeta(Path(path), e, task, trial, part, n, steps)


def validate_episode(ep: dict) -> int:
    """Check shapes, dtypes and finiteness (validation.episode_problem); returns T. Raises ValueError naming the bad array."""
    problem = episode_problem(ep)
    if problem:
        raise ValueError(problem)
    return len(ep["actions"])


def write_episode(directory: str | os.PathLike, ep: dict, *, episode_index: int, task_id: int, trial_index: int,
                  part: int = 1, num_parts: int = 1, crash_after_bytes: int | None = None) -> Path:
    """Write one episode atomically (temporary file, fsync, rename, fsync of the folder); returns its path.

    crash_after_bytes: test hook that stops the write half-way, as a killed process would.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    T = validate_episode(ep)
    name = episode_filename(episode_index, task_id, trial_index, part, num_parts, T)
    final = directory / name
    tmp = directory / f".{name}.partial"
    arrays = {
        "images": np.ascontiguousarray(ep["images"]),
        "actions": np.asarray(ep["actions"], dtype=np.float32),
        "rewards": np.asarray(ep["rewards"], dtype=np.float32),
        "shaped_rewards": np.asarray(ep["shaped_rewards"], dtype=np.float32),
        "sparse_rewards": np.asarray(ep["sparse_rewards"], dtype=np.float32),
        "success": np.asarray(ep["success"], dtype=bool),
        "format_version": np.int64(EPISODE_FORMAT_VERSION),
        "task_id": np.int64(task_id),
    }
    if crash_after_bytes is not None:
        import io
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        with open(tmp, "wb") as f:
            f.write(buf.getvalue()[:crash_after_bytes])
            f.flush()
        raise OSError(f"simulated crash after {crash_after_bytes} bytes of {tmp}")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except OSError as exc:  # a full or read-only disk: nothing half-written is left, and the path is named
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(final)) from None
    fsync_dir(directory)
    return final


def read_episode(path: str | os.PathLike) -> dict:
    """Load an episode file fully into memory; raises ValueError on a corrupt or foreign file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            ep = {k: z[k] for k in ARRAYS}
            version = int(z["format_version"])
            task_id = int(z["task_id"])
    except Exception as exc:  # zipfile.BadZipFile, KeyError, EOFError, ...
        raise ValueError(f"cannot read episode file {path}: {type(exc).__name__}: {exc}") from exc
    if version != EPISODE_FORMAT_VERSION:
        raise ValueError(f"episode file {path} has format version {version}; this code reads {EPISODE_FORMAT_VERSION}")
    validate_episode(ep)
    ep["task_id"] = task_id
    return ep


def scan_episodes(directory: str | os.PathLike) -> tuple[list[EpisodeMeta], list[str]]:
    """Complete-looking episode files, oldest first, and a note for every other file (partial, misnamed)."""
    directory = Path(directory)
    metas, skipped = [], []
    if not directory.is_dir():
        return metas, skipped
    for p in sorted(directory.iterdir()):
        meta = parse_filename(p)
        if meta is not None:
            metas.append(meta)
        elif p.name.endswith(".partial"):
            skipped.append(f"{p.name}: partial write (a crash during the write); skipped, not loaded")
        elif p.is_file():
            skipped.append(f"{p.name}: not an episode file name; skipped")
    metas.sort(key=lambda m: m.episode_index)
    return metas, skipped
