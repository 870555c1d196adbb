"""The local state journal: what survives compaction and crashes."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest

from keyprov import ledger as ledger_module
from keyprov.client import ApiKey, CreatedKey
from keyprov.errors import StateWriteError
from keyprov.ledger import Ledger


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


def test_after_a_failed_fsync_no_record_counts_as_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Linux reports a failed write-back to one fsync of an open file only: a concurrent fsync
    # of the same file may then succeed although its record never reached the disk.
    one_failed = threading.Event()
    calls = [0]
    counting = threading.Lock()

    def fsync_failing_the_second_call(fd: int) -> None:
        with counting:
            calls[0] += 1
            number = calls[0]
        if number == 2:
            raise OSError(errno.EIO, "Input/output error")
        one_failed.wait(5)  # the first succeeds, but only once the second has failed

    ledger = Ledger.open(tmp_path / "state.jsonl")
    ledger.record_intent("early@example.org", "keyprov:w:early@example.org")  # file exists
    monkeypatch.setattr(ledger_module.os, "fsync", fsync_failing_the_second_call)
    outcomes: dict[str, str] = {}

    def worker(identity: str) -> None:
        try:
            ledger.record_intent(identity, f"keyprov:w:{identity}")
            outcomes[identity] = "stored"
        except StateWriteError as error:
            outcomes[identity] = str(error)
            one_failed.set()

    slow = threading.Thread(target=worker, args=("slow@example.org",))
    slow.start()
    while calls[0] == 0:  # its record written, its fsync under way
        time.sleep(0.001)
    worker("failing@example.org")
    slow.join()

    assert "disk failed" in outcomes["failing@example.org"]
    assert "disk failed" in outcomes["slow@example.org"]
    with pytest.raises(StateWriteError):
        store_key(ledger)
    path = tmp_path / "state.jsonl"
    assert "ada@example.org" not in path.read_text(), "appended to a journal gone bad"
    # The run's end rewrites the state as a new file, whose own fsync tells whether it held:
    # the key stored after the failure (a create already paid for) is not lost.
    monkeypatch.undo()
    ledger.compact()
    ledger.close()
    assert Ledger.open(path).get("ada@example.org").has_key  # type: ignore[union-attr]
