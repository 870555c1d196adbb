"""`keyprov workshops`, and the note a command prints when its workshop lives elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from keyprov.render.text import Lines, natural_key, plural, table
from keyprov.workshop.locate import ListedWorkshop, Relocation

HEADER = (
    "workshop",
    "account",
    "participants",
    "keys enabled",
    "last run",
    "command",
    "exit",
    "folder",
)
NOT_THERE = "(no state here: moved or deleted?)"


def workshops_lines(listed: Sequence[ListedWorkshop], registry_path: str) -> Lines:
    """One row per workshop the registry knows, in name order; what is wrong on stderr."""
    lines = Lines()
    if not listed:
        lines.out(
            f"no workshops yet: keyprov provision ROSTER starts one (the list is kept in "
            f"{registry_path})."
        )
        return lines
    ordered = sorted(listed, key=lambda item: (natural_key(item.record.name), item.record.account))
    rows = [HEADER, *(_row(item) for item in ordered)]
    lines.out(*table(rows, "<<>><<><"))
    lines.out(f"{plural(len(listed), 'workshop')}; the list is kept in {registry_path}")
    missing = [item.record for item in ordered if not item.present]
    for record in missing:
        lines.err(
            f"warning: {record.folder} no longer holds workshop {record.name!r}'s state. If you "
            "moved the folder, give a command --out the folder that now contains it, once; if "
            "you deleted it, the next provision starts the workshop again."
        )
    return lines


def _row(item: ListedWorkshop) -> tuple[str, ...]:
    record = item.record
    folder = record.folder if item.present else f"{record.folder} {NOT_THERE}"
    return (
        record.name,
        record.account,
        _count(record.participants),
        _count(record.keys_enabled),
        _moment(record.last_run),
        record.last_command or "",
        "" if record.last_exit is None else str(record.last_exit),
        folder,
    )


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _moment(value: str | None) -> str:
    """An ISO time as a person reads it, to the minute: '2026-12-01 22:10 UTC'."""
    if not value:
        return "never"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    zone = "UTC" if moment.utcoffset() is not None and not moment.utcoffset() else ""
    return f"{moment:%Y-%m-%d %H:%M} {zone}".rstrip()


def recovery_warning_line(warning: str) -> str:
    """Said on stderr as soon as taking back lost secrets from keys.xlsx meets a row it
    cannot take back, whichever command it is."""
    return f"warning: {warning}"


def relocation_line(relocation: Relocation) -> str:
    """Said on stderr as soon as a command knows its workshop is not where it was pointed."""
    name, folder, previous = relocation.name, relocation.folder, relocation.previous
    if relocation.kind == "moved":
        return (
            f"note: workshop {name!r} is now in {folder} (it was in {previous}); commands find "
            "it there from now on, from any folder."
        )
    if relocation.kind == "afresh":
        return (
            f"note: workshop {name!r} was in {previous}, which no longer holds its state "
            f"(moved or deleted?): this run starts it again in {folder}. If you moved the "
            "folder, give --out the folder that now contains it instead."
        )
    return (
        f"note: workshop {name!r} lives in {folder}: working on it there (not in "
        f"{relocation.asked})."
    )
