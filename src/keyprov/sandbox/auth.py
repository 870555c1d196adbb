"""Who is calling: the management key, a stored (normal) key, or nobody."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from keyprov.sandbox.store import Store
from keyprov.sandbox.validation import ApiError


@dataclass(frozen=True)
class Caller:
    management: bool
    key: dict[str, Any] | None = None  # the caller's own Key, for a normal key


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def authenticate(header: str | None, *, management_key: str, store: Store) -> Caller:
    """The caller named by an `Authorization` header; a 401 ApiError for anyone else."""
    token = bearer(header)
    if token is None:
        raise ApiError(401, "No auth credentials found")
    if hmac.compare_digest(token.encode(), management_key.encode()):
        return Caller(management=True)
    key = store.find_by_secret(token)
    # A disabled key is as unusable as a deleted one ("disabled/invalid API key" is a 401).
    if key is None or key["disabled"]:
        raise ApiError(401, "User not found.")
    return Caller(management=False, key=key)
