"""rename-keys: the keys renamed, the ones left as they were, and what the names now say."""

from __future__ import annotations

from keyprov.lifecycle.rename import RenameResult
from keyprov.render.lifecycle import change_lines
from keyprov.render.text import Lines, plural
from keyprov.workshop.keynames import NameMode

FORM_WORDS = {
    NameMode.PSEUDONYMOUS: "pseudonymous names (keyprov:{workshop}:<pseudonym>)",
    NameMode.READABLE: "readable names (keyprov:{workshop}:<email or id>)",
}
READABLE_WARNING = (
    "warning: readable key names carry each participant's email or id to OpenRouter, where "
    "its dashboard, its logs and anyone with the account see them; keyprov rename-keys "
    "ROSTER turns them into pseudonyms again."
)


def rename_lines(result: RenameResult) -> Lines:
    """One line per key renamed (or not), then how many; warnings on stderr."""
    lines = Lines()
    lines.err(*(f"warning: {note}" for note in result.roster_notes))
    form = FORM_WORDS[result.to].format(workshop=result.workshop)
    if result.to is NameMode.READABLE:
        lines.err(READABLE_WARNING)
    if result.changes:
        lines.out(*change_lines(result.changes, ""))
    lines.err(*(_unresolved_line(result, key.label, key.hash) for key in result.unresolved))
    done = sum(change.ok for change in result.changes)
    failed = len(result.changes) - done
    already = f"; {result.already} already had them" if result.already else ""
    if result.dry_run:
        lines.out(
            f"dry run: {result.workshop}: {plural(done, 'key')} to rename to {form}{already}; "
            "nothing was changed."
        )
    elif not result.changes:
        lines.out(
            f"{result.workshop}: {plural(result.already, 'key')} of the workshop, every one "
            f"with {form}; nothing to rename. New keys are named so too."
        )
    else:
        summary = f"{result.workshop}: {plural(done, 'key')} renamed to {form}{already}"
        if failed:
            summary += f"; {failed} could not be (FAIL above): run again to finish"
        lines.out(summary + ". New keys are named so too.")
    return lines


def _unresolved_line(result: RenameResult, label: str, key_hash: str) -> str:
    kind = "FAIL" if result.to is NameMode.READABLE else "note"
    return (
        f"{kind}: key {label} (hash {key_hash[:12]}...) keeps its pseudonym: it belongs to "
        "nobody in the roster or the local state. Give the roster that has its participant."
    )
