"""The bench's watch scenario: one poll of a workshop of N keys, as `keyprov watch --once`.

A poll is one listing (its pages asked for at once, through the client's pacer) and the
credits read: at most ceil(N / 100) + 2 requests. The pacer's slow start lets 7 requests go
in the first round trip (keyprov.pacing), so 12 requests take two. The process is timed
from spawn to exit (start-up and the account check, GET /key, included); the poll itself is
timed from its first request's arrival to its last answer, on the sandbox's clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness import sandbox_process, workspace, write_csv_roster

SLOW_START = 7
"""Requests the pacer sends in its first round trip, before it has learnt anything."""


@dataclass(frozen=True)
class WatchRow:
    keys: int
    latency: float
    wall: float
    poll_seconds: float
    poll_requests: int
    list_pages: int
    other_requests: int
    """Requests outside the poll: the account check at start (GET /key)."""
    returncode: int

    @property
    def bound(self) -> int:
        return math.ceil(self.keys / 100) + 2

    @property
    def round_trips(self) -> float:
        return self.poll_seconds / self.latency


def watch_poll(keys: int, latency: float) -> WatchRow:
    with sandbox_process(latency=latency, rate_limit=None) as sandbox, workspace() as space:
        roster = write_csv_roster(space.folder / "room.csv", keys)
        first = space.run(sandbox, ["provision", str(roster), "--out", str(space.out)])
        if first.returncode != 0:
            raise RuntimeError(f"provision for the watch bench failed: {first.stderr}")
        run = space.run(sandbox, ["watch", str(roster), "--once"])
        records = sandbox.requests_seen()
    polled = [r for r in records if str(r["path"]).endswith(("/keys", "/credits"))]
    started = min(float(r["started"]) for r in polled)
    finished = max(float(r["finished"]) for r in polled)
    return WatchRow(
        keys=keys,
        latency=latency,
        wall=run.wall,
        poll_seconds=finished - started,
        poll_requests=len(polled),
        list_pages=sum(1 for r in polled if str(r["path"]).endswith("/keys")),
        other_requests=len(records) - len(polled),
        # 1: a room at rest has keys nobody used yet: worth a report, not a failure.
        returncode=run.returncode,
    )


def watch_table(rows: list[WatchRow]) -> list[str]:
    lines = [
        "| keys | latency (ms) | `watch --once` wall (s) | poll (s) | poll / latency "
        "| poll requests | bound ceil(N/100)+2 | listing pages | other requests | exit |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.keys} | {row.latency * 1000:g} | {row.wall:.2f} | {row.poll_seconds:.3f} "
            f"| {row.round_trips:.2f} | {row.poll_requests} | {row.bound} | {row.list_pages} "
            f"| {row.other_requests} | {row.returncode} |"
        )
    return lines


def watch_verdicts(rows: list[WatchRow]) -> list[str]:
    lines = []
    for row in rows:
        # Two round trips of the pacer's slow start (7, then the rest), plus slack.
        trips = 1 if row.poll_requests <= SLOW_START else 2
        met = row.poll_requests <= row.bound and row.round_trips <= trips + 0.5
        lines.append(
            f"- watch poll of {row.keys} keys: {row.poll_requests} requests ≤ {row.bound}, "
            f"{row.round_trips:.2f} round trips ≤ {trips + 0.5:g}: {'met' if met else 'MISSED'}"
        )
    return lines
