"""What a provisioning run says when it is done: its outcomes, and what it went through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from keyprov.engine.outcomes import Outcome, ParticipantResult
from keyprov.engine.run_stats import RunStats
from keyprov.models import ApiKey
from keyprov.provision import ProvisionResult
from keyprov.redaction import redact
from keyprov.render.plan import dry_run_lines, expiry_lines, secret_lost_lines
from keyprov.render.text import Lines, natural_key, plural, seconds, table, who
from keyprov.workshop.keynames import identity_from_key_name

PRUNED_SHOWN = 10
"""Disabled keys listed one per line; beyond this many the audit log has the rest."""
RETRY_REASONS = {
    "TransportError": "no connection",
    "OutcomeUnknownError": "no answer",
    "ServerError": "server error",
    "RateLimitedError": "rate limited",
}


def provision_lines(
    result: ProvisionResult, *, quiet: bool, prune: bool, list_all: bool = False
) -> Lines:
    """The end of `keyprov provision`: the summary, what needs attention, where the files are.

    Quiet: the summary line, warnings and the participants needing attention, nothing else.
    `list_all` adds one line per participant (a terminal otherwise shows only the problems).
    """
    if result.dry_run:
        return dry_run_lines(result, quiet=quiet)
    lines = Lines()
    if not quiet:
        lines.err(*(f"note: {note}" for note in result.roster_notes))
    lines.out(summary_line(result))
    if not quiet:
        lines.out(*history_lines(result), *pruned_lines(result))
    lines.err(*(f"warning: {warning}" for warning in result.warnings))
    lines.err(*closed_lines(result))
    lines.err(*expiry_lines(result.plan, result.roster))
    if result.plan.not_in_roster and not prune:
        gone = plural(len(result.plan.not_in_roster), "key")
        lines.err(
            f"warning: {gone} of this workshop belong to participants no longer in the "
            "roster; --prune disables them."
        )
    lines.err(*stranger_lines(result.plan.strangers))
    if list_all:
        lines.out(*result_table(result.results))
    if not quiet:
        lines.out(
            f"keys:  {result.keys_path} (owner-only; hand out: keyprov handouts, or keyprov send)",
            f"audit: {result.audit_path}",
        )
    lines.err(*attention_lines(result.results))
    lines.err(*secret_lost_lines(result.plan, result.roster))
    return lines


def closed_lines(result: ProvisionResult) -> list[str]:
    """A closed workshop: its keys wait, disabled; and any that could not be disabled."""
    roster = result.roster or "ROSTER"
    lines = []
    if result.closed:
        lines.append(
            "note: the workshop is closed: its keys are disabled until keyprov open "
            f"{roster} enables them, or each participant claims theirs (keyprov claim {roster})."
        )
    if result.not_closed:
        lines.append(
            f"error: {plural(len(result.not_closed), 'key')} of this closed workshop could not "
            "be disabled and work now; run the same command again:"
        )
        lines.extend(f"  {item}" for item in result.not_closed)
    return lines


def stranger_lines(strangers: Sequence[ApiKey]) -> list[str]:
    """Keys of this workshop's name that its state never made: never 'not in the roster'."""
    enabled = [key for key in strangers if not key.disabled]
    if not enabled:
        return []
    return [
        f"warning: {plural(len(enabled), 'enabled key')} named as this workshop's "
        f"({', '.join(key.label for key in enabled[:3])}{', …' if len(enabled) > 3 else ''}) "
        "were never made by this copy of the workshop: another copy (on another machine or in "
        "another folder) made them, or they are duplicates. --prune leaves them, and keyprov "
        "check fails while they are enabled: run keyprov from the copy that made them, or, if "
        "it is lost, `keyprov revoke` disables every key of the workshop."
    ]


def summary_line(result: ProvisionResult) -> str:
    counts = result.counts()
    parts = [f"{counts[outcome.value]} {outcome.value}" for outcome in Outcome if counts[outcome]]
    total = len(result.results)
    return f"{result.workshop}: {total} participants: " + (", ".join(parts) or "nothing to do")


def history_lines(result: ProvisionResult) -> list[str]:
    """What the run went through beyond each outcome; nothing for a run that met no trouble."""
    stats = result.stats
    if stats is None:
        return []
    lines = []
    if stats.retries:
        line = f"  {plural(sum(stats.retries.values()), 'retry', 'retries')}: "
        line += retry_reasons(stats.retries)
        if stats.waited_on_429_s:
            line += f"; requests waited {seconds(stats.waited_on_429_s)} in all on 429s"
        lines.append(line)
    lines.extend(_unanswered_lines(result, stats))
    if result.guardrail_change:
        lines.append(f"  did {result.guardrail_change}")
    if lines or result.pruned:
        lines.insert(0, f"  took {seconds(result.duration)}")
    return lines


def retry_reasons(retries: Mapping[str, int]) -> str:
    """'12 after HTTP 503, 6 after HTTP 429, 1 after no connection', the most frequent first."""
    ordered = sorted(retries.items(), key=lambda entry: (-entry[1], entry[0]))
    return ", ".join(f"{count} after {_reason(reason)}" for reason, count in ordered)


def _reason(reason: str) -> str:
    return f"HTTP {reason}" if reason.isdigit() else RETRY_REASONS.get(reason, reason)


def _unanswered_lines(result: ProvisionResult, stats: RunStats) -> list[str]:
    lines = []
    made = stats.made_by_unanswered
    if stats.unanswered_creates:
        found = (
            f"had made {made} of them (deleted: nobody had their secret)"
            if made
            else ("had made none of them")
        )
        unresolved = sum(r.outcome is Outcome.UNRESOLVED for r in result.results)
        then = (
            f"{plural(unresolved, 'outcome')} still unknown (the next run resolves them)"
            if unresolved
            else "all were sent again"
        )
        lines.append(
            f"  {plural(stats.unanswered_creates, 'create')} got no answer; listing the "
            f"server's keys showed it {found}; {then}"
        )
    earlier = stats.deleted_undelivered - made
    if earlier > 0:
        lines.append(
            f"  deleted {plural(earlier, 'key')} left by an earlier run's unanswered creates "
            "(nobody had their secret) and created new ones"
        )
    return lines


def pruned_lines(result: ProvisionResult) -> list[str]:
    """The keys the run disabled (replaced, extra or no longer in the roster), never deleted."""
    if not result.pruned:
        return []
    lines = [
        f"  disabled {plural(len(result.pruned), 'key')} (a disabled key can be enabled again):"
    ]

    def whose(key: ApiKey) -> str:
        owner = result.plan.owners.get(key.hash)
        if owner is not None:  # the state says who: never just a pseudonym
            return who(owner[0], owner[1], owner[2])
        return identity_from_key_name(result.workshop, key.name) or key.name

    rows = [(whose(key), key.label) for key in result.pruned[:PRUNED_SHOWN]]
    lines.extend(table(rows, indent="    "))
    hidden = len(result.pruned) - PRUNED_SHOWN
    if hidden > 0:
        lines.append(f"    ... and {hidden} more (audit.jsonl lists them)")
    return lines


def result_table(results: Sequence[ParticipantResult]) -> list[str]:
    """--list: every participant's outcome, who they are and their key, aligned."""
    rows = [
        (
            result.outcome.value,
            "" if result.identity == result.email else result.identity,
            result.name,
            result.email,
            result.label or "",
        )
        for result in sorted(results, key=lambda result: natural_key(result.identity))
    ]
    return table(rows, indent="  ")


def attention_lines(results: Sequence[ParticipantResult]) -> list[str]:
    """The participants without a working key, each with why and what to do."""
    return [
        redact(f"  {who(r.name, r.email, r.identity)}: {r.outcome.value}: {r.detail}")
        for r in results
        if not r.outcome.is_provisioned
    ]
