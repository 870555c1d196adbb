"""The local state of one workshop: which key each participant has, secrets included.

It is an append-only journal (`state.jsonl`), one JSON record per line, fsynced before a
participant counts as done. Appending keeps each write small however large the workshop is,
and a crash can at worst tear the last line, which loading ignores. The journal is compacted
(rewritten atomically) at the end of a run.

Before a create is sent, an `intent` record is written. An intent without a `created` record
after it means the create's answer was never stored: whatever key the server made for it has a
secret nobody holds, so it can be deleted and made again.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyprov.errors import StateWriteError
from keyprov.files import atomic_private_writer, cut_torn_tail, fsync_dir, open_private_append
from keyprov.models import CreatedKey
from keyprov.workshop.journal_records import LedgerEntry, Replayed, replay, secret_digest_of

__all__ = ["STATE_FILE_NAME", "Ledger", "LedgerEntry", "Replayed"]

STATE_FILE_NAME = "state.jsonl"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Ledger:
    """The journal of one workshop, loaded into a dict of entries by identity."""

    def __init__(
        self, path: Path, entries: dict[str, LedgerEntry], replayed: Replayed | None = None
    ) -> None:
        self.path = path
        self._entries = entries
        self.replayed = replayed or Replayed()
        self._lock = threading.Lock()
        self._journal_ready = False
        self._write_error: OSError | None = None
        self.run_id: str | None = None
        """The run writing to this state (its audit run id), stamped on its intents."""

    @classmethod
    def open(cls, path: Path) -> Ledger:
        """Read the journal (nothing is written until a record is added).

        Raises LocalFileError when it cannot be read or is not keyprov's state.
        """
        if not path.exists():
            return cls(path, {})
        entries, replayed = replay(path)
        return cls(path, entries, replayed)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release: each record opens and closes the journal itself."""

    def get(self, identity: str) -> LedgerEntry | None:
        return self._entries.get(identity)

    def entries(self) -> list[LedgerEntry]:
        with self._lock:
            return list(self._entries.values())

    def follow(self, identities: Iterable[str]) -> None:
        """Hold these participants in this order (the roster's), the others after them as they
        were; compaction keeps it, so commands that do not read the roster list them so too."""
        with self._lock:
            ordered = {i: self._entries[i] for i in identities if i in self._entries}
            ordered.update((i, e) for i, e in self._entries.items() if i not in ordered)
            self._entries = ordered

    def known_hashes(self) -> set[str]:
        """Every key this state accounts for: current ones and those retired by rotation."""
        with self._lock:
            current = {entry.hash for entry in self._entries.values() if entry.hash}
            return current.union(*(entry.retired for entry in self._entries.values()))

    def record_carried(self, trusted: Callable[[LedgerEntry], bool], run_id: str) -> None:
        """Take the trusted intents of earlier (crashed) runs on as `run_id`'s."""
        with self._lock:
            runs = sorted(
                {e.pending_run for e in self._entries.values() if e.pending and trusted(e)},
                key=str,
            )
            for identity, entry in list(self._entries.items()):
                if entry.pending and trusted(entry):
                    self._entries[identity] = replace(entry, pending_run=run_id)
            record = {"event": "carried", "runs": runs, "run": run_id}
            unsynced = self._append(record)
        self._sync(unsynced)

    def record_intent(self, identity: str, key_name: str) -> None:
        """Journal that a create is about to be sent, before it is sent, with the run that
        sends it (`run_id`): only that run, or the next after it crashed, may take the key the
        create made for one nobody holds."""
        with self._lock:
            previous = self._entries.get(identity) or LedgerEntry(identity, key_name)
            self._entries[identity] = replace(
                previous, key_name=key_name, pending=True, pending_run=self.run_id
            )
            record = {"event": "intent", "identity": identity, "key_name": key_name}
            if self.run_id is not None:
                record["run"] = self.run_id
            unsynced = self._append(record)
        self._sync(unsynced)

    def record_created(
        self,
        identity: str,
        created: CreatedKey,
        *,
        name: str,
        email: str,
        participant_id: str | None,
        roster_limit: float | None = None,
        roster_limit_reset: str | None = None,
        retired: tuple[str, ...] = (),
        emails: tuple[str, ...] = (),
    ) -> LedgerEntry:
        """Durably store a new key's secret; only after this does the participant count as done.

        One record holds everything the key's future depends on (for a rotation: which key it
        retires), so no crash can leave a half-recorded rotation behind. Raises StateWriteError
        when the record may not be on disk; the entry is then in memory, for `compact` to save.
        """
        key = created.key
        entry = LedgerEntry(
            identity=identity,
            key_name=key.name,
            name=name,
            email=email,
            participant_id=participant_id,
            hash=key.hash,
            secret=created.secret,
            secret_digest=secret_digest_of(created.secret),
            label=key.label,
            limit=key.limit,
            limit_reset=key.limit_reset,
            expires_at=key.expires_at,
            created_at=key.created_at,
            roster_limit=roster_limit,
            roster_limit_reset=roster_limit_reset,
            retired=retired,
            emails=emails if len(emails) > 1 else (),
        )
        with self._lock:
            self._entries[identity] = entry
            unsynced = self._append({"event": "created", **_entry_fields(entry)})
        self._sync(unsynced)
        return entry

    def record_recovered(self, entry: LedgerEntry) -> None:
        """Take back a key whose secret another file (keys.xlsx) holds and this state lost."""
        with self._lock:
            self._entries[entry.identity] = entry
            unsynced = self._append({"event": "recovered", **_entry_fields(entry)})
        self._sync(unsynced)

    def record_naming(self, mode: str, secret: str | None) -> None:
        """Journal how this workshop names its keys (and the secret pseudonyms are made with)."""
        with self._lock:
            unsynced = self._append({"event": "naming", "mode": mode, "secret": secret})
        self._sync(unsynced)
        self.replayed.naming = (mode, secret)

    def record_gate(self, *, closed: bool) -> None:
        """Journal that the workshop is closed (or open), before any key is changed for it: a
        close or open stopped part-way is finished by its rerun, and a provision knows to keep
        new keys disabled."""
        with self._lock:
            unsynced = self._append({"event": "gate", "closed": closed})
        self._sync(unsynced)
        self.replayed.closed = closed

    def record_claim_secret(self, secret: str) -> None:
        """Journal the secret the participants' claim codes are derived from (made once)."""
        with self._lock:
            unsynced = self._append({"event": "claim_secret", "secret": secret})
        self._sync(unsynced)
        self.replayed.claim_secret = secret

    def record_sheet(self, digest: str, content: str | None = None) -> None:
        """Note the digest of the keys.xlsx just written from this state, and of what it was
        made from (`content`, see `outputs.keys_fingerprint`)."""
        record: dict[str, Any] = {"event": "sheet", "sha256": digest}
        if content is not None:
            record["content"] = content
        with self._lock:
            unsynced = self._append(record)
        self._sync(unsynced)
        self.replayed.sheet_digest = digest
        self.replayed.sheet_content = content

    def record_dropped(self, identity: str) -> None:
        """Forget this participant's key: another copy of the workshop holds theirs, and the
        one this run made (and nobody was given) was deleted."""
        with self._lock:
            self._entries.pop(identity, None)
            unsynced = self._append({"event": "dropped", "identity": identity})
        self._sync(unsynced)

    def record_renamed(self, old: str, new: str, participant_id: str) -> None:
        """The participant known as `old` (their email) is `new` (their id) from now on."""
        with self._lock:
            entry = self._entries.pop(old)
            self._entries[new] = replace(entry, identity=new, participant_id=participant_id)
            unsynced = self._append(
                {"event": "renamed", "identity": new, "from": old, "participant_id": participant_id}
            )
        self._sync(unsynced)

    def record_targets(self, op: str, targets: dict[str, float]) -> None:
        """Journal every limit a set-limit is about to send, in one record: all or none."""
        with self._lock:
            for identity, target in targets.items():
                self._entries[identity] = replace(
                    self._entries[identity], limit_target=target, limit_op=op
                )
            unsynced = self._append({"event": "targets", "op": op, "targets": targets})
        self._sync(unsynced)

    def record_update(self, identity: str, **fields: Any) -> LedgerEntry:
        """Note a change made on the server (a new limit, a new display name)."""
        with self._lock:
            entry = replace(self._entries[identity], **fields)
            self._entries[identity] = entry
            unsynced = self._append({"event": "updated", "identity": identity, **fields})
        self._sync(unsynced)
        return entry

    def compact(self) -> None:
        """Rewrite the journal as one record per participant.

        A new file, whose own fsync tells whether it held: after a failed record this is what
        saves the keys created since. Raises StateWriteError when it cannot be written.
        """
        with self._lock:
            if not self._entries and self.replayed.naming is None and not self.path.exists():
                return  # nothing to keep: a run that made nothing leaves no state behind
            lines = [
                _encode({"event": _kind_of(entry), **_entry_fields(entry)})
                for entry in self._entries.values()
            ]
            if self.replayed.naming is not None:
                mode, secret = self.replayed.naming
                lines.insert(0, _encode({"event": "naming", "mode": mode, "secret": secret}))
            if self.replayed.claim_secret is not None:
                lines.insert(
                    0, _encode({"event": "claim_secret", "secret": self.replayed.claim_secret})
                )
            if self.replayed.closed:
                lines.insert(0, _encode({"event": "gate", "closed": True}))
            try:
                with atomic_private_writer(self.path) as handle:
                    handle.write(b"".join(lines))
            except OSError as error:
                raise StateWriteError(
                    f"{self.path}: the local state could not be saved ({error}). Keys created "
                    "since its last saved record have no stored secret: the next run finds them "
                    "on the server, deletes them and creates them again. Free disk space or fix "
                    "the disk, then run again."
                ) from error
            self._write_error = None
            self._journal_ready = False  # the file was replaced: look at its tail again

    def _append(self, record: dict[str, Any]) -> int | None:
        """Write a record (under _lock); return a descriptor to `_sync` it with.

        The descriptor is of an open file of its own, not a dup: Linux reports a failed
        write-back once per open file, and on a shared one only the first fsync to ask would
        hear of it, while the others' records were lost with it. None once a write has failed:
        the journal can no longer be trusted this run, and `_sync` raises.
        """
        if self._write_error is not None:
            return None
        data = _encode({"at": _now(), **record})
        fd: int | None = None
        try:
            if not self._journal_ready:
                is_new = not self.path.exists()
                if not is_new:
                    cut_torn_tail(self.path)
                fd = open_private_append(self.path)
                if is_new:
                    fsync_dir(self.path.parent)
                self._journal_ready = True
            else:
                fd = open_private_append(self.path)
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"wrote {written} of {len(data)} bytes")
        except OSError as error:
            if fd is not None:
                os.close(fd)
            self._write_error = error
            return None
        return fd

    def _sync(self, fd: int | None) -> None:
        """Return once the record written on `fd` is on disk; raise StateWriteError if not.

        Outside the lock: with the fsync under it, workers queued for the lock behind each
        fsync, and every hand-over waited for the GIL (~80 ms per create at 64 workers). Run
        concurrently, fsyncs of one file are batched by the kernel instead.
        """
        if fd is None:
            raise self._journal_broken()
        try:
            os.fsync(fd)
        except OSError as error:
            with self._lock:
                self._write_error = self._write_error or error
            raise self._journal_broken() from error
        finally:
            os.close(fd)

    def _journal_broken(self) -> StateWriteError:
        return StateWriteError(
            f"{self.path}: writing the local state to disk failed ({self._write_error}); "
            "no further keys are created this run. Free disk space or fix the disk, then run "
            "again: keys whose secret did not reach the disk are found and replaced."
        )


def _encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _kind_of(entry: LedgerEntry) -> str:
    """A participant with any part of a key (a damaged record too) is kept as `created`, so
    that no secret, and no hash, is compacted away into an intent."""
    return "created" if entry.hash is not None or entry.secret is not None else "intent"


def _entry_fields(entry: LedgerEntry) -> dict[str, Any]:
    # `pending` is kept: a participant with a key may have a create in flight (a rotation, or
    # a replacement for a key deleted on the server), and compaction must not forget it.
    # A shallow copy: asdict() deep-copies every field, a second per 10,000 participants.
    return dict(vars(entry))
