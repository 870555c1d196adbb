"""Calling a running sandbox's /_sandbox control API from another process (the CLI)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from keyprov.api.baseurl import is_loopback
from keyprov.errors import ConfigurationError
from keyprov.sandbox.control import CONTROL_PREFIX

DEFAULT_URL = "http://127.0.0.1:8787/api/v1"


class ControlClient:
    """The control API of the sandbox at `url` (its base URL, as exported, or its root)."""

    def __init__(
        self, url: str, management_key: str, *, allow_remote: bool = False, timeout: float = 10
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"--url {url!r} is not an http:// address; give the sandbox's URL, as "
                "`keyprov sandbox` printed it (e.g. http://127.0.0.1:8787/api/v1)."
            )
        if not allow_remote and not is_loopback(parts.hostname):
            raise ConfigurationError(
                f"refusing to send the management key to {parts.hostname}: it is not this "
                "machine. Pass --allow-remote if the sandbox really runs there."
            )
        self._url = url
        self._root = f"{parts.scheme}://{parts.netloc}{CONTROL_PREFIX}"
        self._key = management_key
        self._timeout = timeout

    def call(self, method: str, sub: str, body: object = None) -> Any:
        """The JSON answer of one control route; ConfigurationError saying what went wrong."""
        try:
            response = requests.request(
                method,
                self._root + sub,
                json=body,
                headers={"Authorization": f"Bearer {self._key}"},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise ConfigurationError(
                f"cannot reach a sandbox at {self._url} ({type(exc).__name__}): is "
                "`keyprov sandbox` running there? Pass its URL with --url."
            ) from None
        if response.status_code in (401, 403):
            raise ConfigurationError(
                f"the sandbox at {self._url} refused the management key. Set "
                "OPENROUTER_PROVISIONING_KEY to the key it was started with (or unset it, if "
                "it uses the demo key)."
            )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code == 404:
            raise ConfigurationError(
                f"{self._url} has no {CONTROL_PREFIX}{sub}: is it a keyprov sandbox (of this "
                "version)?"
            )
        if response.status_code != 200 or answer is None:
            raise ConfigurationError(f"the sandbox refused: {_message(answer, response.text)}")
        return answer


def _message(answer: object, text: str) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return str(answer["error"].get("message"))
    return text[:200]
