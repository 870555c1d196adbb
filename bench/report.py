"""bench/results.md: the tables of one bench run, and each target of the speed issue met or
missed, from that run's own numbers."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from claim_burst import BurstRow, burst_table, burst_verdicts
from mail import MAIL_NOTE, MailRow, mail_table, mail_verdicts
from scenarios import CommandRow, ScaleRow, SpeedRow, StartupRow
from watch_poll import WatchRow, watch_table, watch_verdicts

from keyprov.engine.creator import DEFAULT_CONCURRENCY

BENCH_DIR = Path(__file__).resolve().parent
FIRST_REQUEST_TARGET = 0.2


@dataclass
class Results:
    speed: list[SpeedRow] = field(default_factory=list)
    loops: list[SpeedRow] = field(default_factory=list)
    startup: list[StartupRow] = field(default_factory=list)
    lifecycle: list[CommandRow] = field(default_factory=list)
    scale: list[ScaleRow] = field(default_factory=list)
    watch: list[WatchRow] = field(default_factory=list)
    claims: list[BurstRow] = field(default_factory=list)
    mail: list[MailRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def speed_table(rows: list[SpeedRow]) -> list[str]:
    lines = [
        "| R (req/s) | N | keyprov wall (s) | requests needed | ceiling (s) | wall / ceiling "
        "| loop wall (s) | speed-up over the loop | 429s (share of requests) | failures |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        wall = f"{row.wall:.2f}"
        if row.walls:
            wall += " (median of " + ", ".join(f"{value:.2f}" for value in row.walls) + ")"
        speedup = _fmt(row.speedup, ".1f") + ("x" if row.speedup is not None else "")
        lines.append(
            f"| {row.rate_limit:g} | {row.keys} | {wall} | {row.needed} | {row.ceiling:.2f} "
            f"| {row.ratio:.3f} | {_fmt(row.baseline_wall, '.2f')} | {speedup} "
            f"| {row.throttled} ({row.throttled_share:.0%}) | {row.failures} |"
        )
    return lines


def loop_table(rows: list[SpeedRow]) -> list[str]:
    lines = [
        "| R (req/s) | N | wall (s) | requests | 429s | failures |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.rate_limit:g} | {row.keys} | {row.wall:.2f} | {row.total} "
            f"| {row.throttled} | {row.failures} |"
        )
    return lines


def startup_table(rows: list[StartupRow]) -> list[str]:
    lines = ["| measurement | median (s) | all runs (s) |", "|---|---:|---|"]
    for row in rows:
        samples = ", ".join(f"{value:.3f}" for value in row.samples)
        lines.append(f"| {row.measurement} | {row.seconds:.3f} | {samples} |")
    return lines


def lifecycle_table(rows: list[CommandRow]) -> list[str]:
    lines = [
        "| command | keys | R (req/s) | wall (s) | requests needed | ceiling (s) "
        "| wall / ceiling | 429s (share) | exit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| `keyprov {row.command}` | {row.keys} | {row.rate_limit:g} | {row.wall:.2f} "
            f"| {row.needed} | {row.ceiling:.2f} | {row.ratio:.3f} "
            f"| {row.throttled} ({row.throttled_share:.0%}) | {row.returncode} |"
        )
    return lines


def scale_table(rows: list[ScaleRow]) -> list[str]:
    lines = [
        "| measurement | rows | wall (s) | wall / ceiling | peak RSS (MB) | creates "
        "| list pages | 429s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.measurement} | {row.rows} | {row.wall:.2f} | {_fmt(row.ratio, '.3f')} "
            f"| {row.peak_rss_mb:.0f} | {_fmt(row.creates, 'd')} | {_fmt(row.list_pages, 'd')} "
            f"| {_fmt(row.throttled, 'd')} |"
        )
    return lines


def verdicts(results: Results) -> list[str]:
    lines = []
    for row in results.speed:
        bound = None
        if (row.rate_limit, row.keys) in ((50, 100), (50, 500), (200, 500)):
            # Not N = 100 at R = 200: its ceiling (0.5 s) is less than three round trips and
            # a start-up, which any whole process pays.
            bound = 1.05
        elif row.rate_limit == 2 and row.keys == 20:
            bound = 1.1
        if bound is not None:
            met = row.ratio <= bound and row.failures == 0
            lines.append(
                f"- N={row.keys}, R={row.rate_limit:g}: wall / ceiling {row.ratio:.3f} "
                f"≤ {bound} with 0 failures: {_verdict(met)}"
            )
        share_bound = 0.25 if row.rate_limit < 5 else 0.10
        lines.append(
            f"- N={row.keys}, R={row.rate_limit:g}: 429s {row.throttled_share:.1%} of requests "
            f"≤ {share_bound:.0%}: {_verdict(row.throttled_share <= share_bound)}"
        )
    for row in results.startup:
        if row.measurement.startswith("spawn"):
            met = row.seconds <= FIRST_REQUEST_TARGET
            lines.append(
                f"- first request {row.seconds:.3f} s after the spawn ≤ ~"
                f"{FIRST_REQUEST_TARGET} s: {_verdict(met)}"
            )
    for command in results.lifecycle:
        met = command.ratio <= 1.1 and command.returncode == 0
        lines.append(
            f"- `{command.command}` over {command.keys} keys: wall / ceiling "
            f"{command.ratio:.3f} ≤ 1.1, exit 0: {_verdict(met)}"
        )
    limits = {"CSV": (2.0, 200.0), "XLSX": (5.0, 200.0)}
    for row in results.scale:
        for kind, (seconds, megabytes) in limits.items():
            if row.measurement.endswith(f"({kind})"):
                met = row.wall < seconds and row.peak_rss_mb < megabytes
                lines.append(
                    f"- {row.rows} rows, {kind}: {row.wall:.2f} s < {seconds:g} s, "
                    f"{row.peak_rss_mb:.0f} MB < {megabytes:g} MB: {_verdict(met)}"
                )
        if row.measurement == "first run" and row.ratio is not None:
            met = row.ratio <= 1.05 and row.peak_rss_mb < 200 and row.creates == row.rows
            lines.append(
                f"- {row.rows} keys at R={row.rate_limit:g}: wall / ceiling {row.ratio:.3f} "
                f"≤ 1.05, {row.peak_rss_mb:.0f} MB < 200 MB, every key made: {_verdict(met)}"
            )
        if row.measurement.startswith("rerun"):
            met = row.creates == 0 and row.wall < 3
            lines.append(
                f"- rerun of {row.rows} provisioned rows: {row.creates} creates, "
                f"{row.wall:.2f} s < 3 s: {_verdict(met)}"
            )
    return lines


def machine_description() -> list[str]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=BENCH_DIR,
        check=False,
    ).stdout.strip()
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; keyprov at commit {commit or 'unknown'}",
        f"- keyprov's default concurrency C = {DEFAULT_CONCURRENCY}",
    ]


def report(results: Results, command: str, latency: float) -> str:
    milliseconds = f"{latency * 1000:g}"
    lines = [
        "# keyprov benchmark results",
        "",
        f"Written by `{command}`; rerun it to refresh. Every row starts its own sandbox process",
        f"(`keyprov sandbox --latency {latency:g} --rate-limit R`: a token bucket of R tokens,",
        f"{milliseconds} ms per answer), so the bucket starts full and the store empty. keyprov's",
        "wall time is its whole process, timed from spawn to exit: start-up, roster, listing,",
        "credits read, creates with their journal writes, keys.xlsx. The ceiling is the",
        "requests the run needed (all it sent but those refused with 429) over min(R, C / L);",
        "a full bucket lets the first R through at once, so a run can beat its ceiling. A",
        "scenario whose ceiling is under 30 s is run 3 times, each on a fresh sandbox: the",
        "median is reported (its 429s too; failures are the worst run's).",
        "",
        *machine_description(),
        "",
        "## Provisioning: the whole `keyprov provision` process",
        "",
        *speed_table(results.speed),
        "",
        "The loop is the notebook's: one create after another, in-process (no start-up), with",
        "keyprov's own client and its retries. A loop never sends faster than 1 / L, so at",
        "R ≥ 1 / L its time does not depend on R: it is measured once per N at the lowest such",
        "R and shown for the others.",
        "",
        *loop_table(results.loops),
        "",
        "## Start-up",
        "",
        *startup_table(results.startup),
        "",
        "## Lifecycle commands, each its whole process",
        "",
        *lifecycle_table(results.lifecycle),
        "",
        "## Scale",
        "",
        *scale_table(results.scale),
        "",
        "## On the day: one `keyprov watch` poll",
        "",
        *watch_table(results.watch),
        "",
        "## On the day: a room claims at once (`keyprov claim`)",
        "",
        *CLAIM_BURST_TEXT,
        "",
        *burst_table(results.claims),
        "",
        *mail_section(results.mail),
    ]
    if results.skipped:
        lines += ["Not run (too long for one bench):", ""]
        lines += [f"- {item}" for item in results.skipped]
        lines.append("")
    lines += ["## Against the targets", "", *verdicts(results), *watch_verdicts(results.watch)]
    lines += burst_verdicts(results.claims)
    lines += [*mail_verdicts(results.mail), ""]
    return "\n".join(lines)


CLAIM_BURST_TEXT = [
    "A closed workshop is provisioned; `keyprov claim ROSTER` runs in its own process; every",
    "client (its own cookies and connection, spread over 4 worker processes) opens the form,",
    "then all post their codes at the same moment. Each post is timed to its answer; every",
    "key shown is compared with the workshop's state.",
]


def mail_section(rows: list[MailRow]) -> list[str]:
    if not rows:
        return []
    title = "## Sending mail: the whole `keyprov send` process"
    return [title, "", *MAIL_NOTE, "", *mail_table(rows), ""]


def only_report(results: Results, command: str, only: str) -> str:
    """One scenario's table alone (`--only`), with the machine it ran on."""
    if only == "claim-burst":
        return "\n".join(
            [
                "# keyprov benchmark: a room claims at once",
                "",
                f"Written by `{command}`; `make bench` runs it with every other scenario.",
                *CLAIM_BURST_TEXT,
                "",
                *machine_description(),
                "",
                *burst_table(results.claims),
                "",
                *burst_verdicts(results.claims),
                "",
            ]
        )
    if only == "mail":
        return "\n".join(
            [
                "# keyprov benchmark: sending mail",
                "",
                f"Written by `{command}`; `make bench` runs it with every other scenario.",
                "",
                *machine_description(),
                "",
                *mail_section(results.mail),
                *mail_verdicts(results.mail),
                "",
            ]
        )
    assert only == "watch", only
    lines = [
        "# keyprov benchmark: one `keyprov watch` poll",
        "",
        f"Written by `{command}`; `make bench` runs it with every other scenario. The sandbox",
        "runs in its own process; the workshop is provisioned first, then `keyprov watch ROSTER",
        "--once` is timed from spawn to exit. The poll is timed on the sandbox from its first",
        "request's arrival to its last answer.",
        "",
        *machine_description(),
        "",
        *watch_table(results.watch),
        "",
        *watch_verdicts(results.watch),
        "",
    ]
    return "\n".join(lines)
