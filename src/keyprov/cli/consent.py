"""Asking before keys stop working: the workshop's name typed on a terminal, else --yes."""

from __future__ import annotations

import sys

import click

from keyprov.lifecycle.steps import Confirm, Impact, NotConfirmed
from keyprov.render.changes import confirm_prompt, impact_lines, not_asked_text

YES_HELP = "Go on without asking (needed without a terminal) when keys stop working."


def on_a_terminal() -> bool:
    """Someone can be asked: the question goes to stderr, the answer comes from stdin."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def confirmer(yes: bool, *, interactive: bool | None = None) -> Confirm:
    """How a command asks: not at all with --yes; on a terminal, by the workshop's name;
    without one, it stops (exit 2) saying --yes is needed."""
    if yes:
        return lambda _impact: True
    asking = on_a_terminal() if interactive is None else interactive

    def ask(impact: Impact) -> bool:
        if not asking:
            raise NotConfirmed(not_asked_text(impact))
        for line in impact_lines(impact):
            click.echo(line, err=True)
        answer = click.prompt(confirm_prompt(impact), default="", show_default=False, err=True)
        return str(answer).strip() == impact.workshop

    return ask
