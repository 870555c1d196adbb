"""Fault injection: latency, a token-bucket rate limit, random 5xx, and commit-then-drop.

Random faults come from `Faults` (what a flaky network looks like on average); forced faults
(`FaultEngine.force`) hit the next matching requests exactly, so tests can be deterministic.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

ERROR_STATUSES = (500, 502, 503)
DROP_AFTER_COMMIT = "drop_after_commit"
SLOW = "slow"
_NULLABLE = {"rate_limit", "burst", "seed"}
_INTEGER = {"burst", "seed"}


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
class _Forced:
    kind: str | int
    remaining: int
    method: str | None
    path_prefix: str | None
    retry_after: str | None
    seconds: float

    def matches(self, method: str, path: str, api_path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        # A prefix may be written either way: "/api/v1/keys" or "/keys".
        return self.path_prefix is None or any(
            p.startswith(self.path_prefix) for p in (path, api_path)
        )


class FaultEngine:
    """Per-sandbox fault state: the token bucket, the random source, and the forced queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forced: list[_Forced] = []
        self._bucket_config: tuple[float, int] | None = None
        self._tokens = 0.0
        self._refilled_at = 0.0
        self._rng = random.Random()
        self._rng_seed: object = object()  # differs from any real seed, so the first use seeds

    def force(
        self,
        fault: str | int,
        count: int = 1,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        retry_after: str | None = "1",
        seconds: float | None = None,
    ) -> None:
        if fault not in (DROP_AFTER_COMMIT, SLOW, 429, *ERROR_STATUSES):
            raise ValueError(
                f"unknown fault {fault!r}; use 'drop_after_commit', 'slow', 429, 500, 502 or 503"
            )
        if count < 1:
            raise ValueError("count must be >= 1")
        if fault == SLOW and (seconds is None or seconds < 0):
            raise ValueError("a 'slow' fault needs seconds= (>= 0)")
        with self._lock:
            self._forced.append(
                _Forced(fault, count, method, path_prefix, retry_after, seconds or 0.0)
            )

    def clear_forced(self) -> None:
        with self._lock:
            self._forced.clear()

    def before(self, faults: Faults, method: str, path: str, api_path: str) -> Verdict:
        """Rate limit, then a forced fault, then a random 5xx, in that order."""
        with self._lock:
            wait = self._take_token(faults)
            if wait > 0:
                return self._rate_limited(faults, wait)
            forced = self._pop(method, path, api_path, exclude=DROP_AFTER_COMMIT)
            if forced is not None:
                return self._forced_verdict(forced)
            self._reseed(faults)
            if faults.error_rate and self._rng.random() < faults.error_rate:
                status = self._rng.choice(ERROR_STATUSES)
                return Verdict(status=status, fault=str(status))
            return Verdict()

    def drop_after_create(
        self, faults: Faults, method: str, path: str, api_path: str, *, random_allowed: bool
    ) -> bool:
        """Decide, once a key is committed, whether to close the connection without answering."""
        with self._lock:
            if self._pop(method, path, api_path, only=DROP_AFTER_COMMIT) is not None:
                return True
            if not random_allowed or not faults.drop_after_commit_rate:
                return False
            self._reseed(faults)
            return self._rng.random() < faults.drop_after_commit_rate

    def _pop(
        self,
        method: str,
        path: str,
        api_path: str,
        *,
        exclude: str | None = None,
        only: str | None = None,
    ) -> _Forced | None:
        for entry in self._forced:
            if entry.kind == exclude or (only is not None and entry.kind != only):
                continue
            if entry.matches(method, path, api_path):
                entry.remaining -= 1
                if entry.remaining == 0:
                    self._forced.remove(entry)
                return entry
        return None

    @staticmethod
    def _forced_verdict(entry: _Forced) -> Verdict:
        if entry.kind == SLOW:
            return Verdict(fault=SLOW, delay_after=entry.seconds, forced=True)
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
