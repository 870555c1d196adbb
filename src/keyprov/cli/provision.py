"""`keyprov provision`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from keyprov.cli import interrupts
from keyprov.cli.common import api_settings, cli, client_for, echo
from keyprov.cli.options import (
    CLAIM_URL_OPTION,
    concurrency_option,
    given_options,
    quickstart_option,
    roster_options,
)
from keyprov.cli.progress import Reporter
from keyprov.expiry_option import Expiry
from keyprov.provision import ProvisionSettings, provision
from keyprov.render.run import provision_lines


@cli.command("provision", short_help="Create one capped key per participant (safe to rerun).")
@roster_options
@concurrency_option("creates")
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
@click.option(
    "--models",
    metavar="SLUG[,SLUG…]",
    help="Let the keys use only these models (ids as openrouter.ai/models lists them), "
    "through one guardrail for the workshop; 'all' lifts the restriction. Remembered: "
    "leaving it out later keeps the list.",
)
@click.option(
    "--providers",
    metavar="ID[,ID…]",
    help="Let the keys use only models these providers serve; 'all' lifts it. Remembered.",
)
@click.option(
    "--zdr/--no-zdr",
    default=None,
    help="Let the keys reach only endpoints that retain no data (zero data retention). Remembered.",
)
@click.option(
    "--closed",
    is_flag=True,
    help="Create the keys disabled: they work once keyprov open enables them, or each when "
    "its participant claims it on the claim page (keyprov claim).",
)
@CLAIM_URL_OPTION
@click.option(
    "--key-names",
    type=click.Choice(("pseudonymous", "readable")),
    help="For a new workshop: name keys by a pseudonym (the default: no email, id or name "
    "reaches OpenRouter) or readably, keyprov:<workshop>:<email or id>. An existing workshop "
    "keeps its names; keyprov rename-keys changes them.",
)
@quickstart_option(
    "How slips and messages show the first call: shell, powershell, python, colab (Google "
    "Colab, the key as a Colab secret); repeatable (default: shell and python). Remembered."
)
@click.option(
    "--quiet", "-q", is_flag=True, help="Print only the summary line, warnings and errors."
)
@click.option(
    "--list",
    "list_all",
    is_flag=True,
    help="List every participant's outcome at the end (by default only those needing "
    "attention are).",
)
def provision_command(
    roster: Path,
    workshop: str | None,
    out_dir: Path,
    default_limit: float | None,
    limit_reset: str | None,
    expires: Expiry | None,
    concurrency: int,
    max_limit: float,
    sheet: str | None,
    columns: tuple[tuple[str, str], ...],
    dry_run: bool,
    prune: bool,
    reenable: bool,
    allow_overcommit: bool,
    force: bool,
    models: str | None,
    providers: str | None,
    zdr: bool | None,
    closed: bool,
    claim_url: str | None,
    key_names: str | None,
    quickstarts: tuple[str, ...],
    quiet: bool,
    list_all: bool,
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
        keyprov provision roster/bssdh.csv --limit 2 --expires 7d

    Exit codes: 0 all provisioned, 1 some not (run again), 2 bad input (a dry run: also when
    the real run would stop for want of credits), 130 interrupted.
    """
    if quiet and list_all:
        raise click.UsageError("--quiet and --list contradict each other; give one of them.")
    api = api_settings()
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
        models=models,
        providers=providers,
        zdr=zdr,
        closed=closed,
        claim_url=claim_url,
        key_names=key_names,
        quickstarts=quickstarts,
        given=given_options(click.get_current_context()),
    )
    # Request logs (-v) would be torn by a bar redrawn in place: they get the plain lines.
    shared = click.get_current_context().find_object(dict) or {}
    verbose = bool(shared.get("verbose"))
    with Reporter(
        quiet=quiet,
        label=f"provisioning {settings.workshop_name}",
        interactive=False if verbose else None,
    ) as reporter:
        interrupts.on_repeat(reporter.interrupted_again)
        # The client's connection pool and rate window cap the requests in flight: sized to
        # --concurrency, so a larger value is real and a smaller one also limits the list pages.
        with client_for(api, pool_size=concurrency) as client:
            result = provision(
                settings,
                client,
                on_listing=reporter.listing,
                on_plan=reporter.plan,
                on_result=reporter.result,
                on_stopping=reporter.stopping,
            )
    echo(provision_lines(result, quiet=quiet, prune=prune, list_all=list_all))
    sys.exit(result.exit_status)
