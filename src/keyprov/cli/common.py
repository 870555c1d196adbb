"""What every keyprov command shares: the group, its conventions, and how it prints."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import TYPE_CHECKING, Any

import click

from keyprov.api.config import ApiSettings, api_settings_from_env
from keyprov.cli import interrupts
from keyprov.errors import OptionError
from keyprov.redaction import install_redacting_logging
from keyprov.render.text import Lines
from keyprov.render.workshops import recovery_warning_line, relocation_line
from keyprov.status import ExitStatus
from keyprov.workshop.locate import Relocation, telling_relocations
from keyprov.workshop.take_back import telling_recovery_warnings

if TYPE_CHECKING:
    from keyprov.api.client import OpenRouterClient, RetryEvent
    from keyprov.lifecycle import Change

COMMAND_MODULES = {
    "provision": "provision",
    "check": "lifecycle",
    "handouts": "distribute",
    "send": "distribute",
    "open": "gate",
    "claim": "claim",
    "close": "gate",
    "report": "lifecycle",
    "watch": "watch",
    "set-limit": "lifecycle",
    "rotate": "lifecycle",
    "revoke": "lifecycle",
    "rename-keys": "rename",
    "workshops": "workshops",
    "doctor": "setup",
    "sandbox": "setup",
}
"""Each command and the module of `keyprov.cli` that defines it, in the order a workshop
needs them (`keyprov -h` lists them so). A command's module is imported only when that
command runs: `keyprov provision` never pays for the sandbox, the PDF or the SMTP code."""
VERBOSE_HELP = "Log every request and retry (secrets masked)."


def _verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        install_redacting_logging(logging.DEBUG)
        ctx.ensure_object(dict)["verbose"] = True


def add_verbose_option(command: click.Command) -> None:
    """-v/--verbose after the command name too: `keyprov provision x.csv -v`."""
    if not any(param.name == "verbose" for param in command.params):
        command.params.append(
            click.Option(
                ["--verbose", "-v"],
                is_flag=True,
                expose_value=False,
                callback=_verbose,
                help=VERBOSE_HELP,
            )
        )


def say_recovery_warning(warning: str) -> None:
    """On stderr at once, like a relocation: every command that reads the state may meet one."""
    click.echo(recovery_warning_line(warning), err=True)


def say_relocation(relocation: Relocation) -> None:
    """On stderr at once, before the command goes on: not an outcome, so no `echo`."""
    click.echo(relocation_line(relocation), err=True)


class KeyprovCommand(click.Command):
    """A keyprov command: takes -v, and reports a bad option value as a usage error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_verbose_option(self)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            # Whichever command it is: working on a workshop elsewhere is said at once.
            with (
                telling_relocations(say_relocation),
                telling_recovery_warnings(say_recovery_warning),
            ):
                return super().invoke(ctx)
        except OptionError as error:
            # The library checks some option values (a --limit of 0); the user hears about them
            # as about any other bad option, with the command's usage.
            raise click.UsageError(str(error), ctx=ctx) from error


class KeyprovGroup(click.Group):
    """Commands in workflow order, each with its whole summary."""

    command_class = KeyprovCommand

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        add_verbose_option(cmd)
        super().add_command(cmd, name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if cmd_name not in self.commands and module is not None:
            importlib.import_module(f"keyprov.cli.{module}")  # its decorators register it
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        every = every_command()
        known = [name for name in COMMAND_MODULES if name in every]
        return known + sorted(set(every) - set(known))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                # No limit: a summary is wrapped, never cut off with '...'.
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=KeyprovGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keyprov", prog_name="keyprov")
@click.option("--verbose", "-v", is_flag=True, help=VERBOSE_HELP)
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


def every_command() -> dict[str, click.Command]:
    """Every command by name, each module imported: for `keyprov -h`, and for tests."""
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"keyprov.cli.{module}")
    return dict(cli.commands)


def api_settings() -> ApiSettings:
    api = api_settings_from_env()
    for warning in api.warnings:
        click.echo(f"warning: {warning}", err=True)
    return api


def client_for(api: ApiSettings, **options: Any) -> OpenRouterClient:
    """The client a command talks to the server with; while the server has never answered,
    each retry is a line on stderr, so a wrong address is not waited out in silence."""
    from keyprov.api.client import OpenRouterClient

    client = OpenRouterClient(api.api_key, api.base_url, **options)

    def tell_waiting(event: RetryEvent) -> None:
        if not event.ever_succeeded:
            click.echo(event.message(client.base_url), err=True)

    client.on_retry = tell_waiting
    return client


def echo(lines: Lines | list[str]) -> None:
    """Print a command's outcome: from here on, Ctrl-C changes only the exit code (130)."""
    interrupts.settle()
    if isinstance(lines, list):
        lines = Lines([(False, line) for line in lines])
    for to_stderr, text in lines.lines:
        click.echo(text, err=to_stderr)


def changes_done(changes: list[Change], empty: str) -> None:
    from keyprov.render.lifecycle import change_lines  # only where keys changed: it is heavy

    echo(change_lines(changes, empty))
    sys.exit(ExitStatus.OK if all(change.ok for change in changes) else ExitStatus.INCOMPLETE)
