"""A list route's answer, and the forced "list_*" faults that reshape it.

Each reshaping is one way a listing can lie while still looking like a listing, so a client can
be tested on never taking a malformed or incomplete answer for "these are all the keys".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from keyprov.sandbox.faults import (
    LIST_ITEM_WITHOUT_HASH,
    LIST_MISSING_KEY,
    LIST_NO_DATA,
    LIST_NULL_DATA,
    LIST_REPEAT_PAGE,
    LIST_SHORT_PAGE,
    Forced,
)

Row = TypeVar("Row")


@dataclass
class Listing(Generic[Row]):
    """Every row a list query selects (all pages, in order), and which page was asked for.

    Rows are rendered to API objects only for the page answered, so a 10,000-key account costs
    one page of objects per request, not every key.
    """

    rows: Sequence[Row]
    offset: int
    page_size: int
    ident: Callable[[Row], str]  # the id a client dedupes by: a key's hash
    render: Callable[[Row], dict[str, Any]]
    id_field: str = "hash"
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. total_count, beside data

    def page_rows(self, rows: Sequence[Row] | None = None, offset: int | None = None) -> list[Row]:
        chosen = self.rows if rows is None else rows
        start = self.offset if offset is None else offset
        return list(chosen[start : start + self.page_size])

    def answer(self) -> dict[str, Any]:
        return {"data": [self.render(r) for r in self.page_rows()], **self.extra}

    def applies(self, entry: Forced) -> bool:
        """Whether a forced list fault can act on this page (else it waits for another)."""
        page = self.page_rows()
        if entry.kind == LIST_REPEAT_PAGE:
            return self.offset > 0  # the first page has no earlier page to repeat
        if entry.kind in (LIST_SHORT_PAGE, LIST_MISSING_KEY, LIST_ITEM_WITHOUT_HASH):
            if entry.hash is not None:
                return any(self.ident(r) == entry.hash for r in page)
            return bool(page)
        return True

    def answer_with(self, entry: Forced) -> dict[str, Any]:
        """The answer as the forced fault `entry` (which `applies`) reshapes it."""
        if entry.kind == LIST_NO_DATA:
            return {}
        if entry.kind == LIST_NULL_DATA:
            return {"data": None, **self.extra}
        page = self.page_rows()
        if entry.kind == LIST_SHORT_PAGE:
            # The first half, rounded down: a client that stops on a short page stops here.
            page = page[: len(page) // 2]
        elif entry.kind == LIST_REPEAT_PAGE:
            page = self.page_rows(offset=max(0, self.offset - self.page_size))
        elif entry.kind == LIST_MISSING_KEY:
            # As if the key did not exist: the rest of the listing moves up one place, so the
            # page keeps its length and the next page starts with a key this one already had.
            missing = entry.hash or self.ident(page[0])
            page = self.page_rows([r for r in self.rows if self.ident(r) != missing])
        data = [self.render(r) for r in page]
        if entry.kind == LIST_ITEM_WITHOUT_HASH:
            target = entry.hash or self.ident(page[0])
            index = next(i for i, r in enumerate(page) if self.ident(r) == target)
            data[index].pop(self.id_field, None)
        return {"data": data, **self.extra}
