"""What a provision run is asked to do, and what it did."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from keyprov.creator import DEFAULT_CONCURRENCY
from keyprov.expiry import refuse_past
from keyprov.guardrail_policy import GuardrailPolicy
from keyprov.models import ApiKey, Credits
from keyprov.options import DesiredOptions, RosterOptions, expires_at
from keyprov.outcomes import ParticipantResult
from keyprov.planner import Plan
from keyprov.roster import DEFAULT_MAX_LIMIT, Roster
from keyprov.run_stats import RunStats
from keyprov.status import ExitStatus
from keyprov.workshop import WorkshopRef


@dataclass(frozen=True)
class ProvisionSettings:
    roster: Path
    workshop: str | None = None
    out_dir: Path | None = None
    default_limit: float | None = None
    limit_reset: str | None = None
    expires: date | None = None
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
    key_names: str | None = None
    """For a new workshop: 'pseudonymous' (the default) or 'readable' key names. An existing
    workshop keeps its own (`keyprov rename-keys` changes it)."""
    known_as: str | None = None
    """The name as given, when `workshop` is the older folder name it is filed under."""
    given: frozenset[str] | None = None
    """The remembered options (keyprov.options.REMEMBERED) the command line gave; the
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
        )

    @property
    def expires_at(self) -> str | None:
        return expires_at(self.expires)

    @property
    def roster_options(self) -> RosterOptions:
        return self.desired.roster_options()


@dataclass
class ProvisionResult:
    workshop: str
    plan: Plan
    results: list[ParticipantResult] = field(default_factory=list)
    keys_path: Path | None = None
    audit_path: Path | None = None
    duration: float = 0.0
    credits: Credits | None = None
    pruned: list[ApiKey] = field(default_factory=list)
    dry_run: bool = False
    roster: Path | None = None
    """The roster file as the run was given it, for the commands the output suggests."""
    roster_notes: list[str] = field(default_factory=list)
    """Rows skipped on purpose (cancelled registrations) and warnings about reading the file."""
    warnings: list[str] = field(default_factory=list)
    """What the run could not check, though it went on."""
    guardrail: GuardrailPolicy | None = None
    """The models, providers and data retention the workshop's keys are held to."""
    guardrail_change: str | None = None
    """What the run changed (a dry run: would change) on the workshop's guardrail."""
    stats: RunStats | None = None
    """What the run went through: retries, unanswered creates and how they were resolved."""
    expires_at: str | None = None
    """The expiry the run gives the keys it creates (--expires), None: they never expire."""
    allow_overcommit: bool = False

    def counts(self) -> Counter[str]:
        return Counter(result.outcome.value for result in self.results)

    @property
    def credits_short(self) -> bool:
        """The credits left do not cover the new keys' limits, and the run would not go on."""
        return (
            self.credits is not None
            and self.credits.remaining < self.plan.new_budget
            and not self.allow_overcommit
        )

    @property
    def exit_status(self) -> ExitStatus:
        if self.dry_run:
            # The code the real run would start with: it stops before creating when short.
            return ExitStatus.BAD_INPUT if self.credits_short else ExitStatus.OK
        if all(result.outcome.is_provisioned for result in self.results):
            return ExitStatus.OK
        return ExitStatus.INCOMPLETE


def load_roster(settings: ProvisionSettings) -> Roster:
    return settings.roster_options.read()
