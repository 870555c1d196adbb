"""The HTTP layer under the client: one checked address, one session, and the one retry layer.

Exactly one layer retries: this one. Idempotent requests (GET, absolute PATCH, DELETE) are
retried on 429, 5xx, network failures and answers that are not what the contract says. A
create is retried only when the server certainly did not act on it (429, or the request never
left this machine); every other failure of a create is raised as `OutcomeUnknownError` so that
the caller looks for the key before creating it again.

Until a request on the client has succeeded, a failure to connect, a 404 for a route that must
exist, or an answer that is not JSON says the address is wrong (or the sandbox is not running)
rather than that a run is half done: it is tried only a few times, then raised as a
`ServerUnreachableError` (exit 2) that names the address.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from keyprov.api import answers
from keyprov.api.baseurl import BASE_URL_VARIABLE, checked_base_url
from keyprov.api.pacing import AdaptiveLimiter, Limiter, client_limiter
from keyprov.api.rate_headers import NO_ANSWER, Feedback
from keyprov.api.retries import (
    KIND_PHRASES,
    RetryEvent,
    RetryPolicy,
    after_retry_after,
    backoff,
    early_retry,
)
from keyprov.errors import (
    ApiError,
    ConfigurationError,
    InconsistentListingError,
    MalformedAnswerError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ServerError,
    ServerUnreachableError,
    TransportError,
)

T = TypeVar("T")
Reader = Callable[[Any, str, int], T]
"""Checks a 2xx answer's JSON body (given with the request's name and status) and reads it."""

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
LISTING_ATTEMPTS = 4
"""Whole listings read before a listing whose pages keep disagreeing is given up on."""
DEFAULT_RETRY = RetryPolicy()
"""The policy of a client given none: every command's. A module attribute so that tests of the
commands can shorten its waits (the same code path, smaller numbers)."""
_NAME_RESOLUTION = getattr(urllib3.exceptions, "NameResolutionError", ())


def connect_failure(error: requests.exceptions.ConnectionError) -> str | None:
    """Why no connection was made (so resending cannot duplicate), or None if it may have been."""
    if isinstance(error, requests.exceptions.ProxyError):
        # Only https goes through a proxy, in a tunnel: one that failed carried no request.
        return "proxy"
    if isinstance(error, requests.exceptions.SSLError):
        return "tls"
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "connect_timeout"
    # requests wraps urllib3's MaxRetryError, whose `reason` says why no connection was made.
    reason = getattr(error.args[0], "reason", None) if error.args else None
    if not isinstance(reason, urllib3.exceptions.NewConnectionError):
        return None
    if isinstance(reason, _NAME_RESOLUTION):
        return "dns"
    refused = isinstance(reason.__cause__ or reason.__context__, ConnectionRefusedError)
    return "refused" if refused else "connect_failed"


class HttpTransport:
    """Sends requests to one checked base URL with the management key, and retries them."""

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
        # Checked here too, not only in settings, so a library caller cannot bypass the rule.
        self.base = checked_base_url(base_url)
        self.base_url = self.base.url
        self.timeout = timeout
        self.retry = retry or DEFAULT_RETRY
        self.on_retry = on_retry
        self.succeeded = False
        """True once any request on this client got a valid answer."""
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
        # A proxy for this machine would only receive the key in clear text: never one there.
        self._session.trust_env = False
        if not self.base.loopback:
            self._session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self._session.verify = _ca_bundle(os.environ)
        # Shared by every thread using this client, so together they keep to the server's limit;
        # more in flight than the connection pool holds would only queue inside urllib3.
        self.limiter: Limiter = limiter or client_limiter(pool_size)
        self._thread = threading.local()

    def close(self) -> None:
        self._session.close()

    # -- one logical request, retried ----------------------------------------------------------

    def idempotent(
        self,
        operation: str,
        method: str,
        path: str,
        read: Reader[T],
        *,
        required_route: bool = False,
        **kwargs: Any,
    ) -> T:
        """GET, absolute PATCH or DELETE: resent on anything that may be passing."""
        retryable = (
            RateLimitedError,
            ServerError,
            TransportError,
            OutcomeUnknownError,
            MalformedAnswerError,
        )
        return self._call(
            operation, retryable, required_route, self._attempt, method, path, read, **kwargs
        )

    def reread(self, operation: str, read_listing: Callable[[], T]) -> T:
        """A whole listing, read again from the start while its pages disagree.

        Offsets shift when items are created or deleted during a listing, so an item on two
        pages (or one missing from the count) means another may have been skipped: the whole
        listing is read again (up to LISTING_ATTEMPTS times in all) rather than believed.
        """
        for attempt in range(1, LISTING_ATTEMPTS + 1):
            try:
                return read_listing()
            except InconsistentListingError as error:
                if attempt == LISTING_ATTEMPTS:
                    raise
                wait = self._backoff(attempt)
                self._report(operation, attempt, error, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(
        self,
        operation: str,
        retryable: tuple[type[ApiError], ...],
        required_route: bool,
        function: Callable[..., T],
        *args: Any,
        **kwargs: Any,
    ) -> T:
        try:
            return self._with_retries(operation, retryable, function, *args, **kwargs)
        except (TransportError, MalformedAnswerError, NotFoundError) as error:
            if self.succeeded:
                raise
            if isinstance(error, NotFoundError) and not required_route:
                # No key with that hash, or no API at this address? Ask a route that exists.
                self.idempotent(
                    "current key", "GET", "/key", answers.current_key, required_route=True
                )
                raise
            if isinstance(error, MalformedAnswerError) and not error.not_api:
                raise
            raise self._unreachable(error) from error

    def _unreachable(self, error: ApiError) -> ServerUnreachableError:
        if isinstance(error, TransportError):
            phrase = KIND_PHRASES.get(error.kind, error.kind)
            what = f"could not connect to {self.base_url} ({phrase})"
        elif isinstance(error, NotFoundError):
            what = f"{error}: there is no OpenRouter API at {self.base_url}"
        else:
            answered = str(error).removesuffix(answers.NOT_DOCUMENTED)
            what = f"{answered}: {self.base_url} does not look like OpenRouter's API"
        if self.base.loopback:
            hint = "Is the sandbox running (`make sandbox`)?"
        else:
            hint = "Is this machine online (and HTTPS_PROXY, if set, right)?"
        return ServerUnreachableError(
            f"{what}, and nothing there has answered as the API yet. {hint} Does "
            f"{BASE_URL_VARIABLE} end in /api/v1?",
            base_url=self.base_url,
            reason=error.kind,
            status=error.status,
        )

    def _with_retries(
        self,
        operation: str,
        retryable: tuple[type[ApiError], ...],
        function: Callable[..., T],
        *args: Any,
        **kwargs: Any,
    ) -> T:
        try:
            result: T = self._retrying(operation, retryable)(function, *args, **kwargs)
        finally:
            # A request given up on after a 429 is no longer waiting its turn: the thread's
            # next request, for somebody else, must not go ahead of the queue in its name.
            self._thread.feedback = NO_ANSWER
        return result

    def _retrying(self, operation: str, retryable: tuple[type[ApiError], ...]) -> Retrying:
        policy = self.retry

        def should_retry(error: BaseException) -> bool:
            if not isinstance(error, retryable):
                return False
            wait = getattr(error, "retry_after", None)
            return wait is None or wait <= policy.max_retry_after

        return Retrying(
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception(should_retry),
            before_sleep=lambda state: self._report_retry(operation, state),
            reraise=True,
        )

    def _stop(self, state: RetryCallState) -> bool:
        policy = self.retry
        attempts, seconds = policy.max_attempts, policy.max_total_seconds
        error = state.outcome.exception() if state.outcome else None
        # A 429 or a 5xx is the API itself, busy: worth the whole policy even on first contact.
        if not self.succeeded and not isinstance(error, RateLimitedError | ServerError):
            attempts = min(attempts, policy.first_contact_attempts)
            seconds = min(seconds, policy.first_contact_seconds)
        return bool(stop_after_attempt(attempts)(state) or stop_before_delay(seconds)(state))

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            wait = after_retry_after(retry_after, state.attempt_number)
        else:
            wait = self._backoff(state.attempt_number)
        if isinstance(error, RateLimitedError):
            limiter = self.limiter
            pacing = isinstance(limiter, AdaptiveLimiter) and limiter.holds_until_reset
            feedback = getattr(self._thread, "feedback", NO_ANSWER)
            sooner = early_retry(feedback, state.attempt_number, pacing=pacing)
            if sooner is not None:
                return min(wait, sooner)
        return wait

    def _backoff(self, attempt: int) -> float:
        return backoff(self.retry, attempt)

    def _report_retry(self, operation: str, state: RetryCallState) -> None:
        if state.outcome is None:
            return
        error = state.outcome.exception()
        wait = state.next_action.sleep if state.next_action else 0.0
        self._report(operation, state.attempt_number, error, wait)

    def _report(
        self, operation: str, attempt: int, error: BaseException | None, wait: float
    ) -> None:
        if self.on_retry is None:
            return
        self.on_retry(
            RetryEvent(
                operation=operation,
                attempt=attempt,
                status=getattr(error, "status", None),
                error=type(error).__name__,
                wait=round(wait, 3),
                kind=getattr(error, "kind", "error"),
                ever_succeeded=self.succeeded,
            )
        )

    # -- one HTTP request --------------------------------------------------------------------

    def create(
        self, operation: str, what: str, path: str, read: Reader[T], payload: dict[str, Any]
    ) -> T:
        """POST `payload` to make something, resent only when the server certainly did not act.

        A 429, or a connection that was never made, is retried like any request. A 5xx, a
        timeout or a dropped connection after the request went out, or an answer that is not
        the documented one, may have made it: OutcomeUnknownError, and only a listing can tell
        (the caller's job). Creates are never resent blindly: that is how duplicates are made.
        """

        def attempt() -> T:
            try:
                return self._attempt("POST", path, read, json=payload)
            except (ServerError, OutcomeUnknownError, MalformedAnswerError) as error:
                raise OutcomeUnknownError(f"{what}: {error}", status=error.status) from error

        return self._call(operation, (RateLimitedError, TransportError), True, attempt)

    def _attempt(self, method: str, path: str, read: Reader[T], **kwargs: Any) -> T:
        """One request, started when the limiter allows; its answer checked by `read`."""
        # The retry layer runs each attempt in the same thread, so the thread's last answer tells
        # the limiter that this request is the one a 429 sent back to wait (and the retry layer
        # when the 429 said the next token is due).
        permit = self.limiter.acquire(retry=getattr(self._thread, "feedback", NO_ANSWER).throttled)
        feedback = NO_ANSWER
        try:
            response = self._request(method, path, **kwargs)
            feedback = Feedback.from_response(response.status_code, response.headers)
        finally:
            self.limiter.release(permit, feedback)
            self._thread.feedback = feedback
        where = answers.request_name(method, path, kwargs.get("params"))
        status = response.status_code
        if 200 <= status < 300:
            value = read(answers.json_body(response, where), where, status)
            self.succeeded = True
            return value
        if status < 400:
            # Redirects are not followed: the key must not travel on to wherever one points.
            location = response.headers.get("Location")
            moved = f"(a redirect to {location})" if location else "(a redirect)"
            raise answers.malformed(where, status, moved, not_api=True)
        raise answers.error_for(where, response)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}{path}"
        what = f"{method} {path}"
        try:
            return self._session.request(
                method, url, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except requests.exceptions.ConnectionError as error:
            kind = connect_failure(error)
            if kind is not None:
                raise TransportError(
                    f"{what}: could not connect to {self.base_url} ({KIND_PHRASES[kind]})",
                    kind=kind,
                ) from error
            raise OutcomeUnknownError(f"{what}: the connection dropped before an answer") from error
        except requests.exceptions.Timeout as error:
            raise OutcomeUnknownError(f"{what}: no answer within {self.timeout[1]} s") from error
        except requests.exceptions.RequestException as error:
            raise OutcomeUnknownError(f"{what}: {type(error).__name__}") from error


def _ca_bundle(environ: Mapping[str, str]) -> bool | str:
    """Verification stays on; only where the trusted certificates come from may change."""
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = environ.get(variable)
        if path:
            if not os.path.exists(path):
                raise ConfigurationError(
                    f"{variable} names {path}, which does not exist: it must be the file (or "
                    "folder) of certificates to trust for https. Fix or unset it."
                )
            return path
    return True
