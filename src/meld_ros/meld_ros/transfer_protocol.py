"""Files over ROS 2 topics: what a chunk, a transfer and an acknowledgement are. Plain module: no ROS.

The robot PC and the training box need not share a folder: an episode file (policy -> trainer)
and a checkpoint (trainer -> every policy node) travel as messages of a standard type,
std_msgs/UInt8MultiArray. Each message is one chunk of the file; its header travels as JSON in
`layout.dim[0].label` (a string field every DDS vendor carries), the chunk's bytes in `data`:

  {"id": "...", "kind": "episode"|"checkpoint", "name": "episodes/ep0000042_....npz",
   "index": 3, "count": 12, "size": 2900000, "chunk": 262144, "sha256": "<hex of the whole file>"}

`name` is the file's place under the receiver's run folder. The receiver writes chunks into a
`.part` file outside the folders that are read (transfer_store.Inbox), checks the whole file's
SHA-256, renames it into place atomically and answers on the acknowledgement topic with an `Ack`
(std_msgs/String, JSON). The transfer id is made from kind, name and hash, so the same file sent
twice (a resend after a restart) has the same id, and the receiver's ledger applies it once.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

KINDS = {"episode": ("episodes", "eval"), "checkpoint": ("checkpoints",)}
"""Kind of transfer -> the run-folder subfolders its files may land in."""

DEFAULT_CHUNK_BYTES = 256 * 1024
"""256 KiB per message. Fast DDS's default shared-memory segment is 512 KB: a message must fit in it
with room for a second one in flight, or a subscriber in another process on the same host gets
nothing (launch/config/fastdds_large_frames.xml raises the segment to 32 MB for camera frames; the
transfer must work without it too). Across hosts each chunk is ~4-5 UDP fragments of 64 KB.
A 26 MB checkpoint is 100 messages: per-message overhead (header, callback, write) stays well
under the bytes' own cost. Measured on loopback (benchmarks/transfer_throughput.py, 2-core VM):
26 MB in 0.26 s with the shipped profile, 0.32 s with default Fast DDS settings."""

MAX_CHUNK_BYTES = 4 * 1024 * 1024


class TransferError(ValueError):
    """A chunk or acknowledgement that does not follow the protocol."""


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def check_name(kind: str, name: str) -> PurePosixPath:
    """The relative destination of a file of this kind, or TransferError: a receiver writes only
    `<allowed folder>/<file name>` under its own run folder, whatever a sender claims."""
    if kind not in KINDS:
        raise TransferError(f"kind {kind!r}: use one of {sorted(KINDS)}")
    p = PurePosixPath(name)
    if len(p.parts) != 2 or p.parts[0] not in KINDS[kind] or p.name in ("", ".", "..") or p.name.startswith("."):
        raise TransferError(f"name {name!r}: a {kind} lands in {' or '.join(KINDS[kind])}/<file>, nothing else")
    return p


@dataclass(frozen=True)
class Offer:
    """One file to send: where it comes from and what the receiver must end up with."""

    id: str
    kind: str
    name: str
    size: int
    sha256: str
    source: str = ""
    """The sender's path of the file (never sent; kept in the sender's outbox)."""

    @classmethod
    def for_file(cls, kind: str, name: str, path: str | os.PathLike) -> "Offer":
        check_name(kind, name)
        digest = sha256_file(path)
        return cls(transfer_id(kind, name, digest), kind, name, os.path.getsize(path), digest, str(path))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Offer":
        try:
            offer = cls(**json.loads(text))
        except (TypeError, ValueError) as exc:
            raise TransferError(f"not an offer: {exc}") from exc
        check_name(offer.kind, offer.name)
        return offer


def transfer_id(kind: str, name: str, sha256: str) -> str:
    """Same kind, destination and content: same id (a resend is recognised as one)."""
    return f"{kind}:{name}:{sha256[:16]}"


@dataclass(frozen=True)
class ChunkHeader:
    id: str
    kind: str
    name: str
    index: int
    count: int
    size: int
    chunk: int
    sha256: str

    def __post_init__(self) -> None:
        check_name(self.kind, self.name)
        if not 0 < self.chunk <= MAX_CHUNK_BYTES:
            raise TransferError(f"chunk size {self.chunk}: 1..{MAX_CHUNK_BYTES} bytes")
        if self.size < 0 or self.count != max(1, -(-self.size // self.chunk)) or not 0 <= self.index < self.count:
            raise TransferError(f"chunk {self.index} of {self.count} does not fit a {self.size}-byte file "
                                f"in {self.chunk}-byte chunks")
        if len(self.sha256) != 64 or self.id != transfer_id(self.kind, self.name, self.sha256):
            raise TransferError(f"transfer id {self.id!r} does not match its kind, name and hash")

    @property
    def offset(self) -> int:
        return self.index * self.chunk

    def expected_length(self) -> int:
        return min(self.chunk, self.size - self.offset) if self.size else 0

    def to_label(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_label(cls, text: str) -> "ChunkHeader":
        try:
            data = json.loads(text)
            return cls(**data)
        except TransferError:
            raise
        except (TypeError, ValueError) as exc:
            raise TransferError(f"chunk header is not a transfer header ({exc}): {text[:120]!r}") from exc


def iter_chunks(offer: Offer, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[tuple[ChunkHeader, bytes]]:
    """The file of `offer` as (header, bytes) chunks, read as they are sent (a 26 MB checkpoint is
    never held whole). Raises TransferError if the file changed since the offer was made."""
    count = max(1, -(-offer.size // chunk_bytes))
    with open(offer.source, "rb") as f:
        for index in range(count):
            data = f.read(chunk_bytes)
            header = ChunkHeader(offer.id, offer.kind, offer.name, index, count, offer.size, chunk_bytes, offer.sha256)
            if len(data) != header.expected_length():
                raise TransferError(f"{offer.source} changed size while being sent ({offer.name})")
            yield header, data


@dataclass(frozen=True)
class Ack:
    """The receiver's answer to a whole transfer: applied (now, or already before), or rejected."""

    id: str
    ok: bool
    reason: str = ""
    """Why it was rejected (hash mismatch, cannot write); for an applied one, 'applied' or 'already applied'."""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Ack":
        try:
            data = json.loads(text)
            return cls(id=str(data["id"]), ok=bool(data["ok"]), reason=str(data.get("reason", "")))
        except (TypeError, ValueError, KeyError) as exc:
            raise TransferError(f"not a transfer acknowledgement ({exc}): {text[:120]!r}") from exc


def destination(run_dir: str | os.PathLike, kind: str, name: str) -> Path:
    return Path(run_dir) / check_name(kind, name)
