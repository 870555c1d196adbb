"""`keyprov handouts` and `send`: each participant handed their own key."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from keyprov.cli.common import api_settings, cli, client_for, echo
from keyprov.cli.options import PARTICIPANT_HELP, quickstart_option, workshop_options
from keyprov.delivery import DEFAULT_RATE_PER_MINUTE, DeliveryResult, Outcome, RetryPolicy
from keyprov.lifecycle.distribute import ONLY_CHOICES, Sending, send_keys, write_handouts
from keyprov.render.distribute import (
    handouts_lines,
    send_lines,
    send_progress_line,
    send_start_line,
    send_warnings,
)
from keyprov.workshop.folder import WorkshopRef

TITLE_OPTION = click.option(
    "--title",
    metavar="TEXT",
    help='The workshop as participants know it ("DH Summer Workshop 2026"), for slips, the '
    "PDF and mail subjects; remembered (default: the workshop's name).",
)

PAPERS = ("a4", "letter")


@cli.command("handouts", short_help="Printable slips (handouts.pdf) and a mail-merge file.")
@workshop_options
@click.option(
    "--participant", "participants", multiple=True, metavar="EMAIL_OR_ID", help=PARTICIPANT_HELP
)
@click.option(
    "--only",
    type=click.Choice(ONLY_CHOICES),
    help="new: only keys not handed out or sent yet; replaced: only keys that replace one "
    "handed out before (after rotate).",
)
@click.option(
    "--paper", type=click.Choice(PAPERS), default="a4", show_default=True, help="Paper size."
)
@TITLE_OPTION
@click.option(
    "--claim",
    is_flag=True,
    help="Slips with each participant's claim code and a QR code of the claim page instead "
    "of the key (and no key in mail-merge.csv): they fetch it with keyprov claim.",
)
@quickstart_option(
    "Show the first call in these (shell, powershell, python, colab) for this run "
    "(default: the workshop's, as provisioned)."
)
def handouts_command(
    roster: Path | None,
    workshop: str | None,
    out_dir: Path | None,
    participants: tuple[str, ...],
    only: str | None,
    paper: str,
    title: str | None,
    claim: bool,
    quickstarts: tuple[str, ...],
) -> None:
    """Write handouts.pdf and mail-merge.csv in the workshop folder (mode 0600).

    handouts.pdf has one slip per participant, three to a page, with cut marks: their name,
    their key in large monospace and as a QR code, budget and renewal, last day, models, the
    base URL, a quickstart and how to see the budget left. mail-merge.csv has one row per
    participant (UTF-8 with BOM) for Word, Outlook, Thunderbird or Google Sheets.

    Only keys enabled on the server now are handed out, each participant's own current one;
    keys.xlsx then says "on slips" and the date, so --only new leaves them out next time.

    \b
    Example:
        keyprov handouts roster/bssdh.csv --title "DH Summer Workshop 2026"
        keyprov handouts roster/bssdh.csv --only new --paper letter
        keyprov handouts roster/bssdh.csv --only replaced      # after keyprov rotate
    """
    api = api_settings()
    with client_for(api) as client:
        files = write_handouts(
            WorkshopRef(roster, workshop, out_dir),
            client,
            paper=paper,
            participants=list(participants) or None,
            only=only,  # type: ignore[arg-type]
            title=title,
            claim=claim,
            quickstarts=quickstarts or None,
        )
    echo(handouts_lines(files))
    sys.exit(files.exit_status)


@cli.command(
    "send", short_help="Email each participant their own key (SMTP, SendGrid, SMTP2GO, Mailgun)."
)
@workshop_options
@click.option(
    "--template",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="The message: 'Subject: ...' on the first line, then the body, with placeholders "
    "such as {first_name}, {key}, {budget}, {last_day}, {quickstart} (default: a message "
    "keyprov provides; --dry-run shows it).",
)
@click.option(
    "--participant", "participants", multiple=True, metavar="EMAIL_OR_ID", help=PARTICIPANT_HELP
)
@click.option(
    "--resend",
    is_flag=True,
    help="Send again to the --participant named, even if they were sent their key already.",
)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Send again the messages an HTTP provider may or may not have delivered (a 5xx or no "
    "answer), once its log could not confirm them: a participant whose first copy did arrive "
    "gets their key twice (the same key, to their own address).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="N",
    help=f"At most N messages a minute. Default: {DEFAULT_RATE_PER_MINUTE:g} over SMTP (under "
    "Microsoft 365's limit); SendGrid 600, SMTP2GO 6 (its published 360 an hour), Mailgun 60.",
)
@click.option(
    "--attempts",
    type=click.IntRange(1, 10),
    default=RetryPolicy.attempts,
    show_default=True,
    metavar="N",
    help="Tries per message when the mail server fails for now (a 4xx answer, a dropped "
    "connection), a few seconds apart; a message still not sent is left for the next run.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show the first message (its key masked) and who would get one; send nothing.",
)
@TITLE_OPTION
@click.option(
    "--claim",
    is_flag=True,
    help="Send each participant their claim code and a link to the claim page instead of "
    "the key (they fetch it with keyprov claim).",
)
@quickstart_option(
    "Show the first call in these (shell, powershell, python, colab) for this run "
    "(default: the workshop's, as provisioned)."
)
def send_command(
    roster: Path | None,
    workshop: str | None,
    out_dir: Path | None,
    template: Path | None,
    participants: tuple[str, ...],
    resend: bool,
    resend_unknown: bool,
    rate: float | None,
    attempts: int,
    dry_run: bool,
    title: str | None,
    claim: bool,
    quickstarts: tuple[str, ...],
) -> None:
    """Email each participant their own current key, once.

    The way out is configured only in the environment, never on the command line.
    KEYPROV_MAIL=smtp (the default) uses a mail server: KEYPROV_SMTP_HOST, KEYPROV_SMTP_PORT
    (default 587), KEYPROV_SMTP_USER, KEYPROV_SMTP_PASSWORD (or KEYPROV_SMTP_PASSWORD_FILE),
    KEYPROV_SMTP_FROM and KEYPROV_SMTP_SECURITY: starttls (the default), ssl, or plain (to
    this machine only). KEYPROV_MAIL=sendgrid, smtp2go or mailgun uses that provider's API:
    KEYPROV_MAIL_API_KEY (or KEYPROV_MAIL_API_KEY_FILE), KEYPROV_MAIL_FROM (a sender the
    provider verified), for Mailgun KEYPROV_MAIL_DOMAIN and KEYPROV_MAIL_REGION (us or eu).
    KEYPROV_MAIL_DAILY_QUOTA is the plan's messages a day (default: the free tier's); a run
    stops there (exit 1) and the next day's run goes on. See docs/handouts.md.

    A rerun sends only to participants not yet sent their current key; a key replaced by
    rotate is sent again, saying which key it replaces. Each step is journaled before it
    happens (deliveries.jsonl), so a run that is killed continues where it stopped (at worst
    one message sent twice, to its own participant). keys.xlsx says who was sent their key
    and when; audit.jsonl records each recipient, key label, Message-ID and outcome.

    \b
    Example:
        export KEYPROV_SMTP_HOST=smtp.example.org KEYPROV_SMTP_USER=team@example.org
        export KEYPROV_SMTP_PASSWORD_FILE=~/.config/keyprov/smtp-password
        keyprov send roster/bssdh.csv --dry-run
        keyprov send roster/bssdh.csv
        keyprov send roster/bssdh.csv --resend --participant ada@example.org
        export KEYPROV_MAIL=sendgrid KEYPROV_MAIL_FROM='Workshop team <team@example.org>'
        export KEYPROV_MAIL_API_KEY_FILE=~/.config/keyprov/sendgrid-key
        keyprov send roster/bssdh.csv --dry-run

    Through an HTTP provider, a message that got no clear answer (a 5xx, a timeout) may
    have been delivered, and none of them can tell a second copy from a new message: it is
    held, looked up in the provider's log on the next run (SMTP2GO, Mailgun; SendGrid's log
    needs a paid add-on), and sent again only with --resend-unknown. Each key is read again
    just before its message: one that stopped working meanwhile (disabled, expired,
    replaced) is never mailed.

    Exit codes: 0 everyone sent, 1 some not (the summary says whether a rerun helps; over
    the day's quota: tomorrow), 2 configuration (also an API key, sender or account refused
    mid-run).
    """
    if resend and not participants:
        raise click.UsageError("--resend sends a key again: name who with --participant.")
    api = api_settings()
    progress = _Progress()
    with client_for(api) as client:
        sending = send_keys(
            WorkshopRef(roster, workshop, out_dir),
            client,
            template_path=template,
            participants=list(participants) or None,
            resend=resend,
            resend_unknown=resend_unknown,
            rate_per_minute=rate,
            retry=RetryPolicy(attempts=attempts),
            dry_run=dry_run,
            quickstarts=quickstarts or None,
            on_plan=None if dry_run else progress.plan,
            on_result=progress.result,
            title=title,
            claim=claim,
        )
    echo(send_lines(sending))
    sys.exit(sending.exit_status)


class _Progress:
    """One line on stderr per message as it goes: a paced run takes minutes."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0

    def plan(self, sending: Sending) -> None:
        self.total = len(sending.plan.to_send)
        for line in send_warnings(sending):
            click.echo(line, err=True)
        if self.total:
            click.echo(send_start_line(sending, sending.rate_per_minute), err=True)

    def result(self, result: DeliveryResult) -> None:
        if result.outcome in (Outcome.ALREADY_SENT, Outcome.OVER_QUOTA):
            return
        if result.outcome is Outcome.UNKNOWN and result.reason is None:
            return  # held from an earlier run: the summary names it
        self.done += 1
        click.echo(send_progress_line(self.done, self.total, result), err=True)
