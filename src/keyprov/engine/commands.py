"""The keyprov commands the output suggests, written as the user can paste them."""

from __future__ import annotations

import shlex
from pathlib import Path

from keyprov.workshop.naming import workshop_slug


def rotate_command(workshop: str, roster: Path | None, *options: str) -> str:
    """`keyprov rotate` for this workshop: its roster as the user gave it (with --workshop
    when the roster's name is not the workshop's), else --workshop alone."""
    words = ["keyprov", "rotate"]
    if roster is not None:
        words.append(str(roster))
    if roster is None or workshop_slug(roster.stem) != workshop:
        words.extend(["--workshop", workshop])
    return shlex.join([*words, *options])


def participant_options(identities: list[str]) -> list[str]:
    """`--participant ID` for each, in order."""
    return [word for identity in identities for word in ("--participant", identity)]
