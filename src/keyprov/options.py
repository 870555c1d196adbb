"""How a command reads a roster and what it expects of the keys: options shared by commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from keyprov.roster import DEFAULT_MAX_LIMIT, Roster, read_roster


@dataclass(frozen=True)
class RosterOptions:
    """The roster file and the options that say how to read it."""

    path: Path
    default_limit: float | None = None
    limit_reset: str | None = None
    max_limit: float = DEFAULT_MAX_LIMIT
    sheet: str | None = None
    column_overrides: tuple[tuple[str, str], ...] = ()

    def read(self) -> Roster:
        return read_roster(
            self.path,
            default_limit=self.default_limit,
            default_limit_reset=self.limit_reset,
            max_limit=self.max_limit,
            sheet=self.sheet,
            column_overrides=dict(self.column_overrides),
        )


def expires_at(last_day: date | None) -> str | None:
    """A key given `--expires 2026-12-01` works through that whole day, UTC."""
    return f"{last_day.isoformat()}T23:59:59Z" if last_day else None
