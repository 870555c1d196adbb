"""Plain records of what the server holds: keys, a created key's one-time answer, credits,
guardrails, their key assignments and models.

They live apart from the HTTP client so that the pure layers (planner, ledger) can use them
without importing the transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyprov.redaction import mask_secret


@dataclass(frozen=True)
class ApiKey:
    """A key as the server describes it: never the secret."""

    hash: str
    name: str
    label: str
    disabled: bool
    limit: float | None
    limit_remaining: float | None
    limit_reset: str | None
    usage: float
    usage_daily: float
    usage_weekly: float
    usage_monthly: float
    created_at: str
    updated_at: str | None
    expires_at: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApiKey:
        return cls(
            hash=data["hash"],
            name=data.get("name", ""),
            label=data.get("label", ""),
            disabled=bool(data.get("disabled", False)),
            limit=data.get("limit"),
            limit_remaining=data.get("limit_remaining"),
            limit_reset=data.get("limit_reset"),
            usage=float(data.get("usage") or 0),
            usage_daily=float(data.get("usage_daily") or 0),
            usage_weekly=float(data.get("usage_weekly") or 0),
            usage_monthly=float(data.get("usage_monthly") or 0),
            created_at=data.get("created_at", ""),
            updated_at=data.get("updated_at"),
            expires_at=data.get("expires_at"),
        )


@dataclass(frozen=True)
class CreatedKey:
    """The answer to a create: the only moment the secret is ever available."""

    key: ApiKey
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"CreatedKey(key={self.key!r}, secret={mask_secret(self.secret)!r})"


@dataclass(frozen=True)
class Credits:
    total_credits: float
    total_usage: float

    @property
    def remaining(self) -> float:
        return self.total_credits - self.total_usage


ZDR_GROUPS = ("anthropic", "openai", "google", "xai", "other")
"""The model groups a guardrail switches zero data retention on for, one field each
(`enforce_zdr_<group>`)."""


@dataclass(frozen=True)
class Guardrail:
    """A guardrail as the server describes it: the fields keyprov reads.

    Model slugs are as the server echoes them (canonical slugs); `None` for a list means no
    restriction. `zdr` holds the model groups on which zero data retention is enforced.
    """

    id: str
    name: str
    description: str | None
    allowed_models: tuple[str, ...] | None
    allowed_providers: tuple[str, ...] | None
    ignored_models: tuple[str, ...] | None
    ignored_providers: tuple[str, ...] | None
    zdr: frozenset[str]
    limit_usd: float | None
    workspace_id: str | None
    created_at: str
    updated_at: str | None


@dataclass(frozen=True)
class KeyAssignment:
    """One key on one guardrail (a key has at most one such row)."""

    id: str
    key_hash: str
    guardrail_id: str
    key_name: str
    key_label: str
    created_at: str


@dataclass(frozen=True)
class Model:
    """A model of the catalogue: `id` is what a participant routes with; the server echoes a
    guardrail's models as `canonical_slug`."""

    id: str
    canonical_slug: str
    name: str
    expiration_date: str | None = None
    """A planned withdrawal (YYYY-MM-DD), or None."""
    alias_of: str | None = None
    """For a "latest"-style alias, the slug of the model it stands for."""

    @property
    def free(self) -> bool:
        """A `:free` variant, which can end without notice."""
        return self.id.endswith(":free")


def window_usage(key: ApiKey) -> float:
    """What the key spent in its limit's current window: the day, week or month of its
    limit_reset, or all time without one (what OpenRouter subtracts for limit_remaining).

    A reset this version does not know is read as all time, the most the key can have spent,
    so a budget computed from it errs on the side of less.
    """
    by_reset = {"daily": key.usage_daily, "weekly": key.usage_weekly, "monthly": key.usage_monthly}
    return float(by_reset.get(key.limit_reset or "", key.usage))
