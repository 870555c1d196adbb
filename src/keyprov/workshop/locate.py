"""Which folder a command works on: the workshop's own, whatever folder the user is in.

A command names a workshop (by its roster file or --workshop); the registry says where that
workshop of this account lives. A command never starts a second, empty state for a workshop
that has one, and never makes a folder for one that does not exist (except provision).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keyprov.api.client import OpenRouterClient
from keyprov.errors import ConfigurationError, LocalFileError
from keyprov.workshop.folder import Workshop, WorkshopRef
from keyprov.workshop.folder_identity import refuse_foreign_folder, with_legacy_name
from keyprov.workshop.journal import STATE_FILE_NAME, Ledger
from keyprov.workshop.keys_sheet import KEYS_FILE_NAME
from keyprov.workshop.registry import (
    WORKSHOP_FILE_NAME,
    Registry,
    WorkshopFile,
    WorkshopRecord,
    server_of,
)


class UnknownWorkshopError(ConfigurationError):
    """No workshop of this name and account has a state anywhere this user keeps one."""


class WorkshopElsewhereError(ConfigurationError):
    """The workshop exists, in another folder than the one this command was pointed at."""


def account_label(client: OpenRouterClient) -> str:
    """The account a management key belongs to, as the server names it (GET /key).

    The key's owner (`creator_user_id`) when the server says who it is: the same for every
    management key of that person, so a key rotated after a leak, or a second key, still
    finds the workshops. Else the key's own label (`sk-or-v1-abc...123`). Never the key, nor
    a hash of it.
    """
    data = client.current_key()
    owner = data.get("creator_user_id")
    if isinstance(owner, str) and owner.strip():
        return owner.strip()
    label = data.get("label")
    if not isinstance(label, str) or not label:
        raise ConfigurationError(
            "GET /key answered without the management key's owner or label, which keyprov "
            "files the workshop under; is OPENROUTER_BASE_URL an OpenRouter API (…/api/v1)?"
        )
    return label


def _same(one: Path, other: Path) -> bool:
    return one.resolve() == other.resolve()


def _has_state(folder: Path) -> bool:
    return (folder / STATE_FILE_NAME).exists() or (folder / KEYS_FILE_NAME).exists()


@dataclass(frozen=True)
class Relocation:
    """A command working on its workshop in another folder than the one it would have made.

    kind: 'elsewhere' (no --out: the workshop lives in `folder`, not in `asked`), 'moved'
    (--out named the folder the workshop was moved to; the registry now files it there, no
    longer under `previous`), or 'afresh' (the registry's folder `previous` no longer holds a
    state, and provision starts the workshop again in `folder`).
    """

    kind: str
    name: str
    folder: Path
    asked: Path
    previous: Path | None = None


RelocationListener = Callable[[Relocation], None]
_listener: ContextVar[RelocationListener | None] = ContextVar("relocation", default=None)


@contextlib.contextmanager
def telling_relocations(listener: RelocationListener) -> Iterator[None]:
    """Call `listener` whenever, in this block, a command works on its workshop elsewhere than
    in the folder the user's working directory (or --out) points at: the user must hear it."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def _tell(relocation: Relocation, *, announce: bool) -> None:
    listener = _listener.get()
    if announce and listener is not None:
        listener(relocation)


def locate(
    ref: WorkshopRef,
    account: str,
    registry: Registry,
    *,
    creating: bool,
    probe: bool = False,
) -> tuple[Workshop, WorkshopRecord | None]:
    """The workshop's folder, and its registry record when it has one.

    Without --out, the folder the registry knows, from any working directory. With --out to
    another folder: that folder when it holds this workshop's workshop.json and state (moved
    on purpose: the registry is updated to it), else WorkshopElsewhereError. When no state
    exists anywhere: UnknownWorkshopError unless the command `creating` (provision) starts
    one. Nothing is written but the registry's record of a move, and the listener
    (`telling_relocations`) is told when the folder is not the one asked for; a `probe` (to
    fail before anything is written) does neither.
    """
    announce = not probe
    ref = with_legacy_name(ref, registry, account)
    name = ref.name
    record = registry.find(name, account)
    wanted = ref.default_folder
    if record is not None and _has_state(record.path):
        if ref.out_dir is None or _same(wanted, record.path):
            workshop = _workshop(ref, record.path, account)
            if not _same(wanted, record.path):
                _tell(Relocation("elsewhere", name, record.path, wanted), announce=announce)
            return workshop, record
        if _holds(wanted, name, account):
            return _moved(ref, record, wanted, registry, announce=announce)
        raise WorkshopElsewhereError(
            f"workshop {name!r} of account {account} lives in {record.folder}, not in {wanted}; "
            "nothing was written. Leave out --out to work on it (from any folder). If you "
            f"moved its folder on purpose, give --out the folder that now contains it: with "
            f"--out DIR keyprov works on DIR/{name}, which must hold its workshop.json and "
            f"state.jsonl.{_one_level_too_deep(ref, account)}"
        )
    # No record, or its folder was deleted, emptied or moved: no state there to keep apart from.
    holds = _holds(wanted, name, account)  # refuses another account's workshop there
    if record is not None and holds and not _same(wanted, record.path):
        return _moved(ref, record, wanted, registry, announce=announce)
    found = WorkshopFile.read(wanted)
    if found is not None or _has_state(wanted) or creating:
        workshop = _workshop(ref, wanted, account)
        if record is not None and not _same(wanted, record.path):
            relocation = Relocation("afresh", name, wanted, wanted, record.path)
            _tell(relocation, announce=announce)
        return workshop, None
    raise UnknownWorkshopError(
        _unknown(name, account, registry, wanted, record) + _one_level_too_deep(ref, account)
    )


def _one_level_too_deep(ref: WorkshopRef, account: str) -> str:
    """A hint when --out names the workshop's folder itself rather than the one holding it."""
    if ref.out_dir is None:
        return ""
    given = ref.out_dir.absolute()
    found = WorkshopFile.read(given) if (given / WORKSHOP_FILE_NAME).is_file() else None
    if found is None or found.name != ref.name or found.account != account:
        return ""
    return (
        f" ({given} is the workshop's own folder: give --out the folder that contains it, "
        f"--out {given.parent}.)"
    )


def _holds(folder: Path, name: str, account: str) -> bool:
    """Whether `folder` holds this workshop: its workshop.json says so, and it has a state.

    Raises ConfigurationError when the folder holds this name's workshop of another account.
    """
    found = WorkshopFile.read(folder)
    if found is not None and found.name == name and found.account != account:
        raise ConfigurationError(
            f"{folder} holds workshop {name!r} of another account ({found.account}), not of the "
            f"management key in use ({account}). Use that account's key, or another --out."
        )
    return found is not None and found.name == name and _has_state(folder)


def _moved(
    ref: WorkshopRef, record: WorkshopRecord, folder: Path, registry: Registry, *, announce: bool
) -> tuple[Workshop, WorkshopRecord]:
    """The workshop in the folder it was moved to; the registry finds it there from now on."""
    workshop = _workshop(ref, folder, record.account)
    moved = replace(record, folder=str(folder))
    if announce:
        registry.put(moved)
    previous = record.path
    _tell(Relocation("moved", record.name, folder, folder, previous), announce=announce)
    return workshop, moved


def _workshop(ref: WorkshopRef, folder: Path, account: str) -> Workshop:
    """The workshop in `folder`, which must not hold another (keyprov.folder_identity)."""
    refuse_foreign_folder(folder, ref.name, account)
    found = WorkshopFile.read(folder)
    options = dict(found.options) if found else {}
    return Workshop(ref.name, folder.absolute(), account, options, display=ref.display)


def _unknown(
    name: str,
    account: str,
    registry: Registry,
    looked_in: Path,
    lost: WorkshopRecord | None = None,
) -> str:
    records = registry.all()
    known = sorted({record.name for record in records if record.account == account})
    if lost is not None:
        message = (
            f"workshop {name!r} of account {account} was in {lost.folder}, which no longer "
            "holds its state (moved or deleted?); nothing was written. If you moved the "
            f"folder, give --out the folder that now contains it (with --out DIR keyprov "
            f"works on DIR/{name})."
        )
    else:
        message = (
            f"no workshop {name!r} for account {account}: it was never provisioned (looked "
            f"in the list of your workshops and in {looked_in}); nothing was written."
        )
    others = sorted({r.account for r in records if r.name == name and r.account != account})
    if others:
        message += (
            f" A workshop {name!r} exists for {', '.join(others)}: is the management key in "
            "use the right one?"
        )
    close = [n for n in difflib.get_close_matches(name, known, n=3, cutoff=0.5) if n != name]
    if close:
        message += f" Did you mean {' or '.join(repr(n) for n in close)}?"
    if known:
        message += f" Known workshops: {', '.join(known)} (keyprov workshops lists them)."
    elif lost is None:
        message += " Run keyprov provision ROSTER first."
    return message


def find_workshop(ref: WorkshopRef, client: OpenRouterClient) -> Workshop:
    """The workshop a command that only reads works on; raises UnknownWorkshopError."""
    workshop, _record = locate(ref, account_label(client), Registry.default(), creating=False)
    refuse_another_server(workshop, client.base_url)
    return workshop


def refuse_another_server(workshop: Workshop, base_url: str) -> None:
    """A workshop's keys are on the server it was provisioned on: pointed at another (the
    sandbox and openrouter.ai, say), every key would look deleted and be made again, and the
    secrets of the real ones would be replaced."""
    found = WorkshopFile.read(workshop.folder)
    if found is None or not found.server:
        return
    here = server_of(base_url)
    if found.server != here:
        raise WorkshopElsewhereError(
            f"workshop {workshop.name!r} in {workshop.folder} has its keys on {found.server}, "
            f"but OPENROUTER_BASE_URL points at {here}; nothing was sent that writes. Point "
            "OPENROUTER_BASE_URL back at that server, or give this run another --workshop "
            "(or --out) for a workshop on this one."
        )


@dataclass(frozen=True)
class ListedWorkshop:
    """A workshop the registry knows, and whether its folder still holds its state."""

    record: WorkshopRecord
    present: bool


def listed_workshops(registry: Registry) -> list[ListedWorkshop]:
    """Every workshop of this user, any account, as the registry has it (no request sent)."""
    return [ListedWorkshop(record, _has_state(record.path)) for record in registry.all()]


def overlapping_workshops(
    workshop: Workshop, identities: set[str], registry: Registry | None = None
) -> list[tuple[str, int]]:
    """Other workshops of the account whose states hold some of these participants: for a
    new workshop, a roster saved under a new name ('example (1).csv') is the likeliest
    cause, and the keys it would make are second keys for the same people."""
    found = []
    for record in (registry or Registry.default()).all():
        if record.account != workshop.account or record.name == workshop.name:
            continue
        state = record.path / STATE_FILE_NAME
        if not state.is_file():
            continue
        try:
            known = {entry.identity for entry in Ledger.open(state).entries() if entry.has_key}
        except LocalFileError:
            continue
        shared = len(known & identities)
        if shared:
            found.append((record.name, shared))
    return sorted(found, key=lambda pair: -pair[1])


def remembered_locally(ref: WorkshopRef) -> dict[str, Any]:
    """The options the workshop remembers, found without asking the server.

    A roster must be read (and refused when bad) before any request is sent, and how to read
    it may be remembered: so the folder is looked up by name alone. When the account turns
    out to be another one, the caller reads the roster again with that workshop's options.
    """
    ref = with_legacy_name(ref, Registry.default(), None)
    folder = ref.default_folder
    if ref.out_dir is None:
        records = [record for record in Registry.default().all() if record.name == ref.name]
        if len(records) == 1:
            folder = records[0].path
    found = WorkshopFile.read(folder)
    return dict(found.options) if found is not None and found.name == ref.name else {}
