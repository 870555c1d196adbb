"""`keyprov watch`: the room's spend while the workshop runs, alerts, top-ups by rule.

On a terminal the view refreshes in place through rich (it redraws a block of lines where it
stands, sizes it to the terminal, and colours it on Windows consoles too); without one, one
JSON line per poll and per event, for a log or another program.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import click

from keyprov.cli.common import api_settings, cli, client_for, echo
from keyprov.cli.options import concurrency_option, workshop_options, workshop_ref
from keyprov.engine.fanout import DEFAULT_CONCURRENCY
from keyprov.errors import ApiError
from keyprov.lifecycle.alerts import DEFAULT_THRESHOLDS, parse_thresholds
from keyprov.lifecycle.notify import WEBHOOK_FORMATS, Notifier, Webhook
from keyprov.lifecycle.topups import TopUpRule, parse_when_left
from keyprov.lifecycle.watch import PollReport, WatchOptions, watching
from keyprov.render import watch as view
from keyprov.status import ExitStatus

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

STYLES = {
    "head": "bold",
    "dim": "dim",
    "out": "bold red",
    "low": "yellow",
    "unused": "cyan",
    "warn": "bold red",
}
DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*", re.IGNORECASE)
SMALLEST_EVERY = 5.0


def parse_every(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    match = DURATION.fullmatch(value)
    if match is None:
        raise click.BadParameter(f"{value!r}: give a duration like 30s, 2m or 1h.")
    unit = (match.group(2) or "s").lower()[0]
    seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]
    if seconds < SMALLEST_EVERY:
        raise click.BadParameter(f"{value!r}: poll at most every {SMALLEST_EVERY:g} s.")
    return seconds


def _thresholds(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return parse_thresholds(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


@cli.command("watch", short_help="On the day: a live view of spend, alerts, top-ups by rule.")
@workshop_options
@click.option(
    "--every", default="30s", show_default=True, callback=parse_every, help="Time between polls."
)
@click.option("--once", is_flag=True, help="One poll (for cron): exit 0 nothing to report, 1 else.")
@click.option(
    "--alert-at",
    default=",".join(str(t) for t in DEFAULT_THRESHOLDS),
    show_default=True,
    callback=_thresholds,
    metavar="PCT[,PCT…]",
    help="Alert when a key has spent these shares of its limit, once per key per window.",
)
@click.option(
    "--webhook-format",
    type=click.Choice(WEBHOOK_FORMATS),
    default="slack",
    show_default=True,
    help='What the webhook (KEYPROV_WEBHOOK_URL) receives: Slack\'s {"text"} or JSON.',
)
@click.option(
    "--email-to",
    multiple=True,
    metavar="ADDRESS",
    help="Also email each poll's alerts here, through send's KEYPROV_SMTP_* settings.",
)
@click.option("--top-up", type=float, metavar="USD", help="Add this much to a key running low.")
@click.option("--when-left", metavar="USD|PCT", help="…when this much or less is left (0.5, 20%).")
@click.option("--max-per-key", type=float, metavar="USD", help="Top-ups never add more to a key.")
@click.option("--max-total", type=float, metavar="USD", help="Top-ups never add more in all.")
@concurrency_option("requests")
def watch_command(
    roster: Path | None,
    workshop: str | None,
    out_dir: Path | None,
    every: float,
    once: bool,
    alert_at: tuple[int, ...],
    webhook_format: str,
    email_to: tuple[str, ...],
    top_up: float | None,
    when_left: str | None,
    max_per_key: float | None,
    max_total: float | None,
    concurrency: int,
) -> None:
    """On the day: who is running out, who has not started, alerts, top-ups by rule.

    Each poll reads every key (one listing, its pages at once) and the credits. On a
    terminal a view refreshes in place; without one, one JSON line per poll and per event.
    Alerts (--alert-at) fire once per key per threshold per window, never again after a
    restart (events.jsonl in the workshop folder), one digest per poll: on the terminal, to
    the webhook in KEYPROV_WEBHOOK_URL (participants by first name and initial) and to
    --email-to. --top-up adds to a key whose budget left falls to --when-left, once per
    crossing, never past --max-per-key or --max-total. Ctrl-C stops (exit 130).

    \b
    Example:
        keyprov watch roster/bssdh.csv
        keyprov watch --workshop bssdh --every 1m --alert-at 50,80,100
        keyprov watch roster/bssdh.csv --top-up 1 --when-left 20% --max-per-key 3 --max-total 30
        keyprov watch --workshop bssdh --once        # from cron
    """
    rule = _rule(top_up, when_left, max_per_key, max_total)
    notifier = Notifier(
        view.digest_text,
        view.digest_email,
        webhook=Webhook.from_env(webhook_format),
        email_to=email_to,
        smtp=_smtp(email_to),
    )
    options = WatchOptions(alert_at, rule, concurrency or DEFAULT_CONCURRENCY)
    ref = workshop_ref(roster, workshop, out_dir)
    terminal = sys.stdout.isatty()
    with (
        client_for(api_settings(), pool_size=concurrency) as client,
        watching(ref, client, options, notifier) as watch,
    ):
        if once:
            report = watch.poll()
            _show_once(report, every, rule, terminal)
            sys.exit(ExitStatus.INCOMPLETE if report.needs_attention else ExitStatus.OK)
        if terminal:
            _live(watch.poll, every, rule)
        else:
            _json_lines(watch.poll, every)


def _rule(
    amount: float | None, when_left: str | None, per_key: float | None, total: float | None
) -> TopUpRule | None:
    given = [amount, when_left, per_key, total]
    if all(value is None for value in given):
        return None
    if any(value is None for value in given):
        raise click.UsageError(
            "a top-up rule needs all four: --top-up USD --when-left USD|PCT --max-per-key USD "
            "--max-total USD (the ceilings keep a rule from spending without end)."
        )
    assert amount is not None and when_left is not None
    assert per_key is not None and total is not None
    if amount <= 0 or per_key <= 0 or total <= 0:
        raise click.UsageError("--top-up, --max-per-key and --max-total must be more than 0 USD.")
    try:
        threshold, share = parse_when_left(when_left)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--when-left") from error
    return TopUpRule(amount, threshold, share, per_key, total)


def _smtp(email_to: tuple[str, ...]):  # noqa: ANN202 (SmtpSettings, imported only when asked)
    if not email_to:
        return None
    from keyprov.delivery.settings import SmtpSettings, is_address

    for address in email_to:
        if not is_address(address):
            raise click.BadParameter(
                f"{address!r} is not an email address.", param_hint="--email-to"
            )
    return SmtpSettings.from_env()


def _show_once(report: PollReport, every: float, rule: TopUpRule | None, terminal: bool) -> None:
    if terminal:
        width, _height = click.get_terminal_size()
        lines = view.watch_view(report, width=width, height=10_000, every=every, rule=rule)
        echo([click.style(text, **_click_style(style)) for text, style in lines])
        echo([view.once_line(report)])
        return
    _print_json(report)


def _click_style(style: str | None) -> dict[str, object]:
    return {
        "head": {"bold": True},
        "dim": {"dim": True},
        "out": {"fg": "red", "bold": True},
        "low": {"fg": "yellow"},
        "unused": {"fg": "cyan"},
        "warn": {"fg": "red", "bold": True},
    }.get(style or "", {})


def _print_json(report: PollReport) -> None:
    for record in [view.poll_record(report), *view.event_records(report)]:
        click.echo(json.dumps(record, ensure_ascii=False, default=str))
    sys.stdout.flush()


def _json_lines(poll: object, every: float) -> None:
    while True:
        started = time.monotonic()
        try:
            report = poll()  # type: ignore[operator]
        except ApiError as error:
            click.echo(json.dumps({"type": "poll_failed", "problem": str(error)}))
        else:
            _print_json(report)
        time.sleep(max(0.0, every - (time.monotonic() - started)))


def _live(poll: object, every: float, rule: TopUpRule | None) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    recent: deque[tuple[str, str | None]] = deque(maxlen=view.RECENT_EVENTS)
    with Live(console=console, auto_refresh=False, transient=False) as live:
        report: PollReport | None = None
        while True:
            started = time.monotonic()
            problem = None
            try:
                report = poll()  # type: ignore[operator]
            except ApiError as error:
                problem = f"poll failed: {error} (tried again in {every:g} s)"
            else:
                recent.extend(view.timed_event_lines(report))
            _draw(live, console, report, every, rule, problem, list(recent))
            time.sleep(max(0.0, every - (time.monotonic() - started)))


def _draw(
    live: Live,
    console: Console,
    report: PollReport | None,
    every: float,
    rule: TopUpRule | None,
    problem: str | None,
    recent: list[tuple[str, str | None]],
) -> None:
    from rich.console import Group
    from rich.text import Text

    width, height = console.size
    lines: list[tuple[str, str | None]] = []
    if problem:
        lines.append((problem, "warn"))
    if report is not None:
        # One line short of the terminal: a block as tall as the screen cannot be redrawn.
        room = height - 1 - len(lines)
        lines += view.watch_view(
            report, width=width, height=room, every=every, rule=rule, recent=recent
        )
    texts = [Text(text, style=STYLES.get(style or "", ""), no_wrap=True) for text, style in lines]
    live.update(Group(*texts), refresh=True)
