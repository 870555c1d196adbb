"""The `keyprov` command: parses options, calls the library, turns its errors into exit codes."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import traceback
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from keyprov import __version__
from keyprov.client import OpenRouterClient
from keyprov.display import render_plan
from keyprov.doctor import run_doctor
from keyprov.errors import KeyprovError
from keyprov.files import allow_open_files
from keyprov.lifecycle import Change, check_workshop, revoke, rotate, set_limit, usage_report
from keyprov.planner import Plan
from keyprov.provision import (
    DEFAULT_CONCURRENCY,
    ParticipantResult,
    ProvisionSettings,
    provision,
)
from keyprov.redaction import install_redacting_logging, redact
from keyprov.roster import DEFAULT_MAX_LIMIT, LIMIT_RESETS
from keyprov.sandbox.command import sandbox_command
from keyprov.settings import ApiSettings, api_settings_from_env, refuse_secrets_in_argv
from keyprov.status import ExitStatus
from keyprov.workshop import WorkshopRef

F = TypeVar("F", bound=Callable[..., Any])


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD.") from error


def _parse_columns(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        field, separator, header = value.partition("=")
        if not separator or not field.strip() or not header.strip():
            raise click.BadParameter(f'{value!r}: write it as FIELD="Header in your file".')
        pairs.append((field.strip().lower(), header.strip()))
    return tuple(pairs)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keyprov")
@click.option("--verbose", "-v", is_flag=True, help="Log every request and retry (secrets masked).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """One budget-capped OpenRouter API key per workshop participant.

    The OpenRouter management (provisioning) key is read from the environment variable
    OPENROUTER_PROVISIONING_KEY (or a file named by OPENROUTER_PROVISIONING_KEY_FILE, or a
    git-ignored .env), never from the command line.

    \b
    Example:
        make demo                                 # try it against the local sandbox
        keyprov provision roster/bssdh.csv --limit 2 --dry-run
    """
    ctx.obj = {"verbose": verbose}
    install_redacting_logging(logging.DEBUG if verbose else logging.WARNING)


def _apply(decorators: list[Callable[[F], F]]) -> Callable[[F], F]:
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
        default=Path("output"),
        show_default=True,
        help=help_text,
    )


OUT_OPTION = out_option("Folder holding <workshop>/keys.xlsx, audit.jsonl and state.jsonl.")
WORKSHOP_OPTION = click.option(
    "--workshop", help="Workshop name (default: the roster file's name)."
)

roster_options = _apply(
    [
        click.argument("roster", type=click.Path(path_type=Path, dir_okay=False)),
        WORKSHOP_OPTION,
        OUT_OPTION,
        click.option("--limit", "default_limit", type=float, help="Default limit in USD per key."),
        click.option(
            "--limit-reset", type=click.Choice(LIMIT_RESETS), help="Reset the limit every..."
        ),
        click.option(
            "--expires", callback=_parse_date, help="Last day (UTC) the keys work, YYYY-MM-DD."
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
            callback=_parse_columns,
            metavar='FIELD="Header"',
            help="Read a field (name, email, limit, limit_reset, id) from this column. Repeatable.",
        ),
    ]
)
"""The options that say how to read a roster, shared by every command that reads one."""

workshop_options = _apply(
    [
        click.argument("roster", required=False, type=click.Path(path_type=Path, dir_okay=False)),
        WORKSHOP_OPTION,
        OUT_OPTION,
    ]
)
"""A workshop named by its roster file (only its name is used) or by --workshop."""


@cli.command("provision")
@roster_options
@click.option(
    "--concurrency",
    type=click.IntRange(1, 128),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Most creates in flight at once; below it, keyprov keeps to the server's rate limit "
    "by itself, learned from its 429s.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option(
    "--prune", is_flag=True, help="Disable (never delete) keys not in the roster, and extra keys."
)
@click.option("--reenable", is_flag=True, help="Enable again keys disabled on the server.")
@click.option(
    "--allow-overcommit",
    is_flag=True,
    help="Create keys even if their limits add up to more than the credits left.",
)
@click.option(
    "--force", is_flag=True, help="Write secrets even inside a git work tree where not ignored."
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary line and errors.")
def provision_command(
    roster: Path,
    workshop: str | None,
    out_dir: Path,
    default_limit: float | None,
    limit_reset: str | None,
    expires: date | None,
    concurrency: int,
    max_limit: float,
    sheet: str | None,
    columns: tuple[tuple[str, str], ...],
    dry_run: bool,
    prune: bool,
    reenable: bool,
    allow_overcommit: bool,
    force: bool,
    quiet: bool,
) -> None:
    """Create one capped OpenRouter key per roster participant.

    Safe to run again: the roster is the desired state. Participants who have their key keep
    it, new rows get one, changed limits are updated; nothing is ever created twice. Writes
    <out>/<workshop>/keys.xlsx (the distribution spreadsheet, mode 0600) and audit.jsonl
    (what was done, never a secret).

    \b
    Example:
        export OPENROUTER_PROVISIONING_KEY=...   # from your password manager
        keyprov provision roster/bssdh.csv --limit 2 --dry-run
        keyprov provision roster/bssdh.csv --limit 2 --expires 2026-12-05

    Exit codes: 0 all provisioned, 1 some not (run again), 2 bad input, 130 interrupted.
    """
    api = _api_settings()
    settings = ProvisionSettings(
        roster=roster,
        workshop=workshop,
        out_dir=out_dir,
        default_limit=default_limit,
        limit_reset=limit_reset,
        expires=expires,
        concurrency=concurrency,
        max_limit=max_limit,
        sheet=sheet,
        column_overrides=columns,
        dry_run=dry_run,
        prune=prune,
        reenable=reenable,
        allow_overcommit=allow_overcommit,
        force=force,
    )
    reporter = _Reporter(quiet=quiet)
    # The client's connection pool and rate window are the cap on requests in flight: sized to
    # --concurrency, so a larger value is real and a smaller one also limits the list pages.
    with OpenRouterClient(api.api_key, api.base_url, pool_size=concurrency) as client:
        result = provision(settings, client, on_plan=reporter.plan, on_result=reporter.result)
    reporter.close()
    for note in result.roster_notes:
        click.echo(f"note: {note}", err=True)
    if result.dry_run:
        click.echo("\n".join(render_plan(result.plan, result.credits)))
        click.echo("dry run: nothing was changed.")
        sys.exit(ExitStatus.OK)
    click.echo(result.summary())
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    for key in result.pruned:
        click.echo(f"  disabled {key.name} ({key.label})")
    if result.plan.not_in_roster and not prune:
        click.echo(
            f"  {len(result.plan.not_in_roster)} key(s) of this workshop belong to participants "
            "no longer in the roster; --prune disables them.",
            err=True,
        )
    if not quiet:
        click.echo(f"keys:  {result.keys_path} (owner-only; hand each participant their row)")
        click.echo(f"audit: {result.audit_path}")
    for failed in result.results:
        if not failed.outcome.is_provisioned:
            line = f"  {failed.participant.identity}: {failed.outcome.value}: {failed.detail}"
            click.echo(redact(line), err=True)
    sys.exit(result.exit_status)


class _Reporter:
    """A progress bar on a terminal; one plain line per participant otherwise."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.interactive = sys.stderr.isatty() and not quiet
        self._stack = contextlib.ExitStack()
        self._bar: Any = None

    def plan(self, plan: Plan) -> None:
        if self.interactive:
            self._bar = self._stack.enter_context(
                click.progressbar(length=len(plan.items), label="provisioning", file=sys.stderr)
            )

    def result(self, result: ParticipantResult) -> None:
        if self._bar is not None:
            self._bar.update(1)
        elif not self.quiet:
            label = f" {result.label}" if result.label else ""
            click.echo(f"{result.outcome.value:>16}  {result.participant.identity}{label}")

    def close(self) -> None:
        self._stack.close()


def _client(api: ApiSettings) -> OpenRouterClient:
    return OpenRouterClient(api.api_key, api.base_url)


def _print_changes(changes: list[Change], empty: str) -> None:
    for change in changes:
        mark = "ok  " if change.ok else "FAIL"
        click.echo(f"{mark}  {change.identity:<36} {change.label:<20} {change.detail}")
    if not changes:
        click.echo(empty)


def _exit_for(changes: list[Change]) -> None:
    sys.exit(ExitStatus.OK if all(change.ok for change in changes) else ExitStatus.INCOMPLETE)


@cli.command("check")
@roster_options
@click.option(
    "--warn-days",
    type=float,
    default=2,
    show_default=True,
    help="A key expiring within this many days is not ready.",
)
def check_command(roster: Path, warn_days: float, **options: Any) -> None:
    """Is the workshop ready? Exit 0 when it is, 1 when not.

    Every participant must have exactly one enabled key whose limit, limit reset and (with
    --expires) expiry match the roster; no key may expire within --warn-days; the credits
    left must cover the limits still unspent. Read the roster with the same options as for
    provision.

    \b
    Example:
        keyprov check roster/bssdh.csv --limit 2 --expires 2026-12-05
    """
    api = _api_settings()
    columns = options.pop("columns")
    settings = ProvisionSettings(roster=roster, column_overrides=columns, **options)
    with _client(api) as client:
        result = check_workshop(settings, client, warn_days=warn_days)
    for row in result.rows:
        mark = "FAIL" if row.problems else "ok  "
        limit = "-" if row.limit is None else f"{row.limit:g}"
        remaining = "-" if row.remaining is None else f"{row.remaining:.2f}"
        detail = "; ".join(row.problems) or "ready"
        click.echo(
            f"{mark}  {row.identity:<36} {row.label:<20} {limit:>6} {remaining:>9}  {detail}"
        )
    for problem in result.workshop_problems:
        click.echo(f"FAIL  {problem}")
    ready = sum(1 for row in result.rows if not row.problems)
    verdict = "READY" if result.ready else "NOT READY"
    click.echo(f"{result.workshop}: {verdict}: {ready}/{len(result.rows)} participants ready")
    sys.exit(ExitStatus.OK if result.ready else ExitStatus.INCOMPLETE)


@cli.command("report")
@workshop_options
def report_command(roster: Path | None, workshop: str | None, out_dir: Path) -> None:
    """Usage per participant, read from the server: report.xlsx, spend.png and a table.

    For each key of the workshop: its limit, usage in the limit's window (day, week or month
    of limit_reset; all-time when there is none) and all-time, what remains, whether it is
    disabled and when it expires. No secret is written or printed.

    \b
    Example:
        keyprov report roster/bssdh.csv
        keyprov report --workshop bssdh
    """
    api = _api_settings()
    with _client(api) as client:
        report = usage_report(WorkshopRef(roster, workshop, out_dir), client)
    header = (
        f"{'participant':<36} {'key':<20} {'limit':>7} {'window':>9} {'all-time':>9} {'left':>8}"
    )
    click.echo(header)
    for row in report.rows:
        limit = "-" if row.limit is None else f"{row.limit:.2f}"
        left = "-" if row.remaining is None else f"{row.remaining:.2f}"
        flag = " disabled" if row.disabled else ""
        click.echo(
            f"{row.identity:<36} {row.label:<20} {limit:>7} {row.usage_window:>9.4f} "
            f"{row.usage_total:>9.4f} {left:>8}{flag}"
        )
    limits, usage, remaining = report.totals
    click.echo(
        f"{'total (enabled keys)':<57} {limits:>7.2f} {'':>9} {usage:>9.4f} {remaining:>8.2f}"
    )
    click.echo(f"report: {report.xlsx_path}\nchart:  {report.chart_path}")


@cli.command("set-limit")
@workshop_options
@click.option("--participant", "participants", multiple=True, help="Email or id. Repeatable.")
@click.option("--all", "everyone", is_flag=True, help="Every participant of the workshop.")
@click.option("--limit", type=float, help="The new limit in USD.")
@click.option("--add", type=float, help="USD to add to the current limit.")
@click.option("--max-limit", type=float, default=DEFAULT_MAX_LIMIT, show_default=True)
def set_limit_command(
    roster: Path | None,
    workshop: str | None,
    out_dir: Path,
    participants: tuple[str, ...],
    everyone: bool,
    limit: float | None,
    add: float | None,
    max_limit: float,
) -> None:
    """Top up: set a key's limit, or add to it.

    OpenRouter's PATCH is absolute, so --add reads the current limit, adds, and writes. A
    later provision run keeps the top-up unless the roster's own limit changes.

    \b
    Example:
        keyprov set-limit roster/bssdh.csv --participant ada@example.org --limit 5
        keyprov set-limit roster/bssdh.csv --all --add 2
    """
    if everyone == bool(participants):
        raise click.UsageError("give --participant EMAIL (one or more) or --all.")
    api = _api_settings()
    with _client(api) as client:
        changes = set_limit(
            WorkshopRef(roster, workshop, out_dir),
            client,
            participants=None if everyone else list(participants),
            limit=limit,
            add=add,
            max_limit=max_limit,
        )
    _print_changes(changes, "no participant has a key yet.")
    _exit_for(changes)


@cli.command("rotate")
@workshop_options
@click.option(
    "--participant", "participants", multiple=True, required=True, help="Email or id. Repeatable."
)
def rotate_command(
    roster: Path | None, workshop: str | None, out_dir: Path, participants: tuple[str, ...]
) -> None:
    """Replace a participant's key (leaked, lost): new key first, then the old one disabled.

    The successor gets the same limit, limit reset and expiry. If it cannot be created, the
    old key stays enabled. keys.xlsx is rewritten with the new key.

    \b
    Example:
        keyprov rotate roster/bssdh.csv --participant ada@example.org
    """
    api = _api_settings()
    with _client(api) as client:
        changes = rotate(
            WorkshopRef(roster, workshop, out_dir), client, participants=list(participants)
        )
    _print_changes(changes, "nothing to rotate.")
    _exit_for(changes)


@cli.command("revoke")
@workshop_options
@click.option("--delete", is_flag=True, help="Delete the keys instead of disabling them.")
@click.option("--yes", is_flag=True, help="Confirm --delete (deleting cannot be undone).")
@click.option("--dry-run", is_flag=True, help="List what would change; change nothing.")
def revoke_command(
    roster: Path | None,
    workshop: str | None,
    out_dir: Path,
    delete: bool,
    yes: bool,
    dry_run: bool,
) -> None:
    """After the workshop: disable every key of the workshop (or delete them).

    Disabling can be undone (provision --reenable); --delete cannot, so it needs --yes.
    Keys already disabled are left alone, so a second revoke changes nothing.

    \b
    Example:
        keyprov revoke roster/bssdh.csv --dry-run
        keyprov revoke roster/bssdh.csv
        keyprov revoke roster/bssdh.csv --delete --yes
    """
    if delete and not yes and not dry_run:
        raise click.UsageError("--delete removes the keys for good; add --yes to confirm.")
    api = _api_settings()
    with _client(api) as client:
        changes = revoke(
            WorkshopRef(roster, workshop, out_dir), client, delete=delete, dry_run=dry_run
        )
    _print_changes(changes, "every key of the workshop is already disabled.")
    if dry_run:
        click.echo("dry run: nothing was changed.")
    _exit_for(changes)


@cli.command("doctor")
@out_option("The outputs folder to inspect.")
def doctor_command(out_dir: Path) -> None:
    """Check the set-up: the key, its kind, and how safely the outputs are stored.

    Reports whether the provisioning key is present (never its value), whether the server
    accepts it as a management key, the permissions of the outputs, and whether they are
    git-ignored. Exits 0 when every check passes, 1 otherwise.

    \b
    Example:
        keyprov doctor
        keyprov doctor --out /secure/keyprov-output
    """
    checks = run_doctor(out_dir)
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"{mark}  {check.name:<24} {check.detail}")
    sys.exit(ExitStatus.OK if all(check.ok for check in checks) else ExitStatus.INCOMPLETE)


def _api_settings() -> ApiSettings:
    api = api_settings_from_env()
    for warning in api.warnings:
        click.echo(f"warning: {warning}", err=True)
    return api


cli.add_command(sandbox_command, "sandbox")


def _interrupt_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """The one error boundary: library errors become one masked line and an exit code."""
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    allow_open_files(4096)
    arguments = sys.argv[1:] if argv is None else argv
    verbose = any(argument in ("-v", "--verbose") for argument in arguments)
    try:
        refuse_secrets_in_argv(arguments)
        cli.main(args=arguments, prog_name="keyprov", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        click.echo(redact(f"Error: {error.format_message()}"), err=True)
        sys.exit(ExitStatus.BAD_INPUT)
    except (click.exceptions.Abort, KeyboardInterrupt):
        # click turns Ctrl-C (and our SIGTERM) inside a command into Abort.
        click.echo("interrupted: keys created so far are saved; run again to continue.", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except KeyprovError as error:
        click.echo(redact(f"error: {error}"), err=True)
        sys.exit(error.exit_status)
    except Exception as error:
        # A bug, not a user error: one masked line, the masked traceback only when asked.
        if verbose:
            click.echo(redact(traceback.format_exc()), err=True)
        click.echo(
            redact(
                f"internal error: {type(error).__name__}: {error}. Keys created so far are "
                "saved; run again with --verbose and report the output."
            ),
            err=True,
        )
        sys.exit(ExitStatus.INCOMPLETE)
