"""The `keyprov` command: parses options, calls the library, turns its errors into exit codes.

Each group of commands lives in a module of this package; `boundary.run` is the one error
boundary, and `main` puts the signal handlers in place before anything else is imported.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from keyprov.cli import interrupts
from keyprov.cli.console import never_fail_on_characters

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run `keyprov` with `argv` (default: this process's command line) and exit.

    Without `argv` this is the process's entry point and ends the process itself (see
    `interrupts.leave`); with it, it raises SystemExit like any click command.
    """
    interrupts.install()
    never_fail_on_characters()
    arguments = sys.argv[1:] if argv is None else [str(argument) for argument in argv]
    try:
        # The commands and all they import: most of start-up, so after the handlers.
        from keyprov.cli.boundary import run

        code = run(arguments)
    except KeyboardInterrupt:  # during the imports, before `run` could catch it
        code = interrupts.interrupted()
    interrupts.leave(code, own_process=argv is None)


def __getattr__(name: str) -> Any:
    """`keyprov.cli.cli`, the click group with every command, imported when first asked for."""
    if name == "cli":
        from keyprov.cli.boundary import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
