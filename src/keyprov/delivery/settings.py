"""Where the mail goes: SMTP settings, read only from the environment (never from argv, where a
password would land in shell history and `ps`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.errors import HeaderParseError
from email.utils import parseaddr
from pathlib import Path

from keyprov.api.baseurl import is_loopback
from keyprov.errors import ConfigurationError
from keyprov.redaction import register_secret

PREFIX = "KEYPROV_SMTP_"
HOST = PREFIX + "HOST"
PORT = PREFIX + "PORT"
USER = PREFIX + "USER"
PASSWORD = PREFIX + "PASSWORD"
PASSWORD_FILE = PREFIX + "PASSWORD_FILE"
FROM = PREFIX + "FROM"
SECURITY = PREFIX + "SECURITY"

STARTTLS = "starttls"
SSL = "ssl"
PLAIN = "plain"
SECURITIES = (STARTTLS, SSL, PLAIN)
DEFAULT_PORTS = {STARTTLS: 587, SSL: 465, PLAIN: 587}
"""587 (submission) as the issue asks; SMTPS listens on 465, and nothing speaks it on 587."""


@dataclass(frozen=True)
class SmtpSettings:
    """A mail server and how to log in to it. `plain` (no encryption) only to this machine:
    constructing settings that say otherwise raises ConfigurationError, so no code path can
    connect that way."""

    host: str
    from_address: str
    """As given: `team@example.org` or `Workshop team <team@example.org>`."""
    port: int = 587
    security: str = STARTTLS
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    """Seconds for each network operation."""

    def __post_init__(self) -> None:
        if self.security not in SECURITIES:
            raise ConfigurationError(
                f"{SECURITY}={self.security!r} is not one of {', '.join(SECURITIES)}: use "
                f"starttls (port 587, the default) or ssl (port 465)."
            )
        if self.security == PLAIN and not is_loopback(self.host):
            raise ConfigurationError(
                f"{SECURITY}=plain would send the keys, and your password, unencrypted to "
                f"{self.host}: plain is allowed only to a server on this machine (127.0.0.1, "
                f"::1 or localhost). Use {SECURITY}=starttls (port 587) or ssl (port 465)."
            )

    @property
    def envelope_sender(self) -> str:
        """The bare address of `from_address`, for MAIL FROM."""
        return parseaddr(self.from_address)[1]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        """Read `KEYPROV_SMTP_*`; ConfigurationError names the variable, what is wrong with it
        and how to fix it. The password is registered for masking everywhere."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        host = get(HOST)
        if host is None:
            raise ConfigurationError(
                f"{HOST} is not set: set it to your mail server's name, for example "
                f"`export {HOST}=smtp.example.org`."
            )
        security = (get(SECURITY) or STARTTLS).lower()
        port = _port(get(PORT), DEFAULT_PORTS.get(security, 587))
        user = get(USER)
        password = _password(env.get(PASSWORD), get(PASSWORD_FILE), user)
        from_address = _from_address(get(FROM), user)
        settings = cls(
            host=host,
            port=port,
            security=security,
            user=user,
            password=password,
            from_address=from_address,
        )
        if password:
            register_secret(password)
        return settings


def _port(value: str | None, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigurationError(
            f"{PORT}={value!r} is not a port number: give one from 1 to 65535 (587 for "
            f"starttls, 465 for ssl), or leave it unset for {default}."
        )
    return int(value)


def _password(value: str | None, file_name: str | None, user: str | None) -> str | None:
    if value and file_name:
        raise ConfigurationError(
            f"both {PASSWORD} and {PASSWORD_FILE} are set: keep only one of them."
        )
    if file_name:
        path = Path(file_name).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise ConfigurationError(
                f"{PASSWORD_FILE} names {path}, which cannot be read ({reason}). Point it "
                f"at a file that holds the password, readable by you."
            ) from error
        if not value:
            raise ConfigurationError(f"{PASSWORD_FILE} names {path}, which is empty.")
    if value and not user:
        raise ConfigurationError(
            f"a password is set but {USER} is not: set {USER} to the name you log in with."
        )
    if user and not value:
        raise ConfigurationError(
            f"{USER} is set but no password: set {PASSWORD}, or {PASSWORD_FILE} to the "
            f"name of a file that holds it."
        )
    return value or None


def _from_address(value: str | None, user: str | None) -> str:
    if value is None:
        if user and "@" in user:
            return user  # the login is usually the mailbox the mail comes from
        raise ConfigurationError(
            f"{FROM} is not set: set it to the address the keys are sent from, for example "
            f"`export {FROM}='Workshop team <team@example.org>'`."
        )
    if "\n" in value or "\r" in value:
        raise ConfigurationError(f"{FROM} holds a line break: give one address.")
    if not is_address(value):
        raise ConfigurationError(
            f"{FROM}={value!r} is not an email address: give one like team@example.org or "
            f"'Workshop team <team@example.org>'."
        )
    return value


def is_address(value: str) -> bool:
    """True for one mailbox (`a@example.org`, `Name <a@example.org>`) a message can go to."""
    try:
        header = policy.default.header_factory("To", value)
        addresses = header.addresses
    except (HeaderParseError, IndexError, ValueError):
        return False
    if len(addresses) != 1 or header.defects:
        return False
    (address,) = addresses
    return bool(address.username and address.domain) and not any(
        character.isspace() for character in address.addr_spec
    )
