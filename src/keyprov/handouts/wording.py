"""What a handout says, in words: one source for the PDF slip, the mail-merge file and the email,
so all three tell a participant the same thing.

Pure functions, in English, independent of the machine's locale. OpenRouter resets limits at
00:00 UTC, and its weeks run Monday to Sunday.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from keyprov.handouts.model import Handout
from keyprov.handouts.quickstarts import (
    DEFAULT_QUICKSTARTS,
    KEY_VARIABLE,
    QUICKSTARTS,
    Quickstart,
    budget_left_lines,
    quickstart_blocks,
)
from keyprov.redaction import mask_secret

BASE_URL = "https://openrouter.ai/api/v1"
DEFAULT_MODEL = "openai/gpt-4o-mini"
"""The model the quickstart's examples call when the key may use any."""
__all__ = ["KEY_VARIABLE", "budget_left_lines"]

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_RESETS = {
    "daily": ("per day", "every day at 00:00 UTC"),
    "weekly": ("per week", "every Monday at 00:00 UTC"),
    "monthly": ("per month", "on the 1st of every month at 00:00 UTC"),
}


def money(amount: float) -> str:
    """`$2.00`: OpenRouter's limits are in US dollars."""
    return f"${amount:,.2f}"


def limit_in_words(limit: float | None) -> str:
    return "no spending limit" if limit is None else money(limit)


def limit_reset_in_words(limit_reset: str | None) -> str:
    """When the spending counted against the limit starts again from zero."""
    if limit_reset is None:
        return "never (the limit is for the key's whole life)"
    return f"renewed {_reset(limit_reset)[1]}"


WINDOW_NOW = {"daily": "today", "weekly": "this week", "monthly": "this month"}


def budget_in_words(
    limit: float | None, limit_reset: str | None, full_limit: float | None = None
) -> str:
    """`$2.00 per month, renewed on the 1st of every month at 00:00 UTC`; for a limit cut for
    the window now running (`full_limit`), `$2.00 per day; $0.80 left today, renewed ...`."""
    if limit is None:
        return limit_in_words(None)
    if limit_reset is None:
        return f"{money(limit)} in total"
    period, when = _reset(limit_reset)
    if full_limit is not None and full_limit > limit:
        now = WINDOW_NOW.get(limit_reset, "now")
        return f"{money(full_limit)} {period}; {money(limit)} left {now}, renewed {when}"
    return f"{money(limit)} {period}, renewed {when}"


def _reset(limit_reset: str) -> tuple[str, str]:
    try:
        return _RESETS[limit_reset]
    except KeyError:
        raise ValueError(
            f"unknown limit reset {limit_reset!r}: expected one of {', '.join(_RESETS)} or None"
        ) from None


def parse_expiry(expires_at: str) -> datetime:
    """The moment a key stops working, in UTC; a value without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(expires_at)
    except ValueError:
        raise ValueError(f"expires_at {expires_at!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def last_day_in_words(expires_at: str | None) -> str:
    """`until Friday 5 December 2026, 23:59 UTC`, or `no end date`."""
    if expires_at is None:
        return "no end date"
    moment = parse_expiry(expires_at)
    weekday = _WEEKDAYS[moment.weekday()]
    month = _MONTHS[moment.month - 1]
    return f"until {weekday} {moment.day} {month} {moment.year}, {moment:%H:%M} UTC"


def last_day_date(expires_at: str | None) -> str:
    """`2026-12-05` (the UTC date), or empty when the key has no end date."""
    return "" if expires_at is None else parse_expiry(expires_at).date().isoformat()


def models_in_words(models: Sequence[str]) -> str:
    return ", ".join(models) if models else "any model"


def quickstarts_of(handout: Handout, *, base_url: str = BASE_URL) -> tuple[Quickstart, ...]:
    """The handout's quickstarts (`--quickstart`), calling a model the key may use."""
    model = handout.models[0] if handout.models else DEFAULT_MODEL
    return quickstart_blocks(model, base_url, handout.quickstarts)


def quickstart_lines(
    models: Sequence[str] = (),
    *,
    base_url: str = BASE_URL,
    kinds: Sequence[str] = DEFAULT_QUICKSTARTS,
) -> tuple[str, ...]:
    """Every line to type or paste of these quickstarts, without their titles.

    None of them holds the key itself, so a slip shows the key exactly once.
    """
    model = models[0] if models else DEFAULT_MODEL
    return tuple(
        line for block in quickstart_blocks(model, base_url, kinds) for line in block.lines
    )


def replaces_in_words(label: str | None) -> str:
    """The line that tells someone their new key replaces one they were given before."""
    if label is None:
        return ""
    return f"This key replaces your previous key {label}, which no longer works."


def greeting(first_name: str) -> str:
    """'Hello Ada,', or 'Hello,' for a participant known only by their address."""
    return f"Hello {first_name}," if first_name else "Hello,"


HANDOUT_FIELDS = (
    "first_name",
    "name",
    "email",
    "key",
    "key_label",
    "limit",
    "limit_reset",
    "budget",
    "last_day",
    "last_day_date",
    "models",
    "base_url",
    "quickstart",
    *(f"quickstart_{kind}" for kind in QUICKSTARTS),
    "quickstart_env",
    "quickstart_curl",
    "budget_left",
    "replaces",
    "claim_code",
    "claim_url",
    "greeting",
)
"""The names `handout_fields` answers, in the order the mail-merge file and the template
error messages list them."""


def handout_fields(
    handout: Handout, *, masked: bool = False, base_url: str = BASE_URL
) -> dict[str, str]:
    """Every value a handout shows, by name: the mail-merge columns and the email template's
    placeholders. With `masked`, the key is its masked label (for previews).

    `quickstart` holds the handout's quickstarts, each under its title; `quickstart_<kind>`
    one each (empty for a kind not chosen). `quickstart_env` and `quickstart_curl` are the
    lines templates of earlier versions used: the key in the environment (shell or
    PowerShell) and the shell's call.
    """
    blocks = {block.kind: block for block in quickstarts_of(handout, base_url=base_url)}
    shell = blocks.get("shell") or blocks.get("powershell")
    return {
        "first_name": handout.first_name,
        "name": handout.name,
        "email": ", ".join(handout.addresses),
        "key": mask_secret(handout.secret) if masked else handout.secret,
        "key_label": handout.key_label,
        "limit": limit_in_words(handout.full_limit or handout.limit),
        "limit_reset": limit_reset_in_words(handout.limit_reset),
        "budget": budget_in_words(handout.limit, handout.limit_reset, handout.full_limit),
        "last_day": last_day_in_words(handout.expires_at),
        "last_day_date": last_day_date(handout.expires_at),
        "models": models_in_words(handout.models),
        "base_url": base_url,
        "quickstart": "\n\n".join(block.text for block in blocks.values()),
        **{
            f"quickstart_{kind}": blocks[kind].text if kind in blocks else ""
            for kind in QUICKSTARTS
        },
        "quickstart_env": shell.lines[0] if shell else "",
        "quickstart_curl": blocks["shell"].lines[1] if "shell" in blocks else "",
        "budget_left": "\n".join(budget_left_lines(base_url, handout.quickstarts)),
        "replaces": replaces_in_words(handout.replaces),
        "claim_code": _masked_code(handout.claim_code) if masked else handout.claim_code,
        "claim_url": handout.claim_url.replace(handout.claim_code, _masked_code(handout.claim_code))
        if masked and handout.claim_code
        else handout.claim_url,
        "greeting": greeting(handout.first_name),
    }


def _masked_code(code: str) -> str:
    """`ACDE-****-****`: a preview shows that a code is there, not the code."""
    first, dash, rest = code.partition("-")
    return first + dash + "".join("-" if char == "-" else "*" for char in rest)
