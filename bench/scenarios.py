"""The bench's measurements: each a function that starts its own sandboxes and returns rows.

The ceiling of a run is what the server allows: the requests the run needed (every request
it sent that was not refused with a 429: the listing, the credits read and the creates, or a
command's reads and writes) over min(R, C / L), C being keyprov's concurrency. A sandbox's
bucket starts full, so a run can beat its ceiling by the bucket's first R requests.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from harness import (
    BENCH_KEY,
    ProcessRun,
    Requests,
    sandbox_process,
    workspace,
    write_csv_roster,
    write_xlsx_roster,
)

from keyprov.api.client import OpenRouterClient
from keyprov.engine.creator import DEFAULT_CONCURRENCY
from keyprov.errors import KeyprovError


def ceiling_seconds(needed: int, rate_limit: float, latency: float) -> float:
    return needed / min(rate_limit, DEFAULT_CONCURRENCY / latency)


class AgainstTheCeiling:
    """A measured run's wall time against what the server allowed it."""

    needed: int
    rate_limit: float
    latency: float
    wall: float
    throttled: int
    total: int

    @property
    def ceiling(self) -> float:
        return ceiling_seconds(self.needed, self.rate_limit, self.latency)

    @property
    def ratio(self) -> float:
        return self.wall / self.ceiling

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.total if self.total else 0.0


@dataclass(frozen=True)
class SpeedRow(AgainstTheCeiling):
    scenario: str
    keys: int
    rate_limit: float
    latency: float
    wall: float
    needed: int
    throttled: int
    total: int
    failures: int
    walls: tuple[float, ...] = ()
    """Every run's wall time when the scenario ran more than once (`wall` is the median)."""
    first_request: float | None = None
    baseline_wall: float | None = None

    @property
    def speedup(self) -> float | None:
        return None if self.baseline_wall is None else self.baseline_wall / self.wall


def _provision_once(keys: int, rate_limit: float, latency: float) -> SpeedRow:
    with sandbox_process(latency=latency, rate_limit=rate_limit) as sandbox, workspace() as space:
        roster = write_csv_roster(space.folder / f"bench{keys}.csv", keys)
        run = space.run(sandbox, ["provision", str(roster), "--out", str(space.out)])
        return _speed_row("keyprov provision", keys, rate_limit, latency, run)


def _speed_row(
    scenario: str, keys: int, rate_limit: float, latency: float, run: ProcessRun
) -> SpeedRow:
    seen = run.requests
    # Keys not made; a run that exits non-zero failed even if it made them all.
    failures = max(keys - seen.creates, 0 if run.returncode == 0 else 1)
    return SpeedRow(
        scenario,
        keys,
        rate_limit,
        latency,
        run.wall,
        seen.needed,
        seen.throttled,
        seen.total,
        failures,
        first_request=run.first_request,
    )


def provision_speed(keys: int, rate_limit: float, latency: float, repeats: int) -> SpeedRow:
    """The median of `repeats` whole-process runs, each on a fresh sandbox: one run of a few
    seconds is at the mercy of the machine's other work. Its 429s are the median run's, its
    failures the worst run's."""
    runs = sorted(
        (_provision_once(keys, rate_limit, latency) for _ in range(repeats)),
        key=lambda row: row.wall,
    )
    median = runs[len(runs) // 2]
    if repeats == 1:
        return median
    return replace(
        median,
        failures=max(row.failures for row in runs),
        walls=tuple(row.wall for row in runs),
    )


def loop_speed(keys: int, rate_limit: float, latency: float) -> SpeedRow:
    """One create after another, as the instructor's notebook does (without its one-second
    sleep), with keyprov's own client, so the comparison is of the strategy, not of two HTTP
    stacks. In-process, so it pays no start-up: the comparison flatters the loop."""
    with sandbox_process(latency=latency, rate_limit=rate_limit) as sandbox:
        client = OpenRouterClient(BENCH_KEY, sandbox.base_url)
        failures = 0
        started = time.monotonic()
        for number in range(keys):
            try:
                client.create_key(f"bench-loop-{number}", limit=1.5)
            except KeyprovError:
                failures += 1
        wall = time.monotonic() - started
        client.close()
        seen = Requests.seen_by(sandbox)
        return SpeedRow(
            "one-at-a-time loop",
            keys,
            rate_limit,
            latency,
            wall,
            seen.needed,
            seen.throttled,
            seen.total,
            failures,
        )


# -- start-up -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartupRow:
    measurement: str
    seconds: float
    samples: tuple[float, ...]


def startup(repeats: int = 5) -> list[StartupRow]:
    """`keyprov provision --help`, and the first request of a provision run after its spawn."""
    helps = []
    for _ in range(repeats):
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "keyprov", "provision", "--help"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        helps.append(time.monotonic() - started)
    firsts = []
    with sandbox_process(latency=0.0, rate_limit=None) as sandbox:
        for number in range(repeats):
            with workspace() as space:
                roster = write_csv_roster(space.folder / f"start{number}.csv", 5)
                run = space.run(sandbox, ["provision", str(roster), "--out", str(space.out)])
                assert run.returncode == 0 and run.first_request is not None, run.stderr
                firsts.append(run.first_request)
    return [
        StartupRow("`keyprov provision --help`", statistics.median(helps), tuple(helps)),
        StartupRow("spawn to first request (provision)", statistics.median(firsts), tuple(firsts)),
    ]


# -- lifecycle commands -------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandRow(AgainstTheCeiling):
    command: str
    keys: int
    rate_limit: float
    latency: float
    wall: float
    needed: int
    throttled: int
    total: int
    returncode: int


LIFECYCLE_COMMANDS = (
    ("set-limit --all --add 1", ["set-limit", "--all", "--add", "1"]),
    ("rotate --all", ["rotate", "--all", "--yes"]),
    ("revoke", ["revoke", "--yes"]),
)


def lifecycle_speed(keys: int, rate_limit: float, latency: float) -> list[CommandRow]:
    """Each command over a freshly provisioned workshop of `keys`, in the order of a workshop's
    life (top up, rotate, revoke), each timed as its whole process."""
    rows = []
    with sandbox_process(latency=latency, rate_limit=rate_limit) as sandbox, workspace() as space:
        roster = write_csv_roster(space.folder / "life.csv", keys)
        first = space.run(sandbox, ["provision", str(roster), "--out", str(space.out)])
        if first.returncode != 0:
            raise RuntimeError(f"provision for the lifecycle bench failed: {first.stderr}")
        for label, arguments in LIFECYCLE_COMMANDS:
            run = space.run(sandbox, [*arguments, str(roster)])
            seen = run.requests
            rows.append(
                CommandRow(
                    label,
                    keys,
                    rate_limit,
                    latency,
                    run.wall,
                    seen.needed,
                    seen.throttled,
                    seen.total,
                    run.returncode,
                )
            )
    return rows


# -- scale --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleRow:
    measurement: str
    rows: int
    wall: float
    peak_rss_mb: float
    creates: int | None = None
    list_pages: int | None = None
    needed: int | None = None
    throttled: int | None = None
    rate_limit: float | None = None
    latency: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.needed is None or self.rate_limit is None or self.latency is None:
            return None
        return self.wall / ceiling_seconds(self.needed, self.rate_limit, self.latency)


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def child_plan(roster: Path) -> dict[str, object]:
    """Read, validate and plan a roster for a workshop with no keys yet: the work before the
    first request, which no server latency hides."""
    from keyprov.engine.planner import make_plan
    from keyprov.provision import ProvisionSettings, load_roster

    started = time.perf_counter()
    settings = ProvisionSettings(roster=roster)
    participants = load_roster(settings).participants
    plan = make_plan(settings.workshop_name, participants, {}, [])
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
        "participants": len(plan.items),
    }


def _run_child(*arguments: str) -> dict[str, object]:
    output = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("bench.py")), "--child", *arguments],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(output.stdout)


def scale(rows: int, rate_limit: float, latency: float) -> list[ScaleRow]:
    """Reading a big roster (CSV and XLSX), then provisioning it and a rerun, whole process."""
    results: list[ScaleRow] = []
    with workspace() as space:
        csv_roster = write_csv_roster(space.folder / "big.csv", rows)
        xlsx_roster = write_xlsx_roster(space.folder / "big.xlsx", rows)
        for roster in (csv_roster, xlsx_roster):
            measured = _run_child("plan", str(roster))
            assert measured["participants"] == rows, measured
            results.append(
                ScaleRow(
                    f"read, validate, plan ({roster.suffix[1:].upper()})",
                    rows,
                    float(str(measured["seconds"])),
                    float(str(measured["peak_rss_mb"])),
                )
            )
        with sandbox_process(latency=latency, rate_limit=rate_limit) as sandbox:
            for measurement in ("first run", "rerun, fully provisioned"):
                run = space.run(sandbox, ["provision", str(csv_roster), "--out", str(space.out)])
                if run.returncode != 0:
                    raise RuntimeError(f"the {measurement} failed: {run.stderr[-2000:]}")
                results.append(_scale_row(measurement, rows, run, rate_limit, latency))
    return results


def _scale_row(
    measurement: str,
    rows: int,
    run: ProcessRun,
    rate_limit: float,
    latency: float,
) -> ScaleRow:
    seen = run.requests
    return ScaleRow(
        measurement,
        rows,
        run.wall,
        run.peak_rss_mb,
        creates=seen.creates,
        list_pages=seen.list_pages,
        needed=seen.needed,
        throttled=seen.throttled,
        rate_limit=rate_limit,
        latency=latency,
    )
