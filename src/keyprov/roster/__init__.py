"""Read a participant roster (CSV, TSV or Excel) into validated participants.

The code moved unchanged to `rows` first, so that history follows it; the next commit splits
it into one module per step.
"""

from keyprov.roster.rows import (
    DEFAULT_MAX_LIMIT,
    LIMIT_RESETS,
    Cell,
    Participant,
    Roster,
    cell_text,
    normalise_header,
    normalise_text,
    read_roster,
)

__all__ = [
    "DEFAULT_MAX_LIMIT",
    "LIMIT_RESETS",
    "Cell",
    "Participant",
    "Roster",
    "cell_text",
    "normalise_header",
    "normalise_text",
    "read_roster",
]
