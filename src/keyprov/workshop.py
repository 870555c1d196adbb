"""One workshop: its name and the folder holding its state, keys.xlsx and audit log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keyprov.audit import AUDIT_FILE_NAME
from keyprov.errors import ConfigurationError
from keyprov.ledger import STATE_FILE_NAME
from keyprov.models import ApiKey
from keyprov.naming import identity_from_key_name, key_name, workshop_slug
from keyprov.outputs import KEYS_FILE_NAME


@dataclass(frozen=True)
class Workshop:
    """A workshop by name, and the folder holding its state, keys.xlsx and audit log."""

    name: str
    folder: Path

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE_NAME

    @property
    def keys_path(self) -> Path:
        return self.folder / KEYS_FILE_NAME

    @property
    def audit_path(self) -> Path:
        return self.folder / AUDIT_FILE_NAME

    def key_name(self, identity: str) -> str:
        return key_name(self.name, identity)

    def identity_of(self, key: ApiKey) -> str | None:
        return identity_from_key_name(self.name, key.name)


@dataclass(frozen=True)
class WorkshopRef:
    """A workshop as the user named it: by its roster file (its stem) or with --workshop."""

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

    def resolve(self) -> Workshop:
        return Workshop(self.name, self.out_dir / self.name)
