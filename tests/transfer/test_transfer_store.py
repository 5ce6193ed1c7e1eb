"""The transfer protocol and its stores, without ROS: files cut into chunks and put back together,
with real files in real folders. Each test is something a lost message or a killed process does."""
from __future__ import annotations

import json
import os
import random

import pytest

from meld_policy.episode_io import scan_episodes
from meld_ros.transfer_protocol import (Ack, ChunkHeader, Offer, TransferError, check_name, iter_chunks,
                                        sha256_file)
from meld_ros.transfer_store import Inbox, Outbox, run_identity

NAME = "episodes/ep0000003_task002_trial0000003_part1of1_steps010.npz"


def source_file(folder, size: int, seed: int = 0):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME.split("/")[1]
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def chunks(path, chunk_bytes=1024, kind="episode", name=NAME):
    offer = Offer.for_file(kind, name, path)
    return offer, list(iter_chunks(offer, chunk_bytes))


def test_a_file_cut_into_chunks_comes_back_whole_in_any_order(tmp_path):
    src = source_file(tmp_path / "a", 10_000)
    offer, parts = chunks(src)
    assert len(parts) == 10 and parts[-1][0].expected_length() == 10_000 - 9 * 1024
    inbox = Inbox(tmp_path / "b")
    random.Random(1).shuffle(parts)
    acks = [inbox.accept(h, d) for h, d in parts]
    assert all(a == (None, None) for a in acks[:-1])
    ack, path = acks[-1]
    assert ack.ok and ack.reason == "applied" and path == tmp_path / "b" / NAME
    assert path.read_bytes() == src.read_bytes()
    assert not list(inbox.incoming.iterdir()), "the .part file stays behind"


def test_header_travels_as_text_and_is_checked(tmp_path):
    src = source_file(tmp_path / "a", 3000)
    _, parts = chunks(src)
    header = parts[1][0]
    assert ChunkHeader.from_label(header.to_label()) == header
    bad = json.loads(header.to_label())
    bad["index"] = 7
    with pytest.raises(TransferError, match="does not fit"):
        ChunkHeader.from_label(json.dumps(bad))
    bad = json.loads(header.to_label())
    bad["sha256"] = "0" * 64
    with pytest.raises(TransferError, match="does not match"):
        ChunkHeader.from_label(json.dumps(bad))
    with pytest.raises(TransferError):
        ChunkHeader.from_label("not json")


@pytest.mark.parametrize("kind,name", [("episode", "../etc/passwd"), ("episode", "checkpoints/ckpt_1.pt"),
                                       ("checkpoint", "checkpoints/a/b.pt"), ("episode", "/abs/episodes/x.npz"),
                                       ("episode", "episodes/.hidden"), ("model", "episodes/x.npz")])
def test_a_sender_cannot_write_outside_the_kinds_folders(kind, name):
    with pytest.raises(TransferError):
        check_name(kind, name)


def test_hash_mismatch_is_rejected_and_nothing_lands(tmp_path):
    src = source_file(tmp_path / "a", 5000)
    _, parts = chunks(src)
    inbox = Inbox(tmp_path / "b")
    for h, d in parts[:-1]:
        inbox.accept(h, d)
    h, d = parts[-1]
    ack, path = inbox.accept(h, bytes(len(d)))  # the last chunk's bytes damaged on the way
    assert not ack.ok and "sha256 mismatch" in ack.reason and path is None
    assert not (tmp_path / "b" / NAME).exists() and not list(inbox.incoming.iterdir())
    assert h.id not in inbox.applied
    for h, d in parts:  # the sender sends it again: now it lands
        ack, path = inbox.accept(h, d)
    assert ack.ok and path.read_bytes() == src.read_bytes()


def test_a_resend_is_never_applied_twice_even_after_a_restart(tmp_path):
    src = source_file(tmp_path / "a", 4000)
    _, parts = chunks(src)
    inbox = Inbox(tmp_path / "b")
    for h, d in parts:
        ack, path = inbox.accept(h, d)
    assert ack.reason == "applied"
    landed = tmp_path / "b" / NAME
    stamp = landed.stat().st_mtime_ns
    for box in (inbox, Inbox(tmp_path / "b")):  # the same process, and a restarted one (ledger on disk)
        answers = [box.accept(h, d) for h, d in parts]
        assert [a for a, _ in answers if a is not None] == [Ack(parts[0][0].id, True, "already applied")]
        assert all(p is None for _, p in answers)
    assert landed.stat().st_mtime_ns == stamp
    ledger = (tmp_path / "b" / "transfers" / "applied.jsonl").read_text().splitlines()
    assert len(ledger) == 1


def test_a_file_already_in_place_is_acknowledged_not_rewritten(tmp_path):
    """A crash between the rename and the ledger line, or a folder both ends share."""
    src = source_file(tmp_path / "b" / "episodes", 3000)
    _, parts = chunks(src)
    inbox = Inbox(tmp_path / "b")
    stamp = src.stat().st_mtime_ns
    for h, d in parts:
        ack, path = inbox.accept(h, d)
    assert ack == Ack(parts[0][0].id, True, "already applied") and path == src  # usable, not rewritten
    assert parts[0][0].id in inbox.applied and src.stat().st_mtime_ns == stamp


def test_half_received_is_never_loaded_and_is_cleaned_up_on_restart(tmp_path):
    src = source_file(tmp_path / "a", 9000)
    _, parts = chunks(src)
    inbox = Inbox(tmp_path / "b")
    for h, d in parts[:5]:
        inbox.accept(h, d)
    assert inbox.in_progress() == [NAME]
    metas, skipped = scan_episodes(tmp_path / "b" / "episodes")
    assert metas == [] and skipped == []  # the replay sees nothing of it
    part_files = list(inbox.incoming.glob("*.part"))
    assert len(part_files) == 1
    restarted = Inbox(tmp_path / "b")  # the receiver was killed: its successor starts clean
    assert restarted.removed_parts == [part_files[0].name] and not list(restarted.incoming.iterdir())
    for h, d in parts:
        ack, path = restarted.accept(h, d)
    assert ack.ok and path.read_bytes() == src.read_bytes()


def test_two_receivers_on_one_folder_keep_their_parts_apart(tmp_path):
    """Two cells' policy nodes on one host with one run folder: each gets the checkpoint."""
    folder = tmp_path / "a" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "ckpt_000003.pt").write_bytes(random.Random(3).randbytes(5000))
    _, parts = chunks(folder / "ckpt_000003.pt", kind="checkpoint", name="checkpoints/ckpt_000003.pt")
    two = Inbox(tmp_path / "b", "cell2")
    for h, d in parts[:3]:
        two.accept(h, d)
    one = Inbox(tmp_path / "b", "cell1")  # cell1's policy (re)starts: cell2's half-received transfer stays
    assert len(list(two.incoming.glob("*.part"))) == 1 and one.removed_parts == []
    results = [one.accept(h, d) for h, d in parts][-1], [two.accept(h, d) for h, d in parts[3:]][-1]
    assert [a.reason for a, _ in results] == ["applied", "already applied"]
    assert results[0][1] == results[1][1] == tmp_path / "b" / "checkpoints" / "ckpt_000003.pt"


def test_outbox_survives_a_restart_until_acknowledged(tmp_path):
    src = source_file(tmp_path / "a", 2000)
    box = Outbox(tmp_path / "a", "trainer")
    offer = Offer.for_file("episode", NAME, src)
    box.add(offer)
    second = Offer.for_file("episode", NAME.replace("ep0000003", "ep0000004"), src)
    box.add(second)
    restarted = Outbox(tmp_path / "a", "trainer")
    assert restarted.pending() == [offer, second], "a restarted sender must resend, oldest first"
    restarted.done(offer.id)
    assert Outbox(tmp_path / "a", "trainer").pending() == [second]


def test_a_newer_checkpoint_supersedes_an_undelivered_one(tmp_path):
    folder = tmp_path / "a" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "ckpt_000001.pt").write_bytes(b"one")
    (folder / "ckpt_000002.pt").write_bytes(b"two")
    box = Outbox(tmp_path / "a", "cell1")
    box.add(Offer.for_file("checkpoint", "checkpoints/ckpt_000001.pt", folder / "ckpt_000001.pt"))
    box.supersede("checkpoint")
    box.add(Offer.for_file("checkpoint", "checkpoints/ckpt_000002.pt", folder / "ckpt_000002.pt"))
    assert [o.name for o in box.pending()] == ["checkpoints/ckpt_000002.pt"]


def test_empty_file_and_a_file_changed_while_sent(tmp_path):
    src = source_file(tmp_path / "a", 0)
    offer, parts = chunks(src)
    assert len(parts) == 1
    ack, path = Inbox(tmp_path / "b").accept(*parts[0])
    assert ack.ok and path.read_bytes() == b""
    src2 = source_file(tmp_path / "c", 5000)
    offer = Offer.for_file("episode", NAME, src2)
    src2.write_bytes(b"x" * 100)
    with pytest.raises(TransferError, match="changed size"):
        list(iter_chunks(offer, 1024))


def test_run_identity_is_stable_and_per_folder(tmp_path):
    a = run_identity(tmp_path / "a")
    assert a == run_identity(tmp_path / "a") != run_identity(tmp_path / "b")
    assert len(a) == 32 and sha256_file(tmp_path / "a" / ".meld_run_id")
    assert os.listdir(tmp_path / "a") == [".meld_run_id"]
