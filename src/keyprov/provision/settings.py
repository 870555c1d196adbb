"""What a provision run is asked to do: the roster, the options, and how the keys should be."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keyprov.engine.creator import DEFAULT_CONCURRENCY
from keyprov.engine.expiry import refuse_past
from keyprov.expiry_option import Expiry
from keyprov.roster import DEFAULT_MAX_LIMIT, Roster
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.options import DesiredOptions, RosterOptions, expires_at


@dataclass(frozen=True)
class ProvisionSettings:
    roster: Path
    workshop: str | None = None
    out_dir: Path | None = None
    default_limit: float | None = None
    limit_reset: str | None = None
    expires: Expiry | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_limit: float = DEFAULT_MAX_LIMIT
    sheet: str | None = None
    column_overrides: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False
    prune: bool = False
    reenable: bool = False
    allow_overcommit: bool = False
    force: bool = False
    """Write secrets inside a git work tree even where they are not git-ignored."""
    models: str | None = None
    """--models a,b (or 'all'); None keeps what the workshop remembers."""
    providers: str | None = None
    zdr: bool | None = None
    closed: bool = False
    """Create the keys disabled, and keep the workshop closed until `keyprov open` (a claimed
    key is enabled on its own): see keyprov.engine.gating."""
    claim_url: str | None = None
    """--claim-url: where the claim page will be, for slips and messages (remembered)."""
    key_names: str | None = None
    """For a new workshop: 'pseudonymous' (the default) or 'readable' key names. An existing
    workshop keeps its own (`keyprov rename-keys` changes it)."""
    quickstarts: tuple[str, ...] = ()
    """--quickstart: what slips and messages show (empty: the default); remembered."""
    known_as: str | None = None
    """The name as given, when `workshop` is the older folder name it is filed under."""
    given: frozenset[str] | None = None
    """The remembered options (keyprov.workshop.options.REMEMBERED) the command line gave; the
    workshop's remembered values stand in for the others. None: every value is meant."""

    @property
    def workshop_ref(self) -> WorkshopRef:
        return WorkshopRef(self.roster, self.workshop, self.out_dir, self.known_as)

    @property
    def workshop_name(self) -> str:
        return self.workshop_ref.name

    @property
    def desired(self) -> DesiredOptions:
        return DesiredOptions(
            self.roster,
            self.default_limit,
            self.limit_reset,
            self.expires,
            self.max_limit,
            self.sheet,
            self.column_overrides,
            self.quickstarts,
            self.claim_url,
        )

    def with_remembered(self, remembered: Mapping[str, Any]) -> ProvisionSettings:
        """These settings with the workshop's remembered options where none was given.

        Raises OptionError for an `--expires` day that is over, given or remembered.
        """
        desired = self.desired.merged(self.given, remembered)
        remembered_expiry = self.given is not None and "expires" not in self.given
        refuse_past(
            desired.expires,
            source="remembered from the workshop's last provision" if remembered_expiry else "",
        )
        return replace(
            self,
            default_limit=desired.default_limit,
            limit_reset=desired.limit_reset,
            expires=desired.expires,
            max_limit=desired.max_limit,
            sheet=desired.sheet,
            column_overrides=desired.column_overrides,
            quickstarts=desired.quickstarts,
            claim_url=desired.claim_url,
        )

    @property
    def expires_at(self) -> str | None:
        return expires_at(self.expires)

    @property
    def roster_options(self) -> RosterOptions:
        return self.desired.roster_options()


def load_roster(settings: ProvisionSettings) -> Roster:
    return settings.roster_options.read()
