"""Read a participant roster (CSV, TSV or Excel) into validated participants.

Reading has three steps, each replaceable on its own: load the file into a grid of cells (the
values as the file stores them: text, numbers, dates), find the header row and map its columns
to fields, then validate every row. All problems are collected and raised together, so the user
fixes the file once; nothing is guessed where a guess could give someone a wrong key.

One module per step: `loading` (file -> grid), `headers` (header row -> columns, with
`content` choosing between columns by their cells) and `rows` (rows -> participants, with
`folding` reporting one problem of many rows once), or, for a file that is only a list of
addresses, `address_list` instead of the last two; `table` holds the grid and the
cell-as-text rules they share, `values` what a valid email, amount or reset is, and `options`
checks --limit, --limit-reset and --max-limit before any file is read. This module joins the
steps and is the only one the rest of keyprov imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from keyprov.errors import RosterError, RosterProblem
from keyprov.roster.address_list import is_address_list, read_address_list
from keyprov.roster.headers import HeaderMatcher, find_header, normalise_header, resolve_columns
from keyprov.roster.loading import load_table
from keyprov.roster.options import check_options
from keyprov.roster.rows import Participant, RowReader, check_limit_column
from keyprov.roster.table import Cell, cell_text, normalise_text
from keyprov.roster.values import DEFAULT_MAX_LIMIT, LIMIT_RESETS

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


@dataclass(frozen=True)
class Roster:
    path: Path
    participants: list[Participant]
    skipped: list[RosterProblem] = field(default_factory=list)
    """Rows not provisioned on purpose (a cancelled or refunded registration), with the reason."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should check although the roster was read (e.g. a guessed encoding)."""


def read_roster(
    path: Path,
    *,
    default_limit: float | None = None,
    default_limit_reset: str | None = None,
    max_limit: float = DEFAULT_MAX_LIMIT,
    sheet: str | None = None,
    column_overrides: Mapping[str, str] | None = None,
) -> Roster:
    """Read and validate a roster; raise RosterError listing every problem found.

    `sheet` names the Excel sheet to read (default: the first); `column_overrides` maps a
    field (name, first_name, last_name, email, limit, limit_reset, id, status) to the header
    text that holds it, overriding the built-in synonyms. An unusable option (a default limit
    of 0, an unknown field) raises OptionError before the file is read.
    """
    shown = str(path)
    check_options(default_limit, default_limit_reset, max_limit)
    matcher = HeaderMatcher.build(column_overrides or {})
    table = load_table(path, shown, sheet, matcher)
    if is_address_list(table, matcher):
        listed = read_address_list(table, shown, default_limit, default_limit_reset)
        if listed.problems:
            raise RosterError(listed.problems)
        warnings = [*table.warnings, *listed.warnings]
        return Roster(path=path, participants=listed.participants, warnings=warnings)
    header = find_header(table, matcher, shown)
    columns, problems = resolve_columns(header, matcher, table, shown)
    problems += check_limit_column(header, default_limit, shown)
    if columns is None:
        raise RosterError(problems)
    reader = RowReader(shown, columns, default_limit, default_limit_reset, max_limit)
    result = reader.read(table, header.index + 1)
    result.problems[:0] = problems
    if not result.participants and not result.problems:
        message = "the roster has a header but no participants."
        if result.skipped:
            message = (
                f"every row of the roster is skipped ({len(result.skipped)} cancelled or "
                "refunded registrations); there is no one to provision."
            )
        result.problems.append(RosterProblem(shown, None, None, message))
    if result.problems:
        raise RosterError(result.problems)
    return Roster(
        path=path,
        participants=result.participants,
        skipped=result.skipped,
        warnings=[*table.warnings, *columns.warnings, *result.warnings],
    )
