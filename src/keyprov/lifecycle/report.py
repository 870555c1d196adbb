"""`keyprov report`: who spent what, read from the server; report.xlsx and spend.png."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keyprov.api.client import OpenRouterClient
from keyprov.engine.session import audited
from keyprov.engine.snapshot import OwnedKey, snapshot
from keyprov.files import ensure_private_dir
from keyprov.guardrails.guarding import remembered_policy
from keyprov.lifecycle.charts import SpendBar, window_description, write_spend_chart
from keyprov.lifecycle.report_sheet import (
    REPORT_FILE_NAME,
    ReportRow,
    ReportTotals,
    write_report_workbook,
)
from keyprov.lifecycle.who import folded
from keyprov.models import window_usage
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.keynames import natural_key
from keyprov.workshop.locate import find_workshop

SPEND_CHART_NAME = "spend.png"
WINDOW_USAGE = {"daily": "usage_daily", "weekly": "usage_weekly", "monthly": "usage_monthly"}

UsageRow = ReportRow
"""One key of the workshop as the server reports it (the name the report used before)."""


@dataclass
class UsageReport:
    workshop: str
    rows: list[ReportRow]
    xlsx_path: Path
    chart_path: Path
    totals: ReportTotals
    """As report.xlsx's totals row has them (the same function adds them up)."""
    window: str
    """Which usage the window column and the chart show, in words."""
    models: str = "any model"
    """What the workshop's keys may use (its guardrail), in words."""


SORTS = ("used", "left", "name")


def usage_report(ref: WorkshopRef, client: OpenRouterClient, *, sort: str = "used") -> UsageReport:
    """Usage per key of the workshop, from the server; writes report.xlsx and spend.png.

    Rows by `sort`: 'used' (the largest share of the limit used first), 'left' (the least
    left first) or 'name'; a participant's replaced keys after their current one, disabled
    keys last."""
    workshop = find_workshop(ref, client)
    owned = sorted(snapshot(workshop, client).owned(), key=_report_order)
    rows = sort_rows([_row(item) for item in owned], sort)
    folder = ensure_private_dir(workshop.folder)
    xlsx_path, chart_path = folder / REPORT_FILE_NAME, folder / SPEND_CHART_NAME
    totals = write_report_workbook(xlsx_path, rows, title=f"{workshop.name}: usage per key")
    current = [row for row in rows if row.role == "current"]
    window = window_description(row.limit_reset for row in current)
    write_spend_chart(
        chart_path,
        [
            SpendBar(row.name or row.identity, row.usage_window, row.limit, row.usage_total > 0)
            for row in current
        ],
        workshop=workshop.name,
        window=window,
    )
    models = remembered_policy(workshop.options).in_words()
    report = UsageReport(workshop.name, rows, xlsx_path, chart_path, totals, window, models)
    with audited(workshop, client, "report") as audit:
        audit.event(
            "report",
            keys=totals.keys,
            enabled_keys=totals.enabled_keys,
            limits_usd=_rounded(totals.limit, 2),
            usage_window_usd=_rounded(totals.usage_window, 6),
            usage_usd=_rounded(totals.usage_total, 6),
            remaining_usd=_rounded(totals.remaining, 2),
            report=str(report.xlsx_path),
        )
    return report


def _row(item: OwnedKey) -> ReportRow:
    key = item.key
    return ReportRow(
        identity=item.identity,
        name=item.entry.name if item.entry else "",
        label=key.label,
        role=item.role,
        limit=key.limit,
        limit_reset=key.limit_reset,
        usage_window=window_usage(key),
        usage_total=key.usage,
        remaining=key.limit_remaining,
        disabled=key.disabled,
        expires_at=key.expires_at,
    )


def _report_order(item: OwnedKey) -> tuple[list[int | str], bool]:
    """rich2 before rich10; a participant's current key before the keys it replaced."""
    return natural_key(item.identity), item.role != "current"


def sort_rows(rows: list[ReportRow], sort: str) -> list[ReportRow]:
    """Rows in the order asked for (stable: ties keep the natural order of identities)."""
    if sort not in SORTS:
        raise ValueError(f"sort by one of {', '.join(SORTS)}")

    def share(row: ReportRow) -> float:
        return row.usage_window / row.limit if row.limit else -1.0

    keys = {
        "used": lambda row: -share(row),
        "left": lambda row: row.remaining if row.remaining is not None else float("inf"),
        "name": lambda row: folded(row.name or row.identity),
    }
    # Keys that can spend no more (disabled, replaced) after those that can.
    return sorted(rows, key=lambda row: (row.disabled, row.role != "current", keys[sort](row)))


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
