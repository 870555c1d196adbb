"""Examples work as written on any day: no help text, README, Makefile usage line or doc in
docs/ names a day that is over (they use 7d, YYYY-MM-DD or another relative form)."""

from __future__ import annotations

import re
from datetime import date

import click
import pytest

from keyprov.cli.common import cli, every_command
from tests.clock import today
from tests.helpers import REPO

DAY = re.compile(r"\b(20\d\d)-(\d\d)-(\d\d)\b")


def past_days(text: str) -> list[str]:
    found = []
    for match in DAY.finditer(text):
        try:
            named = date(*(int(part) for part in match.groups()))
        except ValueError:
            continue
        if named < today():
            found.append(match.group(0))
    return found


@pytest.mark.parametrize("name", sorted(every_command()))
def test_no_help_text_names_a_past_day(name: str) -> None:
    command = every_command()[name]
    with click.Context(cli, info_name="keyprov") as parent:
        context = click.Context(command, info_name=name, parent=parent)
        assert past_days(command.get_help(context)) == []


@pytest.mark.parametrize(
    "path",
    ["README.md", "Makefile", *sorted(str(p.relative_to(REPO)) for p in REPO.glob("docs/*.md"))],
)
def test_no_user_document_names_a_past_day(path: str) -> None:
    assert past_days((REPO / path).read_text(encoding="utf-8")) == [], path
