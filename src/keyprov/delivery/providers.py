"""What keyprov knows of each HTTP mail provider, from ../shared/email-apis.md, in one table.

Numbers a provider does not publish are keyprov's own choices, and say so: `--rate` and
KEYPROV_MAIL_DAILY_QUOTA override them.
"""

from __future__ import annotations

from dataclasses import dataclass

SENDGRID = "sendgrid"
SMTP2GO = "smtp2go"
MAILGUN = "mailgun"
SMTP = "smtp"
TRANSPORTS = (SMTP, SENDGRID, SMTP2GO, MAILGUN)


@dataclass(frozen=True)
class Provider:
    name: str
    """As KEYPROV_MAIL names it."""
    title: str
    urls: dict[str, str]
    """The API's base address in each region it has; the first is the default."""
    rate_per_minute: float
    rate_source: str
    daily_quota: int
    quota_source: str
    quota_past: str
    """What happens past the free quota, in a few words."""
    reconciles: bool
    """Whether an unknown outcome can be looked up through the API."""

    @property
    def default_region(self) -> str:
        return next(iter(self.urls))


PROVIDERS = {
    SENDGRID: Provider(
        SENDGRID,
        "SendGrid",
        {"us": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"},
        # No number is published for /v3/mail/send; every answer carries X-RateLimit-*
        # headers, which are obeyed on top of this pace.
        rate_per_minute=600.0,
        rate_source="keyprov's choice (SendGrid publishes no number; its rate headers are obeyed)",
        daily_quota=100,
        quota_source="SendGrid's free trial: 100 a day for 60 days",
        quota_past="answers 401 'Maximum credits exceeded'; after the trial, sending stops",
        reconciles=False,
    ),
    SMTP2GO: Provider(
        SMTP2GO,
        "SMTP2GO",
        {
            "global": "https://api.smtp2go.com/v3",
            "us": "https://us-api.smtp2go.com/v3",
            "eu": "https://eu-api.smtp2go.com/v3",
            "au": "https://au-api.smtp2go.com/v3",
        },
        # The one number SMTP2GO has published for an endpoint (its 2017 API spec); a 429
        # times the whole IP address out for a minute or more, so staying under it matters.
        rate_per_minute=6.0,
        rate_source="SMTP2GO's published 360 requests an hour",
        daily_quota=200,
        quota_source="SMTP2GO's free plan: 200 a day, 1,000 a month",
        quota_past="queues the rest and delivers 200 a day; at the monthly quota it refuses",
        reconciles=True,
    ),
    MAILGUN: Provider(
        MAILGUN,
        "Mailgun",
        {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"},
        # Its 429 names a per-second account limit without a number: one a second stays
        # under any such limit.
        rate_per_minute=60.0,
        rate_source="keyprov's choice (Mailgun names a per-second limit, not its number)",
        daily_quota=100,
        quota_source="Mailgun's free plan: about 100 a day",
        quota_past="refuses; without a card on file it delivers only to 5 authorized addresses",
        reconciles=True,
    ),
}
