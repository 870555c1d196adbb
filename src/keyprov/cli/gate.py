"""`keyprov open` and `keyprov close`: a workshop's keys work only while it is open."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from keyprov.cli.common import api_settings, cli, client_for, echo
from keyprov.cli.options import concurrency_option, workshop_options, workshop_ref
from keyprov.cli.progress import Reporter
from keyprov.lifecycle.gate import GatePlan, gate_plan, set_gate
from keyprov.render.gate import close_needs_yes, close_question, gate_lines

YES_HELP = "Do not ask (for cron, or without a terminal: needed there to close)."


@cli.command("open", short_help="Enable every participant's key (the workshop starts).")
@workshop_options
@click.option("--yes", is_flag=True, help=YES_HELP)
@concurrency_option("requests")
def open_command(
    roster: Path | None, workshop: str | None, out_dir: Path | None, yes: bool, concurrency: int
) -> None:
    """Open the workshop: enable each participant's current key.

    Keys replaced by rotate, and keys of participants no longer in the roster, stay disabled.
    Safe to run again: keys already enabled are left alone, and a run that was stopped is
    finished.

    \b
    Example:
        keyprov open roster/bssdh.csv
        keyprov open --workshop bssdh --yes        # from cron, at 09:00
    """
    ref = workshop_ref(roster, workshop, out_dir)
    api = api_settings()
    with (
        Reporter(quiet=False, label=f"opening {ref.name}") as reporter,
        client_for(api, pool_size=concurrency) as client,
    ):
        result = set_gate(ref, client, closing=False, concurrency=concurrency, progress=reporter)
    echo(gate_lines(result, str(roster or f"--workshop {ref.name}")))
    sys.exit(result.exit_status)


@cli.command("close", short_help="Disable every key until the workshop opens again.")
@workshop_options
@click.option("--yes", is_flag=True, help=YES_HELP)
@concurrency_option("requests")
def close_command(
    roster: Path | None, workshop: str | None, out_dir: Path | None, yes: bool, concurrency: int
) -> None:
    """Close the workshop: disable every key of it, until keyprov open.

    On a terminal it asks first (type the workshop's name); without one it needs --yes. While
    closed, a participant who claims their key on the claim page (keyprov claim) gets that key
    enabled; provision creates new keys disabled. Safe to run again.

    \b
    Example:
        keyprov close roster/bssdh.csv
        keyprov close --workshop bssdh --yes       # from cron, at 17:00
    """
    ref = workshop_ref(roster, workshop, out_dir)
    api = api_settings()
    with client_for(api, pool_size=concurrency) as client:
        if not yes:
            plan = gate_plan(ref, client, closing=True)
            if plan.to_change:
                _confirm(plan)
        with Reporter(quiet=False, label=f"closing {ref.name}") as reporter:
            result = set_gate(ref, client, closing=True, concurrency=concurrency, progress=reporter)
    echo(gate_lines(result, str(roster or f"--workshop {ref.name}")))
    sys.exit(result.exit_status)


def _confirm(plan: GatePlan) -> None:
    """Ask on a terminal; without one, refuse (exit 2): a cron job says --yes."""
    if not sys.stdin.isatty():
        raise click.UsageError(close_needs_yes(plan))
    answer = click.prompt(close_question(plan), default="", show_default=False, err=True)
    if answer.strip() != plan.workshop:
        click.echo("Not closed: the name did not match; nothing was changed.", err=True)
        sys.exit(2)
