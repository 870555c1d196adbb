"""What a provision run did (or, as a dry run, would do): its plan, each participant's
outcome, what it went through, and the exit status that follows."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from keyprov.engine.exposure import Exposure, exposure
from keyprov.engine.outcomes import ParticipantResult
from keyprov.engine.planner import Plan
from keyprov.engine.run_stats import RunStats
from keyprov.guardrails.policy import GuardrailPolicy
from keyprov.models import ApiKey, Credits
from keyprov.status import ExitStatus


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
    closed: bool = False
    """The workshop is closed: its keys wait, disabled, until it opens or each is claimed."""
    not_closed: list[str] = field(default_factory=list)
    """Keys of a closed workshop that could not be disabled (label: why): run again."""

    def counts(self) -> Counter[str]:
        return Counter(result.outcome.value for result in self.results)

    @property
    def credits_short(self) -> bool:
        """The credits left do not cover the new keys' limits, and the run would not go on."""
        return (
            self.credits is not None
            and self.credits.remaining < self.spendable.needed
            and not self.allow_overcommit
        )

    @property
    def spendable(self) -> Exposure:
        """What the new keys can spend: per window, and the most until they expire."""
        return exposure(self.plan, self.expires_at)

    @property
    def exit_status(self) -> ExitStatus:
        if self.dry_run:
            # The code the real run would start with: it stops before creating when short.
            return ExitStatus.BAD_INPUT if self.credits_short else ExitStatus.OK
        strangers = any(not key.disabled for key in self.plan.strangers)
        provisioned = all(result.outcome.is_provisioned for result in self.results)
        if not strangers and not self.not_closed and provisioned:
            return ExitStatus.OK
        return ExitStatus.INCOMPLETE
