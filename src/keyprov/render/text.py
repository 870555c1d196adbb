"""The pieces every text is made of: what a command prints, aligned columns, who someone is."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from keyprov.workshop.keynames import natural_key

__all__ = [
    "Lines",
    "display_width",
    "natural_key",
    "pad",
    "plural",
    "seconds",
    "table",
    "usd",
    "who",
]

COLUMN_GAP = "  "
WIDEST_COLUMN = 40
"""A longer cell overflows its column rather than pushing every other row to the right."""


@dataclass
class Lines:
    """What a command prints, in order: its result on stdout; notes, warnings and failures on
    stderr (so a script can keep the result and a person still sees the rest)."""

    lines: list[tuple[bool, str]] = field(default_factory=list)
    """(to stderr, text) in the order they are shown."""

    def out(self, *texts: str) -> None:
        self.lines.extend((False, text) for text in texts)

    def err(self, *texts: str) -> None:
        self.lines.extend((True, text) for text in texts)

    @property
    def stdout(self) -> list[str]:
        return [text for to_stderr, text in self.lines if not to_stderr]

    @property
    def stderr(self) -> list[str]:
        return [text for to_stderr, text in self.lines if to_stderr]


def display_width(text: str) -> int:
    """Columns a terminal gives `text`: wide (CJK) characters take two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(text: str, width: int, align: str = "<") -> str:
    gap = " " * max(0, width - display_width(text))
    return f"{gap}{text}" if align == ">" else f"{text}{gap}"


def fit(text: str, width: int) -> str:
    """`text` cut to `width` terminal columns, ending in '…' when cut."""
    if display_width(text) <= width:
        return text
    kept = ""
    for char in text:
        if display_width(kept + char) > width - 1:
            break
        kept += char
    return f"{kept}…"


def table(rows: Sequence[Sequence[str]], align: str = "", *, indent: str = "") -> list[str]:
    """Rows as columns two spaces apart, `align` one '<' or '>' per column (default '<').

    A column empty in every row is left out (an id column for a roster without ids), and no
    line ends in spaces.
    """
    if not rows:
        return []
    count = max(len(row) for row in rows)
    cells = [[*row, *([""] * (count - len(row)))] for row in rows]
    kept = [i for i in range(count) if any(row[i] for row in cells)]
    widths = {i: min(WIDEST_COLUMN, max(display_width(row[i]) for row in cells)) for i in kept}
    aligns = align.ljust(count, "<")
    lines = []
    for row in cells:
        text = COLUMN_GAP.join(pad(row[i], widths[i], aligns[i]) for i in kept)
        lines.append(f"{indent}{text}".rstrip())
    return lines


def who(name: str, email: str, identity: str = "") -> str:
    """A participant in a sentence: 'Ada Lovelace, ada@example.org' (', id 1001' with an id)."""
    parts = [part for part in (name, email) if part]
    if identity and identity != email:
        parts.append(f"id {identity}")
    return ", ".join(parts) or identity


def plural(count: int, noun: str, many: str | None = None) -> str:
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def usd(value: float | None) -> str:
    """Money as the spreadsheets show it: to the cent; '-' for none."""
    return "-" if value is None else f"{value:.2f}"


def seconds(value: float) -> str:
    """A duration: '0.4 s', '12 s', '3 min 05 s', '1 h 02 min'."""
    if value < 10:
        return f"{value:.1f} s"
    whole = round(value)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
