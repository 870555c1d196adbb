"""The listing's first page and the balance, asked for while GET /key names the account.

Which workshop folder, state and lock a run uses depends on the account GET /key names, and
the listing and the balance were read only once the state was open: three round trips in turn
before the first create. Asked for at the same time as GET /key, they save one on every run.

A page read before the workshop's lock was taken can be older than the state: a run that
finished meanwhile may have disabled or deleted a key the page still shows as it was, or a
run stopped dead may have had a create (or a set-limit's PATCH) in flight that landed after the
page was read. A plan made from that page would hand out a dead key as good, or give a
participant a second key. So the page is used only when the state is the very file it was
before the page was asked for (same size, time and inode: nothing was written to it since),
and holds no create or new limit whose outcome it does not know; else the keys are listed
again, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from keyprov.api.client import OpenRouterClient
from keyprov.errors import LocalFileError
from keyprov.models import ApiKey, Credits
from keyprov.provision.credits import read_credits
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.journal import STATE_FILE_NAME, Ledger
from keyprov.workshop.registry import Registry

T = TypeVar("T")

FileState = tuple[int, int, int] | None
"""A state file's size, modification time and inode; None when there is none."""


def _file_state(path: Path) -> FileState:
    try:
        found = path.stat()
    except OSError:  # none there, or no folder to hold one: said once the run opens it
        return None
    return found.st_size, found.st_mtime_ns, found.st_ino


def _in_background(name: str, function: Callable[[], T]) -> Future[T]:
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(function())
        except BaseException as error:  # kept for the caller; a failed read is read again
            future.set_exception(error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


@dataclass(frozen=True)
class FirstReads:
    states: dict[Path, FileState]
    """Each state file the workshop may turn out to use, as it was before the reads went out."""
    first_page: Future[list[ApiKey]]
    credits: Future[Credits | None]

    @classmethod
    def start(cls, client: OpenRouterClient, folders: Iterable[Path]) -> FirstReads:
        """Send the reads; `folders`: every folder the workshop may be in (workshop.locate)."""
        states = {
            (folder / STATE_FILE_NAME).resolve(): _file_state(folder / STATE_FILE_NAME)
            for folder in folders
        }
        page = _in_background("first page", lambda: client.list_keys_page(0, include_disabled=True))
        return cls(states, page, _in_background("credits", lambda: read_credits(client)))

    def page_for(self, state_path: Path, ledger: Ledger) -> list[ApiKey] | None:
        """The first page when it is as new as the state, else None (list again)."""
        before = self.states.get(state_path.resolve(), ())
        if before != _file_state(state_path):
            return None
        if any(entry.pending or entry.limit_target is not None for entry in ledger.entries()):
            return None  # a create or a new limit sent, its outcome unknown: may land any time
        try:
            return self.first_page.result()
        except Exception:
            return None


def workshop_folders(ref: WorkshopRef, registry: Registry) -> list[Path]:
    """Every folder a workshop of this name may be in, whichever account GET /key names."""
    try:
        filed = [Path(record.folder) for record in registry.all() if record.name == ref.name]
    except LocalFileError:
        filed = []  # said by the command itself, once it looks the workshop up
    return [ref.default_folder, *filed]
