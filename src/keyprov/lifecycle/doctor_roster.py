"""`keyprov doctor`'s roster checks: no export of personal data one `git add .` from a
commit, and (`doctor ROSTER`) the roster read as provision would read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keyprov.errors import KeyprovError
from keyprov.files import is_ignored
from keyprov.roster import read_roster
from keyprov.roster.loading import SUFFIXES

ROSTER_FOLDER = "roster"
EXAMPLE = "example.csv"
"""The one roster meant to be committed: made-up people."""
IGNORE_LINES = "/roster/* and !/roster/example.csv"


@dataclass(frozen=True)
class Check:
    """One line of `keyprov doctor`: what was checked, whether it holds, and what to do."""

    name: str
    ok: bool
    detail: str


def roster_checks(roster: Path | None, folder: Path) -> list[Check]:
    """Rosters git would add (in `folder`, and `roster`), then `roster` itself read."""
    found = sorted(folder.glob("*")) if folder.is_dir() else []
    exposed = [
        path
        for path in found
        if path.is_file() and path.suffix.lower() in SUFFIXES and path.name != EXAMPLE
    ]
    known = {path.resolve() for path in exposed}
    if roster is not None and roster.is_file() and roster.resolve() not in known:
        exposed.append(roster)
    checks = []
    tracked = [path for path in exposed if not is_ignored(path)]
    if tracked:
        names = ", ".join(str(path) for path in tracked)
        checks.append(
            Check(
                "rosters git-ignored",
                False,
                f"git would add {names}: a roster is personal data. Add two lines to "
                f".gitignore: {IGNORE_LINES}",
            )
        )
    elif exposed:
        checks.append(
            Check(
                "rosters git-ignored",
                True,
                f"git would add none of {len(exposed)} roster file(s) (ignored, or not in git)",
            )
        )
    if roster is not None:
        checks.append(_read(roster))
    return checks


def _read(path: Path) -> Check:
    """The roster read as provision reads it (limits aside: provision's --limit gives those)."""
    try:
        read = read_roster(path, default_limit=1.0)
    except KeyprovError as error:
        return Check("roster", False, str(error))
    detail = f"{path}: {len(read.participants)} participant(s) to provision"
    if read.skipped:
        detail += f", {len(read.skipped)} row(s) skipped on purpose (cancelled, waiting list...)"
    if read.warnings:
        detail += "; check: " + "; ".join(read.warnings)
    return Check("roster", True, detail)
