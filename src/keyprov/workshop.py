"""One workshop: where it lives, what the server holds for it, and a session that changes it.

Every command goes through here. Read-only commands take a `snapshot` (the local state and
every page of the server's keys); commands that write open a `session`, which holds the
workshop's lock, the state journal and the audit log, frames the run in the audit log, and on
the way out saves the state and then rebuilds keys.xlsx, in that order, whatever happened.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keyprov import tool_version
from keyprov.audit import AUDIT_FILE_NAME, AuditLog, current_subject
from keyprov.client import PAGE_SIZE, OpenRouterClient, RetryEvent
from keyprov.distribution import RowNote, distribution_rows
from keyprov.errors import ConfigurationError, KeyprovError, StateWriteError
from keyprov.files import ensure_private_dir, remove_stale_temporaries
from keyprov.gitignore import refuse_unignored
from keyprov.ledger import STATE_FILE_NAME, Ledger, LedgerEntry
from keyprov.lock import workshop_lock
from keyprov.models import ApiKey
from keyprov.naming import identity_from_key_name, key_name, workshop_slug
from keyprov.outputs import KEYS_FILE_NAME, write_keys_workbook
from keyprov.roster import Participant
from keyprov.status import ExitStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workshop:
    """A workshop by name, and the folder holding its state, keys.xlsx and audit log."""

    name: str
    folder: Path

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE_NAME

    @property
    def keys_path(self) -> Path:
        return self.folder / KEYS_FILE_NAME

    @property
    def audit_path(self) -> Path:
        return self.folder / AUDIT_FILE_NAME

    def key_name(self, identity: str) -> str:
        return key_name(self.name, identity)

    def identity_of(self, key: ApiKey) -> str | None:
        return identity_from_key_name(self.name, key.name)


@dataclass(frozen=True)
class WorkshopRef:
    """A workshop as the user named it: by its roster file (its stem) or with --workshop."""

    roster: Path | None
    workshop: str | None
    out_dir: Path = Path("output")

    @property
    def name(self) -> str:
        if self.workshop:
            return workshop_slug(self.workshop)
        if self.roster is not None:
            return workshop_slug(self.roster.stem)
        raise ConfigurationError("name the workshop: give its ROSTER file or --workshop NAME.")

    def resolve(self) -> Workshop:
        return Workshop(self.name, self.out_dir / self.name)


@dataclass(frozen=True)
class OwnedKey:
    """A key of this workshop on the server, with the participant it belongs to."""

    key: ApiKey
    identity: str
    entry: LedgerEntry | None
    role: str
    """'current' (the participant's key), 'retired' (replaced by rotation) or 'unknown'
    (this workshop's name, but its secret is not in local state)."""


@dataclass(frozen=True)
class Snapshot:
    """The local state and the server's keys, read together before anything is decided."""

    workshop: Workshop
    entries: dict[str, LedgerEntry]
    server_keys: list[ApiKey]

    def owned(self) -> list[OwnedKey]:
        return owned_keys(self.workshop, list(self.entries.values()), self.server_keys)


def read_state(workshop: Workshop) -> dict[str, LedgerEntry]:
    """The state as the journal holds it, without locking or writing anything."""
    ledger = Ledger.open(workshop.state_path)
    return {entry.identity: entry for entry in ledger.entries()}


ListingCallback = Callable[[int, int, bool], None]
"""Told (keys listed so far, pages read, done) while the server's keys are listed."""


def list_server_keys(
    client: OpenRouterClient, on_listing: ListingCallback | None = None
) -> list[ApiKey]:
    """Every key on the server: all pages, disabled ones included."""
    if on_listing is None:
        return client.list_all_keys(include_disabled=True)
    keys: list[ApiKey] = []
    on_listing(0, 0, False)
    for key in client.iter_all_keys(include_disabled=True):
        keys.append(key)
        if len(keys) % PAGE_SIZE == 0:  # a full page was read; the next one is asked for
            on_listing(len(keys), len(keys) // PAGE_SIZE, False)
    on_listing(len(keys), len(keys) // PAGE_SIZE + 1, True)
    return keys


def snapshot(workshop: Workshop, client: OpenRouterClient) -> Snapshot:
    return Snapshot(workshop, read_state(workshop), list_server_keys(client))


def owned_keys(
    workshop: Workshop, entries: list[LedgerEntry], server_keys: list[ApiKey]
) -> list[OwnedKey]:
    """Every key of the workshop on the server, matched to participants by hash, then by name."""
    current = {entry.hash: entry for entry in entries if entry.hash}
    retired = {h: entry for entry in entries for h in entry.retired}
    by_identity = {entry.identity: entry for entry in entries}
    owned = []
    for key in server_keys:
        if key.hash in current:
            entry = current[key.hash]
            owned.append(OwnedKey(key, entry.identity, entry, "current"))
        elif key.hash in retired:
            entry = retired[key.hash]
            owned.append(OwnedKey(key, entry.identity, entry, "retired"))
        elif (identity := workshop.identity_of(key)) is not None:
            owned.append(OwnedKey(key, identity, by_identity.get(identity), "unknown"))
    return sorted(owned, key=lambda item: (item.identity, item.role != "current"))


@dataclass
class RunStats:
    """What a run went through on the way, beyond each participant's outcome."""

    retries: Counter[str] = field(default_factory=Counter)
    """Requests sent again, by what failed: '429', '503', 'TransportError', ..."""
    waited_on_429_s: float = 0.0
    unanswered_creates: int = 0
    """Creates whose answer never came (the key may or may not exist)."""
    made_by_unanswered: int = 0
    """Of those, keys the server had made: nobody held their secret."""
    deleted_undelivered: int = 0
    disabled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "retries": dict(self.retries),
                "waited_on_429_s": round(self.waited_on_429_s, 3),
                "unanswered_creates": self.unanswered_creates,
                "made_by_unanswered": self.made_by_unanswered,
                "deleted_undelivered": self.deleted_undelivered,
                "disabled": self.disabled,
            }

    def retried(self, event: RetryEvent) -> None:
        reason = str(event.status) if event.status is not None else event.error
        with self._lock:
            self.retries[reason] += 1
            if event.status == 429:
                self.waited_on_429_s += event.wait


@dataclass
class Session:
    """One command's hold on a workshop: its lock, state journal and audit log.

    Commands note here what they learnt about each participant's key (`note`, `saw`), so
    that keys.xlsx is rebuilt once, at the end, by one row builder.
    """

    workshop: Workshop
    client: OpenRouterClient
    ledger: Ledger
    audit: AuditLog
    command: str
    participants: list[Participant] | None = None
    """The roster, in its order, when the command read one; keys.xlsx follows it."""
    notes: dict[str, RowNote] = field(default_factory=dict)
    server: dict[str, ApiKey] | None = None
    """The server's keys by hash as last seen, for keys.xlsx's statuses (None: not listed)."""
    exit_status: ExitStatus = ExitStatus.OK
    counts: Counter[str] = field(default_factory=Counter)
    stats: RunStats = field(default_factory=RunStats)

    def key_name(self, identity: str) -> str:
        return self.workshop.key_name(identity)

    def note(self, identity: str, note: RowNote) -> None:
        self.notes[identity] = note

    def saw(self, keys: list[ApiKey] | ApiKey) -> None:
        """Remember the server's answer for a key (or a whole listing) for keys.xlsx."""
        if isinstance(keys, ApiKey):
            if self.server is not None:
                self.server[keys.hash] = keys
            return
        self.server = {key.hash: key for key in keys}

    def gone(self, key_hash: str) -> None:
        """A key deleted on the server by this run."""
        if self.server is not None:
            self.server.pop(key_hash, None)

    def snapshot(self, on_listing: ListingCallback | None = None) -> Snapshot:
        """The state as this session holds it, and the server's keys, listed now."""
        keys = list_server_keys(self.client, on_listing)
        self.saw(keys)
        entries = {entry.identity: entry for entry in self.ledger.entries()}
        return Snapshot(self.workshop, entries, keys)

    def audit_retry(self, event: RetryEvent) -> None:
        subject = current_subject()
        self.stats.retried(event)
        log.info(
            "retrying %s for %s (attempt %d, status %s, waiting %.2f s)",
            event.operation,
            subject,
            event.attempt,
            event.status,
            event.wait,
        )
        self.audit.event("retry", participant=subject, **asdict(event))

    def save(self) -> StateWriteError | None:
        """Compact the state, then rebuild keys.xlsx from it; the error that stopped either.

        In this order: a secret must not be handed out from keys.xlsx unless the state holding
        it is on disk, or the next run would take its key for an undelivered one and delete
        it. So when the state cannot be saved, keys.xlsx is left as the last run wrote it.
        """
        try:
            self.ledger.compact()
            rows = distribution_rows(
                self.ledger.entries(), self.participants, self.notes, self.server
            )
            write_keys_workbook(self.workshop.keys_path, rows)
        except StateWriteError as error:
            return error
        return None


@contextlib.contextmanager
def session(
    workshop: Workshop,
    client: OpenRouterClient,
    command: str,
    *,
    force: bool = False,
    require_state: bool = False,
    details: Mapping[str, Any] | None = None,
) -> Iterator[Session]:
    """Hold the workshop for one command that writes; on exit save the state, then keys.xlsx.

    Raises LockedError at once when another run holds the workshop, and StateWriteError when
    the state cannot be saved (said even over another error: "keys created so far are saved"
    would be untrue).
    """
    if require_state and not workshop.state_path.exists():
        raise ConfigurationError(
            f"no local state for workshop {workshop.name!r} in {workshop.folder}: provision it "
            "first, or point --out at the folder that holds it."
        )
    # The whole folder must be ignored: temporary copies of the secret files live there too.
    refuse_unignored([workshop.folder / ".any-file"], force=force)
    folder = ensure_private_dir(workshop.folder)
    started = time.monotonic()
    with (
        workshop_lock(folder),
        Ledger.open(workshop.state_path) as ledger,
        AuditLog(workshop.audit_path, locked=True) as audit,
    ):
        remove_stale_temporaries(folder)
        held = Session(workshop, client, ledger, audit, command)
        audit.event(
            "run_start",
            command=command,
            tool_version=tool_version(),
            base_url=client.base_url,
            **(details or {}),
        )
        previous_on_retry = client.on_retry
        client.on_retry = held.audit_retry
        status: ExitStatus | str = "error"
        try:
            yield held
            status = held.exit_status
        except KeyboardInterrupt:
            status = ExitStatus.INTERRUPTED
            raise
        except KeyprovError as error:
            status = error.exit_status
            raise
        finally:
            client.on_retry = previous_on_retry
            not_saved = held.save()
            if not_saved is not None:
                status = not_saved.exit_status
            try:
                audit.event(
                    "run_end",
                    command=command,
                    exit_status=int(status) if isinstance(status, ExitStatus) else status,
                    counts=dict(held.counts),
                    stats=held.stats.as_dict(),
                    duration_s=round(time.monotonic() - started, 3),
                    **({"not_saved": str(not_saved)} if not_saved else {}),
                )
            except StateWriteError:
                if not_saved is None:
                    raise  # else the state's own failure is the one to tell
            if not_saved is not None:
                raise not_saved


@contextlib.contextmanager
def audited(
    workshop: Workshop, client: OpenRouterClient, command: str, **details: object
) -> Iterator[AuditLog]:
    """An audit log for a command that reads only: no lock, so it never waits for a run."""
    ensure_private_dir(workshop.folder)
    with AuditLog(workshop.audit_path) as audit:
        audit.event(
            "run_start",
            command=command,
            tool_version=tool_version(),
            base_url=client.base_url,
            **details,
        )
        yield audit
