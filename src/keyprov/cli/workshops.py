"""`keyprov workshops`: every workshop of this user, wherever its folder is."""

from __future__ import annotations

from keyprov.cli.common import cli, echo
from keyprov.render.text import Lines
from keyprov.render.workshops import workshops_lines
from keyprov.workshop.locate import listed_workshops
from keyprov.workshop.registry import Registry


@cli.command("workshops", short_help="List your workshops: folder, keys, last run.")
def workshops_command() -> None:
    """List the workshops keyprov knows for you, on this machine, for every account.

    For each: its name, the account (the label OpenRouter gives the management key), how
    many participants its last provision read, how many of their keys were enabled when a
    command last changed it, that command with its time and exit code, and its folder.
    Commands find a workshop by its name and account from any folder. No request is sent.

    \b
    Example:
        keyprov workshops
    """
    registry = Registry.default()
    lines: Lines = workshops_lines(listed_workshops(registry), str(registry.path))
    echo(lines)
