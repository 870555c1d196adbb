"""The files a command's hold on a workshop opens and files: its folder, lock, state and audit
log, its workshop.json, and its line in the registry (keyprov.session holds them)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyprov import tool_version
from keyprov.api.client import OpenRouterClient
from keyprov.errors import LocalFileError
from keyprov.files import ensure_private_dir, remove_stale_temporaries
from keyprov.status import ExitStatus
from keyprov.workshop.audit import AuditLog
from keyprov.workshop.folder import Workshop
from keyprov.workshop.journal import Ledger
from keyprov.workshop.lock import workshop_lock
from keyprov.workshop.registry import Registry, WorkshopFile, WorkshopRecord, now
from keyprov.workshop.run_trust import end_run

if TYPE_CHECKING:
    from keyprov.engine.session import Session


@contextlib.contextmanager
def opened(workshop: Workshop) -> Iterator[tuple[Ledger, AuditLog]]:
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


def file_workshop(
    workshop: Workshop, record: WorkshopRecord | None, registry: Registry, server: str
) -> bool:
    """Say in the folder which workshop it holds, and where the registry finds it; whether
    the registry had no record of it before."""
    found = WorkshopFile.read(workshop.folder)
    if found is None:
        WorkshopFile(
            workshop.name, workshop.account, now(), server=server, display=workshop.display
        ).write(workshop.folder)
    elif not found.display and workshop.display:
        # A folder from before names were kept: it says from now on which name it holds.
        replace(found, display=workshop.display).write(workshop.folder)
    if record is None or Path(record.folder) != workshop.folder:
        created = record.created if record is not None else now()
        registry.put(WorkshopRecord(workshop.name, workshop.account, str(workshop.folder), created))
    return record is None


def note_last_run(
    held: Session, registry: Registry, status: ExitStatus | str, *, state_saved: bool
) -> None:
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
    if state_saved:
        # The state as this run leaves it: an older copy restored later is told from it.
        fields["last_state"], fields["last_state_size"] = end_run(held.ledger)
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
