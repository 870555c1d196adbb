"""`keyprov watch`: the view that refreshes in place, its JSON lines, and the digest's words.

The view fits the terminal it is given (width x height): a header, then "out of budget",
"below 20 %", "not used yet" and "top spenders", each participant a cell of name and
spent/limit in the key's window, flowed into as many columns as the width holds; a section
longer than its share of the height ends in "… N more". Each line comes with a style name
(None, "out", "low", "unused", "warn", "head", "dim") that the terminal colours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from keyprov.lifecycle.alerts import CREDITS_SHORT, CreditsWarning
from keyprov.lifecycle.live import LiveKey, Poll, Standing
from keyprov.lifecycle.topups import TopUp, TopUpRule
from keyprov.lifecycle.watch import PollReport
from keyprov.render.text import fit, pad, plural

Line = tuple[str, str | None]
CELL = 38
"""Columns a participant's cell takes: name, spent/limit, overspend (three to 120 columns)."""
NAME = 16
TOP_SPENDERS = 10


def participant_sees(key: LiveKey, credits_left: float | None) -> str:
    """What this participant's requests get now, in words and the status code."""
    if key.disabled:
        return "key disabled: every request refused (401)"
    if key.expired:
        return f"key expired on {(key.expires_at or '')[:10]}: every request refused"
    if credits_left is not None and credits_left <= 0:
        return "every key blocked (402): the account's credits are used up"
    if key.out:
        return f"blocked {until(key)} (403 key limit)"
    return "working"


def until(key: LiveKey) -> str:
    resets = key.window.resets_at
    if resets is None:
        return "until topped up (the limit never resets)"
    if key.limit_reset == "daily":
        return f"until {resets:%H:%M} UTC"
    return f"until {resets:%a %Y-%m-%d %H:%M} UTC"


def cell(key: LiveKey) -> str:
    """'Ada Lovelace        2.10/2.00 +0.10 over' (a key without a limit: spent only)."""
    name = pad(fit(key.name, NAME), NAME)
    if key.limit is None:
        return f"{name} {key.spent:>10.2f} (no limit)"
    text = f"{name} {f'{key.spent:.2f}/{key.limit:.2f}':>10}"
    over = key.spent - key.limit
    if over >= 0.005:
        text += f" +{over:.2f} over"
    return text


def header_lines(report: PollReport, *, every: float, rule: TopUpRule | None) -> list[Line]:
    poll = report.poll
    enabled = len(poll.enabled)
    credits = "credits unknown" if poll.credits_left is None else (
        f"credits left {poll.credits_left:.2f} USD"
    )  # fmt: skip
    first = (
        f"{poll.workshop} · {enabled} of {plural(len(poll.keys), 'key')} enabled · spent "
        f"{poll.spent_in_windows:.2f} USD in current windows, {poll.spent_all:.2f} in all · "
        f"{credits}"
    )
    following = poll.at + timedelta(seconds=every)
    second = (
        f"last poll {poll.at:%H:%M:%S} UTC · next {following:%H:%M:%S} UTC · every {every:g} s "
        "· Ctrl-C stops"
    )
    lines: list[Line] = [(first, "head"), (second, "dim")]
    if poll.closed:
        lines.append(
            (
                f"CLOSED: {plural(len(poll.waiting), 'key')} disabled until `keyprov open` or "
                "each participant's claim (not a fault)",
                "warn",
            )
        )
    if rule is not None:
        left = f"{rule.when_left:.0%}" if rule.share else f"{rule.when_left:.2f} USD"
        lines.append(
            (
                f"top-up {rule.amount:.2f} USD when {left} or less is left · at most "
                f"{rule.max_per_key:.2f} a key, {rule.max_total:.2f} in all",
                "dim",
            )
        )
    lines.extend((warning_text(w), "warn") for w in report.warnings)
    if poll.credits_problem:
        lines.append((poll.credits_problem, "warn"))
    return lines


def warning_text(warning: CreditsWarning | Mapping[str, Any]) -> str:
    fields = warning if isinstance(warning, Mapping) else vars(warning)
    left, may = fields["credits_left"], fields["may_still_spend"]
    if fields["kind"] == CREDITS_SHORT:
        return (
            f"credits: {left:.2f} USD left, but the enabled keys may still spend {may:.2f}: "
            "add credits before they run out"
        )
    if left <= 0:
        return "credits used up: every key blocked (402) until credits are added"
    minutes = fields.get("minutes_left")
    return (
        f"credits about to run out: {left:.2f} USD left, about {minutes:.0f} min at this pace; "
        "then every key answers 402"
    )


RECENT_EVENTS = 4
"""Lines of events under the sections: the latest, from this poll or the ones before."""


def watch_view(
    report: PollReport,
    *,
    width: int,
    height: int,
    every: float,
    rule: TopUpRule | None = None,
    recent: Sequence[Line] | None = None,
) -> list[Line]:
    """The whole view, at most `height` lines of at most `width` columns. `recent`: the
    events to show (default: this poll's)."""
    poll = report.poll
    lines = [
        (fit(text, width), style) for text, style in header_lines(report, every=every, rule=rule)
    ]
    shown = event_lines(report) if recent is None else recent
    events = [(fit(text, width), style) for text, style in shown][-RECENT_EVENTS:]
    sections = _sections(poll)
    columns = max(1, width // (CELL + 2))
    room = height - len(lines) - len(events) - 1
    rows = _share_rows(sections, columns, room)
    for (title, style, keys), count in zip(sections, rows, strict=True):
        if count <= 0:
            continue
        lines.append((fit(title, width), style))
        lines.extend((text, style) for text in _flow(keys, columns, count - 1))
    if events:
        lines.append(("", None))
        lines.extend(events)
    return lines[:height]


def _sections(poll: Poll) -> list[tuple[str, str | None, list[LiveKey]]]:
    out = sorted(poll.in_standing(Standing.OUT), key=lambda k: -(k.share or 0))
    low = sorted(poll.in_standing(Standing.LOW), key=lambda k: -(k.share or 0))
    unused = sorted((k for k in poll.keys if k.unused), key=lambda k: k.name.casefold())
    waiting = poll.waiting
    gone = [k for k in poll.keys if not k.live and k not in waiting]
    top = sorted((k for k in poll.keys if k.spent > 0), key=lambda k: -k.spent)[:TOP_SPENDERS]
    sees = {until(k) for k in out}
    seen = f" · they see: blocked {sees.pop()} (403 key limit)" if len(sees) == 1 else ""
    if poll.credits_left is not None and poll.credits_left <= 0:
        seen = " · every key blocked (402): credits used up"
    sections = [
        (f"OUT OF BUDGET ({len(out)}){seen}", "out", out),
        (f"BELOW 20 % ({len(low)})", "low", low),
        (f"NOT USED YET ({len(unused)})", "unused", unused),
        ("TOP SPENDERS", None, top),
    ]
    if waiting:
        sections.append(
            (
                f"WAITING ({len(waiting)}) · the workshop is closed: these keys work once "
                "`keyprov open` runs or each is claimed",
                "dim",
                waiting,
            )
        )
    if gone:
        kinds = sorted({participant_sees(k, None) for k in gone})
        sections.append((f"NOT WORKING ({len(gone)}) · {'; '.join(kinds)}", "dim", gone))
    return [section for section in sections if section[2]]


def _share_rows(
    sections: Sequence[tuple[str, str | None, list[LiveKey]]], columns: int, room: int
) -> list[int]:
    """Lines for each section (its title included): each gets one line of names if it can,
    then the rest goes round the sections, in order, while they need more."""
    needed = [1 + math.ceil(len(keys) / columns) for _title, _style, keys in sections]
    given = [0] * len(sections)
    for index, need in enumerate(needed):
        if room >= 2:
            given[index], room = min(2, need), room - min(2, need)
    while room > 0 and any(g < n for g, n in zip(given, needed, strict=True)):
        for index, need in enumerate(needed):
            if room > 0 and given[index] < need:
                given[index] += 1
                room -= 1
    return given


def _flow(keys: Sequence[LiveKey], columns: int, rows: int) -> list[str]:
    """Cells row by row, `columns` a row; the last cell says how many did not fit."""
    capacity = columns * rows
    shown = list(keys)
    more = 0
    if len(shown) > capacity:
        more = len(shown) - capacity + 1
        shown = shown[: capacity - 1]
    cells = [fit(cell(key), CELL) for key in shown]
    if more:
        cells.append(f"… {more} more")
    return [
        "  ".join(pad(text, CELL) for text in cells[start : start + columns]).rstrip()
        for start in range(0, len(cells), columns)
    ]


def timed_event_lines(report: PollReport) -> list[Line]:
    """event_lines, each after the time of its poll, for a list that outlives the poll."""
    stamp = f"{report.poll.at:%H:%M:%S}"
    return [(f"{stamp} {text}", style) for text, style in event_lines(report)]


def event_lines(report: PollReport) -> list[Line]:
    """What happened at this poll: alerts, top-ups, deliveries that failed."""
    lines: list[Line] = []
    if report.alerts:
        alerts = ", ".join(
            f"{a.name} {a.threshold} % ({a.spent:.2f}/{a.limit:.2f})" for a in report.alerts
        )
        lines.append((f"alert: {alerts}", "warn"))
    lines.extend((top_up_text(top_up), None if top_up.ok else "warn") for top_up in report.top_ups)
    lines.extend((f"not delivered: {problem}", "warn") for problem in report.delivery_problems)
    return lines


def top_up_text(top_up: TopUp) -> str:
    if top_up.outcome in ("done", "finished"):
        text = f"topped up {top_up.name}: {top_up.old:.2f} → {top_up.new:.2f} USD"
        if top_up.outcome == "finished":
            text += " (finishing a top-up begun before)"
        return f"{text}; {top_up.detail}" if top_up.detail else text
    return f"top-up of {top_up.name} {top_up.outcome}: {top_up.detail}"


def digest_text(digest: Mapping[str, Any]) -> str:
    """The webhook's text: one message for one poll; participants by their short names."""
    alerts = digest.get("alerts", [])
    lines = [f"keyprov watch · {digest['workshop']} · {plural(len(alerts), 'alert')}"]
    lines.extend(
        f"• {a['short']}: {a['threshold']} % of the limit ({a['spent']:.2f} of "
        f"{a['limit']:.2f} USD, {a['window']})"
        for a in alerts
    )
    lines.extend(f"• {warning_text(w)}" for w in digest.get("credits", []))
    return "\n".join(lines)


def digest_email(digest: Mapping[str, Any]) -> tuple[str, str]:
    """The organiser's email: full names (their own mailbox), never a key."""
    alerts = digest.get("alerts", [])
    subject = f"keyprov watch {digest['workshop']}: {plural(len(alerts), 'alert')}"
    credits = digest.get("credits", [])
    if credits and not alerts:
        subject = f"keyprov watch {digest['workshop']}: credits"
    body = [f"Workshop {digest['workshop']}, poll of {digest['polled_at']}:", ""]
    body.extend(
        f"- {a['name']}: {a['threshold']} % of the limit ({a['spent']:.2f} of {a['limit']:.2f} "
        f"USD, {a['window']})"
        for a in alerts
    )
    body.extend(f"- {warning_text(w)}" for w in credits)
    body += ["", "keyprov watch sends one message per poll that has something to tell."]
    return subject, "\n".join(body)


def poll_record(report: PollReport) -> dict[str, Any]:
    """The JSON line of a poll (without a terminal)."""
    poll = report.poll
    return {
        "type": "poll",
        "workshop": poll.workshop,
        "polled_at": poll.at.isoformat(timespec="seconds"),
        "keys": len(poll.keys),
        "keys_enabled": len(poll.enabled),
        "closed": poll.closed,
        "keys_waiting": len(poll.waiting),
        "spent_in_windows": round(poll.spent_in_windows, 6),
        "spent_in_all": round(poll.spent_all, 6),
        "credits_left": None if poll.credits_left is None else round(poll.credits_left, 6),
        "may_still_spend": round(poll.may_still_spend, 6),
        "out_of_budget": [_who(k, report) for k in poll.in_standing(Standing.OUT)],
        "below_20_percent": [k.identity for k in poll.in_standing(Standing.LOW)],
        "not_used_yet": [k.identity for k in poll.keys if k.unused],
    }


def _who(key: LiveKey, report: PollReport) -> dict[str, Any]:
    return {
        "participant": key.identity,
        "name": key.name,
        "spent": round(key.spent, 6),
        "limit": key.limit,
        "sees": participant_sees(key, report.poll.credits_left),
    }


def event_records(report: PollReport) -> list[dict[str, Any]]:
    """The JSON lines of what happened at a poll, one per event."""
    at = report.poll.at.isoformat(timespec="seconds")
    records: list[dict[str, Any]] = [
        {
            "type": "alert",
            "at": at,
            "participant": a.identity,
            "name": a.name,
            "threshold": a.threshold,
            "spent": round(a.spent, 6),
            "limit": a.limit,
            "window": a.window,
        }
        for a in report.alerts
    ]
    records += [{"type": "credits_warning", "at": at, **vars(w)} for w in report.new_warnings]
    records += [{"type": "top_up", "at": at, **vars(t)} for t in report.top_ups]
    records += [
        {"type": "delivery_failed", "at": at, "problem": p} for p in report.delivery_problems
    ]
    return records


def once_line(report: PollReport) -> str:
    """`watch --once`'s last line: what there is to report, or that there is nothing."""
    poll = report.poll
    out = len(poll.in_standing(Standing.OUT))
    parts = []
    if report.alerts:
        parts.append(plural(len(report.alerts), "alert"))
    if out:
        parts.append(f"{out} out of budget")
    if report.warnings:
        parts.append(plural(len(report.warnings), "credits warning"))
    if not parts:
        closed = f", closed: {len(poll.waiting)} waiting" if poll.closed else ""
        return f"{poll.workshop}: nothing to report ({len(poll.enabled)} keys enabled{closed})"
    return f"{poll.workshop}: {', '.join(parts)}"
