"""Handing each participant their own key on paper or by mail merge.

`Handout` is one participant and their current key; `wording` says what a handout says (the
email in `keyprov.delivery` uses the same words); `write_handouts_pdf` writes the printable
slips and `write_mail_merge_csv` the mail-merge file, both mode 0600.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keyprov.handouts.mailmerge import (
    COLUMNS,
    render_mail_merge_csv,
    write_mail_merge_csv,
)
from keyprov.handouts.model import Handout, first_name_of
from keyprov.handouts.wording import (
    BASE_URL,
    budget_in_words,
    budget_left_lines,
    handout_fields,
    last_day_date,
    last_day_in_words,
    limit_in_words,
    limit_reset_in_words,
    models_in_words,
    quickstart_lines,
    replaces_in_words,
)

__all__ = [
    "BASE_URL",
    "COLUMNS",
    "PAPER_SIZES",
    "Handout",
    "budget_in_words",
    "budget_left_lines",
    "first_name_of",
    "handout_fields",
    "last_day_date",
    "last_day_in_words",
    "limit_in_words",
    "limit_reset_in_words",
    "missing_characters",
    "models_in_words",
    "quickstart_lines",
    "render_handouts_pdf",
    "render_mail_merge_csv",
    "replaces_in_words",
    "write_handouts_pdf",
    "write_mail_merge_csv",
]

if TYPE_CHECKING:
    from keyprov.handouts.fonts import missing_characters
    from keyprov.handouts.pdf import PAPER_SIZES, render_handouts_pdf, write_handouts_pdf

# The PDF side loads fpdf2, Pillow and numpy (over half a second): only when it is used, so
# that sending email or writing the CSV does not wait for it.
_LAZY = {
    "PAPER_SIZES": "keyprov.handouts.pdf",
    "render_handouts_pdf": "keyprov.handouts.pdf",
    "write_handouts_pdf": "keyprov.handouts.pdf",
    "missing_characters": "keyprov.handouts.fonts",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
