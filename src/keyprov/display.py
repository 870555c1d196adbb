"""Plain-text renderings of plans and results for the terminal (and for cron mail)."""

from __future__ import annotations

from keyprov.models import Credits
from keyprov.planner import Action, Plan

ACTION_TITLES = {
    Action.CREATE: "create",
    Action.UPDATE: "update",
    Action.KEEP: "unchanged",
    Action.DISABLED: "disabled",
    Action.SECRET_LOST: "secret lost",
}


def render_plan(plan: Plan, credits: Credits | None) -> list[str]:
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
