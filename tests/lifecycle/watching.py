"""Helpers for the watch tests: a provisioned room with real names, and a watch over it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from keyprov.api.client import OpenRouterClient
from keyprov.lifecycle.notify import Notifier, Webhook
from keyprov.lifecycle.watch import Watch, WatchOptions
from keyprov.render import watch as view
from keyprov.sandbox import Sandbox
from keyprov.workshop.folder import WorkshopRef
from tests.helpers import CliWorkshop, write_csv

ROOM = (
    ("Ada Lovelace", "ada@example.org"),
    ("Grace Hopper", "grace@example.org"),
    ("Alan Turing", "alan@example.org"),
    ("Émile Borel", "emile@example.org"),
)


def provision_room(workshop: CliWorkshop, *options: str, limit: float = 1.0) -> None:
    write_csv(workshop.roster, ("name", "email", "limit"), [(n, e, limit) for n, e in ROOM])
    done = workshop.provision("--limit-reset", "daily", *options)
    assert done.returncode == 0, done.stderr


def spend(workshop: CliWorkshop, email: str, amount: float) -> str:
    """Put `amount` USD of today's spend on the participant's key; its hash."""
    key = workshop.key_of(email)
    workshop.sandbox.set_usage(
        key["hash"], usage=amount, daily=amount, weekly=amount, monthly=amount
    )
    return key["hash"]


def start_watch(
    client: OpenRouterClient,
    sandbox: Sandbox,
    *,
    options: WatchOptions | None = None,
    webhook: Webhook | None = None,
    email_to: tuple[str, ...] = (),
    smtp: object = None,
    now: Callable[[], datetime] | None = None,
) -> Watch:
    notifier = Notifier(
        view.digest_text, view.digest_email, webhook=webhook, email_to=email_to, smtp=smtp
    )  # type: ignore[arg-type]
    watch = Watch(
        WorkshopRef(None, "ws"), client, options or WatchOptions(), notifier, now=now or sandbox.now
    )
    return watch.__enter__()


def events(folder: Path) -> list[dict]:
    import json

    path = folder / "output" / "ws" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]
