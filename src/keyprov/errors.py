"""The one exception hierarchy of keyprov.

Library code raises these; only the CLI turns them into a message and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyprov.status import ExitStatus


class KeyprovError(Exception):
    """Base class: a failure keyprov can explain to the user."""

    exit_status: ExitStatus = ExitStatus.INCOMPLETE


class ConfigurationError(KeyprovError):
    """The environment or the options are unusable; nothing was attempted."""

    exit_status = ExitStatus.BAD_INPUT


class OptionError(ConfigurationError):
    """A command-line option (or the library argument behind it) is unusable.

    Raised before the roster is read: a bad --limit is the option's fault, not the file's.
    """

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        """The option as the user gave it, with its value: `--limit 0`."""
        super().__init__(f"{option}: {message}")


class LocalFileError(ConfigurationError):
    """A file or folder keyprov needs cannot be used (read-only, a folder where a file should
    be, not keyprov's): nothing was attempted; the message says what to do."""


class ServerUnreachableError(ConfigurationError):
    """Nothing at OPENROUTER_BASE_URL has ever answered as OpenRouter's API on this client.

    Raised instead of a `TransportError` (no connection), a `NotFoundError` for a route that
    must exist, or a non-JSON answer, while no request on the client has succeeded yet: then
    the address is far more likely wrong (or the sandbox not started) than the run half done.
    Deliberately not an ApiError, so that code handling one failed request cannot swallow it.
    `reason` is the kind of the last failure ("refused", "dns", "not_found", "malformed", ...).
    """

    def __init__(
        self, message: str, *, base_url: str, reason: str, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.base_url = base_url
        self.reason = reason
        self.status = status


class StateWriteError(KeyprovError):
    """The local state could not be made durable; the run stops before creating more keys."""


@dataclass(frozen=True)
class RosterProblem:
    """One thing wrong with one cell (or the whole file) of a roster, or with many rows alike."""

    file: str
    row: int | None
    """The row number as a spreadsheet app shows it (the header is row 1), or None for the file.
    For a problem of many rows, the first of them."""
    column: str | None
    """The column as it is named in the user's file."""
    message: str
    rows: tuple[int, ...] = ()
    """Every row with this problem, when one problem of many rows is reported once (the
    message then names them); empty for a problem of one row or of the file."""
    plural: str | None = field(default=None, compare=False, repr=False)
    """How to say this problem of several rows ('have no limit: ...'), after 'N rows (...)'.
    A problem without one is never folded with others."""

    def __str__(self) -> str:
        where = self.file
        if self.row is not None and not self.rows:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class RosterError(KeyprovError):
    """The roster cannot be used as it is; every problem is listed."""

    exit_status = ExitStatus.BAD_INPUT

    def __init__(self, problems: list[RosterProblem]) -> None:
        self.problems = problems
        count = len(problems)
        lines = "\n".join(f"  {problem}" for problem in problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"the roster has {count} {noun}; nothing was created. "
            f"Fix them in the file and run again:\n{lines}"
        )


class LockedError(KeyprovError):
    """Another keyprov run holds this workshop."""

    exit_status = ExitStatus.BAD_INPUT


class ApiError(KeyprovError):
    """The OpenRouter API answered with an error, or did not answer."""

    kind: str = "error"
    """A stable one-word name of what went wrong, for retry reports and the audit log."""

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        if kind is not None:
            self.kind = kind


class CredentialError(KeyprovError):
    """The server refused the management key itself (401 or 403): nothing can go on.

    Deliberately not an ApiError: code that handles one failed request (`except ApiError`)
    must never swallow this, so it travels up to the CLI's error boundary on its own.
    """

    exit_status = ExitStatus.BAD_INPUT

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(CredentialError):
    """401: the provisioning key is missing, unknown or revoked."""


class PermissionDeniedError(CredentialError):
    """403: the key is valid but is not a management (provisioning) key."""


class KeyRejectedError(ApiError):
    """401 or 403 for a participant's key (not the management key): disabled, deleted, or not
    a key at all. Unlike a `CredentialError`, the run can go on without it."""

    kind = "key_rejected"


class GuardrailConflictError(ConfigurationError):
    """More than one guardrail carries a workshop's name: keyprov cannot tell which is its
    own, so it changes none of them until the extra ones are deleted."""


class BadRequestError(ApiError):
    """400: the server rejected the request's parameters."""

    kind = "bad_request"


class NotFoundError(ApiError):
    """404: no key with that hash, said in OpenRouter's own error body.

    A 404 that is not OpenRouter's (an HTML page) is a `MalformedAnswerError`, and a 404 for a
    route that must exist, before anything on the server ever answered, a
    `ServerUnreachableError`: neither may be read as "that key is gone".
    """

    kind = "not_found"


class RateLimitedError(ApiError):
    """429: too many requests; `retry_after` is the server's requested wait in seconds."""

    kind = "rate_limited"

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed; `retry_after` is set when it asked for a wait."""

    kind = "server_error"

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class TransportError(ApiError):
    """The request never reached the server (connection refused, connect timeout): safe to retry.

    `kind` says why: "refused", "dns", "tls", "connect_timeout", "proxy" or "connect_failed".
    """

    kind = "connect_failed"


class OutcomeUnknownError(ApiError):
    """A write was sent but its answer was lost (read timeout, dropped connection, 5xx).

    The server may or may not have applied it; the caller must look before sending it again.
    """

    kind = "no_answer"


class MalformedAnswerError(ApiError):
    """The server answered, but not what OpenRouter documents for that endpoint.

    Never read as an empty result: an idempotent request is retried like a 5xx and this is
    raised if the answer stays wrong; a create's malformed answer is an `OutcomeUnknownError`.
    `not_api` is True when the answer is not JSON at all (an HTML page, a redirect).
    """

    kind = "malformed"

    def __init__(self, message: str, *, status: int | None = None, not_api: bool = False) -> None:
        super().__init__(message, status=status)
        self.not_api = not_api


class InconsistentListingError(ApiError):
    """One listing of every key named the same key on two pages (or twice on one).

    Offset pagination shifted under the reader (keys created or deleted meanwhile) or the
    server repeated a page; either way a key may have been skipped, so the listing cannot
    prove that a key is absent. The client reads the whole listing again a few times first.
    """

    kind = "inconsistent_listing"


class InsufficientCreditsError(KeyprovError):
    """The account's remaining credits do not cover the limits of the keys to create."""

    exit_status = ExitStatus.BAD_INPUT
