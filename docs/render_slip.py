"""Render docs/slip.png: one slip of handouts.pdf, for the README and docs/handouts.md.

The key is a made-up placeholder (not a key anyone holds); the slip is drawn by the same
code as `keyprov handouts`, then rendered by pypdfium2 (a test dependency) and cropped to
the first of the page's three slips.

    .venv/bin/python docs/render_slip.py
"""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

from keyprov.handouts import Handout
from keyprov.handouts.pdf import MARGIN, PAPER_SIZES, SLIPS_PER_PAGE, render_handouts_pdf

PLACEHOLDER_KEY = "sk-or-v1-" + "0123456789abcdef" * 4
OUT = Path(__file__).resolve().parent / "slip.png"
WIDTH_PX = 1100


def main() -> None:
    handout = Handout(
        identity="ada@example.org",
        name="Ada Lovelace",
        email="ada@example.org",
        secret=PLACEHOLDER_KEY,
        key_label="sk-or-v1-012...def",
        key_hash="0" * 64,
        limit=5.0,
        limit_reset="monthly",
        expires_at="2026-12-05T23:59:59Z",
        models=("anthropic/claude-haiku-4.5", "openai/gpt-4o-mini"),
    )
    document = pdfium.PdfDocument(render_handouts_pdf([handout], title="BSSDH 2026"))
    page_width_mm, page_height_mm = PAPER_SIZES["a4"]
    scale = WIDTH_PX / (page_width_mm / 25.4 * 72)
    image = document[0].render(scale=scale, grayscale=True).to_pil()
    px_per_mm = image.width / page_width_mm
    slip_mm = (page_height_mm - 2 * MARGIN) / SLIPS_PER_PAGE
    top, bottom = (MARGIN - 4) * px_per_mm, (MARGIN + slip_mm + 2) * px_per_mm
    slip = image.crop((0, round(top), image.width, round(bottom)))
    slip.convert("L").quantize(colors=16).save(OUT, optimize=True)
    print(f"{OUT}: {slip.width}x{slip.height}, {OUT.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
