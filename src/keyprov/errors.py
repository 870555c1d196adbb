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

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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


class BadRequestError(ApiError):
    """400: the server rejected the request's parameters."""


class NotFoundError(ApiError):
    """404: no key with that hash (or no such route)."""


class RateLimitedError(ApiError):
    """429: too many requests; `retry_after` is the server's requested wait in seconds."""

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed; `retry_after` is set when it asked for a wait."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class TransportError(ApiError):
    """The request never reached the server (connection refused, connect timeout): safe to retry."""


class OutcomeUnknownError(ApiError):
    """A write was sent but its answer was lost (read timeout, dropped connection, 5xx).

    The server may or may not have applied it; the caller must look before sending it again.
    """


class InsufficientCreditsError(KeyprovError):
    """The account's remaining credits do not cover the limits of the keys to create."""

    exit_status = ExitStatus.BAD_INPUT
