"""One problem repeated on many rows is reported once, with the rows listed.

A roster with no limit in 23 rows has one thing to fix, not 23: a single line naming the
rows, the column and the fix is easier to act on than a screenful of the same sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

from keyprov.errors import RosterProblem

FOLD_AT = 3
"""Rows with the same problem from which they are reported as one line; two lines of the
same problem are still easy to read, each with its own row."""

LISTED_IN_FULL = 5
"""Up to this many rows are all named; beyond it the first three and the last."""


def row_listing(rows: Sequence[int]) -> str:
    """'3, 4, 5, … 31': enough to find the rows, short enough for one line."""
    if len(rows) <= LISTED_IN_FULL:
        return ", ".join(str(row) for row in rows)
    return f"{rows[0]}, {rows[1]}, {rows[2]}, … {rows[-1]}"


def fold_repeats(problems: Sequence[RosterProblem]) -> list[RosterProblem]:
    """The problems in their order, those of FOLD_AT or more rows alike as one, at the first.

    Problems are alike when they have the same column and the same message (so the same
    value: 'anonymous' on 20 rows folds, 20 different typos do not) and say how to put
    themselves in the plural.
    """
    groups: dict[tuple[str | None, str], list[int]] = {}
    for problem in problems:
        if problem.plural is not None and problem.row is not None:
            groups.setdefault((problem.column, problem.message), []).append(problem.row)
    folded: list[RosterProblem] = []
    reported: set[tuple[str | None, str]] = set()
    for problem in problems:
        key = (problem.column, problem.message)
        rows = groups.get(key, []) if problem.plural is not None else []
        if len(rows) < FOLD_AT:
            folded.append(problem)
            continue
        if key in reported:
            continue
        reported.add(key)
        folded.append(
            RosterProblem(
                problem.file,
                rows[0],
                problem.column,
                f"{len(rows)} rows ({row_listing(rows)}) {problem.plural}",
                rows=tuple(rows),
            )
        )
    return folded
