"""claims.jsonl: which keys were claimed on the claim page, by which device; the codes' hashes.

An append-only journal, owner-only, each record fsynced before the claim page acts on it:

- `codes`: the salt and, for each participant's pseudonym, the salted hash of their code
  (keyprov.workshop.claimcodes). The last such record is the table in force. No code is
  written here, only its hash.
- `reserved`: a key (by hash) is claimed by a device (the sha256 of its cookie), for a
  participant (by pseudonym). Written before the key is enabled or shown: whatever happens
  next, no other device can have this key, and a restart finishes what was begun.
- `enabled`: the key claimed is enabled on the server (or was already).

A claim is of a key: a rotated key is a new key, and its participant's code claims it anew.
A last line torn by a crash is ignored; anything else unreadable is a LocalFileError.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyprov.errors import LocalFileError, StateWriteError
from keyprov.files import cut_torn_tail, open_private_append
from keyprov.workshop.claimcodes import code_hash, new_claim_secret, new_salt
from keyprov.workshop.journal import Ledger

CLAIMS_FILE_NAME = "claims.jsonl"


@dataclass
class Claim:
    key_hash: str
    pseudonym: str
    device: str
    """sha256 of the claiming browser's device cookie: that browser may see the key again."""
    at: str
    enabled: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ClaimJournal:
    """The claims of one workshop, read from claims.jsonl and appended to as claims happen."""

    def __init__(self, path: Path, *, writing: bool = True) -> None:
        """`writing`: the caller holds the workshop's lock and will append (a torn last line
        is then cut off first); a reader leaves the file as it is."""
        self.path = path
        self.salt: str | None = None
        self._codes: dict[str, str] = {}
        self.claims: dict[str, Claim] = {}
        self._lock = threading.Lock()
        self._broken: OSError | None = None
        if path.exists():
            self._replay()
            if writing:
                cut_torn_tail(path)

    @classmethod
    def of(cls, folder: Path, *, writing: bool = True) -> ClaimJournal:
        return cls(folder / CLAIMS_FILE_NAME, writing=writing)

    def _replay(self) -> None:
        try:
            lines = self.path.read_bytes().splitlines()
        except OSError as error:
            raise LocalFileError(
                f"{self.path}: the claims cannot be read ({error.strerror or error}); make the "
                "workshop folder and its files readable, then run again."
            ) from error
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self._apply(record)
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                if number == len(lines):
                    break  # a write torn by a crash: everything before it is intact
                raise LocalFileError(
                    f"{self.path}, line {number}: the claims file is damaged ({error}). "
                    "Restore it from a backup; moved away, every key counts as not claimed."
                ) from error

    def _apply(self, record: dict[str, Any]) -> None:
        event = record["event"]
        if event == "codes":
            self.salt = str(record["salt"])
            self._codes = {str(h): str(p) for h, p in dict(record["hashes"]).items()}
        elif event == "reserved":
            key = str(record["key"])
            self.claims[key] = Claim(
                key, str(record["pseudonym"]), str(record["device"]), record["at"]
            )
        elif event == "enabled":
            claim = self.claims.get(str(record["key"]))
            if claim is not None:
                claim.enabled = True

    # -- reading --------------------------------------------------------------------------

    def pseudonym_of(self, code: str) -> str | None:
        """Whose code this is (their pseudonym), or None: looked up by its salted hash."""
        if self.salt is None:
            return None
        return self._codes.get(code_hash(self.salt, code))

    def claim_of(self, key_hash: str) -> Claim | None:
        with self._lock:
            return self.claims.get(key_hash)

    def claimed(self) -> set[str]:
        """The hashes of every key claimed."""
        with self._lock:
            return set(self.claims)

    def unfinished(self) -> list[Claim]:
        """Claims reserved whose key was not yet seen enabled: a restart finishes them."""
        with self._lock:
            return [claim for claim in self.claims.values() if not claim.enabled]

    # -- writing --------------------------------------------------------------------------

    def put_codes(self, codes: dict[str, str]) -> None:
        """Store the hash of each participant's code ({pseudonym: code}), when it changed."""
        salt = self.salt or new_salt()
        hashes = {code_hash(salt, code): pseudonym for pseudonym, code in codes.items()}
        if salt == self.salt and hashes == self._codes:
            return
        self._write({"event": "codes", "salt": salt, "hashes": hashes})
        self.salt, self._codes = salt, hashes

    def reserve(self, key_hash: str, pseudonym: str, device: str) -> tuple[Claim, bool]:
        """The key's claim: this device's, newly journaled (True), or the one there was."""
        with self._lock:
            found = self.claims.get(key_hash)
            if found is not None:
                return found, False
            claim = Claim(key_hash, pseudonym, device, _now())
            self.claims[key_hash] = claim
            record = {"event": "reserved", "key": key_hash, "pseudonym": pseudonym}
            fd = self._append({**record, "device": device, "at": claim.at})
        self._sync(fd)
        return claim, True

    def mark_enabled(self, key_hash: str) -> None:
        with self._lock:
            claim = self.claims[key_hash]
            if claim.enabled:
                return
            claim.enabled = True
            fd = self._append({"event": "enabled", "key": key_hash, "at": _now()})
        self._sync(fd)

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            fd = self._append(record)
        self._sync(fd)

    def _append(self, record: dict[str, Any]) -> int | None:
        """Write a record (under _lock); a descriptor of its own to fsync it with, as the
        state journal does (keyprov.workshop.journal)."""
        if self._broken is not None:
            return None
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        fd: int | None = None
        try:
            fd = open_private_append(self.path)
            if os.write(fd, data) != len(data):
                raise OSError("the claims file took only part of a record")
        except OSError as error:
            if fd is not None:
                os.close(fd)
            self._broken = error
            return None
        return fd

    def _sync(self, fd: int | None) -> None:
        if fd is None:
            raise self._failed()
        try:
            os.fsync(fd)
        except OSError as error:
            with self._lock:
                self._broken = self._broken or error
            raise self._failed() from error
        finally:
            os.close(fd)

    def _failed(self) -> StateWriteError:
        return StateWriteError(
            f"{self.path}: a claim could not be written to disk ({self._broken}); no further "
            "claims are taken. Free disk space or fix the disk, then start the claim page again."
        )


def claimed_keys(folder: Path) -> set[str]:
    """The hashes of the workshop's claimed keys (none when nothing was ever claimed)."""
    return ClaimJournal.of(folder, writing=False).claimed()


def ensure_claim_secret(ledger: Ledger) -> str:
    """The workshop's claim secret, made and journaled the first time codes are needed."""
    secret = ledger.replayed.claim_secret
    if secret is None:
        secret = new_claim_secret()
        ledger.record_claim_secret(secret)
    return secret
