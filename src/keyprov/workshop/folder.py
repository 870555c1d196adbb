"""One workshop: its name and the folder holding its state, keys.xlsx and audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyprov.errors import ConfigurationError
from keyprov.models import ApiKey
from keyprov.workshop.audit import AUDIT_FILE_NAME
from keyprov.workshop.journal import STATE_FILE_NAME
from keyprov.workshop.keynames import NameMode, NamingPolicy, workshop_prefix
from keyprov.workshop.keys_sheet import KEYS_FILE_NAME
from keyprov.workshop.names import display_name, workshop_slug

DEFAULT_OUT_DIR = Path("output")
READABLE = NamingPolicy(NameMode.READABLE)


@dataclass(frozen=True)
class Workshop:
    """A workshop by name, and the folder holding its state, keys.xlsx and audit log."""

    name: str
    folder: Path
    account: str = ""
    """The label the server gives the management key this workshop belongs to."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """The options its last provision applied (from workshop.json), for later commands."""

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE_NAME

    @property
    def keys_path(self) -> Path:
        return self.folder / KEYS_FILE_NAME

    @property
    def audit_path(self) -> Path:
        return self.folder / AUDIT_FILE_NAME

    naming: NamingPolicy = READABLE
    """How its keys are named on the server; a state from before key-name modes: readable."""
    display: str = ""
    """Its name as given (NFC), of which `name` is the folder name (keyprov.naming)."""

    def key_name(self, identity: str) -> str:
        return self.naming.key_name(self.name, identity)

    def resolver(self, identities: Iterable[str]) -> Callable[[str], str | None]:
        """A key name -> the identity it stands for, for the participants given, in either
        form of name; for one of this workshop's keys of someone not given, the name's own
        last part stands for them (a readable identity, or a pseudonym); None for a key
        of another workshop."""
        index = self.naming.index(self.name, identities)
        prefix = workshop_prefix(self.name)

        def identity_of(name: str) -> str | None:
            if not name.startswith(prefix):
                return None
            return index.identity_of(name) or name[len(prefix) :]

        return identity_of

    def identity_of(self, key: ApiKey) -> str | None:
        """As `resolver`, knowing no participant: for readable names, the name's identity."""
        return self.resolver(())(key.name)


@dataclass(frozen=True)
class WorkshopRef:
    """A workshop as the user named it: by its roster file (its stem) or with --workshop."""

    roster: Path | None
    workshop: str | None
    out_dir: Path | None = None
    """--out, when given: where the workshop folder is (or is to be made)."""
    known_as: str | None = None
    """The name the user gave, when `workshop` is the folder name an existing workshop of that
    name has had since before names were hashed (keyprov.folder_identity)."""

    @property
    def given_name(self) -> str:
        """The name as the user gave it (--workshop, else the roster file's name)."""
        if self.known_as:
            return self.known_as
        if self.workshop:
            return self.workshop
        if self.roster is not None:
            return self.roster.stem
        raise ConfigurationError("name the workshop: give its ROSTER file or --workshop NAME.")

    @property
    def display(self) -> str:
        """The workshop's identity with its account: its name in NFC."""
        return display_name(self.given_name)

    @property
    def name(self) -> str:
        """Its folder name, also in its keys' names (keyprov.naming.workshop_slug)."""
        return workshop_slug(self.workshop or self.given_name)

    @property
    def default_folder(self) -> Path:
        """Where a new workshop of this name is made: <--out or ./output>/<name>."""
        return ((self.out_dir or DEFAULT_OUT_DIR) / self.name).absolute()
