"""Both ends of a file transfer on disk: the receiver's inbox and ledger, the sender's outbox. No ROS.

Receiver (`Inbox`): chunks are written into `<run>/transfers/incoming/[<tag>/]<id>.part`, a folder nobody
reads episodes or checkpoints from, so a half-received file is never loaded. When every chunk is
there the whole file's SHA-256 is checked; a match is fsynced and renamed into place
(`<run>/episodes/...`, `<run>/checkpoints/...`) in one step, then its id is appended to the ledger
`<run>/transfers/applied.jsonl` (fsynced). A transfer whose id is in the ledger, or whose file is
already in place with the same hash (a crash between rename and ledger; a shared folder), is
acknowledged again and never written twice. `.part` files left by a killed receiver are removed
at start: the sender resends the whole transfer.

Sender (`Outbox`): each file to send is an `Offer` in `<run>/transfers/outbox/<peer>/`, written
atomically before the file is announced and removed only when the receiver acknowledges it; a
restarted sender finds its unacknowledged offers there and sends them again.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .durable import fsync_dir
from .transfer_protocol import Ack, ChunkHeader, Offer, TransferError, destination, sha256_file

RUN_ID_FILE = ".meld_run_id"


def run_identity(run_dir: str | os.PathLike) -> str:
    """A random id stored in the run folder: two nodes that read the same id share the folder, and
    nothing needs to be copied between them (a network file system, or one host, one folder)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RUN_ID_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        for _ in range(50):  # another process is writing it right now
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.02)
        raise
    with os.fdopen(fd, "w") as f:
        f.write(uuid.uuid4().hex)
        f.flush()
        os.fsync(f.fileno())
    return path.read_text().strip()


def _safe(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class _Partial:
    header: ChunkHeader
    path: Path
    received: set[int] = field(default_factory=set)


class Inbox:
    """The receiving end of transfers into one run folder (thread-safe: one lock)."""

    def __init__(self, run_dir: str | os.PathLike, tag: str = ""):
        """tag: a folder of its own under incoming/ for each receiver sharing the run folder (the
        policy nodes of several cells on one host), so none removes or writes another's .part."""
        self.run_dir = Path(run_dir)
        self.incoming = self.run_dir / "transfers" / "incoming" / tag if tag else self.run_dir / "transfers" / "incoming"
        self.ledger_path = self.run_dir / "transfers" / "applied.jsonl"
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.removed_parts = []
        for stale in self.incoming.glob("*.part"):  # a receiver killed mid-transfer; the sender resends
            stale.unlink(missing_ok=True)
            self.removed_parts.append(stale.name)
        self.applied: dict[str, dict] = {}
        if self.ledger_path.is_file():
            for line in self.ledger_path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.applied[entry["id"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash: its transfer is re-verified when resent
        self._partial: dict[str, _Partial] = {}
        self._lock = threading.Lock()

    def accept(self, header: ChunkHeader, data: bytes) -> tuple[Ack | None, Path | None]:
        """Take one chunk. Returns (ack, path): an Ack once the transfer is complete (applied or
        rejected) or is a resend of one applied before, with the file's path when it was applied
        by this very chunk; (None, None) while chunks are missing."""
        with self._lock:
            if header.id in self.applied:
                return (Ack(header.id, True, "already applied") if header.index == header.count - 1 else None), None
            if len(data) != header.expected_length():
                return Ack(header.id, False, f"chunk {header.index} has {len(data)} bytes, expected "
                                             f"{header.expected_length()}"), None
            partial = self._partial.get(header.id)
            if partial is None:
                partial = _Partial(header, self.incoming / f"{_safe(header.id)}.part")
                with open(partial.path, "wb") as f:
                    f.truncate(header.size)
                self._partial[header.id] = partial
            if header.index not in partial.received:
                with open(partial.path, "r+b") as f:
                    f.seek(header.offset)
                    f.write(data)
                partial.received.add(header.index)
            if len(partial.received) < header.count:
                return None, None
            del self._partial[header.id]
            return self._complete(partial)

    def _complete(self, partial: _Partial) -> tuple[Ack, Path | None]:
        h = partial.header
        final = destination(self.run_dir, h.kind, h.name)
        digest = sha256_file(partial.path)
        if digest != h.sha256:
            partial.path.unlink(missing_ok=True)
            return Ack(h.id, False, f"sha256 mismatch for {h.name}: got {digest[:16]}, expected {h.sha256[:16]}; "
                                    "send it again"), None
        if final.is_file() and sha256_file(final) == h.sha256:
            # Already there: a crash before the ledger line, or another receiver on this folder (a
            # second cell's policy) applied it. Not written again, but this receiver uses it.
            partial.path.unlink(missing_ok=True)
            self._record(h, final)
            return Ack(h.id, True, "already applied"), final
        with open(partial.path, "r+b") as f:
            os.fsync(f.fileno())
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial.path, final)
        fsync_dir(final.parent)
        self._record(h, final)
        return Ack(h.id, True, "applied"), final

    def _record(self, h: ChunkHeader, final: Path) -> None:
        entry = {"id": h.id, "kind": h.kind, "name": h.name, "sha256": h.sha256, "size": h.size, "time": time.time()}
        with open(self.ledger_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.applied[h.id] = entry

    def in_progress(self) -> list[str]:
        with self._lock:
            return [p.header.name for p in self._partial.values()]


class Outbox:
    """The sending end towards one peer: unacknowledged offers, one JSON file each, oldest first."""

    def __init__(self, run_dir: str | os.PathLike, peer: str = "peer"):
        self.folder = Path(run_dir) / "transfers" / "outbox" / (peer or "peer")
        self.folder.mkdir(parents=True, exist_ok=True)
        for tmp in self.folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        self._lock = threading.Lock()

    def _path(self, offer_id: str) -> Path:
        return self.folder / f"{_safe(offer_id)}.json"

    def add(self, offer: Offer) -> None:
        """Persist the offer (atomically) before anyone is told about the file."""
        with self._lock:
            path = self._path(offer.id)
            tmp = path.with_name(f".{path.name}.tmp")
            record = json.loads(offer.to_json())
            record["queued"] = time.time()
            with open(tmp, "w") as f:
                f.write(json.dumps(record))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            fsync_dir(self.folder)

    def pending(self, kind: str | None = None) -> list[Offer]:
        """Unacknowledged offers, oldest first."""
        with self._lock:
            records = []
            for p in self.folder.glob("*.json"):
                try:
                    record = json.loads(p.read_text())
                    queued = record.pop("queued", 0.0)
                    records.append((queued, Offer.from_json(json.dumps(record))))
                except (OSError, ValueError, TransferError):
                    p.unlink(missing_ok=True)  # unreadable: it was never announced (written atomically)
            records.sort(key=lambda r: r[0])
            return [o for _, o in records if kind is None or o.kind == kind]

    def done(self, offer_id: str) -> None:
        with self._lock:
            self._path(offer_id).unlink(missing_ok=True)

    def supersede(self, kind: str) -> list[Offer]:
        """Drop every pending offer of this kind (a newer checkpoint makes older ones pointless)."""
        dropped = self.pending(kind)
        for offer in dropped:
            self.done(offer.id)
        return dropped
