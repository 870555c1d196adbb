"""Options shared by several commands: how a roster is read, where a workshop lives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from keyprov.roster import DEFAULT_MAX_LIMIT, LIMIT_RESETS
from keyprov.roster.headers import FIELDS

F = TypeVar("F", bound=Callable[..., Any])
NONE = "none"
"""Given for a remembered option, this value clears it."""


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    """YYYY-MM-DD; 'none' (no expiry) undoes one the workshop remembers."""
    if value is None or value.strip().lower() == NONE:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD.") from error


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


OUT_OPTION = out_option(
    "Folder holding <workshop>/keys.xlsx, audit.jsonl and state.jsonl (default: wherever the "
    "workshop already lives, else ./output)."
)
WORKSHOP_OPTION = click.option(
    "--workshop", metavar="NAME", help="Workshop name (default: the roster file's name)."
)
PARTICIPANT_HELP = "The participant's email, or id when the roster has ids. Repeatable."

roster_options = apply_all(
    [
        click.argument("roster", type=click.Path(path_type=Path, dir_okay=False)),
        WORKSHOP_OPTION,
        OUT_OPTION,
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
            callback=parse_date,
            metavar="YYYY-MM-DD",
            help="Last day the new keys work: through 23:59:59 UTC that day (default: never "
            "expire).",
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
)
"""The options that say how to read a roster, shared by every command that reads one."""

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
}
"""Command-line parameters of the options a workshop remembers (keyprov.options.REMEMBERED)."""


def given_options(ctx: click.Context) -> frozenset[str]:
    """The remembered options this command line gave: the workshop's stand in for the rest."""
    typed = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return frozenset(
        field
        for parameter, field in REMEMBERED_PARAMETERS.items()
        if parameter in ctx.params and ctx.get_parameter_source(parameter) in typed
    )
