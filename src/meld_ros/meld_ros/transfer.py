"""Files over ROS 2 between the policy node and the trainer (the rclpy side of transfer_protocol).

Topics, relative to the cell's namespace (standard interfaces only):

  transfer/episodes          std_msgs/UInt8MultiArray  episode file chunks, policy -> trainer
  transfer/episodes_ack      std_msgs/String           Ack JSON, trainer -> policy
  transfer/checkpoints       std_msgs/UInt8MultiArray  checkpoint chunks, trainer -> policy
  transfer/checkpoints_ack   std_msgs/String           Ack JSON, policy -> trainer
  transfer/policy_status     std_msgs/String  (latched) {"run_id", "pending"}: the policy's run
  transfer/trainer_status    std_msgs/String  (latched) folder identity and unsent episodes; the
                                              trainer's for its cell

Each end publishes the random id of its run folder (transfer_store.run_identity). When the peer's
id is its own, both read one folder: nothing is copied, the file paths announced on `episodes`
and `checkpoint` are enough (as on one host). Otherwise each file is offered through an `Outbox`
(persisted, so a restarted sender resends), sent in chunks by a thread of its own (the policy's
control loop never waits for it), written by the receiver's `Inbox` and acknowledged; an offer
without an acknowledgement is sent again until one comes.

Flow control: the data topic is reliable with a history of WINDOW chunks; after every WINDOW
chunks the sender waits until the receivers have acknowledged them at the DDS level
(Publisher.wait_for_all_acked), so the history never overwrites an undelivered chunk, and memory
stays at WINDOW chunks whatever the file's size.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import MultiArrayDimension, String, UInt8MultiArray

from .qos import LATCHED
from .transfer_protocol import DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, Ack, ChunkHeader, Offer, TransferError, iter_chunks
from .transfer_store import Inbox, Outbox, run_identity

WINDOW = 16
"""Chunks in flight before the sender waits for DDS acknowledgements (16 x 256 KiB = 4 MiB)."""

DATA_QOS = QoSProfile(depth=WINDOW, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                      durability=DurabilityPolicy.VOLATILE)
"""The sender's side: WINDOW chunks kept for retransmission."""
DATA_IN_QOS = QoSProfile(depth=WINDOW, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_ALL,
                         durability=DurabilityPolicy.VOLATILE)
"""The receiver's side keeps every chunk until its callback has taken it: with KEEP_LAST a
receiver busy writing would drop chunks that DDS had already acknowledged (measured: a 26 MB
checkpoint then needed two or three resends)."""
ACK_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                     durability=DurabilityPolicy.VOLATILE)
TOPICS = {"episode": "transfer/episodes", "checkpoint": "transfer/checkpoints"}


@dataclass
class TransferConfig:
    """How files cross between the policy's and the trainer's run folders (parameters transfer.*)."""

    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    """Bytes per message (see transfer_protocol.DEFAULT_CHUNK_BYTES for why 256 KiB)."""
    max_rate_mb_s: float = 0.0
    """Cap on the sending rate, MB/s, on a link shared with the cameras; 0: as fast as DDS goes."""
    ack_timeout: float = 10.0
    """Seconds to wait for the receiver's acknowledgement after the last chunk (plus 1 s per 5 MB)
    before sending the whole file again."""

    def __post_init__(self) -> None:
        if not 1024 <= self.chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"transfer.chunk_bytes={self.chunk_bytes}: use 1024..{MAX_CHUNK_BYTES}")
        if self.max_rate_mb_s < 0 or self.ack_timeout <= 0:
            raise ValueError("transfer.max_rate_mb_s must be >= 0 and transfer.ack_timeout > 0")


def chunk_message(header: ChunkHeader, data: bytes) -> UInt8MultiArray:
    msg = UInt8MultiArray()
    msg.layout.dim = [MultiArrayDimension(label=header.to_label(), size=len(data), stride=header.index)]
    msg.data = data
    return msg


class TransferEndpoint:
    """One end of the link between a policy node and the trainer, for one cell.

    role "policy" sends episodes and receives checkpoints; role "trainer" the reverse. `inbox` may
    be shared by several endpoints (the trainer's cells all write into one run folder)."""

    def __init__(self, node, role: str, run_dir: str | Path, inbox: Inbox, cfg: TransferConfig, prefix: str = "",
                 on_received: Callable[[str, Path], None] | None = None,
                 on_delivered: Callable[[Offer], None] | None = None, callback_group=None, outbox_name: str = ""):
        assert role in ("policy", "trainer")
        self.node, self.role, self.cfg, self.inbox = node, role, cfg, inbox
        self.run_dir = Path(run_dir)
        self.run_id = run_identity(self.run_dir)
        self.send_kind, self.receive_kind = ("episode", "checkpoint") if role == "policy" else ("checkpoint", "episode")
        self.outbox = Outbox(self.run_dir, outbox_name or role_peer(role))
        self.on_received, self.on_delivered = on_received, on_delivered
        self.peer_run_id: str | None = None
        self.peer_pending: int | None = None
        self.label = f"{prefix.rstrip('/')}: " if prefix else ""
        self._cv = threading.Condition()
        self._acks: dict[str, Ack] = {}
        self._stop = threading.Event()
        peer = role_peer(role)
        kw = {"callback_group": callback_group} if callback_group is not None else {}
        self.data_pub = node.create_publisher(UInt8MultiArray, prefix + TOPICS[self.send_kind], DATA_QOS)
        self.ack_pub = node.create_publisher(String, prefix + TOPICS[self.receive_kind] + "_ack", ACK_QOS)
        self.status_pub = node.create_publisher(String, f"{prefix}transfer/{role}_status", LATCHED)
        node.create_subscription(String, prefix + TOPICS[self.send_kind] + "_ack", self._on_ack, ACK_QOS, **kw)
        node.create_subscription(UInt8MultiArray, prefix + TOPICS[self.receive_kind], self._on_chunk, DATA_IN_QOS,
                                 **kw)
        node.create_subscription(String, f"{prefix}transfer/{peer}_status", self._on_peer_status, LATCHED, **kw)
        self.publish_status()
        self._thread = threading.Thread(target=self._send_loop, name=f"transfer-{role}{prefix}", daemon=True)
        self._thread.start()

    # --- status -------------------------------------------------------------------------------
    @property
    def shared(self) -> bool | None:
        """True: the peer reads this run folder; False: it has its own; None: not heard yet."""
        return None if self.peer_run_id is None else self.peer_run_id == self.run_id

    def publish_status(self) -> None:
        pending = len(self.outbox.pending(self.send_kind))
        self.status_pub.publish(String(data=json.dumps({"run_id": self.run_id, "pending": pending})))

    def _on_peer_status(self, msg: String) -> None:
        try:
            status = json.loads(msg.data)
            run_id, pending = str(status["run_id"]), int(status["pending"])
        except (ValueError, KeyError, TypeError):
            self.node.get_logger().warn(f"{self.label}unreadable transfer status: {msg.data[:100]!r}")
            return
        with self._cv:
            first = self.peer_run_id is None
            self.peer_run_id, self.peer_pending = run_id, pending
            self._cv.notify_all()
        if first:
            self.node.get_logger().info(
                f"{self.label}{role_peer(self.role)} " + ("shares this run folder: nothing is copied" if self.shared else
                                                          "has its own run folder: files are sent over ROS"))

    # --- sending ------------------------------------------------------------------------------
    def offer(self, kind: str, name: str, path: str | Path, supersede: bool = False) -> Offer | None:
        """Queue a file for the peer (persisted first); None when the peer shares the folder."""
        if self.shared:
            return None
        offer = Offer.for_file(kind, name, path)
        if supersede:
            self.outbox.supersede(kind)
        self.outbox.add(offer)
        self.publish_status()
        with self._cv:
            self._cv.notify_all()
        return offer

    def _on_ack(self, msg: String) -> None:
        try:
            ack = Ack.from_json(msg.data)
        except TransferError as exc:
            self.node.get_logger().warn(f"{self.label}{exc}")
            return
        with self._cv:
            self._acks[ack.id] = ack
            self._cv.notify_all()

    def _wait(self, predicate, timeout: float):
        deadline = time.monotonic() + timeout
        with self._cv:
            while not self._stop.is_set():
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(min(left, 0.5))
        return None

    def _send_loop(self) -> None:
        log = self.node.get_logger()
        while not self._stop.is_set():
            offers = self.outbox.pending(self.send_kind)
            if not offers or self.shared is None or self.data_pub.get_subscription_count() == 0:
                with self._cv:  # nothing to send, or nobody to send it to yet: until offer() or 0.5 s
                    self._cv.wait(0.5)
                continue
            if self.shared:
                for offer in offers:
                    self.outbox.done(offer.id)
                self.publish_status()
                continue
            offer = offers[0]
            if not Path(offer.source).is_file():
                log.warn(f"{self.label}{offer.name} is gone from {offer.source} before it was acknowledged; not sent")
                self.outbox.done(offer.id)
                self.publish_status()
                continue
            try:
                ack = self._send(offer)
            except (OSError, TransferError) as exc:
                log.error(f"{self.label}cannot send {offer.name}: {exc}; dropped from the outbox")
                self.outbox.done(offer.id)
                self.publish_status()
                continue
            if ack is None:
                log.warn(f"{self.label}no acknowledgement for {offer.name}; sending it again",
                         throttle_duration_sec=5.0)
                continue
            if not ack.ok:
                log.warn(f"{self.label}{offer.name} rejected by the {role_peer(self.role)}: {ack.reason}; sending it again")
                self._wait(lambda: False, 1.0)
                continue
            self.outbox.done(offer.id)
            self.publish_status()
            if self.on_delivered is not None:
                self.on_delivered(offer)

    def _send(self, offer: Offer) -> Ack | None:
        """Every chunk of the offer, then its acknowledgement (None: none in time, or interrupted)."""
        with self._cv:
            self._acks.pop(offer.id, None)
        rate = self.cfg.max_rate_mb_s * 1e6
        start = time.monotonic()
        sent = 0
        for header, data in iter_chunks(offer, self.cfg.chunk_bytes):
            if self._stop.is_set():
                return None
            self.data_pub.publish(chunk_message(header, data))
            sent += len(data)
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0 and self._stop.wait(ahead):
                    return None
            if (header.index + 1) % WINDOW == 0 and not self.data_pub.wait_for_all_acked(Duration(seconds=10)):
                return None  # the receiver went away or stalled: start over later
        timeout = self.cfg.ack_timeout + offer.size / 5e6
        return self._wait(lambda: self._acks.pop(offer.id, None), timeout)

    # --- receiving ----------------------------------------------------------------------------
    def _on_chunk(self, msg: UInt8MultiArray) -> None:
        log = self.node.get_logger()
        try:
            if not msg.layout.dim:
                raise TransferError("chunk without a header")
            header = ChunkHeader.from_label(msg.layout.dim[0].label)
            if header.kind != self.receive_kind:
                raise TransferError(f"a {header.kind} on the {self.receive_kind} topic")
            ack, path = self.inbox.accept(header, msg.data.tobytes())
        except (TransferError, OSError) as exc:
            log.warn(f"{self.label}chunk dropped: {exc}", throttle_duration_sec=5.0)
            return
        if ack is None:
            return
        self.ack_pub.publish(String(data=ack.to_json()))
        if not ack.ok:
            log.warn(f"{self.label}{header.name} rejected: {ack.reason}")
        elif path is not None:
            log.info(f"{self.label}received {header.name} ({header.size / 1e6:.2f} MB, sha256 {header.sha256[:12]})")
            if self.on_received is not None:
                self.on_received(header.kind, path)

    def wait_peer(self, timeout: float) -> bool:
        return bool(self._wait(lambda: self.peer_run_id is not None, timeout))

    def close(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        self._thread.join(timeout=5.0)


def role_peer(role: str) -> str:
    return "trainer" if role == "policy" else "policy"


class PolicyLink:
    """The policy node's end: episodes out, checkpoints in, both in its own run folder."""

    def __init__(self, node, run_dir: str | Path, cfg: TransferConfig, on_checkpoint: Callable[[str], None]):
        self.run_dir = Path(run_dir).resolve()
        self.node = node
        self._on_checkpoint = on_checkpoint
        # Several cells' policies on one host may share a run folder: each keeps its own outbox and
        # incoming folder, named after its namespace.
        tag = node.get_namespace().strip("/").replace("/", "_")
        self.inbox = Inbox(self.run_dir, tag)
        for name in self.inbox.removed_parts:
            node.get_logger().warn(f"removed a half-received transfer ({name}); the trainer sends it again")
        self.endpoint = TransferEndpoint(node, "policy", self.run_dir, self.inbox, cfg, on_received=self._received,
                                         outbox_name="trainer" + (f"_{tag}" if tag else ""))

    def send_episode(self, path: str | Path) -> None:
        """Queue an episode file just written for the trainer (before it is announced)."""
        path = Path(path)
        self.endpoint.offer("episode", f"{path.parent.name}/{path.name}", path)

    def local_checkpoint(self, announced: str) -> str | None:
        """The file to load for a checkpoint the trainer announced: its own path when that lies in
        this run folder (a shared folder), else the transferred copy in <run>/checkpoints, or None
        while that copy is still on its way (it is loaded when it arrives)."""
        if not announced:
            return None
        path = Path(announced)
        if path.resolve().is_relative_to(self.run_dir) and path.is_file():
            return announced
        local = self.run_dir / "checkpoints" / path.name
        return str(local) if local.is_file() else None

    def newest_received(self) -> str:
        """The newest checkpoint received before a restart (ledger order), still on disk, or "": a
        restarted policy acts with it until a newer one arrives."""
        entries = [e for e in self.inbox.applied.values() if e.get("kind") == "checkpoint"]
        for entry in sorted(entries, key=lambda e: e.get("time", 0.0), reverse=True):
            path = self.run_dir / entry["name"]
            if path.is_file():
                return str(path)
        return ""

    def _received(self, kind: str, path: Path) -> None:
        if kind == "checkpoint":
            prune_checkpoints(path.parent, keep=3, current=path)
            self._on_checkpoint(str(path))

    def close(self) -> None:
        self.endpoint.close()


def prune_checkpoints(folder: Path, keep: int, current: Path) -> None:
    """Keep the newest `keep` received checkpoints (and the one just received)."""
    received = sorted(folder.glob("ckpt_*.pt"), key=lambda p: p.name)
    for old in received[:-keep]:
        if old != current:
            old.unlink(missing_ok=True)
