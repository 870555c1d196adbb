"""The dry run: what a run would do, to whom, with which budget, expiry and reset."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from keyprov.engine.expiry import describe_expiry
from keyprov.engine.exposure import exposure
from keyprov.engine.outcomes import participant_options, rotate_command
from keyprov.engine.planner import Action, ParticipantPlan, Plan
from keyprov.models import Credits
from keyprov.provision import ProvisionResult
from keyprov.provision.credits import spending_in_words
from keyprov.render.text import Lines, plural, table
from keyprov.workshop.keynames import identity_from_key_name

ACTION_TITLES = {
    Action.CREATE: "create",
    Action.UPDATE: "update",
    Action.KEEP: "unchanged",
    Action.DISABLED: "disabled",
    Action.SECRET_LOST: "secret lost",
}
NEVER_EXPIRES = "never (--expires YYYY-MM-DD sets the last day they work)"
NEVER_RESETS = "never (--limit-reset daily|weekly|monthly sets a reset)"


def plan_lines(
    plan: Plan,
    credits: Credits | None,
    *,
    expires_at: str | None = None,
    allow_overcommit: bool = False,
) -> list[str]:
    """The dry run's report: totals, what new keys get, then one line per participant to act on."""
    creates = plan.with_action(Action.CREATE)
    duplicates = [item for item in plan.items if any(not k.disabled for k in item.duplicates)]
    lines = [
        f"plan for workshop {plan.workshop!r}: {len(plan.items)} participants",
        f"  keys to create:            {len(creates):>5}   new budget {plan.new_budget:.2f} USD"
        + (" per window" if any(item.participant.limit_reset for item in creates) else ""),
        f"  limits to change:          {len(plan.with_action(Action.UPDATE)):>5}",
        f"  present and unchanged:     {len(plan.with_action(Action.KEEP)):>5}",
        f"  disabled on the server:    {len(plan.with_action(Action.DISABLED)):>5}"
        "   (--reenable enables them again)",
        f"  on server, secret lost:    {len(plan.with_action(Action.SECRET_LOST)):>5}",
        f"  with extra keys:           {len(duplicates):>5}   (--prune disables the extras)",
        f"  keys not in the roster:    {len(plan.not_in_roster):>5}   (--prune disables them)",
    ]
    if plan.strangers:
        lines.append(
            f"  keys its state never made: {len(plan.strangers):>5}   (another copy's, or "
            "duplicates: never pruned)"
        )
    spendable = exposure(plan, expires_at)
    if creates and spendable.resets:
        if spendable.most is None:
            lines.append(
                "  most spent by expiry:      no end   (a budget per window, and the keys never "
                "expire: --expires sets an end)"
            )
        elif spendable.most != spendable.per_window:
            lines.append(
                f"  most spent by expiry: {spendable.most:>10.2f} USD "
                f"({spendable.per_window:.2f} USD per window, every window until the keys expire)"
            )
    if credits is not None:
        lines.append(
            f"  credits left:         {credits.remaining:>10.2f} USD "
            f"({_enough(credits, spendable.needed, allow_overcommit)})"
        )
    elif creates:
        lines.append("  credits left:         unknown (GET /credits failed)")
    if creates:
        lines.append(f"  new keys expire:      {expiry_text(expires_at)}")
    changed = [item for item in plan.items if item.action in (Action.CREATE, Action.UPDATE)]
    if changed:
        lines.append(f"  limits reset:         {resets_text(changed)}")
    lines.extend(plan_rows(plan))
    return lines


def dry_run_lines(result: ProvisionResult, *, quiet: bool = False) -> Lines:
    lines = Lines()
    if not quiet:
        lines.err(*(f"note: {note}" for note in result.roster_notes))
    lines.out(
        *plan_lines(
            result.plan,
            result.credits,
            expires_at=result.expires_at,
            allow_overcommit=result.allow_overcommit,
        )
    )
    if result.guardrail_change:
        lines.out(f"  would {result.guardrail_change}")
    lines.err(*(f"warning: {warning}" for warning in result.warnings))
    lines.out(
        *expiry_lines(result.plan, result.roster), *secret_lost_lines(result.plan, result.roster)
    )
    if result.credits_short and result.credits is not None:
        lines.err(
            "dry run: the real run would stop before creating any key (exit 2): the new keys "
            f"can spend {spending_in_words(result.spendable)} but the account has "
            f"{result.credits.remaining:.2f} USD of credits left. Buy credits at "
            "https://openrouter.ai/settings/credits, lower the limits, or add "
            "--allow-overcommit (limits are caps, not charges)."
        )
    lines.out("dry run: nothing was changed.")
    return lines


def expiry_text(expires_at: str | None) -> str:
    if expires_at is None:
        return NEVER_EXPIRES
    day, _, time = expires_at.partition("T")
    if time == "23:59:59Z":
        return f"at the end of {day} (23:59:59 UTC)"
    return expires_at


def resets_text(items: Sequence[ParticipantPlan]) -> str:
    """The limit reset the run sets, or how many participants get which."""
    resets = Counter(item.participant.limit_reset for item in items)
    if len(resets) == 1:
        (reset,) = resets
        return reset or NEVER_RESETS
    counts = ", ".join(
        f"{count} {reset or 'never'}" for reset, count in sorted(resets.items(), key=_by_count)
    )
    return f"per participant: {counts}"


def plan_rows(plan: Plan) -> list[str]:
    """One aligned line per participant a run acts on or reports, with who they are."""
    rows: list[tuple[str, ...]] = []
    for item in plan.items:
        if item.action is Action.KEEP and not item.duplicates:
            continue
        participant = item.participant
        rows.append(
            (
                ACTION_TITLES[item.action],
                participant.participant_id or "",
                participant.name,
                participant.email,
                f"{participant.limit:.2f} USD",
                participant.limit_reset or "",
                _detail(item),
            )
        )
    for key in plan.not_in_roster:
        identity = identity_from_key_name(plan.workshop, key.name) or key.name
        email, key_id = (identity, "") if "@" in identity else ("", identity)
        name = ""
        if key.hash in plan.owners:  # the state says who: never just a pseudonym
            name, email, key_id = plan.owners[key.hash]
        limit = "" if key.limit is None else f"{key.limit:.2f} USD"
        state = "disabled" if key.disabled else "enabled"
        rows.append(
            (
                "not in roster",
                key_id,
                name,
                email,
                limit,
                key.limit_reset or "",
                f"{key.label} ({state})",
            )
        )
    return table(rows, "<<<<><<", indent="  ")


def _detail(item: ParticipantPlan) -> str:
    parts = [item.note] if item.note else []
    if item.action is Action.CREATE and item.undelivered:
        parts.append(f"after deleting {plural(len(item.undelivered), 'undelivered key')}")
    if item.duplicates:
        parts.append(plural(len(item.duplicates), "extra key"))
    return "; ".join(parts)


def _enough(credits: Credits, needed: float, allow_overcommit: bool) -> str:
    if credits.remaining >= needed:
        return "enough"
    if allow_overcommit:
        return "NOT enough; --allow-overcommit creates the keys anyway"
    return "NOT enough: the real run stops here, before creating any key"


def _by_count(entry: tuple[str | None, int]) -> tuple[int, bool, str]:
    reset, count = entry
    return (-count, reset is None, reset or "")


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
