"""The one error boundary: every way a command ends becomes masked text and an exit code."""

from __future__ import annotations

import re
import traceback
from collections.abc import Sequence

import click

from keyprov.api.config import refuse_secrets_in_argv
from keyprov.cli import interrupts
from keyprov.cli.common import cli
from keyprov.errors import KeyprovError
from keyprov.files import allow_open_files
from keyprov.redaction import HIDDEN, redact
from keyprov.status import ExitStatus

KEY_LIKE = re.compile(r"[A-Za-z0-9]{24,}")
"""A token that could be a key pasted without its prefix: 24 or more letters and digits."""
HIDDEN_NOTE = (
    "(a value you typed that looks like a key is shown as {hidden}; if it was a key, consider "
    "it exposed: remove it from your shell history and rotate it)"
)


def key_like_tokens(arguments: Sequence[str]) -> list[str]:
    """The parts of the command line that could be a key: long runs of letters and digits
    holding both (an id is digits only, a word letters only)."""
    tokens = set()
    for argument in arguments:
        for match in KEY_LIKE.finditer(argument):
            token = match.group(0)
            if any(char.isdigit() for char in token) and any(char.isalpha() for char in token):
                tokens.add(token)
    return sorted(tokens, key=len, reverse=True)


class Messages:
    """What the boundary prints: masked for secrets, and for anything typed that could be one."""

    def __init__(self, arguments: Sequence[str]) -> None:
        self.tokens = key_like_tokens(arguments)
        self.hid_something = False

    def mask(self, text: str) -> str:
        text = redact(text)
        for token in self.tokens:
            if token in text:
                text = text.replace(token, HIDDEN)
                self.hid_something = True
        return text

    def say(self, *lines: str, err: bool = True) -> None:
        interrupts.settle()  # the outcome is known: a signal now must not cut it short
        for line in lines:
            click.echo(self.mask(line), err=err)

    def close(self) -> None:
        if self.hid_something:
            click.echo(HIDDEN_NOTE.format(hidden=HIDDEN), err=True)


def run(arguments: list[str]) -> int:
    """Run one command; return its exit code. Nothing raised here reaches the user raw."""
    messages = Messages(arguments)
    verbose = any(argument in ("-v", "--verbose") for argument in arguments)
    try:
        allow_open_files(4096)
        refuse_secrets_in_argv(arguments)
        returned = cli.main(args=arguments, prog_name="keyprov", standalone_mode=False)
        return returned if isinstance(returned, int) else ExitStatus.OK
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    except click.exceptions.NoArgsIsHelpError as asked:
        click.echo(asked.format_message())  # `keyprov` alone: its help, as with -h
        return ExitStatus.OK
    except click.UsageError as error:
        # Here, not at the top: render.setup reads the doctor's checks, which start-up need not.
        from keyprov.render.setup import usage_error_lines

        context = error.ctx
        messages.say(
            *usage_error_lines(
                context.get_usage() if context else None,
                context.command_path if context else None,
                error.format_message(),
            )
        )
        return ExitStatus.BAD_INPUT
    except click.ClickException as error:
        messages.say(f"error: {error.format_message()}")
        return ExitStatus.BAD_INPUT
    except (click.exceptions.Abort, KeyboardInterrupt):
        # click turns Ctrl-C (and SIGTERM, made one by `interrupts`) into Abort.
        return interrupts.interrupted()
    except KeyprovError as error:
        messages.say(f"error: {error}")
        return error.exit_status
    except Exception as error:
        # A bug, not a user error: one masked line, the masked traceback only when asked.
        if verbose:
            messages.say(traceback.format_exc())
        messages.say(
            f"internal error: {type(error).__name__}: {error}. Keys created so far are "
            "saved; run again with --verbose and report the output."
        )
        return ExitStatus.INCOMPLETE
    finally:
        messages.close()
