"""The API address the management key is sent to, checked as the HTTP library will read it.

Python's `urllib.parse` and urllib3 (which `requests` uses to connect) disagree on some URLs:
for `http://evil.example\\@127.0.0.1/api/v1` the first sees the host 127.0.0.1, the second
connects to evil.example. So the address is held to a plain grammar (scheme, host, port, path;
no user name, backslash, query, fragment, escape, space or non-ASCII character), and then the
host and port Python's parser, urllib3 and `requests`' own preparation see must be the same.
Only then does the transport rule apply: https anywhere, plain http only to this machine.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from keyprov.errors import ConfigurationError
from keyprov.redaction import redact


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1; any other name may resolve anywhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


BASE_URL_VARIABLE = "OPENROUTER_BASE_URL"

_GRAMMAR = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<path>(?:/[A-Za-z0-9._~!$&'()*+,;=:-]*)*)"
)
_PLAIN_RULE = (
    "Use an https:// address (plain http is allowed only for 127.0.0.1, ::1 and localhost, "
    "where {local} runs)."
)


@dataclass(frozen=True)
class UrlRole:
    """Whose address it is, for the error messages: the variable that holds it, the secret
    sent to it, the address used when it is unset and what a right one looks like."""

    variable: str = BASE_URL_VARIABLE
    secret: str = "the provisioning key"
    default: str = "https://openrouter.ai/api/v1"
    example: str = "https://openrouter.ai/api/v1 or http://127.0.0.1:8787/api/v1"
    local: str = "the sandbox"


OPENROUTER = UrlRole()


class _Problem(Exception):
    """What is wrong with an address, worded with {placeholders} its role fills in."""

    def __init__(self, url: str, problem: str, fix: str = "", *, show: bool = True) -> None:
        super().__init__(problem)
        self.url, self.problem, self.fix, self.show = url, problem, fix, show


@dataclass(frozen=True)
class BaseUrl:
    """An address that passed every check: where requests go, and whether that is this machine."""

    url: str
    """Without a trailing slash; endpoint paths (`/keys`) are appended to it."""
    scheme: str
    host: str
    """As urllib3 connects to it: lowercase, an IPv6 address without brackets."""
    port: int | None
    loopback: bool


def checked_base_url(url: str, role: UrlRole = OPENROUTER) -> BaseUrl:
    """The address, or a ConfigurationError that names the role's variable (by default
    OPENROUTER_BASE_URL) and what is wrong."""
    try:
        return _checked(url)
    except _Problem as problem:
        raise _error(role, problem) from None


def _checked(url: str) -> BaseUrl:
    _refuse_ambiguous_characters(url)
    match = _GRAMMAR.fullmatch(url)
    if match is None:
        if "://" not in url:
            raise _Problem(url, "has no scheme.", "Start it with https:// (http:// for {local}).")
        scheme = url.partition(":")[0].lower()
        if scheme not in ("http", "https"):
            raise _transport_error(url, scheme)
        raise _Problem(
            url,
            "is not an address of the form https://host[:port]/path.",
            "Write it like {example}.",
        )
    scheme = match["scheme"].lower()
    if scheme not in ("http", "https"):
        raise _transport_error(url, scheme)
    port = int(match["port"]) if match["port"] is not None else None
    if port is not None and not 0 < port < 65536:
        raise _Problem(url, f"has port {port}, which does not exist.")
    host = match["host"].strip("[]").lower()
    _require_one_reading(url, host, port)
    loopback = is_loopback(host)
    if scheme == "http" and not loopback:
        raise _transport_error(url, scheme)
    return BaseUrl(url.rstrip("/"), scheme, host, port, loopback)


def _refuse_ambiguous_characters(url: str) -> None:
    """What makes parsers disagree, or sends part of the address somewhere unexpected."""
    if not url:
        raise _Problem(url, "is empty.", "Unset it to use {default}.")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise _Problem(
            url,
            "contains a space, tab, line break or other control character, which HTTP "
            "libraries drop or read differently.",
            "Remove it (check the quotes around the value).",
        )
    if not url.isascii():
        raise _Problem(
            url,
            "contains non-ASCII characters.",
            "Write an international host name in its IDNA form (xn--...).",
        )
    if "@" in url:
        raise _Problem(
            url,
            "contains '@', so it names a user name or password (user@host), or hides the "
            "real host behind one. keyprov sends {secret} only in a request header, to the "
            "host the address names.",
            "Remove everything between :// and @.",
            show=False,  # what stands before an @ is a user name and password
        )
    if "\\" in url:
        raise _Problem(
            url,
            "contains a backslash, which Python's URL parser and the HTTP library read "
            "differently (one would connect to the host before it).",
            "Use forward slashes only.",
        )
    for char, what in (("?", "a query (?...)"), ("#", "a fragment (#...)"), ("%", "a % escape")):
        if char in url:
            raise _Problem(
                url,
                f"contains {what}, which an API base address never has.",
                "Give only https://host[:port]/path, like {default}.",
            )


def _require_one_reading(url: str, host: str, port: int | None) -> None:
    """The host and port Python, urllib3 and `requests` take from the address must agree."""
    try:
        split = urlsplit(url)
        readings = {
            "Python's urllib.parse": (split.hostname, split.port),
            "urllib3": _urllib3_reading(url),
            "requests": _urllib3_reading(_prepared(url + "/keys")),
        }
    except (ValueError, LocationParseError, requests.exceptions.RequestException) as error:
        raise _Problem(url, f"cannot be parsed ({error}).") from error
    for library, (seen_host, seen_port) in readings.items():
        if (seen_host, seen_port) != (host, port):
            raise _Problem(
                url,
                f"is read by {library} as host {seen_host!r}, port {seen_port}, not host "
                f"{host!r}, port {port}: libraries disagree on where it leads.",
                "Write it like {example}.",
            )


def _urllib3_reading(url: str) -> tuple[str | None, int | None]:
    parsed = parse_url(url)
    return (parsed.host.strip("[]").lower() if parsed.host else None), parsed.port


def _prepared(url: str) -> str:
    prepared = requests.Request("GET", url).prepare().url
    if prepared is None:
        raise ValueError("requests prepared no URL")
    return prepared


def _transport_error(url: str, scheme: str) -> _Problem:
    how = "in clear text" if scheme == "http" else "over an unknown transport"
    return _Problem(url, f"would send {{secret}} {how}.", _PLAIN_RULE)


def _error(role: UrlRole, problem: _Problem) -> ConfigurationError:
    # Shown with any key-like token masked; never at all when it may hold a password.
    named = f"{role.variable}={redact(problem.url)!r}" if problem.show else role.variable
    text = f"{problem.problem} {problem.fix}"
    for name in ("secret", "default", "example", "local"):
        text = text.replace("{" + name + "}", getattr(role, name))
    return ConfigurationError(f"{named} {text}".rstrip())
