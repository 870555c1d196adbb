"""`keyprov sandbox spend` and `keyprov sandbox force`: steer a sandbox that is running,
through its /_sandbox control API, from another shell."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from keyprov.api.config import BASE_URL_VARIABLE
from keyprov.errors import KeyprovError
from keyprov.sandbox.faults import FORCED_KINDS, parse_kind
from keyprov.sandbox.remote import DEFAULT_URL, ControlClient
from keyprov.sandbox.server import default_management_key

USD = click.FloatRange(min=0)


def _control_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--allow-remote",
        is_flag=True,
        help="Send the management key to a sandbox that is not on this machine.",
    )(command)
    return click.option(
        "--url",
        default=lambda: os.environ.get(BASE_URL_VARIABLE) or DEFAULT_URL,
        show_default=f"${BASE_URL_VARIABLE}, else {DEFAULT_URL}",
        help="The sandbox's URL, as `keyprov sandbox` printed it.",
    )(command)


def _client(url: str, allow_remote: bool) -> ControlClient:
    try:
        # The key the sandbox itself accepts: $OPENROUTER_PROVISIONING_KEY, else the demo key.
        return ControlClient(url, default_management_key(), allow_remote=allow_remote)
    except KeyprovError as exc:
        raise click.ClickException(str(exc)) from None


def _call(client: ControlClient, method: str, sub: str, body: object = None) -> Any:
    try:
        return client.call(method, sub, body)
    except KeyprovError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("spend")
@_control_options
@click.option("--name-prefix", help="Only keys whose name starts with this, e.g. keyprov:ws:.")
@click.option("--hash", "hashes", multiple=True, help="Only the key with this hash; repeatable.")
@click.option("--usage", type=USD, help="All-time spend to set on each key, in USD.")
@click.option("--daily", type=USD, help="Spend today (default: the week's).")
@click.option("--weekly", type=USD, help="Spend this week (default: the month's).")
@click.option("--monthly", type=USD, help="Spend this month (default: --usage).")
@click.option(
    "--random",
    "random_spend",
    is_flag=True,
    help="Instead of --usage: each key somewhere between nothing and its limit.",
)
@click.option("--seed", type=int, help="With --random or --simulate: the same on every run.")
@click.option(
    "--simulate",
    is_flag=True,
    help="Rehearse a workshop: spend over time, until --stop (some keys busy, some idle, a "
    "few past their limit); GET /credits follows.",
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="With --simulate: the pace; a steady key spends its limit in about twice this.",
)
@click.option("--stop", is_flag=True, help="Stop a --simulate running on the sandbox.")
def spend_command(
    url: str,
    allow_remote: bool,
    name_prefix: str | None,
    hashes: tuple[str, ...],
    usage: float | None,
    daily: float | None,
    weekly: float | None,
    monthly: float | None,
    random_spend: bool,
    seed: int | None,
    simulate: bool,
    minutes: float,
    stop: bool,
) -> None:
    """Put spend on a running sandbox's keys, so `keyprov report` has something to show.

    --simulate spends over time instead, as a room does (each key's habit drawn with --seed:
    about 1 in 8 never start, 1 in 5 spend fast, 1 in 16 overshoot their limit), until
    `keyprov sandbox spend --stop`: to rehearse `keyprov watch`.

    The sandbox serves no inference, so nothing spends its keys otherwise. The amounts are set,
    not added: `--usage 1.5` makes each chosen key look like it spent $1.50, all of it today
    (a window you leave out gets the next wider one's figure). Without --name-prefix or
    --hash, every key of the sandbox gets spend.

    \b
    Examples:
      keyprov sandbox spend --name-prefix keyprov:example: --usage 1.5
      keyprov sandbox spend --hash 3f9a... --usage 4 --daily 0.5 --weekly 2 --monthly 4
      keyprov sandbox spend --random --seed 7 --url http://127.0.0.1:8787/api/v1
      keyprov sandbox spend --simulate --name-prefix keyprov:example: --minutes 10 --seed 3
      keyprov sandbox spend --stop
    """
    if stop or simulate:
        _simulate(url, allow_remote, name_prefix, seed, minutes, stop=stop)
        return
    if usage is None and not random_spend:
        raise click.UsageError("say how much: --usage USD, or --random")
    body: dict[str, Any] = {
        "name_prefix": name_prefix,
        "hashes": list(hashes) or None,
        "usage": usage,
        "daily": daily,
        "weekly": weekly,
        "monthly": monthly,
        "random": random_spend,
        "seed": seed,
    }
    answer = _call(_client(url, allow_remote), "POST", "/spend", body)
    keys = answer["data"]
    total = sum(key["usage"] for key in keys)
    noun = "key" if len(keys) == 1 else "keys"
    click.echo(f"spend set on {len(keys)} {noun}: {total:.2f} USD in all")


def _simulate(
    url: str,
    allow_remote: bool,
    name_prefix: str | None,
    seed: int | None,
    minutes: float,
    *,
    stop: bool,
) -> None:
    client = _client(url, allow_remote)
    if stop:
        stopped = _call(client, "DELETE", "/simulate")["stopped"]
        click.echo("simulated spend stopped" if stopped else "no simulated spend was running")
        return
    body = {"name_prefix": name_prefix, "seed": seed, "minutes": minutes}
    answer = _call(client, "POST", "/simulate", body)
    habits = ", ".join(f"{count} {kind}" for kind, count in sorted(answer["habits"].items()))
    click.echo(
        f"simulating spend on {answer['keys']} keys ({habits}) until `keyprov sandbox spend --stop`"
    )


@click.command("clock")
@_control_options
@click.option(
    "--advance",
    "hours",
    type=click.FloatRange(min=0, min_open=True),
    help="Move the sandbox's clock forward this many hours: past midnight UTC the daily "
    "windows start again.",
)
def clock_command(url: str, allow_remote: bool, hours: float | None) -> None:
    """Show the running sandbox's clock (UTC), or move it forward with --advance HOURS.

    \b
    Example:
      keyprov sandbox clock --advance 24     # tomorrow: every daily limit starts again
    """
    client = _client(url, allow_remote)
    if hours is None:
        click.echo(_call(client, "GET", "/clock")["now"])
        return
    click.echo(_call(client, "POST", "/clock", {"advance": hours * 3600})["now"])


@click.command("force")
@_control_options
@click.argument("fault", metavar="KIND[:COUNT]")
@click.option("--method", help="Only requests with this method (GET, POST, ...).")
@click.option(
    "--path", "path_prefix", help="Only requests to this path or under it (/key is not /keys)."
)
@click.option("--hash", "hash_", help="list_missing_key, list_item_without_hash: this key.")
@click.option("--seconds", type=click.FloatRange(min=0), help="slow: how long to wait.")
def force_command(
    url: str,
    allow_remote: bool,
    fault: str,
    method: str | None,
    path_prefix: str | None,
    hash_: str | None,
    seconds: float | None,
) -> None:
    """Make a running sandbox's next COUNT (default 1) matching requests go wrong as KIND.

    KIND is one of: {kinds}. docs/sandbox.md says what each one does.

    \b
    Examples:
      keyprov sandbox force list_short_page
      keyprov sandbox force 503:2 --method POST --path /keys
      keyprov sandbox force slow --seconds 30 --method POST
    """
    kind_text, _, count_text = fault.partition(":")
    try:
        kind = parse_kind(kind_text)
        count = int(count_text) if count_text else 1
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="KIND[:COUNT]") from None
    body: dict[str, Any] = {"kind": kind, "count": count, "method": method}
    body.update(path_prefix=path_prefix, hash=hash_, seconds=seconds)
    pending = _call(_client(url, allow_remote), "POST", "/force", body)["data"]
    click.echo(f"forced {count} x {kind}; {len(pending)} forced fault(s) now pending")


force_command.help = (force_command.help or "").replace(
    "{kinds}", ", ".join(str(k) for k in FORCED_KINDS)
)
