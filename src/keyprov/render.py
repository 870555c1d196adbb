"""Every text keyprov shows a person, as pure functions of a result.

Nothing here prints, calls the server or reads a file: the CLI echoes what these return, and
tests compare it exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from keyprov.commands import participant_options, rotate_command
from keyprov.doctor import Check
from keyprov.expiry import describe_expiry
from keyprov.lifecycle import Change, CheckResult, UsageReport
from keyprov.models import Credits
from keyprov.outcomes import Outcome, ParticipantResult
from keyprov.planner import Action, Plan
from keyprov.provision import ProvisionResult
from keyprov.redaction import redact

ACTION_TITLES = {
    Action.CREATE: "create",
    Action.UPDATE: "update",
    Action.KEEP: "unchanged",
    Action.DISABLED: "disabled",
    Action.SECRET_LOST: "secret lost",
}


@dataclass
class Lines:
    """What a command prints, in order: its result on stdout; notes, warnings and failures on
    stderr (so a script can keep the result and a person still sees the rest)."""

    lines: list[tuple[bool, str]] = field(default_factory=list)
    """(to stderr, text) in the order they are shown."""

    def out(self, *texts: str) -> None:
        self.lines.extend((False, text) for text in texts)

    def err(self, *texts: str) -> None:
        self.lines.extend((True, text) for text in texts)

    @property
    def stdout(self) -> list[str]:
        return [text for to_stderr, text in self.lines if not to_stderr]

    @property
    def stderr(self) -> list[str]:
        return [text for to_stderr, text in self.lines if to_stderr]


def plan_lines(plan: Plan, credits: Credits | None) -> list[str]:
    """The dry run's report: totals first, then one line per participant that needs attention."""
    creates = plan.with_action(Action.CREATE)
    duplicates = [item for item in plan.items if any(not k.disabled for k in item.duplicates)]
    lines = [
        f"plan for workshop {plan.workshop!r}: {len(plan.items)} participants",
        f"  keys to create:            {len(creates):>5}   new budget {plan.new_budget:.2f} USD",
        f"  limits to change:          {len(plan.with_action(Action.UPDATE)):>5}",
        f"  present and unchanged:     {len(plan.with_action(Action.KEEP)):>5}",
        f"  disabled on the server:    {len(plan.with_action(Action.DISABLED)):>5}"
        "   (--reenable enables them again)",
        f"  on server, secret lost:    {len(plan.with_action(Action.SECRET_LOST)):>5}",
        f"  with extra keys:           {len(duplicates):>5}   (--prune disables the extras)",
        f"  keys not in the roster:    {len(plan.not_in_roster):>5}   (--prune disables them)",
    ]
    if credits is not None:
        enough = "enough" if credits.remaining >= plan.new_budget else "NOT enough"
        lines.append(f"  credits left:         {credits.remaining:>10.2f} USD ({enough})")
    elif creates:
        lines.append("  credits left:         unknown (GET /credits failed)")
    for item in plan.items:
        participant = item.participant
        if item.action is Action.CREATE:
            detail = f"{participant.limit:.2f} USD"
            if item.undelivered:
                detail += f", after deleting {len(item.undelivered)} undelivered key(s)"
        elif item.action is Action.KEEP and not item.duplicates:
            continue
        else:
            detail = item.note
        if item.duplicates:
            detail = f"{detail}; {len(item.duplicates)} extra key(s)".lstrip("; ")
        lines.append(f"  {ACTION_TITLES[item.action]:<12} {participant.identity}  {detail}")
    for key in plan.not_in_roster:
        state = "disabled" if key.disabled else "enabled"
        lines.append(f"  {'not in roster':<12} {key.name}  {key.label} ({state})")
    return lines


def expiry_lines(plan: Plan, roster: Path | None) -> list[str]:
    """One line counting the keys whose expiry is not the run's, and the command that fixes it."""
    mismatched = plan.expiry_mismatches
    if not mismatched or plan.expires_at is None:
        return []
    found = Counter(
        describe_expiry(item.key.expires_at if item.key else None) for item in mismatched
    )
    groups = []
    for expiry, count in sorted(found.items()):
        keys = f"{count} key{'s' if count != 1 else ''}"
        if expiry == "never":
            groups.append(f"{keys} never expire{'s' if count == 1 else ''}")
        else:
            groups.append(f"{keys} expire{'s' if count == 1 else ''} {expiry}")
    wanted = describe_expiry(plan.expires_at)
    return [
        f"  {' and '.join(groups)}, you asked for {wanted}; expiry cannot be changed on an "
        "existing key.",
        f"  To replace them (their participants must be sent the new keys): "
        f"{rotate_command(plan.workshop, roster, '--all', '--expires', wanted)}",
    ]


def secret_lost_lines(plan: Plan, roster: Path | None) -> list[str]:
    """The command that gives participants whose key's secret was lost a new key."""
    lost = [item.participant.identity for item in plan.with_action(Action.SECRET_LOST)]
    if not lost:
        return []
    command = rotate_command(plan.workshop, roster, *participant_options(lost))
    return [
        f"  To replace the keys whose secret was lost (a new key first, then the old one "
        f"disabled): {command}"
    ]


def summary_line(result: ProvisionResult) -> str:
    counts = result.counts()
    parts = [f"{counts[outcome.value]} {outcome.value}" for outcome in Outcome if counts[outcome]]
    total = len(result.results)
    return f"{result.workshop}: {total} participants: " + (", ".join(parts) or "nothing to do")


def result_line(result: ParticipantResult) -> str:
    """One participant's outcome, as a line for a log that is not a terminal."""
    label = f" {result.label}" if result.label else ""
    return f"{result.outcome.value:>16}  {result.identity}{label}"


def provision_lines(result: ProvisionResult, *, quiet: bool, prune: bool) -> Lines:
    lines = Lines()
    lines.err(*(f"note: {note}" for note in result.roster_notes))
    if result.dry_run:
        lines.err(*(f"warning: {warning}" for warning in result.warnings))
        lines.out(
            *plan_lines(result.plan, result.credits),
            *expiry_lines(result.plan, result.roster),
            *secret_lost_lines(result.plan, result.roster),
            "dry run: nothing was changed.",
        )
        return lines
    lines.out(summary_line(result))
    lines.err(*(f"warning: {warning}" for warning in result.warnings))
    lines.err(*expiry_lines(result.plan, result.roster))
    lines.out(*(f"  disabled {key.name} ({key.label})" for key in result.pruned))
    if result.plan.not_in_roster and not prune:
        lines.err(
            f"  {len(result.plan.not_in_roster)} key(s) of this workshop belong to participants "
            "no longer in the roster; --prune disables them."
        )
    if not quiet:
        lines.out(
            f"keys:  {result.keys_path} (owner-only; hand each participant their row)",
            f"audit: {result.audit_path}",
        )
    for failed in result.results:
        if not failed.outcome.is_provisioned:
            lines.err(redact(f"  {failed.identity}: {failed.outcome.value}: {failed.detail}"))
    return lines


def change_lines(changes: Sequence[Change], empty: str) -> list[str]:
    lines = []
    for change in changes:
        mark = "ok  " if change.ok else "FAIL"
        lines.append(f"{mark}  {change.identity:<36} {change.label:<20} {change.detail}")
    return lines or [empty]


def check_lines(result: CheckResult) -> list[str]:
    lines = []
    for row in result.rows:
        mark = "FAIL" if row.problems else "ok  "
        limit = "-" if row.limit is None else f"{row.limit:g}"
        remaining = "-" if row.remaining is None else f"{row.remaining:.2f}"
        detail = "; ".join(row.problems) or "ready"
        lines.append(
            f"{mark}  {row.identity:<36} {row.label:<20} {limit:>6} {remaining:>9}  {detail}"
        )
    lines.extend(f"FAIL  {problem}" for problem in result.workshop_problems)
    ready = sum(1 for row in result.rows if not row.problems)
    verdict = "READY" if result.ready else "NOT READY"
    lines.append(f"{result.workshop}: {verdict}: {ready}/{len(result.rows)} participants ready")
    return lines


def report_lines(report: UsageReport) -> list[str]:
    lines = [
        f"{'participant':<36} {'key':<20} {'limit':>7} {'window':>9} {'all-time':>9} {'left':>8}"
    ]
    for row in report.rows:
        limit = "-" if row.limit is None else f"{row.limit:.2f}"
        left = "-" if row.remaining is None else f"{row.remaining:.2f}"
        flag = " disabled" if row.disabled else ""
        lines.append(
            f"{row.identity:<36} {row.label:<20} {limit:>7} {row.usage_window:>9.4f} "
            f"{row.usage_total:>9.4f} {left:>8}{flag}"
        )
    limits, usage, remaining = report.totals
    lines.append(
        f"{'total (enabled keys)':<57} {limits:>7.2f} {'':>9} {usage:>9.4f} {remaining:>8.2f}"
    )
    lines.append(f"report: {report.xlsx_path}")
    lines.append(f"chart:  {report.chart_path}")
    return lines


def doctor_lines(checks: Sequence[Check]) -> list[str]:
    return [
        f"{'ok  ' if check.ok else 'FAIL'}  {check.name:<24} {check.detail}" for check in checks
    ]
