"""A thin, typed client for OpenRouter's key-management API, with retries that never duplicate.

Exactly one layer retries: this one. Idempotent requests (GET, absolute PATCH, DELETE) are
retried on 429, 5xx and network failures. A create is retried only when the server certainly
did not act on it (429, or the request never left this machine); every other failure of a
create is raised as `OutcomeUnknownError` so that the caller looks for the key before creating
it again.
"""

from __future__ import annotations

import email.utils
import os
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from keyprov.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    CredentialError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from keyprov.models import ApiKey, CreatedKey, Credits
from keyprov.pacing import NO_ANSWER, AdaptiveLimiter, Feedback, Limiter

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
PAGE_SIZE = 100
"""OpenRouter lists keys in fixed pages of 100; a shorter page is the last one."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up; the defaults suit an unattended run."""

    max_attempts: int = 6
    max_total_seconds: float = 120.0
    base_wait: float = 0.5
    max_wait: float = 8.0
    max_retry_after: float = 120.0
    """A Retry-After longer than this is surfaced rather than slept through."""


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen, for the audit log."""

    operation: str
    attempt: int
    status: int | None
    error: str
    wait: float


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header given as seconds or as an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def _never_sent(error: requests.exceptions.ConnectionError) -> bool:
    """True when the request certainly did not reach the server, so resending cannot duplicate."""
    if isinstance(error, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return True
    # requests wraps urllib3's MaxRetryError, whose `reason` says why no connection was made.
    reason = getattr(error.args[0], "reason", None) if error.args else None
    if isinstance(reason, urllib3.exceptions.ProxyError):
        # A proxy that cannot be reached never saw the request either.
        reason = reason.original_error
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class OpenRouterClient:
    """One method per endpoint of OpenRouter's key-management API."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        pool_size: int = 64,
        limiter: Limiter | None = None,
    ) -> None:
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self._session = requests.Session()
        # One layer retries (tenacity, below); urllib3's own retries would double-send.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {"Authorization": f"Bearer {api_key}", "User-Agent": "keyprov"}
        )
        # requests re-reads the environment's proxy settings on every request when trust_env is
        # on: a third of a create's CPU time, which caps a run's rate. Every request goes to
        # base_url, so read them once. (trust_env also lets ~/.netrc replace the Bearer token.)
        self._session.trust_env = False
        self._session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            self._session.verify = ca_bundle
        self._count_lock = threading.Lock()
        self.requests_sent = 0
        # Shared by every thread using this client, so together they keep to the server's limit;
        # more in flight than the connection pool holds would only queue inside urllib3. It
        # starts at the full window: the server's limit is found by its first 429 either way,
        # and found early, the throttled requests' Retry-After is not what ends the run.
        self.limiter: Limiter = limiter or AdaptiveLimiter(
            initial_window=pool_size, max_window=pool_size
        )
        self._thread = threading.local()

    def __repr__(self) -> str:
        return f"OpenRouterClient(base_url={self.base_url!r}, api_key=<hidden>)"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> OpenRouterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- endpoints ---------------------------------------------------------------------------

    def list_keys_page(self, offset: int = 0, *, include_disabled: bool = True) -> list[ApiKey]:
        params = {
            "offset": str(offset),
            "include_disabled": "true" if include_disabled else "false",
        }
        body = self._idempotent("list keys", "GET", "/keys", params=params)
        return [ApiKey.from_json(item) for item in body.get("data", [])]

    def iter_all_keys(self, *, include_disabled: bool = True) -> Iterator[ApiKey]:
        """Every key, all pages, each once (keys created meanwhile shift offsets)."""
        seen: set[str] = set()
        offset = 0
        while True:
            page = self.list_keys_page(offset, include_disabled=include_disabled)
            for key in page:
                if key.hash not in seen:
                    seen.add(key.hash)
                    yield key
            if len(page) < PAGE_SIZE:
                return
            offset += len(page)

    def list_all_keys(self, *, include_disabled: bool = True) -> list[ApiKey]:
        return list(self.iter_all_keys(include_disabled=include_disabled))

    def get_key(self, key_hash: str) -> ApiKey:
        body = self._idempotent("get key", "GET", f"/keys/{key_hash}")
        return ApiKey.from_json(body["data"])

    def update_key(self, key_hash: str, **fields: Any) -> ApiKey:
        """PATCH with absolute values, so resending after a lost answer is harmless."""
        body = self._idempotent("update key", "PATCH", f"/keys/{key_hash}", json=fields)
        return ApiKey.from_json(body["data"])

    def delete_key(self, key_hash: str) -> bool:
        """Delete a key; False when it was already gone (a retried delete may find that)."""
        try:
            self._idempotent("delete key", "DELETE", f"/keys/{key_hash}")
        except NotFoundError:
            return False
        return True

    def current_key(self) -> dict[str, Any]:
        body = self._idempotent("current key", "GET", "/key")
        data: dict[str, Any] = body["data"]
        return data

    def credits(self) -> Credits:
        data = self._idempotent("credits", "GET", "/credits")["data"]
        return Credits(float(data["total_credits"]), float(data["total_usage"]))

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

        def attempt() -> dict[str, Any]:
            try:
                return self._send("POST", "/keys", json=payload)
            except (ServerError, OutcomeUnknownError) as error:
                raise OutcomeUnknownError(
                    f"creating key {name!r}: {error}", status=error.status
                ) from error

        body = self._with_retries("create key", (RateLimitedError, TransportError), attempt)
        return CreatedKey(key=ApiKey.from_json(body["data"]), secret=body["key"])

    # -- transport ---------------------------------------------------------------------------

    def _idempotent(self, operation: str, method: str, path: str, **kwargs: Any) -> Any:
        retryable = (RateLimitedError, ServerError, TransportError, OutcomeUnknownError)
        return self._with_retries(operation, retryable, self._send, method, path, **kwargs)

    def _with_retries(
        self,
        operation: str,
        retryable: tuple[type[ApiError], ...],
        function: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        try:
            return self._retrying(operation, retryable)(function, *args, **kwargs)
        finally:
            # A request given up on after a 429 is no longer waiting its turn: the thread's
            # next request, for somebody else, must not go ahead of the queue in its name.
            self._thread.throttled = False

    def _retrying(self, operation: str, retryable: tuple[type[ApiError], ...]) -> Retrying:
        policy = self.retry

        def should_retry(error: BaseException) -> bool:
            if not isinstance(error, retryable):
                return False
            wait = getattr(error, "retry_after", None)
            return wait is None or wait <= policy.max_retry_after

        return Retrying(
            stop=stop_after_attempt(policy.max_attempts)
            | stop_before_delay(policy.max_total_seconds),
            wait=self._wait,
            retry=retry_if_exception(should_retry),
            before_sleep=lambda state: self._report_retry(operation, state),
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            # Jitter, so that requests told the same instant do not return in lockstep. Small
            # at first, as a throttled request is late by all of it (and at a run's end that
            # is the run's tail), doubling each time the same request is sent back again.
            spread = 0.02 * 2 ** (state.attempt_number - 1) * max(retry_after, 1.0)
            return retry_after + random.uniform(0, min(1.0, spread))
        backoff = wait_random_exponential(multiplier=self.retry.base_wait, max=self.retry.max_wait)
        return float(backoff(state))

    def _report_retry(self, operation: str, state: RetryCallState) -> None:
        if self.on_retry is None or state.outcome is None:
            return
        error = state.outcome.exception()
        self.on_retry(
            RetryEvent(
                operation=operation,
                attempt=state.attempt_number,
                status=getattr(error, "status", None),
                error=type(error).__name__,
                wait=round(state.next_action.sleep if state.next_action else 0.0, 3),
            )
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        """One HTTP request, started when the limiter allows; errors as typed exceptions."""
        # The retry layer runs each attempt in the same thread, so a flag per thread tells the
        # limiter that this request is the one a 429 sent back to wait.
        permit = self.limiter.acquire(retry=getattr(self._thread, "throttled", False))
        feedback = NO_ANSWER
        try:
            response = self._request(method, path, **kwargs)
            feedback = Feedback.from_response(response.status_code, response.headers)
        finally:
            self.limiter.release(permit, feedback)
            self._thread.throttled = feedback.throttled
        what = f"{method} {path}"
        if response.status_code < 400:
            try:
                return response.json()
            except ValueError as error:
                raise OutcomeUnknownError(f"{what}: the answer was not JSON") from error
        raise _error_for(method, path, response)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}{path}"
        with self._count_lock:
            self.requests_sent += 1
        try:
            return self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.ConnectionError as error:
            if _never_sent(error):
                raise TransportError(
                    f"{method} {path}: could not connect to {self.base_url}"
                ) from error
            raise OutcomeUnknownError(
                f"{method} {path}: the connection dropped before an answer"
            ) from error
        except requests.exceptions.Timeout as error:
            raise OutcomeUnknownError(
                f"{method} {path}: no answer within {self.timeout[1]} s"
            ) from error
        except requests.exceptions.RequestException as error:
            raise OutcomeUnknownError(f"{method} {path}: {type(error).__name__}") from error


def _error_for(method: str, path: str, response: requests.Response) -> ApiError | CredentialError:
    status = response.status_code
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = response.reason or "no message"
    where = f"{method} {path} answered {status} {message!r}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 401:
        return AuthenticationError(
            f"OpenRouter rejected the provisioning key ({where}). Check that "
            "OPENROUTER_PROVISIONING_KEY holds a current management key "
            "(https://openrouter.ai/settings/management-keys).",
            status=status,
        )
    if status == 403:
        return PermissionDeniedError(
            f"the key in OPENROUTER_PROVISIONING_KEY is not a management key ({where}). "
            "Create a management key at https://openrouter.ai/settings/management-keys.",
            status=status,
        )
    if status == 404:
        return NotFoundError(where, status=status)
    if status == 400:
        return BadRequestError(where, status=status)
    if status == 429:
        return RateLimitedError(where, retry_after=retry_after)
    if status >= 500:
        return ServerError(where, status=status, retry_after=retry_after)
    return ApiError(where, status=status)
