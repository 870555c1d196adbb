"""What `keyprov open` and `keyprov close` say: the question before, the keys changed after."""

from __future__ import annotations

from keyprov.lifecycle.gate import GatePlan, GateResult
from keyprov.render.lifecycle import change_lines
from keyprov.render.text import plural


def close_question(plan: GatePlan) -> str:
    """Asked on a terminal before a close stops keys working."""
    keys = plural(len(plan.to_change), "key")
    return (
        f"{keys} of workshop {plan.workshop!r} stop working now (until keyprov open). "
        "Type the workshop's name to go on"
    )


def close_needs_yes(plan: GatePlan) -> str:
    keys = plural(len(plan.to_change), "key")
    return (
        f"close stops {keys} of workshop {plan.workshop!r} working, and there is no terminal "
        "to ask: add --yes to confirm (nothing was changed)."
    )


def gate_lines(result: GateResult, roster: str) -> list[str]:
    """Each key changed, then the gate and what comes next."""
    lines = change_lines(result.changes, "") if result.changes else []
    done = sum(change.ok for change in result.changes)
    failed = len(result.changes) - done
    if result.closing:
        summary = f"{result.workshop}: closed; {plural(done, 'key')} disabled"
        after = (
            f"Keys work again after keyprov open {roster}; a participant who claims theirs "
            f"on the claim page (keyprov claim {roster}) gets it enabled."
        )
    else:
        summary = f"{result.workshop}: open; {plural(done, 'key')} enabled"
        after = f"keyprov close {roster} disables them again."
    if result.unchanged:
        summary += f", {result.unchanged} already {'disabled' if result.closing else 'enabled'}"
    if failed:
        summary += f"; {failed} could not be (FAIL above): run the same command again"
    return [*lines, summary, after]
