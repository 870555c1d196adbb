"""Handing each participant their own key on paper or by mail merge.

`Handout` is one participant and their current key; `wording` says what a handout says (the
email in `keyprov.delivery` uses the same words); `write_handouts_pdf` writes the printable
slips and `write_mail_merge_csv` the mail-merge file, both mode 0600.

The PDF side (`keyprov.handouts.pdf`, `fonts`) loads fpdf2, Pillow and numpy, over half a
second: it is imported from its own modules where a PDF is made, never from here, so that
sending email or writing the CSV does not wait for it.
"""

from __future__ import annotations

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
    "Handout",
    "budget_in_words",
    "budget_left_lines",
    "first_name_of",
    "handout_fields",
    "last_day_date",
    "last_day_in_words",
    "limit_in_words",
    "limit_reset_in_words",
    "models_in_words",
    "quickstart_lines",
    "render_mail_merge_csv",
    "replaces_in_words",
    "write_mail_merge_csv",
]
