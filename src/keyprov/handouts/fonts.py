"""The fonts shipped in `keyprov/fonts/`, and which characters none of them can draw."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
SANS = "sans"
MONO = "mono"
CJK = "cjk"
_FILES = {
    (SANS, ""): "DejaVuSans.ttf",
    (SANS, "B"): "DejaVuSans-Bold.ttf",
    (MONO, ""): "DejaVuSansMono.ttf",
    (CJK, ""): "DroidSansFallback.ttf",
}


def register_fonts(pdf: FPDF, user_texts: Iterable[str]) -> None:
    """Embed the bundled fonts; a character missing from the current one is drawn from the
    others (CJK from Droid Sans Fallback), and text is shaped and ordered by HarfBuzz, so
    Arabic letters join and right-to-left names read right to left.

    `user_texts` are the names and titles to be set with `user_text`: Droid Sans Fallback is
    embedded only when one of them has a character DejaVu Sans lacks. It is 3.4 MB, and
    parsing and subsetting it is most of the time a PDF of Latin names takes.
    """
    for (family, style), file_name in _FILES.items():
        if family != CJK:
            pdf.add_font(family, style, FONT_DIR / file_name)
    sans = _covered_by(_FILES[SANS, ""])
    if any(ord(character) not in sans for text in user_texts for character in text):
        pdf.add_font(CJK, "", FONT_DIR / _FILES[CJK, ""])
    user_text(pdf)


def user_text(pdf: FPDF) -> None:
    """Set up for text in any script: names, titles."""
    # exact_match=False: a bold name in Chinese falls back to the regular CJK face.
    pdf.set_fallback_fonts([SANS, CJK] if CJK in pdf.fonts else [SANS], exact_match=False)
    pdf.set_text_shaping(True)


def own_text(pdf: FPDF) -> None:
    """Set up for keyprov's own text, all in the bundled DejaVu faces: no shaping, no fallback
    (each is a per-character cost on every slip)."""
    pdf.set_fallback_fonts([])
    pdf.set_text_shaping(False)


@functools.cache
def _covered() -> frozenset[int]:
    return frozenset().union(*(_covered_by(file_name) for file_name in set(_FILES.values())))


@functools.cache
def _covered_by(file_name: str) -> frozenset[int]:
    with TTFont(FONT_DIR / file_name, lazy=True) as font:
        return frozenset(font.getBestCmap())


def missing_characters(text: str) -> str:
    """The characters of `text` that no bundled font has (each once, in order): the PDF would
    show an empty box for them. Spaces and invisible format characters do not count."""
    covered = _covered()
    missing: dict[str, None] = {}
    for character in text:
        if character.isspace() or unicodedata.category(character) in {"Cf", "Cc"}:
            continue
        if ord(character) not in covered:
            missing[character] = None
    return "".join(missing)
