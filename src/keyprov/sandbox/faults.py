"""Fault injection: latency, a token-bucket rate limit, random 5xx, and forced faults.

Random faults come from `Faults` (what a flaky network looks like on average); forced faults
(`FaultEngine.force`) hit the next matching requests exactly, so tests can be deterministic.
A forced fault acts at one of three moments of a request, and only a request that reaches
that moment can use it up:

- before the route is handled: 429, 500/502/503, "slow", "html_200";
- when a list is answered (GET /keys, /guardrails, the assignment lists): the "list_*"
  kinds, which reshape the page;
- after a create is committed (a 201): "drop_after_commit", "create_without_key".
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

ERROR_STATUSES = (500, 502, 503)
SLOW = "slow"
HTML_200 = "html_200"
DROP_AFTER_COMMIT = "drop_after_commit"
CREATE_WITHOUT_KEY = "create_without_key"
LIST_NO_DATA = "list_no_data"
LIST_NULL_DATA = "list_null_data"
LIST_SHORT_PAGE = "list_short_page"
LIST_REPEAT_PAGE = "list_repeat_page"
LIST_MISSING_KEY = "list_missing_key"
LIST_ITEM_WITHOUT_HASH = "list_item_without_hash"

BEFORE_KINDS: tuple[str | int, ...] = (429, *ERROR_STATUSES, SLOW, HTML_200)
LIST_KINDS = (
    LIST_NO_DATA,
    LIST_NULL_DATA,
    LIST_SHORT_PAGE,
    LIST_REPEAT_PAGE,
    LIST_MISSING_KEY,
    LIST_ITEM_WITHOUT_HASH,
)
AFTER_CREATE_KINDS = (DROP_AFTER_COMMIT, CREATE_WITHOUT_KEY)
FORCED_KINDS: tuple[str | int, ...] = (*BEFORE_KINDS, *LIST_KINDS, *AFTER_CREATE_KINDS)
# The kinds that may be aimed at one listed item with hash=.
AIMED_KINDS = (LIST_MISSING_KEY, LIST_ITEM_WITHOUT_HASH)
_NULLABLE = {"rate_limit", "burst", "seed"}
_INTEGER = {"burst", "seed"}


def parse_kind(text: str) -> str | int:
    """A forced fault's kind as written on a command line or in JSON: "503" is the status 503."""
    kind: str | int = int(text) if text.isdigit() else text
    if kind not in FORCED_KINDS:
        names = ", ".join(str(k) for k in FORCED_KINDS)
        raise ValueError(f"unknown fault {text!r}; use one of {names}")
    return kind


@dataclass
class Faults:
    """What goes wrong, and how often. Mutable: a running sandbox reads it on every request."""

    latency: float = 0.0
    rate_limit: float | None = None
    burst: int | None = None
    error_rate: float = 0.0
    drop_after_commit_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.latency < 0:
            raise ValueError("latency must be >= 0 seconds")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be > 0 requests per second, or None for unlimited")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be >= 1")
        for name in ("error_rate", "drop_after_commit_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1")

    @property
    def capacity(self) -> int:
        if self.burst is not None:
            return self.burst
        return max(1, round(self.rate_limit or 1))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build from JSON; raise ValueError naming the first bad field."""
        known = {f.name for f in fields(cls)}
        for name, value in data.items():
            if name not in known:
                raise ValueError(f"unknown fault field {name!r}; expected one of {sorted(known)}")
            if value is None and name in _NULLABLE:
                continue
            whole = name in _INTEGER
            kinds: tuple[type, ...] = (int,) if whole else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise ValueError(f"{name} must be {'an integer' if whole else 'a number'}")
        return cls(**data)


@dataclass
class Verdict:
    """What the fault layer decided for one request before it is handled."""

    status: int | None = None  # answer this status instead of handling the request
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    delay_after: float = 0.0  # sleep this long after handling, before answering
    forced: bool = False  # a forced fault matched, so no random one may be added


@dataclass
class Forced:
    """One forced fault waiting for its requests."""

    kind: str | int
    remaining: int
    method: str | None
    path_prefix: str | None
    retry_after: str | None
    seconds: float
    hash: str | None = None

    def matches(self, method: str, path: str, api_path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        # A prefix may be written either way: "/api/v1/keys" or "/keys". It matches whole
        # segments: "/key" is GET /key's path, not also the listing's "/keys".
        return self.path_prefix is None or any(
            _under(p, self.path_prefix) for p in (path, api_path)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _under(path: str, prefix: str) -> bool:
    """Whether `path` is `prefix` or lies under it ("/keys/" only under it)."""
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


class FaultEngine:
    """Per-sandbox fault state: the token bucket, the random source, and the forced queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forced: list[Forced] = []
        self._bucket_config: tuple[float, int] | None = None
        self._tokens = 0.0
        self._refilled_at = 0.0
        self._rng = random.Random()
        self._rng_seed: object = object()  # differs from any real seed, so the first use seeds

    def force(
        self,
        kind: str | int,
        count: int = 1,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        retry_after: str | None = "1",
        seconds: float | None = None,
        hash: str | None = None,
    ) -> None:
        if kind not in FORCED_KINDS or isinstance(kind, bool):
            names = ", ".join(str(k) for k in FORCED_KINDS)
            raise ValueError(f"unknown fault {kind!r}; use one of {names}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be an integer >= 1")
        if kind == SLOW and (seconds is None or seconds < 0):
            raise ValueError("a 'slow' fault needs seconds= (>= 0)")
        if hash is not None and kind not in AIMED_KINDS:
            raise ValueError(f"hash= only aims {' and '.join(AIMED_KINDS)}, not {kind!r}")
        with self._lock:
            self._forced.append(
                Forced(kind, count, method, path_prefix, retry_after, seconds or 0.0, hash)
            )

    def pending(self) -> list[Forced]:
        """The forced faults not yet used up, oldest first (copies)."""
        with self._lock:
            return [Forced(**asdict(entry)) for entry in self._forced]

    def clear_forced(self) -> None:
        with self._lock:
            self._forced.clear()

    def before(self, faults: Faults, method: str, path: str, api_path: str) -> Verdict:
        """Rate limit, then a forced fault, then a random 5xx, in that order."""
        with self._lock:
            wait = self._take_token(faults)
            if wait > 0:
                return self._rate_limited(faults, wait)
            forced = self._pop(method, path, api_path, BEFORE_KINDS)
            if forced is not None:
                return self._forced_verdict(forced)
            self._reseed(faults)
            if faults.error_rate and self._rng.random() < faults.error_rate:
                status = self._rng.choice(ERROR_STATUSES)
                return Verdict(status=status, fault=str(status))
            return Verdict()

    def list_fault(
        self, method: str, path: str, api_path: str, applies: Callable[[Forced], bool]
    ) -> Forced | None:
        """Use up the first forced list fault that matches and that `applies` to this page."""
        with self._lock:
            return self._pop(method, path, api_path, LIST_KINDS, applies)

    def after_create(
        self,
        faults: Faults,
        method: str,
        path: str,
        api_path: str,
        *,
        kinds: tuple[str, ...],
        random_allowed: bool,
    ) -> str | None:
        """Once a create is committed: the forced (or random) fault of `kinds` to apply, if any.

        A random fault is only ever a drop, and never on top of a forced fault.
        """
        with self._lock:
            forced = self._pop(method, path, api_path, kinds)
            if forced is not None:
                return str(forced.kind)
            if DROP_AFTER_COMMIT not in kinds:
                return None
            if not random_allowed or not faults.drop_after_commit_rate:
                return None
            self._reseed(faults)
            if self._rng.random() < faults.drop_after_commit_rate:
                return DROP_AFTER_COMMIT
            return None

    def _pop(
        self,
        method: str,
        path: str,
        api_path: str,
        kinds: tuple[str | int, ...],
        applies: Callable[[Forced], bool] | None = None,
    ) -> Forced | None:
        for entry in self._forced:
            if entry.kind not in kinds or not entry.matches(method, path, api_path):
                continue
            if applies is not None and not applies(entry):
                continue
            entry.remaining -= 1
            if entry.remaining == 0:
                self._forced.remove(entry)
            return entry
        return None

    @staticmethod
    def _forced_verdict(entry: Forced) -> Verdict:
        if entry.kind == SLOW:
            return Verdict(fault=SLOW, delay_after=entry.seconds, forced=True)
        if entry.kind == HTML_200:
            return Verdict(status=200, fault=HTML_200, forced=True)
        headers = {}
        if entry.kind == 429 and entry.retry_after is not None:
            headers["Retry-After"] = entry.retry_after
        status = int(entry.kind)
        return Verdict(status=status, headers=headers, fault=str(status), forced=True)

    def _reseed(self, faults: Faults) -> None:
        # Reseed only when the seed changes, so a fixed seed yields one reproducible sequence
        # across requests rather than the same first draw every time.
        if faults.seed != self._rng_seed:
            self._rng = random.Random(faults.seed)
            self._rng_seed = faults.seed

    def _take_token(self, faults: Faults) -> float:
        """Take one token; return 0 on success, else the seconds until one is available."""
        if faults.rate_limit is None:
            self._bucket_config = None
            return 0.0
        now = time.monotonic()
        config = (faults.rate_limit, faults.capacity)
        if config != self._bucket_config:
            # A new rate starts with a full bucket, as a freshly configured limiter would.
            self._bucket_config = config
            self._tokens = float(faults.capacity)
            self._refilled_at = now
        rate, capacity = config
        self._tokens = min(capacity, self._tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / rate

    @staticmethod
    def _rate_limited(faults: Faults, wait: float) -> Verdict:
        headers = {
            "Retry-After": str(max(1, math.ceil(wait))),
            "X-RateLimit-Limit": str(faults.capacity),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int((time.time() + wait) * 1000)),
        }
        return Verdict(status=429, headers=headers, fault="429")
