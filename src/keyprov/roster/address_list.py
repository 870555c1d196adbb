"""A roster that is only a list of addresses: one per line, perhaps under a header line.

Some instructors keep nothing else (`participants_emails.txt`). Such a file has no header
with a name column, so the header step would refuse it; it is recognised here first, by its
shape: every line holds addresses and nothing else, apart from one header line at the top
('email', 'E-pasts', 'Participants') and lines that are one cell each (a typo'd address, to
be reported). Each line is a participant identified by their (first) address, with no name;
a line that repeats an earlier line's addresses, in any case, is read once, with a note.
"""

from __future__ import annotations

from collections.abc import Sequence

from keyprov.errors import RosterProblem
from keyprov.roster.folding import fold_repeats, row_listing
from keyprov.roster.headers import FIELD_OF_HEADER, HeaderMatcher, normalise_header
from keyprov.roster.rows import Participant, RowResults, address_problem
from keyprov.roster.table import Cell, Table, cell_text, is_blank, normalise_text
from keyprov.roster.values import is_email, split_addresses


def _texts(cells: Sequence[Cell]) -> list[str]:
    return [text for cell in cells if (text := normalise_text(cell_text(cell)))]


def _holds_addresses(texts: Sequence[str]) -> bool:
    return bool(texts) and all("@" in text for text in texts)


def is_address_list(table: Table, matcher: HeaderMatcher) -> bool:
    """Whether the file is a list of addresses rather than a table with a header.

    Every line holds addresses only, or is a single cell (a typo'd address to report, or the
    header line at the top); and at least half of the lines below a header hold an address,
    so that a column of names is never taken for one.
    """
    if matcher.overrides:
        return False  # the user named columns: the file is a table
    lines = [_texts(cells) for cells in table.rows if not is_blank(cells)]
    if lines and not _holds_addresses(lines[0]) and len(lines[0]) == 1:
        lines = lines[1:]  # a header line
    if not lines or any(len(texts) > 1 and not _holds_addresses(texts) for texts in lines):
        return False
    valid = sum(1 for texts in lines if any(is_email(a) for a in split_addresses(texts[0])))
    return valid > 0 and 2 * sum(1 for texts in lines if _holds_addresses(texts)) >= len(lines)


def read_address_list(
    table: Table, shown: str, default_limit: float | None, default_limit_reset: str | None
) -> RowResults:
    """Every line of a list of addresses as a participant, or the problems of its lines."""
    result = RowResults()
    problems: list[RosterProblem] = []
    indexes = [index for index, cells in enumerate(table.rows) if not is_blank(cells)]
    first = _texts(table.rows[indexes[0]])
    if len(first) == 1 and "@" not in first[0]:
        header_row = table.row_number(indexes.pop(0))
        if FIELD_OF_HEADER.get(normalise_header(first[0])) != "email":
            result.warnings.append(
                f"{shown}: row {header_row} ({first[0]!r}) is read as the header of a list of "
                "addresses, not as an address."
            )
    if default_limit is None:
        problems.append(
            RosterProblem(
                shown,
                None,
                None,
                "a list of addresses has no limits: give every key's budget with --limit USD.",
            )
        )
    owner: dict[str, Participant] = {}
    repeated: list[int] = []
    for index in indexes:
        row = table.row_number(index)
        text = ", ".join(_texts(table.rows[index]))
        problem = address_problem(text)
        if problem is not None:
            problems.append(RosterProblem(shown, row, None, problem[0], plural=problem[1]))
            continue
        emails = tuple(dict.fromkeys(split_addresses(text)))
        earlier = {owner[address].row: owner[address] for address in emails if address in owner}
        if len(earlier) == 1 and set(emails) <= set(next(iter(earlier.values())).emails):
            repeated.append(row)
            continue
        if earlier:
            again = next(address for address in emails if address in owner)
            problems.append(
                RosterProblem(
                    shown,
                    row,
                    None,
                    f"{again!r} is also on row {owner[again].row}; each participant may appear "
                    "once. Delete one of the two lines, or correct the address.",
                )
            )
            continue
        participant = Participant(
            "", emails[0], default_limit or 0.0, default_limit_reset, row, emails=emails
        )
        owner.update((address, participant) for address in emails)
        result.participants.append(participant)
    if repeated:
        verb = "repeats an address" if len(repeated) == 1 else "repeat addresses"
        result.warnings.append(
            f"{shown}: row{'s' if len(repeated) > 1 else ''} {row_listing(repeated)} {verb} "
            "of an earlier row (in any case); each participant is read once."
        )
    result.problems = fold_repeats(problems)
    return result
