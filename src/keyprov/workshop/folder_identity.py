"""Which folder may speak for a workshop: the one whose workshop.json names it.

A workshop is its name (NFC) and its account. Its folder is found by the registry or by
--out, but a folder speaks for it only when its `workshop.json` names that workshop and that
account: a folder renamed into its place, or a registry edited to point at another
workshop's folder, is refused before anything is written. Workshops made before names were
hashed (keyprov.naming.workshop_slug) keep their folders: their old folder name is used when
their workshop.json, or the roster they remember, says they are this name's.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

from keyprov.errors import ConfigurationError, LocalFileError
from keyprov.workshop.folder import DEFAULT_OUT_DIR, Workshop, WorkshopRef
from keyprov.workshop.names import display_name, legacy_slugs
from keyprov.workshop.registry import Registry, WorkshopFile

MADE_BY_A_RUN = ("workshop.json", "audit.jsonl", "state.jsonl", "keys.xlsx", ".lock")


class ForeignFolderError(ConfigurationError):
    """The folder a workshop was to be found in holds another workshop."""


def refuse_foreign_folder(folder: Path, name: str, account: str) -> None:
    """Raise unless the folder's workshop.json (when it has one) names this workshop and
    account; a folder without one is new (or from before workshop.json)."""
    found = WorkshopFile.read(folder)
    if found is None or (found.name == name and found.account == account):
        return
    if found.name == name:
        raise ForeignFolderError(
            f"{folder} holds workshop {name!r} of another account ({found.account}), not of the "
            f"management key in use ({account}). Use that account's key, or another --out."
        )
    raise ForeignFolderError(
        f"{folder} holds workshop {found.name!r} (its workshop.json says so), not workshop "
        f"{name!r}; nothing was written. A folder was renamed into its place, or the list of "
        f"your workshops points there: move that folder back to where it belongs "
        f"(…/{found.name}), and give --out the folder that contains workshop {name!r}'s own "
        "folder, if you still have it."
    )


def with_legacy_name(ref: WorkshopRef, registry: Registry, account: str | None) -> WorkshopRef:
    """The workshop as it is filed: under the folder name an earlier keyprov gave this very
    name, when such a folder holds it and none has today's name; else `ref` as it is.
    `account` None (not known yet): any account's."""
    if ref.known_as is not None or _filed(ref.name, ref, registry, account):
        return ref
    display = ref.display
    for legacy in legacy_slugs(ref.given_name):
        for folder in _folders(legacy, ref, registry, account):
            try:
                found = WorkshopFile.read(folder)
            except LocalFileError:
                continue
            if found is None or found.name != legacy:
                continue
            if account is not None and found.account != account:
                continue
            if _is_named(found, display, ref):
                return replace(ref, workshop=legacy, known_as=ref.given_name)
    return ref


def _records(name: str, registry: Registry, account: str | None) -> list[Path]:
    try:
        records = registry.all()
    except LocalFileError:
        return []  # said by the command itself, once it looks the workshop up
    return [
        record.path
        for record in records
        if record.name == name and (account is None or record.account == account)
    ]


def _filed(name: str, ref: WorkshopRef, registry: Registry, account: str | None) -> bool:
    own = (ref.out_dir or DEFAULT_OUT_DIR) / name
    return bool(_records(name, registry, account)) or (own / "workshop.json").exists()


def _folders(name: str, ref: WorkshopRef, registry: Registry, account: str | None) -> list[Path]:
    return [*_records(name, registry, account), ((ref.out_dir or DEFAULT_OUT_DIR) / name)]


def _is_named(found: WorkshopFile, display: str, ref: WorkshopRef) -> bool:
    """Whether an older workshop's folder is this name's: its workshop.json says the name,
    or (from before it did) the roster it remembers has this name or is this very file."""
    if found.display:
        return display_name(found.display).casefold() == display.casefold()
    roster = found.options.get("roster")
    if not roster:
        return False
    remembered = Path(str(roster))
    if display_name(remembered.stem).casefold() == display.casefold():
        return True
    return ref.roster is not None and remembered == ref.roster.absolute()


def forget_new_folder(workshop: Workshop, made: list[Path], registry: Registry | None) -> None:
    """Undo what a run that refused left of a workshop it was to start: the folders it made
    (`made`), the files it wrote in them, and the registry's new record (`registry`). A run
    that refuses writes nothing, so that the same command again refuses again, never starts
    afresh from what the refusal left (a naming secret of its own, say)."""
    folder = workshop.folder
    if folder in made:
        for name in MADE_BY_A_RUN:
            with contextlib.suppress(OSError):
                (folder / name).unlink(missing_ok=True)
    for path in made:
        with contextlib.suppress(OSError):
            path.rmdir()  # only when empty: nothing but what this run wrote
    if registry is not None:
        with contextlib.suppress(OSError, LocalFileError):
            registry.remove(workshop.name, workshop.account)
