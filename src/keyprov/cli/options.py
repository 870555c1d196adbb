"""Options shared by several commands: how a roster is read, where a workshop lives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from keyprov.roster import DEFAULT_MAX_LIMIT, LIMIT_RESETS

F = TypeVar("F", bound=Callable[..., Any])


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
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
        help=help_text,
    )


OUT_OPTION = out_option(
    "Folder holding <workshop>/keys.xlsx, audit.jsonl and state.jsonl (default: wherever the "
    "workshop already lives, else ./output)."
)
WORKSHOP_OPTION = click.option(
    "--workshop", help="Workshop name (default: the roster file's name)."
)

roster_options = apply_all(
    [
        click.argument("roster", type=click.Path(path_type=Path, dir_okay=False)),
        WORKSHOP_OPTION,
        OUT_OPTION,
        click.option("--limit", "default_limit", type=float, help="Default limit in USD per key."),
        click.option(
            "--limit-reset", type=click.Choice(LIMIT_RESETS), help="Reset the limit every..."
        ),
        click.option(
            "--expires", callback=parse_date, help="Last day (UTC) the keys work, YYYY-MM-DD."
        ),
        click.option(
            "--max-limit",
            type=float,
            default=DEFAULT_MAX_LIMIT,
            show_default=True,
            help="Refuse a limit above this (catches 2000 typed for 2.00).",
        ),
        click.option("--sheet", help="Excel sheet to read (default: the first)."),
        click.option(
            "--column",
            "columns",
            multiple=True,
            callback=parse_columns,
            metavar='FIELD="Header"',
            help="Read a field (name, email, limit, limit_reset, id) from this column. Repeatable.",
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
