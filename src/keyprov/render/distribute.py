"""handouts and send: the files written, the messages sent, who was left out and why.

No text here holds a key: only its masked label, which is what OpenRouter itself shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from keyprov.delivery.providers import PROVIDERS
from keyprov.render.text import Lines, plural, seconds, table, who

if TYPE_CHECKING:
    from keyprov.delivery import DeliveryResult
    from keyprov.lifecycle.distribute import DailyQuota, HandoutFiles, LeftOut, Sending

OUTCOME_WIDTH = len("not attempted")
RESEND_UNKNOWN = "outcome unknown; sent again as asked"


def unknown_hint(transport: str, count: int) -> str:
    """What to do about messages that may have been delivered, for this transport."""
    provider = PROVIDERS.get(transport)
    them = "it" if count == 1 else "them"
    if provider is not None and provider.reconciles:
        first = f"the next run looks {them} up in {provider.title}'s log first (a log can lag)"
    elif provider is not None:
        first = f"{provider.title}'s log cannot be searched without its paid add-on"
    else:
        first = "only the provider that took the attempt can look it up"
    return (
        f"{plural(count, 'message')} may have been delivered: {first}; keyprov send "
        f"--resend-unknown sends {them} again, and a participant whose first copy arrived then "
        "gets their key twice (the same key, to their own address)."
    )


LEFT_OUT_HINTS = {
    "handed out already": "--only new",
    "not replaced since handed out": "--only replaced",
    "not in the roster": "name them with --participant to include them",
}
"""What each harmless reason for leaving someone out comes from, or how to include them."""


def handouts_lines(files: HandoutFiles) -> Lines:
    """The files written and what is in them, then who was left out."""
    lines = Lines()
    count = len(files.handouts)
    if not files.written:
        lines.out(f"{files.workshop}: nothing to hand out; no file was written.")
        _left_out(lines, files.left_out)
        return lines
    paper = files.paper.upper() if files.paper == "a4" else files.paper
    lines.out(
        f"slips:      {files.pdf} ({plural(count, 'slip')} on {plural(files.pages, 'page')}, "
        f"{paper}; cut along the marks)",
        f"mail merge: {files.mail_merge} ({plural(count, 'row')}, one per participant)",
    )
    _left_out(lines, files.left_out)
    if files.claim:
        lines.out(
            f"{files.workshop}: {plural(count, 'participant')} in the handouts, each with their "
            "claim code and no key; they fetch it on the claim page (keyprov claim)."
        )
        return lines
    lines.out(
        f"{files.workshop}: {plural(count, 'participant')} in the handouts; both files hold "
        "their keys (owner-only): delete them once the keys are handed out."
    )
    return lines


def _left_out(lines: Lines, left_out: Sequence[LeftOut], verb: str = "not included") -> None:
    """Each participant who should have been included and could not be; the rest counted."""
    for item in left_out:
        if item.missing:
            lines.err(f"{verb}: {who(item.name, item.email, item.identity)}: {item.detail}")
    counts = Counter(item.kind.value for item in left_out if not item.missing)
    if counts:
        parts = [f"{number} {kind} ({LEFT_OUT_HINTS[kind]})" for kind, number in counts.items()]
        lines.err(f"left out: {', '.join(parts)}")


def send_start_line(sending: Sending, rate_per_minute: float) -> str:
    """Before the first message: how many, through which server, how fast."""
    count = len(sending.plan.to_send)
    already = len(sending.plan.already_sent)
    done = f"; {already} already sent" if already else ""
    if not count:
        return f"{sending.workshop}: no message to send{done}"
    line = f"sending {plural(count, 'message')} through {sending.mail_server}"
    duration = (count - 1) * 60.0 / rate_per_minute
    if duration >= 1:
        line += f", at most {rate_per_minute:g} a minute (about {seconds(duration)})"
    return line + done


def send_progress_line(done: int, total: int, result: DeliveryResult) -> str:
    """One message done: '[ 3/20] sent           Ada Lovelace, ada@example.org  sk-or-...'."""
    count = f"[{done:>{len(str(total))}}/{total}]"
    person = who("", result.email, result.identity)
    line = f"{count} {result.outcome.value:<{OUTCOME_WIDTH}}  {person}  {result.key_label}"
    if result.reason is not None and result.reason.value != "new key":
        line += f"  ({result.reason.value})"
    if result.attempts > 1:
        line += f"  (try {result.attempts}: the mail server failed for now before)"
    if result.detail:
        line += f": {result.detail}"
    return line


def send_warnings(sending: Sending) -> list[str]:
    """Before a real run: what --resend-unknown risks, and a quota the run will reach."""
    warnings = []
    unknown = [r for r in sending.plan.to_send if r.reason == RESEND_UNKNOWN]
    if unknown:
        warnings.append(
            f"warning: --resend-unknown sends {plural(len(unknown), 'message')} again whose "
            "first copy may have been delivered: those participants may get their key twice "
            "(the same key, to their own address)."
        )
    quota = sending.quota
    if quota is not None and sending.plan.addresses > quota.left:
        warnings.append(f"warning: {_quota_reached(sending, quota)}")
    return warnings


def _quota_reached(sending: Sending, quota: DailyQuota) -> str:
    return (
        f"{plural(sending.plan.addresses, 'address', 'addresses')} to send to and "
        f"{quota.left} left of the daily quota ({quota.per_day} a day: {quota.source}; "
        f"{quota.used} sent in the last 24 hours): the run stops there (exit 1); run it "
        "again tomorrow for the rest"
    )


def send_lines(sending: Sending) -> Lines:
    """After a real run: the counts, then each participant who still has no message."""
    if sending.dry_run:
        return send_dry_run_lines(sending)
    lines = Lines()
    outcomes = Counter(result.outcome.value for result in sending.results)
    for result in sending.results:
        person = who("", result.email, result.identity)
        if result.ok:
            if result.detail:
                lines.err(f"note  {person}  {result.key_label}: {result.detail}")
            continue
        if result.outcome.value == "over quota":
            continue
        if sending.stopped and (
            result.outcome.value == "not attempted" or result.detail == sending.stopped
        ):
            continue  # the error line below says it once
        if result.outcome.value == "unknown":
            lines.err(f"UNKNOWN  {person}  {result.key_label}: {result.detail}")
            continue
        if result.outcome.value == "not sent":
            hint = "not mailed: a key that does not work is never sent"
        elif result.outcome.value == "failed" and result.permanent:
            hint = "the server refused it for good: check the address; a rerun tries again"
        else:
            hint = "a rerun tries again"
        lines.err(f"FAIL  {person}  {result.key_label}: {result.detail} ({hint})")
    _left_out(lines, sending.left_out, verb="not sent")
    counts = [
        f"{outcomes['sent']} sent",
        f"{outcomes['already sent']} already sent",
    ]
    counts += [f"{outcomes[kind]} {kind}" for kind in ("failed", "not attempted") if outcomes[kind]]
    if outcomes["unknown"]:
        counts.append(f"{outcomes['unknown']} outcome unknown")
    if outcomes["not sent"]:
        counts.append(f"{outcomes['not sent']} not sent (key no longer works)")
    if outcomes["over quota"]:
        counts.append(f"{outcomes['over quota']} left: run again tomorrow")
    missing = sum(item.missing for item in sending.left_out)
    if missing:
        counts.append(f"{missing} without a usable key")
    retried = sum(result.attempts > 1 for result in sending.results)
    if retried:
        counts.append(f"{plural(retried, 'message')} sent again after a temporary failure")
    lines.out(f"{sending.workshop}: {', '.join(counts)}")
    if sending.stopped:
        lines.err(
            f"error: {sending.stopped}",
            "nothing more was sent; fix that, then run keyprov send again: only those not yet "
            "sent their current key get a message.",
        )
    elif outcomes["over quota"]:
        quota = sending.quota
        source = f" ({quota.per_day} a day: {quota.source})" if quota else ""
        lines.err(
            f"the daily quota{source} is reached: run keyprov send again tomorrow; only those "
            "not yet sent their current key get a message."
        )
    elif any(r.outcome.value in ("failed", "not attempted") for r in sending.results):
        retryable = sum(r.outcome.value in ("failed", "not attempted") for r in sending.results)
        lines.err(
            f"keyprov send --workshop {sending.workshop} again sends the {retryable} not yet "
            "delivered; nobody gets their key twice."
        )
    unusable = outcomes["not sent"] + missing
    if unusable:
        lines.err(
            f"{plural(unusable, 'participant')} without a working key: no rerun of send helps "
            "them; keyprov rotate (or provision --reenable) first, then send."
        )
    if outcomes["unknown"] and not sending.stopped:
        lines.err(unknown_hint(sending.transport, outcomes["unknown"]))
    return lines


def send_dry_run_lines(sending: Sending) -> Lines:
    """The first message (its key masked), then who would get one and who has theirs."""
    lines = Lines()
    plan = sending.plan
    if plan.to_send:
        lines.out("dry run: the first message, with its key masked:", "")
        lines.out(*(f"    {line}".rstrip() for line in plan.preview.rstrip("\n").split("\n")))
        lines.out("")
        if sending.transport != "smtp":
            lines.out(
                f"transport: {sending.mail_server}, from {sending.sender}, at most "
                f"{sending.rate_per_minute:g} messages a minute"
            )
        quota = sending.quota
        if quota is not None:
            lines.out(
                f"quota: {quota.per_day} a day ({quota.source}); {quota.used} sent in the "
                f"last 24 hours, {quota.left} left"
            )
            if plan.addresses > quota.left:
                lines.err(f"warning: {_quota_reached(sending, quota)}")
        lines.out(
            f"would send {plural(len(plan.to_send), 'message')} through {sending.mail_server}:",
        )
        rows = [
            (r.name, r.email, r.key_label, r.reason + (f" ({r.replaces})" if r.replaces else ""))
            for r in plan.to_send
        ]
        lines.out(*table(rows, indent="  "))
    else:
        lines.out(f"dry run: {sending.workshop}: no message to send.")
    if plan.already_sent:
        lines.out(
            f"already sent their current key: {plural(len(plan.already_sent), 'participant')} "
            "(--resend --participant EMAIL sends one again)"
        )
    if plan.held:
        lines.out(
            f"outcome unknown: {plural(len(plan.held), 'participant')} whose message may have "
            "been delivered (a run looks them up first where the provider allows; "
            "--resend-unknown sends them again)"
        )
    _left_out(lines, sending.left_out, verb="would not be sent")
    lines.out("dry run: nothing was sent.")
    return lines
