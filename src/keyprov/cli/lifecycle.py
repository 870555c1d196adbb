"""`keyprov check`, `report`, `set-limit`, `rotate`, `revoke`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from keyprov.cli.common import api_settings, cli, client_for, echo
from keyprov.cli.consent import YES_HELP, confirmer
from keyprov.cli.options import (
    EXPIRES_METAVAR,
    PARTICIPANT_HELP,
    concurrency_option,
    given_to_lifecycle,
    parse_expires_option,
    remembered_max_limit_option,
    remembered_roster_options,
    workshop_options,
    workshop_ref,
)
from keyprov.cli.progress import Reporter
from keyprov.expiry_option import Expiry
from keyprov.lifecycle import (
    DEFAULT_WARN_DAYS,
    check_workshop,
    revoke,
    rotate,
    set_limit,
    usage_report,
)
from keyprov.lifecycle.report import SORTS
from keyprov.render.changes import rotate_lines, set_limit_lines
from keyprov.render.lifecycle import check_lines, report_lines, revoke_lines, styled_report_lines
from keyprov.status import ExitStatus
from keyprov.workshop.options import DesiredOptions

COLOURS: dict[str, dict[str, object]] = {
    "out": {"fg": "red", "bold": True},
    "low": {"fg": "yellow"},
    "unused": {"fg": "cyan"},
    "dim": {"dim": True},
}
"""How a terminal shows report's marks (none in a file or a pipe)."""


@cli.command("check", short_help="Is the workshop ready? Exit 0 when it is, 1 when not.")
@remembered_roster_options
@click.option(
    "--warn-days",
    type=float,
    default=DEFAULT_WARN_DAYS,
    show_default=True,
    metavar="N",
    help="A key expiring within N days (fractions allowed) is not ready.",
)
def check_command(
    roster: Path | None,
    workshop: str | None,
    out_dir: Path,
    default_limit: float | None,
    limit_reset: str | None,
    expires: Expiry | None,
    max_limit: float,
    sheet: str | None,
    columns: tuple[tuple[str, str], ...],
    warn_days: float,
) -> None:
    """Is the workshop ready? Exit 0 when it is, 1 when not.

    Every participant must have exactly one enabled key whose limit, limit reset and expiry
    are what provision applied; no key may expire within --warn-days; the credits left must
    cover the limits still unspent. The roster, and how to read it, are those of the last
    provision unless given here (for this check only); check prints what it expected.

    \b
    Example:
        keyprov check roster/bssdh.csv
        keyprov check --workshop bssdh
        keyprov check roster/bssdh.csv --expires YYYY-MM-DD
    """
    ref = workshop_ref(roster, workshop, out_dir)
    api = api_settings()
    path = roster.absolute() if roster is not None else None
    desired = DesiredOptions(path, default_limit, limit_reset, expires, max_limit, sheet, columns)
    with client_for(api) as client:
        result = check_workshop(
            ref,
            desired,
            client,
            given=given_to_lifecycle(click.get_current_context(), roster),
            warn_days=warn_days,
        )
    echo(check_lines(result))
    sys.exit(ExitStatus.OK if result.ready else ExitStatus.INCOMPLETE)


@cli.command("report", short_help="Who spent what: report.xlsx, spend.png and a table.")
@workshop_options
@click.option(
    "--sort",
    type=click.Choice(SORTS),
    default="used",
    show_default=True,
    help="used: the largest share of the limit used first; left: the least left first; name.",
)
def report_command(roster: Path | None, workshop: str | None, out_dir: Path, sort: str) -> None:
    """Usage per participant, read from the server: report.xlsx, spend.png and a table.

    For each key of the workshop: its limit, usage in the limit's window (day, week or month
    of limit_reset; all-time when there is none) and all-time, what remains, whether it is
    disabled and when it expires. Marked: OUT (nothing left), low (under 20 % left), not
    used (never spent); in colour on a terminal. No secret is written or printed.

    \b
    Example:
        keyprov report roster/bssdh.csv
        keyprov report --workshop bssdh
    """
    api = api_settings()
    with client_for(api) as client:
        report = usage_report(workshop_ref(roster, workshop, out_dir), client, sort=sort)
    if sys.stdout.isatty():
        echo(
            [
                click.style(text, **COLOURS.get(style or "", {}))
                for text, style in styled_report_lines(report)
            ]
        )
    else:
        echo(report_lines(report))


@cli.command("set-limit", short_help="Top up: set a key's limit, or add to it.")
@workshop_options
@click.option(
    "--participant",
    "participants",
    multiple=True,
    metavar="EMAIL_OR_ID",
    help=PARTICIPANT_HELP,
)
@click.option("--all", "everyone", is_flag=True, help="Every participant of the workshop.")
@click.option("--limit", type=float, metavar="USD", help="The new limit, in US dollars.")
@click.option("--add", type=float, metavar="USD", help="US dollars to add to the current limit.")
@click.option(
    "--below",
    type=float,
    metavar="USD",
    help="With --add: only keys with less than this left in their window (everyone running "
    "low, in one go).",
)
@remembered_max_limit_option()
@click.option("--dry-run", is_flag=True, help="List each limit it would set; change nothing.")
@click.option("--yes", is_flag=True, help=YES_HELP)
@concurrency_option("requests")
def set_limit_command(
    roster: Path | None,
    workshop: str | None,
    out_dir: Path,
    participants: tuple[str, ...],
    everyone: bool,
    limit: float | None,
    add: float | None,
    below: float | None,
    max_limit: float | None,
    dry_run: bool,
    yes: bool,
    concurrency: int,
) -> None:
    """Top up: set a key's limit, or add to it.

    OpenRouter's PATCH is absolute, so --add reads the current limit, adds, and writes. A
    later provision run keeps the top-up unless the roster's own limit changes. --all with
    --limit asks first on a terminal (type the workshop's name) and needs --yes without one.

    \b
    Example:
        keyprov set-limit roster/bssdh.csv --participant ada@example.org --limit 5
        keyprov set-limit roster/bssdh.csv --all --add 2 --dry-run
        keyprov set-limit roster/bssdh.csv --all --add 2
        keyprov set-limit roster/bssdh.csv --below 0.5 --add 1    # everyone running low
    """
    if below is not None and not participants:
        everyone = True  # --below chooses among everyone unless --participant narrows it
    if everyone == bool(participants):
        raise click.UsageError("give --participant EMAIL (one or more) or --all.")
    ref = workshop_ref(roster, workshop, out_dir)
    if (limit is None) == (add is None):
        raise click.UsageError("give --limit USD (the new limit) or --add USD (a top-up).")
    api = api_settings()
    # The connection pool sized to --concurrency, as provision's (else it caps it at 64).
    with (
        Reporter(quiet=dry_run, label=f"setting limits {ref.name}") as reporter,
        client_for(api, pool_size=concurrency) as client,
    ):
        changes = set_limit(
            ref,
            client,
            participants=None if everyone else list(participants),
            limit=limit,
            add=add,
            max_limit=max_limit,
            concurrency=concurrency,
            below=below,
            dry_run=dry_run,
            confirm=confirmer(yes),
            progress=reporter,
        )
    empty = None
    if below is not None:
        empty = f"no enabled key has less than {below:.2f} USD left: nothing to top up."
    echo(set_limit_lines(changes, workshop=ref.name, dry_run=dry_run, empty=empty))
    sys.exit(ExitStatus.OK if all(change.ok for change in changes) else ExitStatus.INCOMPLETE)


@cli.command("rotate", short_help="Replace a leaked or lost key (the new one first).")
@workshop_options
@click.option(
    "--participant", "participants", multiple=True, metavar="EMAIL_OR_ID", help=PARTICIPANT_HELP
)
@click.option("--all", "everyone", is_flag=True, help="Every participant with an enabled key.")
@click.option(
    "--expires",
    callback=parse_expires_option,
    metavar=EXPIRES_METAVAR,
    help="When the new keys stop working: a day (through 23:59:59 UTC), a time "
    "(YYYY-MM-DDTHH:MMZ) or a while from now (7d) (default: the old key's expiry).",
)
@click.option(
    "--carry-spend/--full-limit",
    default=True,
    show_default=True,
    help="The new key's limit is the old one less what was spent in the limit's window "
    "(--full-limit: the whole limit again).",
)
@click.option("--dry-run", is_flag=True, help="List each key it would replace; change nothing.")
@click.option("--yes", is_flag=True, help=YES_HELP)
@concurrency_option("requests")
def rotate_command(
    roster: Path | None,
    workshop: str | None,
    out_dir: Path,
    participants: tuple[str, ...],
    everyone: bool,
    expires: Expiry | None,
    carry_spend: bool,
    dry_run: bool,
    yes: bool,
    concurrency: int,
) -> None:
    """Replace keys (leaked, lost, wrong expiry): new key first, then the old one disabled.

    The successor keeps the limit reset and expiry (or --expires). For the current window
    (the day, week or month of its reset) it gets only what the old key left of it; from the
    next reset the whole limit is back (the first keyprov command after the reset gives it
    back). A limit without a reset carries what was spent for good. If the new key cannot be
    created, the old key stays enabled. A key on the server whose secret was lost is
    replaced the same way. --all asks first on a terminal (type the workshop's name) and
    needs --yes without one.

    \b
    Example:
        keyprov rotate roster/bssdh.csv --participant ada@example.org
        keyprov rotate roster/bssdh.csv --all --dry-run
        keyprov rotate roster/bssdh.csv --all --expires YYYY-MM-DD --yes
    """
    if everyone == bool(participants):
        raise click.UsageError("give --participant EMAIL (one or more) or --all.")
    ref = workshop_ref(roster, workshop, out_dir)
    api = api_settings()
    with (
        Reporter(quiet=dry_run, label=f"rotating {ref.name}") as reporter,
        client_for(api, pool_size=concurrency) as client,
    ):
        changes = rotate(
            ref,
            client,
            participants=None if everyone else list(participants),
            expires=expires,
            carry_spend=carry_spend,
            concurrency=concurrency,
            dry_run=dry_run,
            confirm=confirmer(yes),
            progress=reporter,
        )
    echo(rotate_lines(changes, workshop=ref.name, dry_run=dry_run))
    sys.exit(ExitStatus.OK if all(change.ok for change in changes) else ExitStatus.INCOMPLETE)


@cli.command("revoke", short_help="After the workshop: disable (or delete) every key.")
@workshop_options
@click.option("--delete", is_flag=True, help="Delete the keys instead of disabling them.")
@click.option("--yes", is_flag=True, help=YES_HELP)
@click.option("--dry-run", is_flag=True, help="List what would change; change nothing.")
@concurrency_option("requests")
def revoke_command(
    roster: Path | None,
    workshop: str | None,
    out_dir: Path,
    delete: bool,
    yes: bool,
    dry_run: bool,
    concurrency: int,
) -> None:
    """After the workshop: disable every key of the workshop (or delete them).

    Disabling can be undone (provision --reenable); --delete cannot, so it needs --yes.
    Keys already disabled are left alone, so a second revoke changes nothing. On a terminal
    it asks first (type the workshop's name); without one it needs --yes.

    \b
    Example:
        keyprov revoke roster/bssdh.csv --dry-run
        keyprov revoke roster/bssdh.csv
        keyprov revoke roster/bssdh.csv --delete --yes
    """
    if delete and not yes and not dry_run:
        raise click.UsageError("--delete removes the keys for good; add --yes to confirm.")
    ref = workshop_ref(roster, workshop, out_dir)
    api = api_settings()
    with (
        Reporter(quiet=dry_run, label=f"revoking {ref.name}") as reporter,
        client_for(api, pool_size=concurrency) as client,
    ):
        changes = revoke(
            ref,
            client,
            delete=delete,
            dry_run=dry_run,
            concurrency=concurrency,
            confirm=confirmer(yes),
            progress=reporter,
        )
    echo(revoke_lines(changes, workshop=ref.name, delete=delete, dry_run=dry_run))
    sys.exit(ExitStatus.OK if all(change.ok for change in changes) else ExitStatus.INCOMPLETE)
