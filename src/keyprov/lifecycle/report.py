"""`keyprov report`: who spent what, read from the server; report.xlsx and spend.png."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keyprov.charts import spend_chart
from keyprov.client import OpenRouterClient
from keyprov.files import ensure_private_dir
from keyprov.locate import find_workshop
from keyprov.models import ApiKey
from keyprov.outputs import REPORT_FILE_NAME, write_report_workbook
from keyprov.session import audited
from keyprov.snapshot import snapshot
from keyprov.workshop import WorkshopRef

SPEND_CHART_NAME = "spend.png"
WINDOW_USAGE = {"daily": "usage_daily", "weekly": "usage_weekly", "monthly": "usage_monthly"}


def window_usage(key: ApiKey) -> float:
    """Usage in the window the limit applies to: the reset period's, else all-time."""
    return float(getattr(key, WINDOW_USAGE[key.limit_reset])) if key.limit_reset else key.usage


@dataclass(frozen=True)
class UsageRow:
    identity: str
    name: str
    label: str
    role: str
    limit: float | None
    limit_reset: str | None
    usage_window: float
    usage_total: float
    remaining: float | None
    disabled: bool
    expires_at: str | None


@dataclass
class UsageReport:
    workshop: str
    rows: list[UsageRow]
    xlsx_path: Path
    chart_path: Path

    @property
    def totals(self) -> tuple[float, float, float]:
        """Limits and remaining of enabled keys; all-time usage of every key."""
        live = [row for row in self.rows if not row.disabled]
        return (
            sum(row.limit or 0.0 for row in live),
            sum(row.usage_total for row in self.rows),
            sum(row.remaining or 0.0 for row in live),
        )


def usage_report(ref: WorkshopRef, client: OpenRouterClient) -> UsageReport:
    """Usage per key of the workshop, from the server; writes report.xlsx and spend.png."""
    workshop = find_workshop(ref, client)
    rows = [
        UsageRow(
            identity=item.identity,
            name=item.entry.name if item.entry else "",
            label=item.key.label,
            role=item.role,
            limit=item.key.limit,
            limit_reset=item.key.limit_reset,
            usage_window=window_usage(item.key),
            usage_total=item.key.usage,
            remaining=item.key.limit_remaining,
            disabled=item.key.disabled,
            expires_at=item.key.expires_at,
        )
        for item in snapshot(workshop, client).owned()
    ]
    folder = ensure_private_dir(workshop.folder)
    report = UsageReport(workshop.name, rows, folder / REPORT_FILE_NAME, folder / SPEND_CHART_NAME)
    write_report_workbook(
        report.xlsx_path,
        [
            (
                row.identity,
                row.name,
                row.label,
                row.role,
                row.limit,
                row.limit_reset or "",
                row.usage_window,
                row.usage_total,
                row.remaining,
                "yes" if row.disabled else "no",
                row.expires_at or "",
            )
            for row in rows
        ],
    )
    current = [row for row in rows if row.role == "current"]
    spend_chart(
        report.chart_path,
        [row.name or row.identity for row in current],
        [row.usage_window for row in current],
        [row.limit or 0.0 for row in current],
    )
    with audited(workshop, client, "report") as audit:
        limits, usage, remaining = report.totals
        audit.event(
            "report",
            keys=len(rows),
            limits_usd=round(limits, 2),
            usage_usd=round(usage, 6),
            remaining_usd=round(remaining, 2),
            report=str(report.xlsx_path),
        )
    return report
