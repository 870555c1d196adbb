"""How a command reads a roster and what it expects of the keys: options shared by commands."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from keyprov.errors import ConfigurationError
from keyprov.expiry_option import Expiry
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


def as_expiry(value: Expiry | date | None) -> Expiry | None:
    """An `--expires` value; a plain day is one the keys work through."""
    if value is None or isinstance(value, Expiry):
        return value
    return Expiry.last_day(value)


def expires_at(value: Expiry | date | None) -> str | None:
    """The API's `expires_at`: a key given `--expires 2026-12-01` works through that whole
    day, UTC; one given a time, until that time."""
    expiry = as_expiry(value)
    return expiry.api if expiry else None


REMEMBERED = (
    "roster",
    "default_limit",
    "limit_reset",
    "expires",
    "max_limit",
    "sheet",
    "column_overrides",
    "quickstarts",
    "claim_url",
)
"""What provision remembers with the workshop, for later commands to expect."""


@dataclass(frozen=True)
class DesiredOptions:
    """What a workshop's keys should be, and how its roster is read.

    Provision remembers them in the workshop's folder; check, report, set-limit, rotate and
    revoke use them, each option given on their command line overriding it for that run.
    """

    roster: Path | None = None
    default_limit: float | None = None
    limit_reset: str | None = None
    expires: Expiry | None = None
    max_limit: float = DEFAULT_MAX_LIMIT
    sheet: str | None = None
    column_overrides: tuple[tuple[str, str], ...] = ()
    quickstarts: tuple[str, ...] = ()
    """What slips and messages show how to make a first call in (`--quickstart`); empty:
    the default ones (keyprov.handouts.quickstarts)."""
    claim_url: str | None = None
    """Where the claim page will be (`--claim-url`), printed on slips and in messages."""

    def to_json(self) -> dict[str, Any]:
        return {
            "roster": str(self.roster.absolute()) if self.roster else None,
            "default_limit": self.default_limit,
            "limit_reset": self.limit_reset,
            "expires": self.expires.to_json() if self.expires else None,
            "expires_duration": self.expires.duration if self.expires else None,
            "max_limit": self.max_limit,
            "sheet": self.sheet,
            "column_overrides": [list(pair) for pair in self.column_overrides],
            "quickstarts": list(self.quickstarts),
            "claim_url": self.claim_url,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DesiredOptions:
        expires = data.get("expires")
        return cls(
            roster=Path(data["roster"]) if data.get("roster") else None,
            default_limit=data.get("default_limit"),
            limit_reset=data.get("limit_reset"),
            expires=Expiry.from_json(expires, data.get("expires_duration")) if expires else None,
            max_limit=float(data.get("max_limit") or DEFAULT_MAX_LIMIT),
            sheet=data.get("sheet"),
            column_overrides=tuple(
                (str(field), str(header)) for field, header in data.get("column_overrides") or ()
            ),
            quickstarts=tuple(str(kind) for kind in data.get("quickstarts") or ()),
            claim_url=data.get("claim_url"),
        )

    def merged(self, given: Iterable[str] | None, remembered: Mapping[str, Any]) -> DesiredOptions:
        """These options where the user gave them (every one when `given` is None), the
        remembered ones everywhere else."""
        if given is None or not remembered:
            return self
        earlier = DesiredOptions.from_json(remembered)
        chosen = set(given)
        merged = replace(
            self,
            **{name: getattr(earlier, name) for name in REMEMBERED if name not in chosen},
        )
        if (
            merged.expires is not None
            and earlier.expires is not None
            and merged.expires.duration is not None
            and merged.expires.duration == earlier.expires.duration
        ):
            # `--expires 7d` again (a cron job's command line): the moment the first run set.
            merged = replace(merged, expires=earlier.expires)
        return merged

    def roster_options(self) -> RosterOptions:
        if self.roster is None:
            raise ConfigurationError(
                "which roster? Give the ROSTER file (the workshop does not remember one yet)."
            )
        return RosterOptions(
            self.roster,
            self.default_limit,
            self.limit_reset,
            self.max_limit,
            self.sheet,
            self.column_overrides,
        )
