"""`keyprov sandbox`: run the OpenRouter management-API emulator as a foreground process.

`keyprov sandbox` alone runs it; its subcommands (`spend`, `force`, in remote_commands) steer
one that is already running.
"""

from __future__ import annotations

import shlex
import signal
import time
from pathlib import Path
from types import FrameType

import click

from keyprov.api.baseurl import is_loopback
from keyprov.api.config import BASE_URL_VARIABLE
from keyprov.files import ON_WINDOWS
from keyprov.sandbox.faults import FORCED_KINDS, Faults, parse_kind
from keyprov.sandbox.remote_commands import clock_command, force_command, spend_command
from keyprov.sandbox.server import (
    DEMO_MANAGEMENT_KEY,
    MANAGEMENT_KEY_ENV,
    Sandbox,
)


def _parse_forced(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str | int, int]]:
    parsed = []
    for text in values:
        kind_text, _, count_text = text.partition(":")
        try:
            kind = parse_kind(kind_text)
            if kind == "slow":
                raise ValueError("'slow' needs seconds: force it with POST /_sandbox/force")
            count = int(count_text) if count_text else 1
            if count < 1:
                raise ValueError("COUNT must be an integer >= 1")
        except ValueError as exc:
            raise click.BadParameter(f"{text!r}: {exc}", ctx=ctx, param=param) from None
        parsed.append((kind, count))
    return parsed


def export_lines(sandbox: Sandbox, *, powershell: bool = ON_WINDOWS) -> list[str]:
    """What a user pastes into the shell that runs keyprov (PowerShell's syntax on Windows);
    every line is safe to paste."""

    def setting(name: str, value: str) -> str:
        if powershell:
            return f"$env:{name} = '{value.replace(chr(39), chr(39) * 2)}'"
        return f"export {name}={shlex.quote(value)}"

    lines = [setting(BASE_URL_VARIABLE, sandbox.base_url)]
    if sandbox.management_key == DEMO_MANAGEMENT_KEY:
        lines.append(setting(MANAGEMENT_KEY_ENV, DEMO_MANAGEMENT_KEY))
    else:
        # Never echo a key that came from the environment: it may be a real one.
        lines.append(f"# {MANAGEMENT_KEY_ENV}: the sandbox takes the one already set in yours")
    return lines


@click.group("sandbox", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8787,
    show_default=True,
    help="Port to listen on; 0 picks a free one (read it from the first output line).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host. Anyone who can reach it may use the management key.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file to load keys from and save them to (hashes only, never secrets).",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Seconds added to every /api/v1 response.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    help="Requests per second over all /api/v1 requests (token bucket); 429 beyond it.",
)
@click.option(
    "--burst",
    type=click.IntRange(min=1),
    help="Token bucket size (default: the rate limit, rounded, at least 1).",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Probability of answering 500/502/503 without doing anything.",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Probability that a create (POST /keys, /guardrails) is committed, then the "
    "connection closes unanswered.",
)
@click.option("--seed", type=int, help="Seed for the random faults, for reproducible runs.")
@click.option(
    "--force",
    "forced",
    multiple=True,
    metavar="KIND[:COUNT]",
    callback=_parse_forced,
    help="Make the next COUNT (default 1) matching requests fail as KIND; repeatable. "
    f"KIND: {', '.join(str(k) for k in FORCED_KINDS)}. See docs/sandbox.md.",
)
@click.option(
    "--credits",
    "total_credits",
    type=float,
    default=1000.0,
    show_default=True,
    help="total_credits reported by GET /credits, in USD.",
)
@click.pass_context
def sandbox_command(
    ctx: click.Context,
    host: str,
    port: int,
    allow_remote: bool,
    state_path: Path | None,
    latency: float,
    rate_limit: float | None,
    burst: int | None,
    error_rate: float,
    drop_rate: float,
    seed: int | None,
    forced: list[tuple[str | int, int]],
    total_credits: float,
) -> None:
    """Run a local emulator of OpenRouter's management API.

    It serves /api/v1/keys, /key, /credits, /guardrails and /models like openrouter.ai does,
    so keyprov can be tried and tested without an account or real money. After its URL it
    prints the `export` lines to paste into the shell you run keyprov in. The management key
    it accepts is $OPENROUTER_PROVISIONING_KEY when set, else the demo key it prints. Keys and
    guardrails live in memory unless --state is given. Stop it with Ctrl-C.

    The subcommands steer a sandbox that is running: `spend` puts spend on its keys (so
    `keyprov report` has something to show), `force` makes its next requests fail.

    \b
    Examples:
      keyprov sandbox
      keyprov sandbox --port 0 --state sandbox-state.json
      keyprov sandbox --rate-limit 5 --error-rate 0.05 --drop-rate 0.02 --seed 1
      keyprov sandbox --force list_short_page --force html_200:2
      keyprov sandbox spend --name-prefix keyprov:ws: --usage 1.5
      keyprov sandbox spend --random --seed 7
      keyprov sandbox force 503:2 --method POST
    """
    if ctx.invoked_subcommand is not None:
        return  # a subcommand talks to a sandbox already running; it starts none
    if not allow_remote and not is_loopback(host):
        raise click.UsageError(
            f"refusing to listen on {host}: it is not a loopback address, and the sandbox "
            "accepts a well-known demo key. Pass --allow-remote if you really mean it."
        )
    try:
        faults = Faults(
            latency=latency,
            rate_limit=rate_limit,
            burst=burst,
            error_rate=error_rate,
            drop_after_commit_rate=drop_rate,
            seed=seed,
        )
        sandbox = Sandbox(
            host=host, port=port, state_path=state_path, faults=faults, total_credits=total_credits
        )
        for kind, count in forced:
            sandbox.force(kind, count)
        sandbox.start()
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"cannot start the sandbox: {exc}") from exc

    stop_requests: list[int] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        # A plain append, not Event.set: the handler runs between any two bytecodes of the
        # main thread, and Event.set would deadlock if that is inside Event.wait's lock.
        stop_requests.append(signum)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        # A script started with --port 0 reads the port from this first line, so flush it now.
        click.echo(f"keyprov sandbox listening on {sandbox.base_url}")
        for line in export_lines(sandbox):
            click.echo(line)
        click.echo("# paste the lines above into the shell that runs keyprov; Ctrl-C stops me")
        click.get_text_stream("stdout").flush()
        # Short sleeps: a signal delivered to another thread runs its handler here only once
        # the main thread wakes up.
        while not stop_requests:
            time.sleep(0.1)
    finally:
        sandbox.stop()


sandbox_command.add_command(spend_command)
sandbox_command.add_command(force_command)
sandbox_command.add_command(clock_command)

if __name__ == "__main__":
    sandbox_command(prog_name="keyprov sandbox")
