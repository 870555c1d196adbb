"""The `keyprov` command: parses options, calls the library, turns its errors into exit codes.

Each command lives in a module of this package; `main` is the one error boundary.
"""

from __future__ import annotations

import signal
import sys
import traceback
from types import FrameType

import click

from keyprov.cli import lifecycle, provision, setup
from keyprov.cli.common import cli
from keyprov.errors import KeyprovError
from keyprov.files import allow_open_files
from keyprov.redaction import redact
from keyprov.settings import refuse_secrets_in_argv
from keyprov.status import ExitStatus

__all__ = ["cli", "lifecycle", "main", "provision", "setup"]


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
