"""spend.png: spend against limit per participant, so the instructor sees who is running out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def spend_chart(
    path: Path, labels: Sequence[str], spend: Sequence[float], limits: Sequence[float]
) -> None:
    """Horizontal bars, most spent first: grey is the limit, colour the spend within it."""
    # Imported here: matplotlib doubles the start-up time of every other keyprov command.
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in cron; must precede pyplot
    import matplotlib.pyplot as plt

    order = sorted(range(len(labels)), key=lambda i: spend[i], reverse=True)
    names = [labels[i] for i in order]
    spent = [spend[i] for i in order]
    caps = [limits[i] for i in order]
    height = max(2.5, 0.35 * len(names) + 1.2)
    figure, axes = plt.subplots(figsize=(9, height))
    positions = range(len(names))
    axes.barh(positions, caps, color="#d9d9d9", label="limit (USD)")
    colours = [
        "#c0392b" if cap and used >= 0.9 * cap else "#2e86c1"
        for used, cap in zip(spent, caps, strict=True)
    ]
    axes.barh(positions, spent, color=colours, label="spent (USD)")
    axes.set_yticks(list(positions), names)
    axes.invert_yaxis()
    axes.set_xlabel("USD")
    axes.set_title("Spend against limit per participant (red: 90% or more used)")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
