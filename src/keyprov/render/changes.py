"""set-limit, rotate and revoke: the question before, the progress while, the summary after."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from keyprov.lifecycle import Change
from keyprov.lifecycle.steps import Impact
from keyprov.render.lifecycle import change_lines
from keyprov.render.text import plural

BAR_LABELS = {"set-limit": "setting limits", "rotate": "rotating", "revoke": "revoking"}


def impact_lines(impact: Impact) -> list[str]:
    """What is about to happen, said before the question."""
    keys = plural(impact.keys, "key")
    lines = [f"{impact.command}: {keys} of workshop {impact.workshop} {impact.effect}."]
    if impact.afterwards:
        lines.append(f"Afterwards {impact.afterwards}.")
    return lines


def confirm_prompt(impact: Impact) -> str:
    return f"Type the workshop's name ({impact.workshop}) to go on, anything else to stop"


def not_asked_text(impact: Impact) -> str:
    """No terminal to ask on, and no --yes: the command stops before any change."""
    keys = plural(impact.keys, "key")
    return (
        f"{impact.command} would change {keys} of workshop {impact.workshop}: they "
        f"{impact.effect}. There is no terminal to ask on: add --yes to go on (--dry-run "
        "shows each change). Nothing was changed."
    )


def progress_step_line(done: int, total: int, change: Change) -> str:
    """One key done, for a log that is not a terminal: '[ 3/39] ok    rich3  sk-or-...'."""
    count = f"[{done:>{len(str(total))}}/{total}]"
    label = f"  {change.label}" if change.label else ""
    return f"{count} {'ok' if change.ok else 'FAIL':<4}  {change.identity}{label}"


def _command(*words: str) -> str:
    return shlex.join(["keyprov", *words])


def set_limit_lines(
    changes: Sequence[Change], *, workshop: str, dry_run: bool, empty: str | None = None
) -> list[str]:
    """Each key's limit, then how many, then what to do next."""
    if not changes:
        return [empty or f"{workshop}: no participant has a key yet: keyprov provision first."]
    lines = change_lines(changes, "")
    done = sum(change.ok and bool(change.identity) for change in changes)
    failed = sum(not change.ok for change in changes)
    if dry_run:
        lines.append(
            f"dry run: {workshop}: {plural(done, 'limit')} to set"
            + (f", {failed} refused (FAIL above)" if failed else "")
            + "; nothing was changed. Run the same command without --dry-run to set them."
        )
        return lines
    summary = f"{workshop}: {plural(done, 'limit')} set"
    if failed:
        summary += f"; {failed} not (FAIL above): fix what it says, then run the command again"
    lines.append(summary)
    lines.append(f"next: {_command('check', '--workshop', workshop)} to see every key ready")
    return lines


def rotate_lines(changes: Sequence[Change], *, workshop: str, dry_run: bool) -> list[str]:
    """Each key replaced, then how many, then how to hand out the new keys."""
    if not changes:
        return [f"{workshop}: nothing to rotate (no enabled key)."]
    lines = change_lines(changes, "")
    replaced = sum(change.ok and "replaced by" in change.detail for change in changes)
    failed = sum(not change.ok for change in changes)
    if dry_run:
        would = sum("would be disabled and replaced" in change.detail for change in changes)
        lines.append(
            f"dry run: {workshop}: {plural(would, 'key')} to replace; nothing was changed. "
            "Run the same command without --dry-run to replace them."
        )
        return lines
    summary = f"{workshop}: {plural(replaced, 'key')} replaced"
    if failed:
        summary += f"; {failed} not (FAIL above): run the same command again to finish"
    lines.append(summary)
    if replaced:
        lines.append(
            "next: hand out the new keys (the old ones no longer work): "
            f"{_command('send', '--workshop', workshop)} emails each their new key, or "
            f"{_command('handouts', '--workshop', workshop)} prints new slips"
        )
    return lines
