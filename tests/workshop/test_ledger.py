"""The local state journal: what survives compaction and crashes."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest

from keyprov.errors import StateWriteError
from keyprov.models import ApiKey, CreatedKey
from keyprov.workshop import journal as ledger_module
from keyprov.workshop.journal import Ledger


def created(key_hash: str, secret: str) -> CreatedKey:
    key = ApiKey(
        key_hash,
        "keyprov:w:ada@example.org",
        "sk-or-v1-abc...xyz",
        False,
        1.0,
        1.0,
        None,
        0,
        0,
        0,
        0,
        "2026-11-28T00:00:00+00:00",
        None,
        None,
    )
    return CreatedKey(key=key, secret=secret)


def store_key(ledger: Ledger, key_hash: str = "a" * 64, secret: str = "sk-or-v1-" + "1" * 64):
    ledger.record_created(
        "ada@example.org",
        created(key_hash, secret),
        name="Ada",
        email="ada@example.org",
        participant_id=None,
    )


def test_a_create_in_flight_for_a_participant_with_a_key_survives_compaction(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.jsonl"
    with Ledger.open(path) as ledger:
        store_key(ledger)
        ledger.record_intent("ada@example.org", "keyprov:w:ada@example.org")
        ledger.compact()
    entry = Ledger.open(path).get("ada@example.org")
    assert entry is not None and entry.pending and entry.has_key


def test_a_torn_last_line_is_cut_before_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    with Ledger.open(path) as ledger:
        store_key(ledger)
    with path.open("ab") as handle:
        handle.write(b'{"event":"intent","identity":"bob@exa')  # a crash mid-write
    with Ledger.open(path) as ledger:
        ledger.record_intent("carol@example.org", "keyprov:w:carol@example.org")
    reopened = Ledger.open(path)  # must not report damage, and must keep every record
    assert reopened.get("ada@example.org").has_key
    assert reopened.get("carol@example.org").pending
    assert reopened.get("bob@example.org") is None


def test_retired_keys_count_as_known(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "state.jsonl") as ledger:
        ledger.record_created(
            "ada@example.org",
            created("b" * 64, "sk-or-v1-" + "2" * 64),
            name="Ada",
            email="ada@example.org",
            participant_id=None,
            retired=("a" * 64,),
        )
        assert ledger.known_hashes() == {"a" * 64, "b" * 64}


def test_each_record_is_on_disk_before_its_call_returns_and_fsyncs_do_not_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.jsonl"
    synced_sizes: list[int] = []
    in_flight = [0, 0]  # now, most at once
    counting = threading.Lock()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        # What an fsync makes durable is what the file held when it started.
        size = os.fstat(fd).st_size
        with counting:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        time.sleep(0.005)  # a laptop SSD's fsync, so that workers would pile up behind it
        real_fsync(fd)
        with counting:
            in_flight[0] -= 1
            synced_sizes.append(size)

    monkeypatch.setattr(ledger_module.os, "fsync", slow_fsync)
    ledger = Ledger.open(path)
    late: list[str] = []

    def worker(number: int) -> None:
        identity = f"p{number}@example.org"
        ledger.record_intent(identity, f"keyprov:w:{identity}")
        text = path.read_text()
        end = text.index(identity) + text[text.index(identity) :].index("\n") + 1
        with counting:
            if not any(size >= len(text[:end].encode()) for size in synced_sizes):
                late.append(identity)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger.close()

    assert late == [], "record_intent returned before its record was fsynced"
    assert len(Ledger.open(path).entries()) == 40
    # No lock is held across an fsync: the workers' fsyncs overlap instead of taking turns.
    assert in_flight[1] > 1


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_after_a_failed_write_no_record_is_journaled_and_compaction_saves_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    # A full disk fails the write (ext4: ENOSPC) or, for delayed allocation, the fsync.
    path = tmp_path / "state.jsonl"
    ledger = Ledger.open(path)
    ledger.record_intent("early@example.org", "keyprov:w:early@example.org")
    real = getattr(os, failing)

    def fail_once(*args: object) -> object:
        monkeypatch.setattr(os, failing, real)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, fail_once)
    with pytest.raises(StateWriteError, match="No space left"):
        ledger.record_intent("ada@example.org", "keyprov:w:ada@example.org")
    journal = path.read_bytes()

    # The disk works again, but the journal is not trusted for the rest of the run: a record
    # is refused (no create may follow an intent that is not on disk) and nothing is appended.
    with pytest.raises(StateWriteError, match="no further keys are created"):
        ledger.record_intent("grace@example.org", "keyprov:w:grace@example.org")
    with pytest.raises(StateWriteError):
        store_key(ledger)  # a key the server made before the failure was heard of
    assert path.read_bytes() == journal

    # The run's end rewrites the state as a new file: the key paid for is not lost.
    ledger.compact()
    reread = Ledger.open(path)
    assert reread.get("ada@example.org").has_key  # type: ignore[union-attr]
    assert reread.get("grace@example.org").pending  # type: ignore[union-attr]
    assert reread.get("early@example.org").pending  # type: ignore[union-attr]
