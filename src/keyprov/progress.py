"""What a run shows while it works: a progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from keyprov.outcomes import ParticipantResult
from keyprov.planner import Plan
from keyprov.render import result_line


class Reporter:
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
            click.echo(result_line(result))

    def close(self) -> None:
        self._stack.close()
