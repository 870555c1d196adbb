"""check, report, set-limit, rotate and revoke: their tables, totals and verdicts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from keyprov.lifecycle import Change, CheckResult, UsageReport
from keyprov.lifecycle.report_sheet import ReportRow, ReportTotals
from keyprov.render.text import natural_key, plural, table, usd

ROLE_NOTES = {"current": "", "retired": "replaced", "unknown": "secret not in local state"}


def check_lines(result: CheckResult) -> list[str]:
    """What was expected, one line per participant (who, key, limit, left, what is wrong),
    then the verdict."""
    has_ids = any(row.identity != row.email for row in result.rows)
    rows = [
        (
            "FAIL" if row.problems else "ok",
            row.identity if row.identity != row.email else "",
            row.name,
            row.email,
            row.label,
            usd(row.limit),
            usd(row.remaining),
            "; ".join(row.problems) or "ready",
        )
        for row in result.rows
    ]
    header = ("", "id" if has_ids else "", "name", "email", "key", "limit USD", "left USD", "")
    lines = []
    if result.expectations:
        lines.append(f"{result.workshop}: checked against")
        lines.extend(f"  {line}" for line in result.expectations)
    lines.extend(table([header, *rows], "<<<<<>><"))
    lines.extend(f"FAIL  {problem}" for problem in result.workshop_problems)
    lines.append(check_verdict(result))
    return lines


def check_verdict(result: CheckResult) -> str:
    everyone = len(result.rows)
    not_ready = len(result.not_ready)
    problems = plural(len(result.workshop_problems), "workshop problem")
    if result.ready:
        return f"{result.workshop}: READY: {everyone} of {everyone} participants ready"
    if not not_ready:
        return (
            f"{result.workshop}: NOT READY: every participant's key is ready, but {problems} "
            "(FAIL above) must be fixed"
        )
    verdict = f"{result.workshop}: NOT READY: {not_ready} of {everyone} participants not ready"
    if result.workshop_problems:
        verdict += f", and {problems}"
    return verdict


LOW_LEFT = 0.2
"""Less than this share of the limit left: 'low'."""


def report_mark(row: ReportRow) -> str:
    """'OUT' (nothing left), 'low' (under 20 % left), 'not used' (never spent); '' else."""
    if row.disabled or row.role != "current":
        return ""
    if row.limit is not None and row.remaining is not None:
        if row.remaining < 0.005:
            return "OUT"
        if row.limit > 0 and row.remaining / row.limit < LOW_LEFT:
            return "low"
    return "not used" if row.usage_total <= 0 else ""


MARK_STYLES = {"OUT": "out", "low": "low", "not used": "unused"}


def styled_report_lines(report: UsageReport) -> list[tuple[str, str | None]]:
    """report_lines, each with the style a terminal colours it in (None: plain)."""
    lines = report_lines(report)
    marks = [report_mark(row) for row in report.rows]
    first_row = 3  # the two lines above the table, and its header
    styles: list[str | None] = [None] * len(lines)
    for index, mark in enumerate(marks):
        styles[first_row + index] = "dim" if report.rows[index].disabled else MARK_STYLES.get(mark)
    return list(zip(lines, styles, strict=True))


def report_lines(report: UsageReport) -> list[str]:
    """The usage table with the totals report.xlsx has, and what those totals count."""
    header = ("participant", "name", "key", "limit", "window", "all-time", "left", "")
    rows = [_report_row(row) for row in report.rows]
    totals = report.totals
    total_row = (
        "total",
        f"{plural(totals.keys, 'key')}, {totals.enabled_keys} enabled",
        "",
        _figure(totals.limit),
        _figure(totals.usage_window),
        _figure(totals.usage_total),
        _figure(totals.remaining),
        "",
    )
    return [
        f"usage per key of workshop {report.workshop!r}, in USD; window: {report.window}",
        f"the keys may use: {report.models}",
        *table([header, *rows, total_row], "<<<>>>><"),
        totals_note(totals),
        *_all_disabled(totals),
        f"report: {report.xlsx_path}",
        f"chart:  {report.chart_path}",
    ]


def _all_disabled(totals: ReportTotals) -> list[str]:
    if totals.keys and not totals.enabled_keys:
        return [
            f"every key of the workshop is disabled ({plural(totals.keys, 'key')}, as after "
            "keyprov revoke): nothing more can be spent."
        ]
    return []


def totals_note(totals: ReportTotals) -> str:
    if totals.enabled_keys == totals.keys:
        return (
            f"every total adds up all {plural(totals.keys, 'key')}; left = limit - window "
            "usage, as the server counts it: what can still be spent."
        )
    return (
        f"limit and left add up the {totals.enabled_keys} enabled keys (what can still be "
        f"spent); window and all-time add up all {totals.keys} keys, disabled and replaced "
        "ones too (what was spent)."
    )


def _report_row(row: ReportRow) -> tuple[str, ...]:
    notes = [note for note in (report_mark(row), ROLE_NOTES.get(row.role, row.role)) if note]
    if row.disabled:
        notes.append("disabled")
    return (
        row.identity,
        row.name,
        row.label,
        usd(row.limit),
        usd(row.usage_window),
        usd(row.usage_total),
        "—" if row.disabled else usd(row.remaining),
        ", ".join(notes),
    )


def _figure(value: float | None) -> str:
    return "unknown" if value is None else usd(value)


def change_lines(changes: Sequence[Change], empty: str) -> list[str]:
    """One line per key changed (or not), in the order people read ids: rich2 before rich10."""
    ordered = sorted(changes, key=lambda change: natural_key(change.identity))
    rows = [(_mark(change), change.identity, change.label, change.detail) for change in ordered]
    return table(rows) or [empty]


def _mark(change: Change) -> str:
    """ok or FAIL for a key; note for what is about the workshop (a file, the guardrail)."""
    if not change.ok:
        return "FAIL"
    return "ok" if change.identity else "note"


def revoke_lines(
    changes: Sequence[Change], *, workshop: str, delete: bool, dry_run: bool
) -> list[str]:
    """The keys revoke changed, then how many of each."""
    if not changes:
        if delete:
            return [f"{workshop}: no key of this workshop is on the server."]
        return [f"{workshop}: every key of the workshop is already disabled."]
    lines = change_lines(changes, "")
    if dry_run:
        details = Counter(change.detail for change in changes)
        planned = [
            (details["would be deleted"], "to delete"),
            (details["would be disabled"], "to disable"),
            (details["already disabled"], "already disabled"),
        ]
        counts = ", ".join(f"{count} {what}" for count, what in planned if count)
        lines.append(f"dry run: {workshop}: {counts}; nothing was changed.")
        return lines
    done = sum(change.ok and bool(change.identity) for change in changes)
    summary = f"{workshop}: {plural(done, 'key')} {'deleted' if delete else 'disabled'}"
    failed = sum(not change.ok for change in changes)
    if failed:
        summary += f"; {failed} could not be (FAIL above): run again to retry them"
    elif not delete:
        summary += "; nobody can spend on them now (provision --reenable undoes it)"
    lines.append(summary)
    return lines
