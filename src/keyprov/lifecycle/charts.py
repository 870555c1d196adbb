"""spend.png: spend against limit per participant, so the instructor sees who is running out.

The picture stays the same size however large the workshop: the participants who have used
the largest share of their limit as bars (overspend beyond the limit in its own colour), and,
when there are more of them than bars, a histogram of the share used by everyone.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyprov.files import write_report_file
from keyprov.lifecycle.report_sheet import REPORT_AGAIN

TOP_BARS = 30
NEARLY_OUT_SHARE = 0.9
LABEL_LENGTH = 28

SPENT_COLOUR = "#2e86c1"
NEARLY_OUT_COLOUR = "#e67e22"
OVERSPENT_COLOUR = "#c0392b"
UNSPENT_COLOUR = "#d9d9d9"
LIMIT_COLOUR = "#000000"
LEGEND = (
    (SPENT_COLOUR, "spent, under 90% of the limit"),
    (NEARLY_OUT_COLOUR, "spent, 90% of the limit or more"),
    (OVERSPENT_COLOUR, "spent beyond the limit (overspend)"),
    (UNSPENT_COLOUR, "limit not yet spent"),
)

_WINDOWS = {
    None: "all-time usage (the limits never reset)",
    "daily": "usage today (limits reset daily, 00:00 UTC)",
    "weekly": "usage this week (limits reset on Mondays, 00:00 UTC)",
    "monthly": "usage this month (limits reset on the 1st, 00:00 UTC)",
}


@dataclass(frozen=True)
class SpendBar:
    """One participant: what they spent in the limit's window, and the limit (None: none)."""

    label: str
    spent: float
    limit: float | None
    used: bool = True
    """False for a key that never spent anything (all time): it counts as 'not used yet'."""


@dataclass(frozen=True)
class PlannedBar:
    """A bar as drawn: USD spent up to the limit, beyond it, and the limit not yet spent."""

    label: str
    spent: float
    limit: float | None
    share: float | None
    """spent / limit; None without a limit."""
    within: float
    over: float
    unspent: float
    colour: str
    """Of the part within the limit; the overspend is always OVERSPENT_COLOUR."""


@dataclass(frozen=True)
class HistogramBin:
    label: str
    count: int
    colour: str


@dataclass(frozen=True)
class SpendChartPlan:
    bars: list[PlannedBar]
    """The largest shares of limit used first; all participants, or the TOP_BARS first."""
    participants: int
    over_limit: int
    nearly_out: int
    """At 90% to 100% of the limit: the histogram's 90-100% bin."""
    without_limit: int
    histogram: list[HistogramBin] | None
    not_used: int = 0
    """Participants whose key never spent anything: said whatever bars are drawn."""
    """Share of limit used by everyone with a limit; None when every participant has a bar."""


def window_description(resets: Iterable[str | None]) -> str:
    """The usage window the chart shows, from the limit resets of its keys."""
    kinds = set(resets)
    if len(kinds) > 1:
        return "usage in each key's limit window (the keys' limits reset differently)"
    kind = next(iter(kinds), None)
    return _WINDOWS.get(kind, f"usage in the {kind} window")


def plan_spend_chart(bars: Sequence[SpendBar], top: int = TOP_BARS) -> SpendChartPlan:
    """Which bars to draw, in what order and colours, and the histogram: no drawing."""
    planned = sorted((_plan_bar(bar) for bar in bars), key=_most_used_first)
    shares = [bar.share for bar in planned if bar.share is not None]
    return SpendChartPlan(
        bars=planned[:top],
        participants=len(planned),
        over_limit=sum(share > 1 for share in shares),
        nearly_out=sum(NEARLY_OUT_SHARE <= share <= 1 for share in shares),
        without_limit=len(planned) - len(shares),
        histogram=_histogram(shares) if len(planned) > top else None,
        not_used=sum(not bar.used for bar in bars),
    )


def write_spend_chart(
    path: Path,
    bars: Sequence[SpendBar],
    *,
    workshop: str,
    window: str,
    generated_at: datetime | None = None,
    top: int = TOP_BARS,
) -> SpendChartPlan:
    """Write spend.png atomically with mode 0600 (it names participants); return its plan.

    `window` says which usage the bars show (see window_description); the title names it, the
    workshop and `generated_at` (default: now) in UTC. Raises KeyprovError when the file cannot
    be written.
    """
    plan = plan_spend_chart(bars, top)
    moment = (generated_at or datetime.now(UTC)).astimezone(UTC)
    title = f"{workshop}: spend against limit, {window}" if workshop else window
    subtitle = f"{_summary(plan)} Made {moment:%Y-%m-%d %H:%M} UTC."
    content = _draw(plan, title, subtitle)
    write_report_file(path, content, then=REPORT_AGAIN)
    return plan


def spend_chart(
    path: Path, labels: Sequence[str], spend: Sequence[float], limits: Sequence[float]
) -> None:
    """The former call, kept for its callers: write_spend_chart without a workshop name."""
    bars = [
        SpendBar(label, used, limit or None)
        for label, used, limit in zip(labels, spend, limits, strict=True)
    ]
    write_spend_chart(path, bars, workshop="", window="usage in each key's limit window")


def _plan_bar(bar: SpendBar) -> PlannedBar:
    spent = max(float(bar.spent), 0.0)
    if bar.limit is None:
        return PlannedBar(bar.label, spent, None, None, spent, 0.0, 0.0, SPENT_COLOUR)
    limit = max(float(bar.limit), 0.0)
    # Rounded so that 1.80 of 2.00 is 90% exactly, not 89.99…%.
    share = round(spent / limit, 9) if limit > 0 else (math.inf if spent > 0 else 1.0)
    within = min(spent, limit)
    over = spent - limit if share > 1 else 0.0
    colour = NEARLY_OUT_COLOUR if share >= NEARLY_OUT_SHARE else SPENT_COLOUR
    return PlannedBar(bar.label, spent, limit, share, within, over, limit - within, colour)


def _most_used_first(bar: PlannedBar) -> tuple[bool, float, float, str]:
    # Keys without a limit cannot run out: after all the others, by what they spent.
    return (bar.share is None, -(bar.share or 0.0), -bar.spent, bar.label)


def _histogram(shares: Sequence[float]) -> list[HistogramBin]:
    """Ten bins of 10% up to the limit (90-100% includes exactly 100%), then 'over 100%'."""
    counts = [0] * 11
    for share in shares:
        counts[10 if share > 1 else min(int(share * 10), 9)] += 1
    bins = []
    for index, count in enumerate(counts[:10]):
        colour = NEARLY_OUT_COLOUR if index == 9 else SPENT_COLOUR
        bins.append(HistogramBin(f"{index * 10}-{index * 10 + 10}%", count, colour))
    bins.append(HistogramBin("over 100%", counts[10], OVERSPENT_COLOUR))
    return bins


def _summary(plan: SpendChartPlan) -> str:
    """Two lines under the title: the counts, and which participants have a bar."""
    people = "participant" if plan.participants == 1 else "participants"
    parts = [f"{plan.over_limit} over their limit", f"{plan.nearly_out} at 90-100% of it"]
    if plan.without_limit:
        parts.append(f"{plan.without_limit} without a limit")
    parts.append(f"{plan.not_used} not used yet")
    counts = f"{plan.participants} {people}: {', '.join(parts)}."
    if plan.histogram is None:
        return f"{counts}\nBars: everyone, the largest share of their limit used first."
    return (
        f"{counts}\nBars: the {len(plan.bars)} with the largest share of their limit used; "
        "below, everyone."
    )


def _draw(plan: SpendChartPlan, title: str, subtitle: str) -> bytes:
    # Imported here: matplotlib doubles the start-up time of every other keyprov command.
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in cron; must precede pyplot
    import matplotlib.pyplot as plt

    bar_height = 0.3 * max(len(plan.bars), 3) + 0.9
    heights = [bar_height] + ([2.6] if plan.histogram is not None else [])
    figure, panels = plt.subplots(
        len(heights),
        1,
        figsize=(10, sum(heights) + 1.9),
        height_ratios=heights,
        layout="constrained",
        squeeze=False,
    )
    figure.suptitle(f"{title}\n{subtitle}", fontsize=11)
    _draw_bars(panels[0][0], plan.bars)
    if plan.histogram is not None:
        _draw_histogram(panels[1][0], plan.histogram, plan.participants - plan.without_limit)
    figure.legend(
        handles=_legend_handles(), loc="outside lower center", ncols=3, fontsize=9, frameon=False
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def _draw_bars(axes: Any, bars: Sequence[PlannedBar]) -> None:
    if not bars:
        axes.text(0.5, 0.5, "no keys to show", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return
    positions = list(range(len(bars)))
    limits = [bar.limit or 0.0 for bar in bars]
    axes.barh(positions, [bar.within for bar in bars], color=[bar.colour for bar in bars])
    axes.barh(
        positions,
        [bar.unspent for bar in bars],
        left=[b.within for b in bars],
        color=UNSPENT_COLOUR,
    )
    axes.barh(positions, [bar.over for bar in bars], left=limits, color=OVERSPENT_COLOUR)
    with_limit = [(p, bar.limit) for p, bar in zip(positions, bars, strict=True) if bar.limit]
    axes.vlines(
        [limit for _p, limit in with_limit],
        [p - 0.45 for p, _limit in with_limit],
        [p + 0.45 for p, _limit in with_limit],
        colors=LIMIT_COLOUR,
        linewidth=1.2,
    )
    right = max(max(bar.spent, bar.limit or 0.0) for bar in bars) or 1.0
    for position, bar in zip(positions, bars, strict=True):
        axes.text(
            max(bar.spent, bar.limit or 0.0) + right * 0.01,
            position,
            _bar_text(bar),
            va="center",
            fontsize=8,
        )
    axes.set_xlim(0, right * 1.3)
    axes.set_ylim(len(bars) - 0.5, -0.5)  # the largest share at the top
    axes.set_yticks(positions, [_short(bar.label) for bar in bars], fontsize=8)
    axes.tick_params(axis="x", top=True, labeltop=True, labelsize=8)
    axes.set_xlabel("USD")
    axes.grid(axis="x", color="#eeeeee")
    axes.set_axisbelow(True)


def _draw_histogram(axes: Any, bins: Sequence[HistogramBin], people: int) -> None:
    positions = list(range(len(bins)))
    drawn = axes.bar(positions, [b.count for b in bins], color=[b.colour for b in bins])
    axes.bar_label(drawn, fontsize=8)
    axes.set_xticks(positions, [b.label for b in bins], fontsize=8)
    axes.set_ylabel("participants")
    axes.set_xlabel(f"share of the limit used, all {people} participants with a limit")
    axes.margins(y=0.15)


def _legend_handles() -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(color=colour, label=text) for colour, text in LEGEND]
    handles.append(Line2D([], [], color=LIMIT_COLOUR, linewidth=1.2, label="the limit"))
    return handles


def _bar_text(bar: PlannedBar) -> str:
    if bar.limit is None:
        return f"{bar.spent:.2f} (no limit)"
    share = "" if math.isinf(bar.share or 0.0) else f" ({bar.share:.0%})"
    return f"{bar.spent:.2f} of {bar.limit:.2f}{share}"


def _short(label: str) -> str:
    return label if len(label) <= LABEL_LENGTH else label[: LABEL_LENGTH - 1] + "…"
