"""What every keyprov command shares: the group, its settings, and how it prints."""

from __future__ import annotations

import logging
import sys

import click

from keyprov import render
from keyprov.client import OpenRouterClient
from keyprov.lifecycle import Change
from keyprov.redaction import install_redacting_logging
from keyprov.settings import ApiSettings, api_settings_from_env
from keyprov.status import ExitStatus


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keyprov", prog_name="keyprov")
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


def api_settings() -> ApiSettings:
    api = api_settings_from_env()
    for warning in api.warnings:
        click.echo(f"warning: {warning}", err=True)
    return api


def client_for(api: ApiSettings) -> OpenRouterClient:
    return OpenRouterClient(api.api_key, api.base_url)


def echo(lines: render.Lines | list[str]) -> None:
    if isinstance(lines, list):
        lines = render.Lines([(False, line) for line in lines])
    for to_stderr, text in lines.lines:
        click.echo(text, err=to_stderr)


def changes_done(changes: list[Change], empty: str) -> None:
    echo(render.change_lines(changes, empty))
    sys.exit(ExitStatus.OK if all(change.ok for change in changes) else ExitStatus.INCOMPLETE)
