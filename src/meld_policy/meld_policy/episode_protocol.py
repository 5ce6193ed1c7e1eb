"""What the trainer and the policy node say to each other, as JSON in std_msgs/String.

Standard interfaces only (no custom messages build from the PyPI wheels), so requests and reports
are small JSON documents with the fields below, checked on both ends. Plain module: no ROS.

  trainer -> policy   `policy/start`   EpisodeRequest   run one episode of a trial
  policy  -> all      `episodes`       EpisodeReport    the episode file is written (path), or why not
  policy  -> all      `policy/state`   "idle" | "running"            (latched)
  trainer -> policy   `checkpoint`     path of the newest checkpoint  (latched)
  policy  -> all      `policy/loaded_checkpoint`  path it loaded      (latched)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


class ProtocolError(ValueError):
    pass


def _parse(cls, text: str):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{cls.__name__}: not JSON ({exc}): {text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise ProtocolError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ProtocolError(f"{cls.__name__}: unknown fields {unknown}; known: {sorted(known)}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ProtocolError(f"{cls.__name__}: {exc}") from exc


@dataclass(frozen=True)
class EpisodeRequest:
    """Run one episode: part `part` of `num_parts` of trial `trial_index` on task `task_id`."""

    episode_index: int
    """Global, increasing index of the episode (its file name starts with it)."""
    task_id: int
    trial_index: int
    part: int = 1
    """1-based; part 1 starts a new belief (is_first), later parts carry it over."""
    num_parts: int = 1
    steps: int = 40
    """Actions in the episode (frames = steps + 1)."""
    mode: str = "policy"
    """policy: filter and act; random: uniform actions (model pretraining)."""
    deterministic: bool = False
    """Take the actor's mean action (evaluation)."""
    reward_input: str = "shaped"
    """Which reward the episode's `rewards` array and the filter's reward input are: shaped or sparse."""
    out_dir: str = "episodes"
    """Folder under the run folder to write the episode file to (episodes: replay; eval: held-out tests)."""

    def __post_init__(self) -> None:
        if self.mode not in ("policy", "random"):
            raise ProtocolError(f"mode {self.mode!r}: use policy or random")
        if self.reward_input not in ("shaped", "sparse"):
            raise ProtocolError(f"reward_input {self.reward_input!r}: use shaped or sparse")
        if not 1 <= self.part <= self.num_parts <= 9:
            raise ProtocolError(f"part {self.part} of {self.num_parts}: need 1 <= part <= num_parts <= 9")
        if not 1 <= self.steps <= 999:
            raise ProtocolError(f"steps {self.steps}: need 1..999")
        if self.episode_index < 0 or self.trial_index < 0 or self.task_id < 0:
            raise ProtocolError("episode_index, trial_index and task_id must be >= 0")
        if "/" in self.out_dir.strip("/") or self.out_dir in ("", ".", ".."):
            raise ProtocolError(f"out_dir {self.out_dir!r}: one folder name under the run folder")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "EpisodeRequest":
        return _parse(cls, text)


@dataclass(frozen=True)
class EpisodeReport:
    """What became of a request: the file written, or the reason none was."""

    episode_index: int
    task_id: int
    trial_index: int
    part: int
    path: str = ""
    """The episode file, written atomically; empty when the episode was aborted."""
    success: bool = False
    """Success at the episode's last step."""
    shaped_return: float = 0.0
    aborted: str = ""
    """Why the episode was abandoned (no fresh frames, no reward, stopped); empty when complete."""
    checkpoint: str = ""
    """The checkpoint the policy acted with (empty: none, e.g. random actions)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "EpisodeReport":
        return _parse(cls, text)
