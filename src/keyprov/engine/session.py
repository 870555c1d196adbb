"""A command's hold on a workshop that it changes.

A session holds the workshop's lock, the state journal and the audit log, frames the run in
the audit log, and on the way out saves the state and then rebuilds keys.xlsx, in that
order, whatever happened.
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
from keyprov.api.client import OpenRouterClient, RetryEvent
from keyprov.engine.early_retries import EarlyRetries, holding_retries
from keyprov.engine.run_stats import RunStats
from keyprov.engine.snapshot import (
    ListingCallback,
    Snapshot,
    confirm_known,
    expected_keys,
    list_server_keys,
    lost_entries,
    server_with,
    with_naming,
)
from keyprov.errors import KeyprovError, LocalFileError, StateWriteError
from keyprov.files import (
    ensure_private_dir,
    is_owner_only,
    refuse_unignored,
    remove_stale_temporaries,
)
from keyprov.models import ApiKey
from keyprov.roster import Participant
from keyprov.status import ExitStatus
from keyprov.workshop.audit import AuditLog, current_subject
from keyprov.workshop.folder import Workshop, WorkshopRef
from keyprov.workshop.journal import Ledger
from keyprov.workshop.journal_records import Replayed
from keyprov.workshop.keynames import NameMode, about_sheet
from keyprov.workshop.keys_sheet import (
    RowNote,
    distribution_rows,
    keys_fingerprint,
    write_keys_workbook,
)
from keyprov.workshop.locate import account_label, locate, refuse_another_server
from keyprov.workshop.lock import workshop_lock
from keyprov.workshop.recovery import file_digest
from keyprov.workshop.registry import Registry, WorkshopFile, WorkshopRecord, now, server_of

log = logging.getLogger(__name__)


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
    reconciled: bool = False
    """Whether this session took back what keys.xlsx holds and the state lost (snapshot)."""
    wanted_naming: NameMode | None = None
    """For a new workshop: how to name its keys (pseudonymous when None)."""
    remember: dict[str, Any] | None = None
    """The options a provision applied, to be remembered in workshop.json (if it got as far
    as applying them)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """`note`, `saw` and `gone` are called from worker threads (keyprov.engine.fanout)."""

    def key_name(self, identity: str) -> str:
        return self.workshop.key_name(identity)

    def keys_enabled(self) -> int:
        """Participants' keys enabled on the server, as last seen."""
        server = self.server or {}
        return sum(
            1
            for entry in self.ledger.entries()
            if entry.hash in server and not server[entry.hash].disabled
        )

    def remember_options(self, status: ExitStatus | str) -> None:
        if self.remember is None or status in (ExitStatus.BAD_INPUT, "error"):
            return
        found = WorkshopFile.read(self.workshop.folder)
        created = found.created if found is not None else now()
        with contextlib.suppress(OSError):
            WorkshopFile(
                self.workshop.name,
                self.workshop.account,
                created,
                self.remember,
                server_of(self.client.base_url),
            ).write(self.workshop.folder)

    def note(self, identity: str, note: RowNote) -> None:
        with self._lock:
            self.notes[identity] = note

    def saw(self, keys: list[ApiKey] | ApiKey) -> None:
        """Remember the server's answer for a key (or a whole listing) for keys.xlsx."""
        with self._lock:
            if isinstance(keys, ApiKey):
                if self.server is not None:
                    self.server[keys.hash] = keys
                return
            self.server = {key.hash: key for key in keys}

    def gone(self, key_hash: str) -> None:
        """A key deleted on the server by this run."""
        with self._lock:
            if self.server is not None:
                self.server.pop(key_hash, None)

    def snapshot(
        self, on_listing: ListingCallback | None = None, first_page: list[ApiKey] | None = None
    ) -> Snapshot:
        """The state as this session holds it, and the server's keys, listed now (but for
        `first_page`, when the caller read it already and knows it is as new as the state).

        Keys keys.xlsx holds that the state lost are taken back into the state first, and
        every key the state knows is confirmed on the server, listed or not.
        """
        expected = expected_keys(self.ledger)
        listed = list_server_keys(self.client, on_listing, expected=expected, first_page=first_page)
        keys = confirm_known(self.client, self.ledger.entries(), listed)
        self.workshop, new_naming = with_naming(
            self.workshop, self.ledger, keys, wanted=self.wanted_naming
        )
        if new_naming:
            naming = self.workshop.naming
            self.ledger.record_naming(naming.mode.value, naming.secret)
            self.audit.event("key_names", mode=naming.mode.value)
        recovered = lost_entries(self.workshop, self.ledger, keys, self.client)
        for entry in recovered:
            self.ledger.record_recovered(entry)
            self.audit.event(
                "recovered",
                participant=entry.identity,
                hash=entry.hash,
                label=entry.label,
                source="keys.xlsx",
            )
        keys = server_with(keys, recovered, self.client)
        self.saw(keys)
        self.reconciled = True
        entries = {entry.identity: entry for entry in self.ledger.entries()}
        return Snapshot(self.workshop, entries, keys, closed=self.ledger.replayed.closed)

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
            if self.participants is not None:
                # Keys are created concurrently, so the state holds them in no useful order.
                self.ledger.follow(participant.identity for participant in self.participants)
            self.ledger.compact()
            if not self.reconciled:
                digest = file_digest(self.workshop.keys_path)
                replayed = self.ledger.replayed
                if digest is not None and (digest != replayed.sheet_digest or replayed.torn_tail):
                    # keys.xlsx may hold secrets this state lost, and this run stopped before
                    # taking them back: rebuilt from the state, it would lose them.
                    return None
                self.workshop, _ = with_naming(self.workshop, self.ledger, [])
            rows = distribution_rows(
                self.ledger.entries(),
                self.participants,
                self.notes,
                self.server,
                closed=self.ledger.replayed.closed,
            )
            workshop = self.workshop
            about = about_sheet(
                workshop.name, workshop.account, workshop.naming, self.ledger.entries()
            )
            content = keys_fingerprint(rows, title=workshop.name, about=about)
            if not _sheet_is(workshop.keys_path, content, self.ledger.replayed):
                write_keys_workbook(workshop.keys_path, rows, title=workshop.name, about=about)
        except StateWriteError as error:
            return error
        digest = file_digest(self.workshop.keys_path)
        if digest is not None:
            # Recorded even when the file was not written: compaction dropped the last record.
            # Not a failure if this one record is lost: the next run then reads keys.xlsx back.
            with contextlib.suppress(StateWriteError):
                self.ledger.record_sheet(digest, content)
        return None


def _sheet_is(path: Path, content: str, replayed: Replayed) -> bool:
    """Whether keys.xlsx is already the file these rows make: the very file a run wrote from
    the same `content`, as the state recorded it, and still readable by its owner only."""
    if replayed.torn_tail or replayed.sheet_content != content:
        return False
    try:
        private = is_owner_only(path)
    except OSError:
        return False
    return private and file_digest(path) == replayed.sheet_digest


@contextlib.contextmanager
def session(
    ref: WorkshopRef,
    client: OpenRouterClient,
    command: str,
    *,
    creating: bool = False,
    force: bool = False,
    details: Mapping[str, Any] | None = None,
    alongside: Callable[[], object] | None = None,
) -> Iterator[Session]:
    """Hold the workshop for one command that writes; on exit save the state, then keys.xlsx.

    The workshop is found by name and account wherever its folder is (keyprov.workshop.locate); only
    `creating` (provision) may start a new one, and its folder is made only now, after the
    server has answered. Raises LockedError at once when another run holds the workshop,
    UnknownWorkshopError or WorkshopElsewhereError (exit 2, nothing written), and
    StateWriteError when the state cannot be saved (said even over another error: "keys
    created so far are saved" would be untrue). `alongside` starts reads that go out with
    GET /key; their retries, like its own, are in the audit log.
    """
    registry = Registry.default()
    if creating:
        # Checked before anything is sent, where the folder will most likely be; once found,
        # the workshop's own folder is checked again below.
        refuse_unignored([ref.default_folder / ".any-file"], force=force)
    with holding_retries(client) as early:
        if alongside is not None:
            alongside()
        account = account_label(client)
        if not creating:
            # A workshop that exists nowhere gets no lock file either: exit 2, nothing written.
            # (The folder the user stands in says nothing of where its workshop lives.)
            locate(ref, account, registry, creating=False, probe=True)
        with registry.lock(ref.name, account):
            workshop, record = locate(ref, account, registry, creating=creating)
            # The whole folder must be ignored: temporary copies of the secret files live there.
            refuse_unignored([workshop.folder / ".any-file"], force=force)
            refuse_another_server(workshop, client.base_url)
            with _opened(workshop) as (ledger, audit):
                _file_workshop(workshop, record, registry, server_of(client.base_url))
                held = Session(workshop, client, ledger, audit, command)
                yield from _run(held, registry, details, early)


@contextlib.contextmanager
def _opened(workshop: Workshop) -> Iterator[tuple[Ledger, AuditLog]]:
    """The folder (made owner-only), its lock, its state and its audit log."""
    try:
        folder = ensure_private_dir(workshop.folder)
        lock = workshop_lock(folder)
        lock.__enter__()
    except OSError as error:
        raise LocalFileError(
            f"{workshop.folder}: keyprov cannot write the workshop's files here "
            f"({error.strerror or error}). Make the folder writable (chmod u+w), or give "
            "--out a folder you can write to."
        ) from error
    try:
        with Ledger.open(workshop.state_path) as ledger:
            try:
                audit = AuditLog(workshop.audit_path, locked=True)
            except OSError as error:
                raise LocalFileError(
                    f"{workshop.audit_path} cannot be opened ({error.strerror or error}); "
                    "make the workshop folder and its files writable, then run again."
                ) from error
            with audit:
                remove_stale_temporaries(folder)
                yield ledger, audit
    finally:
        lock.__exit__(None, None, None)


def _file_workshop(
    workshop: Workshop, record: WorkshopRecord | None, registry: Registry, server: str
) -> None:
    """Say in the folder which workshop it holds, and where the registry finds it."""
    if WorkshopFile.read(workshop.folder) is None:
        WorkshopFile(workshop.name, workshop.account, now(), server=server).write(workshop.folder)
    if record is None or Path(record.folder) != workshop.folder:
        created = record.created if record is not None else now()
        registry.put(WorkshopRecord(workshop.name, workshop.account, str(workshop.folder), created))


def _run(
    held: Session, registry: Registry, details: Mapping[str, Any] | None, early: EarlyRetries
) -> Iterator[Session]:
    client, audit, workshop = held.client, held.audit, held.workshop
    started = time.monotonic()
    audit.event(
        "run_start",
        command=held.command,
        tool_version=tool_version(),
        base_url=client.base_url,
        account=workshop.account,
        **(details or {}),
    )
    # Each retry is recorded, then passed to the command's own (a line while the server is away).
    early.hand_over(held.audit_retry)
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
        early.finish()
        not_saved = held.save()
        if not_saved is not None:
            status = not_saved.exit_status
        held.remember_options(status)
        _note_last_run(held, registry, status)
        try:
            audit.event(
                "run_end",
                command=held.command,
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


def _note_last_run(held: Session, registry: Registry, status: ExitStatus | str) -> None:
    """The registry's line for `keyprov workshops`: never a reason for a run to fail."""
    fields: dict[str, Any] = {
        "last_run": now(),
        "last_command": held.command,
        "last_exit": int(status) if isinstance(status, ExitStatus) else 1,
    }
    if held.participants is not None:
        fields["participants"] = len(held.participants)
    if held.server is not None:
        fields["keys_enabled"] = held.keys_enabled()
    with contextlib.suppress(OSError, LocalFileError):
        registry.update(held.workshop.name, held.workshop.account, **fields)


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
