"""The suite passes on any day: dates come from one clock (tests/clock.py), never by hand.

A test that wrote `--expires 2026-12-05` passed until that day and failed after it; these
checks stop the next one before it lands.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests import clock

TESTS = Path(__file__).parent
# Only digits around it end a match, not letters: a day followed by `T09:00Z` is a day too, and so
# is one with month 13 (compared as numbers: a test of a wrong day must not name a later one).
ISO_DAY = re.compile(r"(?<!\d)(20\d\d)-(\d\d)-(\d\d)(?!\d)")
REAL_DATE_READS = re.compile(r"\b(datetime\.(now|today|utcnow)|date\.today)\(")


def suite_files() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if path.name != "clock.py")


def test_no_test_writes_a_date_later_than_today_by_hand() -> None:
    later = [
        f"{path.relative_to(TESTS)}:{number}: {match.group(0)}"
        for path in suite_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for match in ISO_DAY.finditer(line)
        if tuple(map(int, match.groups())) > clock.today().timetuple()[:3]
    ]
    assert later == [], "compute these from tests/clock.py (day(offset)):\n" + "\n".join(later)


def test_no_test_reads_the_real_date_but_through_the_one_clock() -> None:
    readers = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in suite_files()
        if path != Path(__file__)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if REAL_DATE_READS.search(line)
    ]
    assert readers == [], "read the date through tests/clock.py:\n" + "\n".join(readers)
