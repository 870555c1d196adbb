"""A thin, typed client for OpenRouter's key-management API, with retries that never duplicate.

One method per endpoint; each answer is checked against the contract (`answers`) before it is
believed, and the HTTP layer under it (`transport`) is the one place that retries. A listing
of every key is read until a short page (many pages at once when many keys are expected:
`listing`) and is believed only if no key appears twice. The guardrail and model endpoints are
`client.guardrails`; both hold the one transport rather than inheriting from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from keyprov.api import answers
from keyprov.api.guardrail_endpoints import GuardrailEndpoints
from keyprov.api.listing import PAGE_SIZE, read_listing
from keyprov.api.pacing import Limiter
from keyprov.api.retries import RetryEvent, RetryPolicy, parse_retry_after
from keyprov.api.transport import DEFAULT_BASE_URL, LISTING_ATTEMPTS, HttpTransport
from keyprov.errors import (
    NotFoundError,
)
from keyprov.models import ApiKey, CreatedKey, Credits

__all__ = [
    "DEFAULT_BASE_URL",
    "LISTING_ATTEMPTS",
    "PAGE_SIZE",
    "OpenRouterClient",
    "RetryEvent",
    "RetryPolicy",
    "parse_retry_after",
]


class OpenRouterClient:
    """One method per endpoint of OpenRouter's key-management API; the guardrail and model
    endpoints are `guardrails` (GuardrailEndpoints). Both send through one `transport`.

    Raises ConfigurationError at once for a base URL the key must not go to, and
    ServerUnreachableError when nothing at the base URL has ever answered as the API.
    """

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, **options: Any) -> None:
        self.transport = HttpTransport(api_key, base_url, **options)
        self.guardrails = GuardrailEndpoints(self.transport)

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    @property
    def limiter(self) -> Limiter:
        return self.transport.limiter

    @property
    def on_retry(self) -> Callable[[RetryEvent], None] | None:
        """Told of every retry (a command shows them while the server has never answered)."""
        return self.transport.on_retry

    @on_retry.setter
    def on_retry(self, listener: Callable[[RetryEvent], None] | None) -> None:
        self.transport.on_retry = listener

    def close(self) -> None:
        self.transport.close()

    def __repr__(self) -> str:
        return f"OpenRouterClient(base_url={self.base_url!r}, api_key=<hidden>)"

    def __enter__(self) -> OpenRouterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- listing -----------------------------------------------------------------------------

    def list_keys_page(self, offset: int = 0, *, include_disabled: bool = True) -> list[ApiKey]:
        """One page of keys (up to 100) from `offset`; every item checked."""
        params = {
            "offset": str(offset),
            "include_disabled": "true" if include_disabled else "false",
        }
        return self.transport.idempotent(
            "list keys", "GET", "/keys", answers.key_page, required_route=True, params=params
        )

    def list_all_keys(
        self,
        *,
        include_disabled: bool = True,
        on_page: Callable[[int, int], None] | None = None,
        expected: int = 0,
        first_page: list[ApiKey] | None = None,
    ) -> list[ApiKey]:
        """Every key, each once, from pages that agree; else InconsistentListingError.

        A key on two pages means the listing shifted and another may have been skipped: the
        whole listing is read again from offset 0 (see `_reread`) rather than believed.
        `on_page(keys so far, pages read)` is told after each page, for a progress line.
        With `expected` keys (what the caller's state knows of), the pages up to that many
        are asked for at once (keyprov.api.listing); the answer is the same either way.
        `first_page`: the page at offset 0, read already; a listing read again rereads it too.
        """
        unused = [first_page] if first_page is not None else []

        def read_page(offset: int) -> list[ApiKey]:
            if offset == 0 and unused:
                return unused.pop()
            return self.list_keys_page(offset, include_disabled=include_disabled)

        return self.transport.reread(
            "list keys", lambda: read_listing(read_page, expected=expected, on_page=on_page)
        )

    # -- one key -----------------------------------------------------------------------------

    def get_key(self, key_hash: str) -> ApiKey:
        """The key; NotFoundError only when OpenRouter itself says there is no such key."""
        return self.transport.idempotent(
            "get key",
            "GET",
            _key_path(key_hash),
            lambda body, where, status: answers.one_key(body, where, status, key_hash),
        )

    def update_key(self, key_hash: str, **fields: Any) -> ApiKey:
        """PATCH with absolute values, so resending after a lost answer is harmless."""
        return self.transport.idempotent(
            "update key",
            "PATCH",
            _key_path(key_hash),
            lambda body, where, status: answers.one_key(body, where, status, key_hash),
            json=fields,
        )

    def delete_key(self, key_hash: str) -> bool:
        """Delete a key; False when it was already gone (a retried delete may find that)."""
        try:
            self.transport.idempotent("delete key", "DELETE", _key_path(key_hash), answers.deleted)
        except NotFoundError:
            return False
        return True

    def create_key(
        self,
        name: str,
        *,
        limit: float | None,
        limit_reset: str | None = None,
        expires_at: str | None = None,
    ) -> CreatedKey:
        """Create a key. Raises OutcomeUnknownError when the key may or may not exist now."""
        payload: dict[str, Any] = {"name": name, "limit": limit}
        if limit_reset is not None:
            payload["limit_reset"] = limit_reset
        if expires_at is not None:
            payload["expires_at"] = expires_at
        return self.transport.create(
            "create key", f"creating key {name!r}", "/keys", answers.created_key, payload
        )

    # -- the account -------------------------------------------------------------------------

    def current_key(self) -> dict[str, Any]:
        """GET /key: what the server says about the management key itself."""
        return self.transport.idempotent(
            "current key", "GET", "/key", answers.current_key, required_route=True
        )

    def credits(self) -> Credits:
        return self.transport.idempotent(
            "credits", "GET", "/credits", answers.credits, required_route=True
        )


def _key_path(key_hash: str) -> str:
    # Quoted: a hash is the server's word, and must not be able to change the path.
    return f"/keys/{quote(key_hash, safe='')}"
