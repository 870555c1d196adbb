"""Which workshop a lifecycle command works on, and the keys it owns on the server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keyprov.errors import ConfigurationError
from keyprov.ledger import STATE_FILE_NAME, LedgerEntry
from keyprov.models import ApiKey
from keyprov.naming import identity_from_key_name, workshop_slug


@dataclass(frozen=True)
class WorkshopRef:
    """A workshop named by its roster file (its stem) or directly with --workshop."""

    roster: Path | None
    workshop: str | None
    out_dir: Path = Path("output")

    @property
    def name(self) -> str:
        if self.workshop:
            return workshop_slug(self.workshop)
        if self.roster is not None:
            return workshop_slug(self.roster.stem)
        raise ConfigurationError("name the workshop: give its ROSTER file or --workshop NAME.")

    @property
    def folder(self) -> Path:
        return self.out_dir / self.name

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE_NAME


@dataclass(frozen=True)
class OwnedKey:
    """A key of this workshop on the server, with the participant it belongs to."""

    key: ApiKey
    identity: str
    entry: LedgerEntry | None
    role: str
    """'current' (the participant's key), 'retired' (replaced by rotation) or 'unknown'
    (this workshop's name, but its secret is not in local state)."""


def owned_keys(
    workshop: str, entries: list[LedgerEntry], server_keys: list[ApiKey]
) -> list[OwnedKey]:
    """Every key of the workshop on the server, matched to participants by hash, then by name."""
    current = {entry.hash: entry for entry in entries if entry.hash}
    retired = {h: entry for entry in entries for h in entry.retired}
    by_identity = {entry.identity: entry for entry in entries}
    owned = []
    for key in server_keys:
        if key.hash in current:
            entry = current[key.hash]
            owned.append(OwnedKey(key, entry.identity, entry, "current"))
        elif key.hash in retired:
            entry = retired[key.hash]
            owned.append(OwnedKey(key, entry.identity, entry, "retired"))
        elif (identity := identity_from_key_name(workshop, key.name)) is not None:
            owned.append(OwnedKey(key, identity, by_identity.get(identity), "unknown"))
    return sorted(owned, key=lambda item: (item.identity, item.role != "current"))
