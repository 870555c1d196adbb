"""Which way the mail goes (KEYPROV_MAIL) and how, read only from the environment.

`smtp` (the default) is `SmtpSettings` as before. `sendgrid`, `smtp2go` and `mailgun` need
an API key (KEYPROV_MAIL_API_KEY, or a file named by KEYPROV_MAIL_API_KEY_FILE), a sender
(KEYPROV_MAIL_FROM), and for Mailgun the sending domain (KEYPROV_MAIL_DOMAIN) and its region
(KEYPROV_MAIL_REGION). The key is a secret like the management key: never on the command line,
and registered for masking in everything printed or logged.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from keyprov.api.baseurl import UrlRole, checked_base_url
from keyprov.delivery.providers import MAILGUN, PROVIDERS, SENDGRID, SMTP, TRANSPORTS, Provider
from keyprov.delivery.settings import SmtpSettings, is_address
from keyprov.errors import ConfigurationError
from keyprov.redaction import register_secret

MAIL = "KEYPROV_MAIL"
API_KEY = "KEYPROV_MAIL_API_KEY"
API_KEY_FILE = "KEYPROV_MAIL_API_KEY_FILE"
MAIL_FROM = "KEYPROV_MAIL_FROM"
DOMAIN = "KEYPROV_MAIL_DOMAIN"
REGION = "KEYPROV_MAIL_REGION"
API_URL = "KEYPROV_MAIL_API_URL"
DAILY_QUOTA = "KEYPROV_MAIL_DAILY_QUOTA"

Getter = Callable[[str], "str | None"]

_DOMAIN = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
"""A sending domain: it goes into the request's path, so nothing but a host name passes."""


@dataclass(frozen=True)
class Quota:
    per_day: int
    source: str
    """Where the number comes from: the variable, or the provider's free tier."""


@dataclass(frozen=True)
class ApiMailSettings:
    """One provider's HTTP API, its key and the sender."""

    provider: Provider
    api_key: str = field(repr=False)
    from_address: str
    base_url: str
    """Checked: https, or plain http to this machine only."""
    region: str
    domain: str | None = None
    """Mailgun's sending domain."""
    timeout: tuple[float, float] = (10.0, 30.0)
    """Seconds to connect, and to wait for the answer once the request is sent."""


@dataclass(frozen=True)
class MailSettings:
    """Everything `send` needs to know about the way out; `smtp` or `api` is set."""

    transport: str
    smtp: SmtpSettings | None = None
    api: ApiMailSettings | None = None
    quota: Quota | None = None

    @property
    def from_address(self) -> str:
        if self.api is not None:
            return self.api.from_address
        assert self.smtp is not None
        return self.smtp.from_address

    @property
    def description(self) -> str:
        """`smtp.example.org:587 (starttls)`, or `SendGrid (https://api.sendgrid.com)`."""
        if self.api is not None:
            where = self.api.base_url
            if self.api.domain:
                where += f", domain {self.api.domain}"
            return f"{self.api.provider.title} ({where})"
        assert self.smtp is not None
        return f"{self.smtp.host}:{self.smtp.port} ({self.smtp.security})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MailSettings:
        """Read KEYPROV_MAIL and what it needs; ConfigurationError names the variable, what
        is wrong and how to fix it."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        transport = (get(MAIL) or SMTP).lower()
        if transport not in TRANSPORTS:
            raise ConfigurationError(
                f"{MAIL}={transport!r} is not one of {', '.join(TRANSPORTS)}: smtp (the "
                f"default) sends through a mail server (KEYPROV_SMTP_*), the others through "
                "that provider's HTTP API."
            )
        if transport == SMTP:
            if get(MAIL) is None and get(API_KEY) and not get("KEYPROV_SMTP_HOST"):
                raise ConfigurationError(
                    f"{API_KEY} is set but {MAIL} is not: set {MAIL} to sendgrid, smtp2go or "
                    "mailgun to send through that provider's API."
                )
            return cls(SMTP, smtp=SmtpSettings.from_env(env), quota=_quota(get, None))
        provider = PROVIDERS[transport]
        api = _api_settings(provider, get)
        return cls(transport, api=api, quota=_quota(get, provider))


def _api_settings(provider: Provider, get: Getter) -> ApiMailSettings:
    api_key = _api_key(get(API_KEY), get(API_KEY_FILE), provider)
    sender = get(MAIL_FROM)
    if sender is None:
        raise ConfigurationError(
            f"{MAIL_FROM} is not set: set it to the address the keys are sent from, one "
            f"{provider.title} lets you send from (a verified sender), for example "
            f"`export {MAIL_FROM}='Workshop team <team@example.org>'`."
        )
    if "\n" in sender or "\r" in sender or not is_address(sender):
        raise ConfigurationError(
            f"{MAIL_FROM}={sender!r} is not an email address: give one like team@example.org "
            "or 'Workshop team <team@example.org>'."
        )
    if provider.name == SENDGRID and not sender.isascii():
        raise ConfigurationError(
            f"{MAIL_FROM}={sender!r}: SendGrid does not accept non-ASCII characters in the "
            "sender; write the name without accents, or give the address alone."
        )
    region = (get(REGION) or provider.default_region).lower()
    if region not in provider.urls:
        raise ConfigurationError(
            f"{REGION}={region!r}: {provider.title} has {', '.join(provider.urls)}. "
            + (
                "Use the region your sending domain was created in (Mailgun's domain page says it)."
                if provider.name == MAILGUN
                else ""
            )
        )
    domain = get(DOMAIN)
    if provider.name == MAILGUN:
        if domain is None:
            raise ConfigurationError(
                f"{DOMAIN} is not set: Mailgun sends from a domain you verified with it; set "
                f"it, for example `export {DOMAIN}=mg.example.org`."
            )
        if not _DOMAIN.fullmatch(domain):
            raise ConfigurationError(
                f"{DOMAIN}={domain!r} is not a domain name: give the sending domain as "
                "Mailgun shows it, like mg.example.org (no https://, no slash)."
            )
    elif domain is not None:
        raise ConfigurationError(f"{DOMAIN} is for Mailgun only: unset it for {provider.title}.")
    url = get(API_URL) or provider.urls[region]
    role = UrlRole(
        variable=API_URL,
        secret=f"the {provider.title} API key",
        default=provider.urls[provider.default_region],
        example=f"{provider.urls[provider.default_region]} or http://127.0.0.1:8025",
        local="a local test server",
    )
    base = checked_base_url(url, role)
    return ApiMailSettings(provider, api_key, sender, base.url, region, domain)


def _api_key(value: str | None, file_name: str | None, provider: Provider) -> str:
    if value and file_name:
        raise ConfigurationError(f"both {API_KEY} and {API_KEY_FILE} are set: keep only one.")
    if file_name:
        path = Path(file_name).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise ConfigurationError(
                f"{API_KEY_FILE} names {path}, which cannot be read ({reason}). Point it at a "
                "file that holds the API key, readable by you."
            ) from error
        if not value:
            raise ConfigurationError(f"{API_KEY_FILE} names {path}, which is empty.")
    if not value:
        raise ConfigurationError(
            f"{API_KEY} is not set: create a {provider.title} API key that may send mail, "
            f"keep it in a file and `export {API_KEY_FILE}=path/to/that/file` (or export "
            f"{API_KEY} itself). It is never taken from the command line."
        )
    if any(character.isspace() for character in value):
        raise ConfigurationError(
            f"the {provider.title} API key holds a space or line break: copy it again."
        )
    register_secret(value)
    # Mailgun's Basic auth carries the key base64-encoded: mask that form too.
    register_secret(base64.b64encode(f"api:{value}".encode()).decode())
    return value


def _quota(get: Getter, provider: Provider | None) -> Quota | None:
    value = get(DAILY_QUOTA)
    if value is None:
        if provider is None:
            return None
        return Quota(provider.daily_quota, provider.quota_source)
    if value.lower() == "none":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigurationError(
            f"{DAILY_QUOTA}={value!r} is not a number of messages: give how many your plan "
            "lets you send a day (a whole number, 1 or more), or none for no limit."
        )
    return Quota(int(value), DAILY_QUOTA)
