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
from keyprov.engine.budget_cuts import restore_cut_limits
from keyprov.engine.early_retries import EarlyRetries, holding_retries
from keyprov.engine.run_stats import RunStats
from keyprov.engine.session_files import audited, file_workshop, note_last_run, opened
from keyprov.engine.snapshot import (
    ListingCallback,
    Snapshot,
    confirm_known,
    expected_keys,
    list_server_keys,
    server_with,
    with_naming,
)
from keyprov.errors import KeyprovError, StateWriteError
from keyprov.files import (
    is_owner_only,
    refuse_unignored,
)
from keyprov.models import ApiKey
from keyprov.roster import Participant
from keyprov.status import ExitStatus
from keyprov.workshop.audit import AuditLog, current_subject
from keyprov.workshop.folder import Workshop, WorkshopRef
from keyprov.workshop.folder_identity import forget_new_folder, with_legacy_name
from keyprov.workshop.journal import Ledger
from keyprov.workshop.journal_records import Replayed
from keyprov.workshop.keynames import NameMode, NamingSecretLostError, about_sheet
from keyprov.workshop.keys_sheet import (
    RowNote,
    distribution_rows,
    keys_fingerprint,
    write_keys_workbook,
)
from keyprov.workshop.locate import account_label, locate, refuse_another_server
from keyprov.workshop.recovery import file_digest
from keyprov.workshop.registry import Registry, WorkshopFile, now, server_of
from keyprov.workshop.run_trust import RunTrust, start_run
from keyprov.workshop.take_back import take_back

log = logging.getLogger(__name__)


__all__ = ["Session", "audited", "session"]


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
    trust: RunTrust = field(default_factory=RunTrust)
    """Whose intents prove that nobody holds a key (keyprov.run_trust)."""
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
                (found.display if found is not None else "") or self.workshop.display,
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
        self,
        on_listing: ListingCallback | None = None,
        first_page: list[ApiKey] | None = None,
        *,
        naming_lost_ok: bool = False,
    ) -> Snapshot:
        """The state as this session holds it, and the server's keys, listed now (but for
        `first_page`, when the caller read it already and knows it is as new as the state).
        `naming_lost_ok`: the workshop's keys by their names alone when no file holds the
        secret of their pseudonyms (for revoke), rather than NamingSecretLostError.

        Keys keys.xlsx holds that the state lost are taken back into the state first, and
        every key the state knows is confirmed on the server, listed or not.
        """
        expected = expected_keys(self.ledger)
        listed = list_server_keys(self.client, on_listing, expected=expected, first_page=first_page)
        keys = confirm_known(self.client, self.ledger.entries(), listed)
        try:
            self.workshop, new_naming = with_naming(
                self.workshop, self.ledger, keys, wanted=self.wanted_naming
            )
        except NamingSecretLostError:
            if not naming_lost_ok:
                raise
            # Revoking what no file can say is whose: each key by its name alone, and no
            # naming made up for keys.xlsx (the session writes none).
            self.saw(keys)
            return Snapshot(self.workshop, {}, keys)
        if new_naming:
            naming = self.workshop.naming
            self.ledger.record_naming(naming.mode.value, naming.secret)
            self.audit.event("key_names", mode=naming.mode.value)
        taken = take_back(self.workshop, self.ledger, keys, self.client)
        for entry in taken.repaired:
            self.ledger.record_recovered(entry)
            self.audit.event(
                "repaired",
                participant=entry.identity,
                hash=entry.hash,
                label=entry.label,
                damage=self.ledger.replayed.damaged.get(entry.identity, "hash not on server"),
            )
        for identity in (*(entry.identity for entry in taken.repaired), *taken.settled):
            self.ledger.replayed.damaged.pop(identity, None)
        recovered = taken.recovered
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
        keys = restore_cut_limits(self, keys)
        self.saw(keys)
        self.reconciled = True
        entries = self.trust.view({entry.identity: entry for entry in self.ledger.entries()})
        return Snapshot(
            self.workshop, entries, keys, tuple(taken.warnings), closed=self.ledger.replayed.closed
        )

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
            if self.ledger.replayed.damaged:
                return None  # rebuilt from a damaged record, keys.xlsx would lose its secret
            if not self.reconciled:
                digest = file_digest(self.workshop.keys_path)
                replayed = self.ledger.replayed
                if digest is not None and (digest != replayed.sheet_digest or replayed.torn_tail):
                    # keys.xlsx may hold secrets this state lost, and this run stopped before
                    # taking them back: rebuilt from the state, it would lose them.
                    return None
                if digest is None and replayed.naming is None and not self.ledger.entries():
                    return None  # nothing to write, and no naming to make up for it
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
        ref = with_legacy_name(ref, registry, account)
        if not creating:
            # A workshop that exists nowhere gets no lock file either: exit 2, nothing written.
            # (The folder the user stands in says nothing of where its workshop lives.)
            locate(ref, account, registry, creating=False, probe=True)
        with registry.lock(ref.name, account):
            workshop, record = locate(ref, account, registry, creating=creating)
            # The whole folder must be ignored: temporary copies of the secret files live there.
            refuse_unignored([workshop.folder / ".any-file"], force=force)
            refuse_another_server(workshop, client.base_url)
            made = [path for path in (workshop.folder, workshop.folder.parent) if not path.exists()]
            refused = False
            try:
                with opened(workshop) as (ledger, audit):
                    filed = file_workshop(workshop, record, registry, server_of(client.base_url))
                    record = registry.find(workshop.name, workshop.account)
                    held = Session(workshop, client, ledger, audit, command)
                    held.trust = start_run(registry, record, ledger, audit.run_id)
                    try:
                        yield from _run(held, registry, details, early)
                    except KeyprovError as error:
                        refused = error.exit_status is ExitStatus.BAD_INPUT and not ledger.entries()
                        raise
            finally:
                if refused and made:
                    forget_new_folder(workshop, made, registry if filed else None)


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
        note_last_run(held, registry, status, state_saved=not_saved is None)
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
