"""handouts.pdf: one slip per participant, three to a page (two when their quickstarts need
the room), with cut marks.

A slip is as wide as the page allows, because the key (73 characters) has to be printed on
one line in a monospace font large enough to type from. Each shows the name, the key, its QR
code, the budget and its renewal, the last day, the models, the base URL, a quickstart and
how to see the budget left, in the words of `wording`, which the email and the mail-merge file
use too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

from keyprov.errors import ConfigurationError
from keyprov.files import atomic_private_writer
from keyprov.handouts import wording
from keyprov.handouts.fonts import MONO, SANS, own_text, register_fonts, user_text
from keyprov.handouts.model import Handout
from keyprov.handouts.qr import draw_qr

PAPER_SIZES = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}
"""Width and height in millimetres."""
SLIPS_PER_PAGE = 3
MARGIN = 10.0
"""Millimetres around the slips, where the cut marks are."""
PADDING = 6.0
QR_SIZE = 34.0
KEY_SIZES = (12.5, 12.0, 11.5, 11.0, 10.5, 10.0)
"""Point sizes for the key, largest first: the first at which it fits on the slip's line."""
CODE_SIZES = (6.6, 6.2, 5.8, 5.4)
"""Point sizes for the quickstarts, largest first: the first at which they fit on the slip
(two or three quickstarts take more room than one). Below the last one, printed code is
hard to type from: the slips are made taller instead, two to a page."""
MAX_MODELS_SHOWN = 4

KEY_LINE = "Your API key. Type it exactly as printed; it is yours alone."
CLAIM_LINE = (
    "Your claim code: open the page below (or scan), type it, and your key is shown to you."
)

_BLACK = (0, 0, 0)
_GREY = (95, 95, 95)
_LIGHT = (170, 170, 170)
_KEY_BACKGROUND = (240, 240, 240)
_WARNING = (150, 0, 0)


def write_handouts_pdf(
    path: Path, handouts: Sequence[Handout], *, paper: str = "a4", title: str | None = None
) -> int:
    """Write the slips to `path`, atomically, mode 0600 from the first byte; their pages.

    `paper` is "a4" or "letter" (ConfigurationError otherwise); `title`, when given (the
    workshop's name), is printed on every slip. ValueError when `handouts` is empty.
    """
    content, pages = _render(handouts, paper, title)
    with atomic_private_writer(path) as handle:
        handle.write(content)
    return pages


def render_handouts_pdf(
    handouts: Sequence[Handout], *, paper: str = "a4", title: str | None = None
) -> bytes:
    """The PDF's bytes (see `write_handouts_pdf`)."""
    return _render(handouts, paper, title)[0]


def _render(handouts: Sequence[Handout], paper: str, title: str | None) -> tuple[bytes, int]:
    if paper not in PAPER_SIZES:
        raise ConfigurationError(
            f"unknown paper size {paper!r}: use one of {', '.join(PAPER_SIZES)}"
        )
    if not handouts:
        raise ValueError("no handouts to write")
    page_width, page_height = PAPER_SIZES[paper]
    pdf = FPDF(unit="mm", format=(page_width, page_height))
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.c_margin = 0
    pdf.set_creator("keyprov")
    pdf.set_title("OpenRouter API keys" + (f": {title}" if title else ""))
    register_fonts(pdf, [title or "", *(handout.who for handout in handouts)])
    layout = _Layout(pdf, page_width, page_height, title, SLIPS_PER_PAGE)
    if not all(layout.slip(handout, top=MARGIN, draw=False) for handout in handouts):
        layout = _Layout(pdf, page_width, page_height, title, SLIPS_PER_PAGE - 1)
    layout.claim = all(not handout.secret for handout in handouts)
    per_page = layout.slips_per_page
    for start in range(0, len(handouts), per_page):
        page = handouts[start : start + per_page]
        pdf.add_page()
        layout.cut_marks(len(page))
        for index, handout in enumerate(page):
            layout.slip(handout, top=MARGIN + index * layout.slip_height)
    return bytes(pdf.output()), pdf.page


class _Layout:
    def __init__(
        self, pdf: FPDF, page_width: float, page_height: float, title: str | None, per_page: int
    ) -> None:
        self.pdf = pdf
        self.page_width = page_width
        self.page_height = page_height
        self.title = title
        self.slips_per_page = per_page
        self.claim = False
        """Claim slips (keyprov handouts --claim): a claim code on each, no key."""
        self.slip_height = (page_height - 2 * MARGIN) / per_page
        self.left = MARGIN + PADDING
        self.width = page_width - 2 * (MARGIN + PADDING)

    def cut_marks(self, slips: int) -> None:
        """Crop marks in the margins at every slip's edges, a dashed line between slips for
        scissors, and a note at the foot of the page."""
        pdf = self.pdf
        right = self.page_width - MARGIN
        bottom = MARGIN + slips * self.slip_height
        pdf.set_draw_color(*_BLACK)
        pdf.set_line_width(0.2)
        for index in range(slips + 1):
            y = MARGIN + index * self.slip_height
            pdf.line(2, y, MARGIN - 2, y)
            pdf.line(right + 2, y, self.page_width - 2, y)
        for x in (MARGIN, right):
            pdf.line(x, 2, x, MARGIN - 2)
            pdf.line(x, bottom + 2, x, bottom + MARGIN - 2)
        pdf.set_draw_color(*_LIGHT)
        pdf.set_dash_pattern(dash=1.5, gap=1.2)
        for index in range(1, slips):
            y = MARGIN + index * self.slip_height
            pdf.line(MARGIN, y, right, y)
        pdf.set_dash_pattern()
        own_text(pdf)
        pdf.set_text_color(*_GREY)
        pdf.set_font(SANS, "", 6.5)
        pdf.set_xy(MARGIN, bottom + 3)
        holds = "claim code" if self.claim else "key"
        pdf.cell(
            right - MARGIN,
            3,
            f"Cut along the marks. Each slip holds one participant's {holds}: give it to them "
            "alone.",
            align="C",
        )

    def slip(self, handout: Handout, *, top: float, draw: bool = True) -> bool:
        """Draw the slip (or with `draw` False only measure it); whether its quickstarts fit."""
        pdf = self.pdf
        x, width = self.left, self.width
        y = top + PADDING
        room = _Room(
            narrow=width - QR_SIZE - 6,
            full=width,
            beside_qr_until=y + 24.5 - 2 + QR_SIZE + 4,
            bottom=top + self.slip_height - PADDING / 2,
        )
        if not draw:
            own_text(pdf)
            return self._details(handout, x, y + 24.5, room, draw=False)
        # Only names and the title can be in a script that needs shaping (Arabic, Hebrew) or
        # another font (CJK); the rest is keyprov's own text, set many times faster without.
        user_text(pdf)
        self._header(handout, x, y, width)
        own_text(pdf)
        y += 9
        pdf.set_text_color(*_GREY)
        pdf.set_font(SANS, "", 7.5)
        pdf.set_xy(x, y)
        claim = not handout.secret  # a claim slip: the code, and a QR code of the claim link
        pdf.cell(width, 4, CLAIM_LINE if claim else KEY_LINE)
        y += 4.5
        self._key(handout.claim_code if claim else handout.secret, x, y, width)
        y += 11
        code = handout.claim_url if claim else handout.secret
        draw_qr(pdf, code, x=x + width - QR_SIZE, y=y - 2, size=QR_SIZE)
        pdf.set_text_color(*_GREY)
        pdf.set_font(SANS, "", 6.5)
        pdf.set_xy(x + width - QR_SIZE, y - 2 + QR_SIZE)
        caption = "Scan to claim your key" if claim else "Scan to copy the key"
        pdf.cell(QR_SIZE, 3, caption, align="C")
        return self._details(handout, x, y, room, draw=True)

    def _header(self, handout: Handout, x: float, y: float, width: float) -> None:
        pdf = self.pdf
        pdf.set_font(SANS, "", 8)
        caption = "OpenRouter API key" + (f" · {self.title}" if self.title else "")
        caption_width = min(pdf.get_string_width(caption), width / 2)
        pdf.set_text_color(*_GREY)
        pdf.set_xy(x + width - caption_width, y + 1.5)
        pdf.cell(caption_width, 4, caption, align="R")
        room = width - caption_width - 4
        size = 15.0
        pdf.set_font(SANS, "B", size)
        while size > 8 and pdf.get_string_width(handout.who) > room:
            size -= 0.5
            pdf.set_font(SANS, "B", size)
        pdf.set_text_color(*_BLACK)
        pdf.set_xy(x, y)
        pdf.cell(room, 7, handout.who)

    def _key(self, secret: str, x: float, y: float, width: float) -> None:
        pdf = self.pdf
        pdf.set_fill_color(*_KEY_BACKGROUND)
        pdf.rect(x, y, width, 8.5, style="F")
        for size in KEY_SIZES:
            pdf.set_font(MONO, "", size)
            if pdf.get_string_width(secret) <= width - 4:
                break
        pdf.set_text_color(*_BLACK)
        pdf.set_xy(x + 2, y + 1.25)
        pdf.cell(width - 4, 6, secret)

    def _details(self, handout: Handout, x: float, y: float, room: _Room, *, draw: bool) -> bool:
        pdf = self.pdf
        width = room.narrow
        fields = wording.handout_fields(handout)
        models = handout.models
        shown_models = fields["models"]
        if len(models) > MAX_MODELS_SHOWN:
            shown = ", ".join(models[: MAX_MODELS_SHOWN - 1])
            shown_models = f"{shown} and {len(models) - MAX_MODELS_SHOWN + 1} more"
        rows = (
            *((("Claim at", claim_page(fields["claim_url"])),) if not handout.secret else ()),
            ("Budget", fields["budget"]),
            ("Valid", fields["last_day"]),
            ("Models", shown_models),
            ("Base URL", fields["base_url"]),
        )
        label_width = 17.0
        for label, value in rows:
            pdf.set_text_color(*_GREY)
            pdf.set_font(SANS, "B", 8.5)
            if draw:
                pdf.set_xy(x, y)
                pdf.cell(label_width, 4.4, label)
            pdf.set_text_color(*_BLACK)
            pdf.set_font(MONO if label in ("Base URL", "Claim at") else SANS, "", 8.5)
            y = self._lines(value, x + label_width, y, width - label_width, 4.4, draw=draw)
        if fields["replaces"]:
            pdf.set_text_color(*_WARNING)
            pdf.set_font(SANS, "B", 8.5)
            y = self._lines(fields["replaces"], x, y, width, 4.4, draw=draw)
        items: list[tuple[str, str]] = []
        for block in wording.quickstarts_of(handout):
            items += [("title", block.title), *(("code", line) for line in block.lines)]
        said, *calls = fields["budget_left"].splitlines()
        items += [("note", said), *(("code", line) for line in calls)]
        start = y + 1.0
        size = next(
            (s for s in CODE_SIZES if self._flow(items, x, start, room, s, draw=False)), None
        )
        if not draw:
            return size is not None
        return self._flow(items, x, start, room, size or CODE_SIZES[-1], draw=True)

    def _flow(
        self,
        items: Sequence[tuple[str, str]],
        x: float,
        y: float,
        room: _Room,
        size: float,
        *,
        draw: bool,
    ) -> bool:
        """Set the quickstarts beside the QR code, then across the slip's width, at `size`
        points (code; the titles a little larger); whether they fit above its bottom."""
        pdf = self.pdf
        pdf.set_text_color(*_BLACK)
        line_height = size * 0.42
        for kind, text in items:
            if kind == "code":
                pdf.set_font(MONO, "", size)
                width = room.width_at(y)
                parts = wrap_code(text, int(width / pdf.get_string_width("0")))
            else:
                y += 0.6 if kind == "title" else 0.3
                pdf.set_font(SANS, "B" if kind == "title" else "", size + 1.2)
                width = room.width_at(y)
                parts = wrap(text, width, pdf.get_string_width)
            for part in parts:
                if draw:
                    pdf.set_xy(x, y)
                    pdf.cell(room.width_at(y), line_height, part)
                y += line_height if kind == "code" else line_height + 0.5
        return y <= room.bottom

    def _lines(
        self, text: str, x: float, y: float, width: float, height: float, *, draw: bool = True
    ) -> float:
        """Write `text` in the current font, wrapped at spaces to `width`; return the y below.

        Not multi_cell: its line breaking measures every prefix of a line again, which made
        the slips of a large workshop take seconds each."""
        for line in wrap(text, width, self.pdf.get_string_width):
            if draw:
                self.pdf.set_xy(x, y)
                self.pdf.cell(width, height, line)
            y += height
        return y


@dataclass(frozen=True)
class _Room:
    """Where a slip's details may go: beside the QR code, then across the whole slip."""

    narrow: float
    full: float
    beside_qr_until: float
    bottom: float

    def width_at(self, y: float) -> float:
        return self.narrow if y < self.beside_qr_until else self.full


def claim_page(link: str) -> str:
    """The claim page's address without the code (the code is printed above it)."""
    return link.partition("?")[0]


def wrap(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Greedy wrapping at spaces; a word wider than `width` on its own is cut where it must be."""
    if measure(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if measure(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while measure(line) > width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and measure(line[:cut]) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    lines.append(line)
    return lines


# Where a command may be wrapped and still be typed as printed, and what ends a line that
# goes on: before a shell option (`-H ...`, ` \\`), before a PowerShell parameter
# (`-Headers ...`, ` \``), or after a Python `,` (inside brackets a line break is allowed; a
# Python line is never broken at its `;`, since the next line would start indented).
_BREAKS = {
    "shell": (re.compile(r" (?=-[A-Za-z] )"), " \\"),
    "powershell": (re.compile(r" (?=-[A-Z][A-Za-z]+ )"), " `"),
    "python": (re.compile(r"(?<=,) "), ""),
}


def code_language(line: str) -> str:
    """Which language a quickstart line is in, for where it may be wrapped."""
    if line.startswith(("$env:", "(Invoke-RestMethod")):
        return "powershell"
    if line.startswith(("curl ", "export ")):
        return "shell"
    return "python"


def wrap_code(line: str, columns: int) -> list[str]:
    """A command split into lines of about `columns` characters at places where it can be
    typed as printed: continuation lines are indented, and a shell or PowerShell command's
    lines but the last end in its continuation mark. A piece longer than a line is left
    whole (it overflows rather than break the command)."""
    if len(line) <= columns:
        return [line]
    breaks, mark = _BREAKS[code_language(line)]
    room = columns - len(mark)
    pieces = breaks.split(line)
    lines = [pieces[0]]
    for piece in pieces[1:]:
        if len(lines[-1]) + 1 + len(piece) <= room:
            lines[-1] += " " + piece
        else:
            lines.append("  " + piece)
    return [f"{text}{mark}" for text in lines[:-1]] + lines[-1:]
