"""Options shared by several commands: how a roster is read, where a workshop lives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from keyprov.engine.fanout import DEFAULT_CONCURRENCY
from keyprov.expiry_option import Expiry, ExpiryFormatError, parse_expires
from keyprov.roster import DEFAULT_MAX_LIMIT, LIMIT_RESETS
from keyprov.roster.headers import FIELDS
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])
NONE = "none"
"""Given for a remembered option, this value clears it."""


def parse_expires_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> Expiry | None:
    """A day, a time in UTC or a while from now (keyprov.expiry_option), a while counted from
    now: the command's start. 'none' (no expiry) undoes one the workshop remembers."""
    if value is None or value.strip().lower() == NONE:
        return None
    try:
        return parse_expires(value, now=datetime.now(UTC))
    except ExpiryFormatError as error:
        raise click.BadParameter(str(error)) from error


EXPIRES_METAVAR = "DAY|TIME|7d"


def parse_claim_url_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> str | None:
    """--claim-url URL; 'none' undoes one the workshop remembers."""
    from keyprov.errors import OptionError
    from keyprov.workshop.claimcodes import parse_claim_url

    if value is None or value.strip().lower() == NONE:
        return None
    try:
        return parse_claim_url(value)
    except OptionError as error:
        raise click.BadParameter(str(error).partition(": ")[2]) from error


CLAIM_URL_OPTION = click.option(
    "--claim-url",
    callback=parse_claim_url_option,
    metavar="URL",
    help="Where participants will open the claim page (keyprov claim), e.g. "
    "https://laptop.local:8443/claim: printed with each claim code on the slips, in "
    "mail-merge.csv and in messages. Remembered; 'none' forgets it.",
)


def parse_columns(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        field, separator, header = value.partition("=")
        if not separator or not field.strip() or not header.strip():
            raise click.BadParameter(f'{value!r}: write it as FIELD="Header in your file".')
        pairs.append((field.strip().lower(), header.strip()))
    return tuple(pairs)


def apply_all(decorators: list[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


def out_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        metavar="DIR",
        help=help_text,
    )


def max_limit_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--max-limit",
        type=float,
        default=DEFAULT_MAX_LIMIT,
        show_default=True,
        metavar="USD",
        help=help_text,
    )


def concurrency_option(what: str) -> Callable[[F], F]:
    """--concurrency for a command that sends a request per key: provision's, so that every
    command keeps to the server's rate limit the same way."""
    return click.option(
        "--concurrency",
        type=click.IntRange(1, 128),
        default=DEFAULT_CONCURRENCY,
        show_default=True,
        metavar="N",
        help=f"Most {what} in flight at once, 1 to 128; below it, keyprov keeps to the "
        "server's rate limit by itself, learned from its 429s.",
    )


OUT_OPTION = out_option(
    "Folder holding <workshop>/keys.xlsx, audit.jsonl and state.jsonl (default: wherever the "
    "workshop already lives, else ./output)."
)
WORKSHOP_OPTION = click.option(
    "--workshop", metavar="NAME", help="Workshop name (default: the roster file's name)."
)
PARTICIPANT_HELP = (
    "The participant's email, id (when the roster has ids) or full name (case and accents "
    "ignored; a name two participants share is refused). Repeatable."
)

ROSTER_READING = [
    click.option(
        "--limit",
        "default_limit",
        type=float,
        metavar="USD",
        help="Spending limit per key in US dollars, for rows without a limit of their own.",
    ),
    click.option(
        "--limit-reset",
        type=click.Choice((*LIMIT_RESETS, NONE)),
        callback=lambda _ctx, _param, value: None if value == NONE else value,
        help="How often each key's limit starts again, for rows without a reset of their "
        "own (default: never; the limit is then for the key's whole life; 'none' undoes "
        "one the workshop remembers).",
    ),
    click.option(
        "--expires",
        callback=parse_expires_option,
        metavar=EXPIRES_METAVAR,
        help="When the new keys stop working: a day (YYYY-MM-DD: through 23:59:59 UTC), a "
        "time (YYYY-MM-DDTHH:MMZ; an offset is converted to UTC), or a while from this run's "
        "start (7d, 36h), remembered as the time it comes to (default: never expire).",
    ),
    max_limit_option("Refuse a limit above this many USD (catches 2000 typed for 2.00)."),
    click.option("--sheet", metavar="NAME", help="Excel sheet to read (default: the first)."),
    click.option(
        "--column",
        "columns",
        multiple=True,
        callback=parse_columns,
        metavar='FIELD="Header"',
        help="Read FIELD from the column with this header, over the headers keyprov "
        f"recognises. FIELD is one of {', '.join(FIELDS)}. Repeatable.",
    ),
]

roster_options = apply_all(
    [
        click.argument("roster", type=click.Path(path_type=Path, dir_okay=False)),
        WORKSHOP_OPTION,
        OUT_OPTION,
        *ROSTER_READING,
    ]
)
"""The options that say how to read a roster, shared by every command that reads one."""

remembered_roster_options = apply_all(
    [
        click.argument("roster", required=False, type=click.Path(path_type=Path, dir_okay=False)),
        WORKSHOP_OPTION,
        OUT_OPTION,
        *ROSTER_READING,
    ]
)
"""As `roster_options`, for a command on a workshop that remembers its roster and how to
read it (check): ROSTER may be left out, or be only the workshop's name."""

workshop_options = apply_all(
    [
        click.argument("roster", required=False, type=click.Path(path_type=Path, dir_okay=False)),
        WORKSHOP_OPTION,
        OUT_OPTION,
    ]
)
"""A workshop named by its roster file (only its name is used) or by --workshop."""


REMEMBERED_PARAMETERS = {
    "roster": "roster",
    "default_limit": "default_limit",
    "limit_reset": "limit_reset",
    "expires": "expires",
    "max_limit": "max_limit",
    "sheet": "sheet",
    "columns": "column_overrides",
    "claim_url": "claim_url",
    "quickstarts": "quickstarts",
}
"""Command-line parameters of the options a workshop remembers (workshop.options.REMEMBERED)."""


def given_options(ctx: click.Context) -> frozenset[str]:
    """The remembered options this command line gave: the workshop's stand in for the rest."""
    typed = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return frozenset(
        field
        for parameter, field in REMEMBERED_PARAMETERS.items()
        if parameter in ctx.params and ctx.get_parameter_source(parameter) in typed
    )


def given_to_lifecycle(ctx: click.Context, roster: Path | None) -> frozenset[str]:
    """As `given_options`, for a command on a provisioned workshop: a ROSTER that is no file
    (here) only names the workshop, whose remembered roster is read instead."""
    given = given_options(ctx)
    if roster is not None and not roster.is_file():
        given -= {"roster"}
    return given


QUICKSTART_METAVAR = "shell|powershell|python|colab"
"""keyprov.handouts.quickstarts.QUICKSTARTS, written out (tests/handouts/test_quickstarts.py
checks that they agree)."""


def parse_quickstarts(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    """`--quickstart colab --quickstart python` or `--quickstart colab,python`."""
    kinds = [kind for value in values for kind in value.split(",") if kind.strip()]
    if not kinds:
        return ()
    # Here, not at the top: provision's first request goes out before the handouts load.
    from keyprov.handouts.quickstarts import chosen_quickstarts

    try:
        return chosen_quickstarts(kinds)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


def quickstart_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--quickstart",
        "quickstarts",
        multiple=True,
        callback=parse_quickstarts,
        metavar=QUICKSTART_METAVAR,
        help=help_text,
    )


REMEMBERED_MAX_LIMIT_HELP = (
    "Refuse a new limit above this many USD (default: the workshop's, as provisioned, else "
    f"{DEFAULT_MAX_LIMIT:g})."
)


def remembered_max_limit_option(help_text: str = REMEMBERED_MAX_LIMIT_HELP) -> Callable[[F], F]:
    """--max-limit, whose default is the workshop's own (None here: the library looks it up)."""
    return click.option("--max-limit", type=float, default=None, metavar="USD", help=help_text)


def workshop_ref(roster: Path | None, workshop: str | None, out_dir: Path | None) -> WorkshopRef:
    """The workshop a command on a provisioned one names; a usage error (naming the known
    workshops, no request sent) when it names none."""
    if roster is None and not workshop:
        known = sorted({record.name for record in Registry.default().all()})
        hint = (
            f" Your workshops: {', '.join(known)} (keyprov workshops lists them)."
            if known
            else " There is none yet: keyprov provision ROSTER starts one."
        )
        raise click.UsageError(f"which workshop? Give its ROSTER file or --workshop NAME.{hint}")
    return WorkshopRef(roster, workshop, out_dir)
