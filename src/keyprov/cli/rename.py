"""`keyprov rename-keys`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from keyprov.cli.common import api_settings, cli, client_for, echo
from keyprov.cli.options import (
    OUT_OPTION,
    WORKSHOP_OPTION,
    concurrency_option,
    given_options,
    max_limit_option,
    parse_columns,
)
from keyprov.cli.progress import Reporter
from keyprov.lifecycle.rename import rename_keys
from keyprov.render.rename import rename_lines
from keyprov.roster.headers import FIELDS
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.keynames import NameMode
from keyprov.workshop.options import DesiredOptions


@cli.command("rename-keys", short_help="Key names without personal data (or readable again).")
@click.argument("roster", type=click.Path(path_type=Path, dir_okay=False))
@WORKSHOP_OPTION
@OUT_OPTION
@click.option(
    "--to",
    "to",
    type=click.Choice([mode.value for mode in NameMode]),
    default=NameMode.PSEUDONYMOUS.value,
    show_default=True,
    help="pseudonymous: keyprov:<workshop>:<pseudonym>, no email, id or name; readable: "
    "keyprov:<workshop>:<email or id>.",
)
@click.option(
    "--dry-run", is_flag=True, help="List the keys that would be renamed; change nothing."
)
@click.option(
    "--limit",
    "default_limit",
    type=float,
    metavar="USD",
    help="Only to read a roster without a limit column, as for provision (default: the "
    "workshop's own).",
)
@max_limit_option("Only to read the roster, as for provision (default: the workshop's own).")
@click.option("--sheet", metavar="NAME", help="Excel sheet to read (default: the workshop's own).")
@click.option(
    "--column",
    "columns",
    multiple=True,
    callback=parse_columns,
    metavar='FIELD="Header"',
    help=f"As for provision: read FIELD ({', '.join(FIELDS)}) from this column. Repeatable.",
)
@concurrency_option("renames")
def rename_keys_command(
    roster: Path,
    workshop: str | None,
    out_dir: Path | None,
    to: str,
    dry_run: bool,
    default_limit: float | None,
    max_limit: float,
    sheet: str | None,
    columns: tuple[tuple[str, str], ...],
    concurrency: int,
) -> None:
    """Rename the workshop's keys on OpenRouter: to pseudonyms (the default) or readable.

    Only the names change (a PATCH per key): secrets, budgets and spend stay, and nobody needs
    a new key. The roster and the local state say whose each key is. Safe to stop and run
    again: the next run renames what is left, and every command finds each key by either
    name meanwhile. Keys made later are named the new way too.

    \b
    Example:
        keyprov rename-keys roster/bssdh.csv --dry-run
        keyprov rename-keys roster/bssdh.csv
        keyprov rename-keys roster/bssdh.csv --to readable

    Exit codes: 0 every key renamed, 1 some not (run again), 2 bad input.
    """
    api = api_settings()
    desired = DesiredOptions(
        roster,
        default_limit=default_limit,
        max_limit=max_limit,
        sheet=sheet,
        column_overrides=columns,
    )
    ref = WorkshopRef(roster, workshop, out_dir)
    with (
        Reporter(quiet=dry_run, label=f"renaming {ref.name}") as reporter,
        client_for(api, pool_size=concurrency) as client,
    ):
        result = rename_keys(
            ref,
            desired,
            client,
            to=NameMode(to),
            given=given_options(click.get_current_context()),
            dry_run=dry_run,
            concurrency=concurrency,
            progress=reporter,
        )
    echo(rename_lines(result))
    sys.exit(result.exit_status)
