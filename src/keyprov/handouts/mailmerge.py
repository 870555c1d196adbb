"""mail-merge.csv: one row per participant for Word, Outlook, Thunderbird or a Google Sheets
mail merge.

UTF-8 with a byte-order mark (without one, Excel reads UTF-8 as Windows-1252 and breaks every
accent), comma-separated, CRLF line ends, every value as the email and the slips word it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from keyprov.files import atomic_private_writer
from keyprov.handouts.model import Handout
from keyprov.handouts.wording import HANDOUT_FIELDS, handout_fields

# key_label is left out: the merge has the key itself, and a masked copy beside it only invites
# pasting the wrong one.
COLUMNS = tuple(name for name in HANDOUT_FIELDS if name != "key_label")
"""Merge-field names: no spaces, so every mail-merge tool takes them as they are. `quickstart`
holds the workshop's quickstarts in one cell; a `quickstart_*` column is left out when no
participant's is filled (a quickstart not chosen with --quickstart)."""

# A spreadsheet runs a cell that starts with one of these as a formula. Roster names come from
# registration forms, so a participant could otherwise plant one that reads the keys of the
# rows around it.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_mail_merge_csv(path: Path, handouts: Sequence[Handout]) -> None:
    """Write the file to `path`, atomically, mode 0600 from the first byte."""
    with atomic_private_writer(path) as handle:
        handle.write(render_mail_merge_csv(handouts).encode("utf-8-sig"))


def render_mail_merge_csv(handouts: Sequence[Handout]) -> str:
    """The file's text, header first (see `write_mail_merge_csv`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    rows = [handout_fields(handout) for handout in handouts]
    columns = [
        column
        for column in COLUMNS
        if not column.startswith("quickstart_") or any(fields[column] for fields in rows)
    ]
    writer.writerow(columns)
    for fields in rows:
        writer.writerow(_inert(fields[column]) for column in columns)
    return buffer.getvalue()


def _inert(value: str) -> str:
    """The value, with a leading apostrophe if a spreadsheet would take it for a formula."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value
