"""Reading every key from OpenRouter's offset pages, believed only when the pages agree.

Pages are a fixed 100 keys, and only a page shorter than that says the listing ended. Read one
after another, 10,000 keys are 101 round trips: 15 s at 150 ms. So when the caller expects many
keys (a workshop's state knows how many it made), the pages up to that count, and one more for
the short page that ends the listing, are asked for at once; past them the listing goes on one
page at a time, as it always did. The requests go through the one client, so its limiter paces
them with everything else.

Whatever order the answers come in, they are checked in offset order, exactly as one sequential
reading would be:

- a key on two pages (or twice on one) means the listing shifted under the reader, or the
  server repeated a page, so another key may have been skipped: InconsistentListingError, and
  the caller reads the whole listing again (`HttpTransport.reread`);
- a page shorter than 100 ends the listing, so a page after it that is not empty means one of
  them is wrong (a page cut short, or keys deleted meanwhile): InconsistentListingError too. A
  sequential reading would not have asked, and believed the short page; asked, the later
  page's keys are evidence that must not be dropped.

A page that fails (a wrong shape, a 5xx) is retried on its own by the client's retry layer;
one that keeps failing fails the listing, whichever page it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from keyprov.errors import InconsistentListingError
from keyprov.models import ApiKey

PAGE_SIZE = 100
"""OpenRouter lists keys in fixed pages of 100."""
LISTING_WORKERS = 64
"""Threads reading pages at once, at most: as many as the client's limiter lets be in flight
(its window and connection pool are 64 by default), so 10,000 keys take two round trips."""

PageReader = Callable[[int], list[ApiKey]]
"""One page of keys from an offset, its answer already checked (or raised)."""
PageCallback = Callable[[int, int], None]
"""Told (keys so far, pages read) after each page, for a progress line."""


def pages_at_once(expected: int) -> int:
    """How many pages to ask for at once when `expected` keys are expected: enough to reach
    the short page that ends a listing of that many, so an estimate that is right wastes no
    request (150 keys: offsets 0 and 100; 200 keys: 0, 100 and the empty 200)."""
    return expected // PAGE_SIZE + 1 if expected > 0 else 1


def read_listing(
    read_page: PageReader, *, expected: int = 0, on_page: PageCallback | None = None
) -> list[ApiKey]:
    """Every key once, from pages that agree; else InconsistentListingError.

    The first `pages_at_once(expected)` pages are asked for together, every later page
    alone (so with `expected` 0 this is the plain sequential reading).
    """
    seen = _Seen(on_page)
    offset = 0
    batch = pages_at_once(expected)
    while True:
        offsets = [offset + number * PAGE_SIZE for number in range(batch)]
        with _answers(read_page, offsets) as answers:
            pages = zip(offsets, answers, strict=True)
            for at, page in pages:
                if seen.add(at, page):
                    _nothing_after(at, pages)
                    return seen.keys
        offset = offsets[-1] + PAGE_SIZE
        batch = 1


class _Seen:
    """The keys of the pages checked so far, in offset order, with the page each was on."""

    def __init__(self, on_page: PageCallback | None) -> None:
        self.keys: list[ApiKey] = []
        self._listed_at: dict[str, int] = {}
        self._pages = 0
        self._on_page = on_page

    def add(self, offset: int, page: list[ApiKey]) -> bool:
        """Take the page at `offset`; True when it is the last (shorter than a full page)."""
        listed_at = self._listed_at
        for key in page:
            earlier = listed_at.get(key.hash)
            if earlier is not None:
                raise InconsistentListingError(
                    f"GET /keys?offset={offset} listed key {key.hash[:16]!r}, which "
                    f"GET /keys?offset={earlier} listed too: the listing shifted while it "
                    "was read (keys created or deleted meanwhile) or the server repeated "
                    "a page, so a key may have been skipped",
                    status=200,
                )
            listed_at[key.hash] = offset
        self.keys.extend(page)
        self._pages += 1
        if self._on_page is not None:
            self._on_page(len(self.keys), self._pages)
        return len(page) < PAGE_SIZE


def _nothing_after(end: int, rest: Iterator[tuple[int, list[ApiKey]]]) -> None:
    """Pages asked for past the short page at `end` must be empty: the listing ended there."""
    for offset, page in rest:
        if page:
            raise InconsistentListingError(
                f"GET /keys?offset={end} answered a short page, the last of the listing, "
                f"but GET /keys?offset={offset} listed {len(page)} more keys: a page was cut "
                "short or keys were deleted while the listing was read, so a key may have "
                "been skipped",
                status=200,
            )


@contextmanager
def _answers(read_page: PageReader, offsets: list[int]) -> Iterator[Iterator[list[ApiKey]]]:
    """The pages at `offsets`, in that order, each as soon as it and those before it are in."""
    if len(offsets) == 1:
        yield iter([read_page(offsets[0])])
        return
    workers = min(LISTING_WORKERS, len(offsets))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="keyprov-listing")
    try:
        # Submitted in offset order, so the limiter lets the first pages go first.
        yield pool.map(read_page, offsets)
    except BaseException as error:
        # Pages not yet sent are dropped. Those in flight are waited for after a page that
        # failed, so none outlives the listing (that may be read again at once); not after
        # Ctrl-C, which must stop the run now: they end in their threads, unread.
        pool.shutdown(wait=isinstance(error, Exception), cancel_futures=True)
        raise
    pool.shutdown(wait=True)
