"""What the three HTTP mail senders share: one checked address, one session, and the line
between "not sent" and "may have been sent".

- No connection made (refused, DNS, connect timeout, TLS, proxy): nothing reached the provider,
  so the message is tried again (`TemporaryFailure` with `connection`).
- The request left and no usable answer came (read timeout, dropped connection, 5xx): the
  provider may have queued it (`OutcomeUnknown`). Every request has its own connection
  (`Connection: close`, and the pool emptied after each), so a dropped one is never a stale
  keep-alive the provider had closed before the request.
- A redirect is never followed: the API key must not travel on to wherever one points.

Each provider's module says what its statuses and bodies mean (../shared/email-apis.md).
"""

from __future__ import annotations

import json
import os
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from keyprov.api.baseurl import is_loopback
from keyprov.api.transport import connect_failure
from keyprov.delivery.mail_settings import ApiMailSettings
from keyprov.delivery.mailer import Accepted, OutcomeUnknown, Outgoing, StopSending
from keyprov.delivery.sender import TemporaryFailure
from keyprov.errors import ConfigurationError
from keyprov.redaction import redact

SNIPPET = 300
"""Characters of an answer's body quoted in a message."""


class HttpMailer:
    """The common part of SendGridMailer, Smtp2goMailer and MailgunMailer."""

    holds_unknown = True

    def __init__(self, settings: ApiMailSettings) -> None:
        self.settings = settings
        self.provider = settings.provider
        self.transport = settings.provider.name
        session = requests.Session()
        # One attempt per request: retrying is the engine's decision, made per outcome.
        self.adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
        session.mount("http://", self.adapter)
        session.mount("https://", self.adapter)
        session.headers.update({"User-Agent": "keyprov", "Connection": "close"})
        # Not the environment's ~/.netrc (it could replace the key) nor its proxies for this
        # machine (they would only get the key in clear text).
        session.trust_env = False
        host = requests.utils.urlparse(settings.base_url).hostname or ""
        if not is_loopback(host):
            session.proxies.update(requests.utils.get_environ_proxies(settings.base_url))
        session.verify = _ca_bundle()
        self.session = session

    @property
    def title(self) -> str:
        return self.provider.title

    @property
    def from_address(self) -> str:
        return self.settings.from_address

    @property
    def description(self) -> str:
        where = self.settings.base_url
        if self.settings.domain:
            where += f", domain {self.settings.domain}"
        return f"{self.title} ({where})"

    def connect(self) -> None:
        """Nothing to open: every request makes its own connection."""

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpMailer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def deliver(self, outgoing: Outgoing) -> Accepted:
        raise NotImplementedError

    def error_text(self, response: requests.Response) -> str:
        """What an error answer says, in the provider's own words where its body has them."""
        return snippet(response)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; TemporaryFailure when it never left, OutcomeUnknown when it left and
        no answer came back."""
        url = self.settings.base_url + path
        what = f"{self.title}: {method} {path}"
        try:
            return self.session.request(
                method, url, timeout=self.settings.timeout, allow_redirects=False, **kwargs
            )
        except requests.exceptions.ConnectionError as error:
            why = _never_connected(error)
            if why is not None:
                raise TemporaryFailure(
                    f"{what}: could not connect to {self.settings.base_url} ({why})",
                    connection=True,
                ) from error
            raise OutcomeUnknown(
                f"{what}: the connection dropped after the request was sent"
            ) from error
        except requests.exceptions.Timeout as error:
            raise OutcomeUnknown(
                f"{what}: no answer within {self.settings.timeout[1]:g} s after the request "
                "was sent"
            ) from error
        except requests.exceptions.RequestException as error:
            raise OutcomeUnknown(f"{what}: {type(error).__name__} after sending") from error
        finally:
            # Not kept for the next request, whatever the server's answer said about
            # keep-alive: a connection it has closed in between would drop that request
            # after it was written, which reads as an unknown outcome.
            self.adapter.close()

    def unexpected(self, response: requests.Response) -> Exception:
        """A redirect (never followed), a 5xx (may have been accepted), or anything else."""
        status = response.status_code
        if 300 <= status < 400:
            return StopSending(
                f"{self.title} answered {status}, a redirect, which keyprov does not follow "
                "with the API key. Check KEYPROV_MAIL_API_URL (unset it for the provider's "
                "own address)."
            )
        return OutcomeUnknown(
            f"{self.title} answered {status} ({self.error_text(response)}) after the request "
            "was sent"
        )

    def wrong_address(self, response: requests.Response) -> StopSending:
        return StopSending(
            f"{self.title} answered {response.status_code} ({self.error_text(response)}) for "
            f"{response.request.path_url if response.request else 'the request'}: this is not "
            f"its send address. Check KEYPROV_MAIL_API_URL (unset, it is "
            f"{self.provider.urls[self.provider.default_region]})."
        )


def json_body(response: requests.Response) -> Any:
    """The answer's JSON, or None when it is not JSON (a 401's bare text, an HTML page)."""
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def snippet(response: requests.Response) -> str:
    """The start of an answer's body, masked, on one line."""
    text = " ".join(response.text.split())
    if len(text) > SNIPPET:
        text = text[:SNIPPET] + "..."
    return redact(text) if text else "(no body)"


NEVER_CONNECTED = {
    "proxy": "the proxy cannot be reached",
    "tls": "the TLS handshake failed",
    "connect_timeout": "no connection within the timeout",
    "dns": "its host name does not resolve",
    "refused": "connection refused",
    "connect_failed": "no connection",
}
"""Why no connection was made, in words, by the kind `connect_failure` reads from the error."""


def _never_connected(error: requests.exceptions.ConnectionError) -> str | None:
    """Why no connection was made (so the provider cannot have the message), or None when
    one may have been: the same reading as for OpenRouter (`api.transport.connect_failure`)."""
    kind = connect_failure(error)
    return None if kind is None else NEVER_CONNECTED[kind]


def _ca_bundle() -> bool | str:
    """Verification stays on; only where the trusted certificates come from may change."""
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = os.environ.get(variable)
        if path:
            if not os.path.exists(path):
                raise ConfigurationError(
                    f"{variable} names {path}, which does not exist: it must be the file (or "
                    "folder) of certificates to trust for https. Fix or unset it."
                )
            return path
    return True
