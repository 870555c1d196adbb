"""The listing read many pages at once (`expected`), over real HTTP against the sandbox.

However the answers come back, they are checked in offset order as one sequential reading
would be: every key exactly once, a page of the wrong shape retried alone, a key on two pages
(or a non-empty page after the short one) read again from the start. And the pages really are
asked for at once: the sandbox's request log shows them in flight together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyprov.api.client import LISTING_ATTEMPTS, OpenRouterClient, RetryEvent
from keyprov.api.listing import pages_at_once
from keyprov.engine.snapshot import confirm_known
from keyprov.sandbox import Faults, RequestRecord, Sandbox
from keyprov.workshop.journal import LedgerEntry
from tests.helpers import FAST_RETRY, CliWorkshop, make_roster

KEYS = 1050
PAGES = 11  # ten full pages and a short one


@pytest.fixture
def hashes(sandbox: Sandbox) -> list[str]:
    """KEYS keys on the server, newest first (the listing's order)."""
    for number in range(KEYS):
        sandbox.create_key_directly(f"keyprov:w:p{number}@example.org", limit=1)
    return [key["hash"] for key in sandbox.keys()]


@pytest.fixture
def client(sandbox: Sandbox, management_key: str) -> Iterator[OpenRouterClient]:
    with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as api:
        api.credits()  # as in a run, the server has answered before the listing
        sandbox.clear_log()
        yield api


def listing_requests(sandbox: Sandbox) -> list[RequestRecord]:
    return [r for r in sandbox.request_log if r.method == "GET" and r.path.endswith("/keys")]


def offsets_asked(sandbox: Sandbox) -> Counter[int]:
    return Counter(int(r.query["offset"]) for r in listing_requests(sandbox))


def overlapping(records: list[RequestRecord]) -> int:
    """The most requests the sandbox was working on at one moment."""
    moments = sorted(
        [(r.started, 1) for r in records] + [(r.finished, -1) for r in records],
        key=lambda moment: (moment[0], moment[1]),  # a finish before a start at the same time
    )
    most = current = 0
    for _, change in moments:
        current += change
        most = max(most, current)
    return most


def test_pages_at_once_reach_the_short_page_of_the_expected_count() -> None:
    assert [pages_at_once(n) for n in (0, 1, 99, 100, 150, 200, 10_000)] == [1, 1, 1, 2, 2, 3, 101]


@pytest.mark.parametrize("expected", [KEYS, 300, 5000])
def test_every_key_exactly_once_whatever_the_expected_count(
    expected: int, hashes: list[str], sandbox: Sandbox, client: OpenRouterClient
) -> None:
    keys = client.list_all_keys(expected=expected)
    assert [key.hash for key in keys] == hashes, "every key once, in the server's order"
    asked = offsets_asked(sandbox)
    assert set(asked.values()) == {1}, "no page asked for twice"
    pages = max(PAGES, pages_at_once(expected))  # too many expected: the rest answer empty
    assert sorted(asked) == [page * 100 for page in range(pages)]


def test_the_pages_are_in_flight_together(
    hashes: list[str], sandbox: Sandbox, client: OpenRouterClient
) -> None:
    sandbox.faults = Faults(latency=0.05)
    assert len(client.list_all_keys(expected=KEYS)) == KEYS
    assert overlapping(listing_requests(sandbox)) > 1

    sandbox.clear_log()
    assert len(client.list_all_keys()) == KEYS
    assert overlapping(listing_requests(sandbox)) == 1, "without `expected`: one at a time"


def test_progress_is_told_page_by_page_in_order(
    hashes: list[str], client: OpenRouterClient
) -> None:
    told: list[tuple[int, int]] = []
    client.list_all_keys(expected=KEYS, on_page=lambda keys, pages: told.append((keys, pages)))
    assert told == [(min(KEYS, 100 * page), page) for page in range(1, PAGES + 1)]


@pytest.mark.parametrize(
    "fault", ["list_no_data", "list_null_data", "list_item_without_hash", "html_200", 503]
)
def test_a_page_of_the_wrong_shape_is_asked_for_again_alone(
    fault: str | int, hashes: list[str], sandbox: Sandbox, client: OpenRouterClient
) -> None:
    events: list[RetryEvent] = []
    client.on_retry = events.append
    sandbox.force(fault, method="GET", path_prefix="/keys")
    keys = client.list_all_keys(expected=KEYS)
    assert [key.hash for key in keys] == hashes
    assert sorted(offsets_asked(sandbox).values()) == [1] * (PAGES - 1) + [2]
    assert [event.operation for event in events] == ["list keys"]
    assert "inconsistent_listing" not in [event.kind for event in events]


def test_a_repeated_page_reads_the_whole_listing_again(
    hashes: list[str], sandbox: Sandbox, client: OpenRouterClient
) -> None:
    events: list[RetryEvent] = []
    client.on_retry = events.append
    sandbox.force("list_repeat_page", method="GET", path_prefix="/keys")
    keys = client.list_all_keys(expected=KEYS)
    assert [key.hash for key in keys] == hashes
    assert [event.kind for event in events] == ["inconsistent_listing"]
    assert offsets_asked(sandbox)[0] == 2, "read again from the first page"


def test_a_listing_shifted_by_a_missing_key_reads_the_whole_listing_again(
    hashes: list[str], sandbox: Sandbox, client: OpenRouterClient
) -> None:
    events: list[RetryEvent] = []
    client.on_retry = events.append
    # As if a key in the middle were deleted while its page was read: the keys after it move
    # up one place, and the next page starts with a key this one already had.
    sandbox.force("list_missing_key", method="GET", path_prefix="/keys", hash=hashes[450])
    keys = client.list_all_keys(expected=KEYS)
    assert [key.hash for key in keys] == hashes
    assert [event.kind for event in events] == ["inconsistent_listing"]


def test_a_short_page_followed_by_more_keys_reads_the_whole_listing_again(
    hashes: list[str], sandbox: Sandbox, client: OpenRouterClient
) -> None:
    events: list[RetryEvent] = []
    client.on_retry = events.append
    # Every page of the first listing cut short: read one after another, the first page
    # would look like the last one. Read together, the pages after it give the lie away.
    sandbox.force("list_short_page", count=PAGES, method="GET", path_prefix="/keys")
    keys = client.list_all_keys(expected=KEYS)
    assert [key.hash for key in keys] == hashes
    # Pages not yet sent when the lie is seen are not sent: their faults meet a later listing.
    kinds = {event.kind for event in events}
    assert kinds == {"inconsistent_listing"} and len(events) < LISTING_ATTEMPTS
    assert sandbox.forced() == []


def test_keys_deleted_during_the_listing_leave_every_other_key_exactly_once(
    hashes: list[str], sandbox: Sandbox, client: OpenRouterClient
) -> None:
    """A listing cut short by deletes may skip a key it cannot tell it skipped: the snapshot
    asks for every key the state knows that the listing did not show (`confirm_known`)."""
    sandbox.faults = Faults(latency=0.02)
    deleted = hashes[:5]

    def delete_on_the_first_page(keys: int, pages: int) -> None:
        if pages == 1:  # the other pages are on their way: those after the delete shift
            for key_hash in deleted:
                client.delete_key(key_hash)

    listed = client.list_all_keys(expected=KEYS, on_page=delete_on_the_first_page)
    entries = [LedgerEntry(f"p{n}", f"keyprov:w:p{n}", hash=h) for n, h in enumerate(hashes)]
    known = [key.hash for key in confirm_known(client, entries, listed)]
    assert len(known) == len(set(known)), "no key twice"
    assert set(hashes) - set(deleted) <= set(known) <= set(hashes)


def test_a_rerun_lists_the_workshops_keys_many_pages_at_once(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    workshop = CliWorkshop(sandbox, management_key, tmp_path)
    make_roster(workshop.roster, 250)
    assert workshop.provision("--quiet").returncode == 0
    sandbox.faults = Faults(latency=0.05)

    done = workshop.provision()

    assert done.returncode == 0, done.stderr
    assert workshop.calls("POST") == []
    requests = listing_requests(sandbox)
    assert sorted(int(r.query["offset"]) for r in requests) == [0, 100, 200]
    assert overlapping(requests) > 1, "the state knows of 250 keys: three pages at once"
