"""`keyprov claim`: the claim page, where each participant fetches their own key."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from keyprov.cli.common import api_settings, cli, client_for, echo
from keyprov.cli.options import workshop_options, workshop_ref
from keyprov.errors import OptionError


def _moment(option: str) -> object:
    def parse(_ctx: click.Context, _param: click.Parameter, value: str | None) -> object:
        from keyprov.lifecycle.claim_window import parse_moment

        if value is None:
            return None
        try:
            return parse_moment(option, value)
        except OptionError as error:
            raise click.BadParameter(str(error).partition(": ")[2]) from error

    return parse


@cli.command("claim", short_help="Serve the claim page: each participant fetches their key.")
@workshop_options
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDR",
    help="Address to serve on: 0.0.0.0 for the room (then with --self-signed, "
    "--tls-cert/--tls-key, or --plain-http).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    metavar="N",
    help="Port to serve on (the --claim-url's, for the slips' links to open the page).",
)
@click.option(
    "--opens",
    callback=_moment("--opens"),
    metavar="TIME",
    help="Claims open then: HH:MM (today, this machine's time) or YYYY-MM-DDTHH:MM.",
)
@click.option(
    "--closes",
    callback=_moment("--closes"),
    metavar="TIME",
    help="Claims close then (the page says so; keys keep working until keyprov close).",
)
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Serve https with this certificate (PEM), with --tls-key.",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="The certificate's private key (PEM).",
)
@click.option(
    "--self-signed",
    is_flag=True,
    help="Serve https with a certificate made for this session; its fingerprint is printed "
    "to read out.",
)
@click.option(
    "--plain-http",
    is_flag=True,
    help="Serve plain http beyond this machine: anyone on the network can read keys in transit.",
)
def claim_command(
    roster: Path | None,
    workshop: str | None,
    out_dir: Path | None,
    host: str,
    port: int,
    opens: object,
    closes: object,
    tls_cert: Path | None,
    tls_key: Path | None,
    self_signed: bool,
    plain_http: bool,
) -> None:
    """Serve the claim page: a participant types their claim code and sees their own key.

    A claim reserves the key for that browser (journaled first), enables it if the workshop
    is closed, and shows it once with a quickstart and a copy button; the same browser may
    see it again, any other gets "already claimed". Wrong codes are limited per device and
    for the room. Loopback only by default. Ctrl-C stops it.

    \b
    Example:
        keyprov claim roster/bssdh.csv                            # try it on this machine
        keyprov claim roster/bssdh.csv --host 0.0.0.0 --self-signed --port 8443
        keyprov claim roster/bssdh.csv --host 0.0.0.0 --tls-cert c.pem --tls-key k.pem \\
            --opens 09:00 --closes 17:30
    """
    from datetime import datetime

    from keyprov.claim.page import ClaimPage, ClaimSettings
    from keyprov.render.claim import claim_end_lines, claim_start_lines

    settings = ClaimSettings(
        host=host,
        port=port,
        opens=opens if isinstance(opens, datetime) else None,
        closes=closes if isinstance(closes, datetime) else None,
        tls_cert=tls_cert,
        tls_key=tls_key,
        self_signed=self_signed,
        plain_http=plain_http,
    )
    try:
        settings.check()
    except OptionError as error:
        raise click.UsageError(str(error)) from error
    ref = workshop_ref(roster, workshop, out_dir)
    api = api_settings()
    with client_for(api) as client, ClaimPage(ref, client, settings) as page:
        for to_stderr, text in claim_start_lines(page.info).lines:
            click.echo(text, err=to_stderr)
        sys.stdout.flush()  # the address now, also when the output is not a terminal
        page.serve()
        counts = page.service.counts()
    echo(claim_end_lines(ref.name, counts))
