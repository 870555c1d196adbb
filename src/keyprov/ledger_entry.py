"""One participant's record in the local state: which key they have, secret included."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any

from keyprov.redaction import mask_secret


@dataclass(frozen=True)
class LedgerEntry:
    identity: str
    key_name: str
    name: str = ""
    email: str = ""
    participant_id: str | None = None
    hash: str | None = None
    secret: str | None = None
    label: str | None = None
    limit: float | None = None
    limit_reset: str | None = None
    expires_at: str | None = None
    created_at: str | None = None
    roster_limit: float | None = None
    """The roster's limit when keyprov last applied it; a top-up (set-limit) leaves it alone,
    so a rerun only PATCHes when the roster itself changed."""
    roster_limit_reset: str | None = None
    retired: tuple[str, ...] = ()
    """Hashes of this participant's earlier keys, replaced by rotation: to be disabled."""
    pending: bool = False
    """An intent to create was journaled and no secret has been stored since."""
    removed: bool = False
    """The participant was not in the roster at the last provision run (keys.xlsx says so)."""
    limit_target: float | None = None
    """A limit a set-limit journaled before sending it, not yet confirmed by the server."""
    handed_out: str | None = None
    """How and when this key reached its participant ('sent 2026-12-01T14:02', 'handed out
    2026-12-01'); None until then. A new key (rotation) starts again at None."""
    limit_op: str | None = None
    """The set-limit that aimed at `limit_target` ('add 2', 'set 5'), so that its rerun
    completes it instead of adding again."""
    secret_digest: str | None = None
    """A digest of `secret` as the server gave it (`secret_digest_of`): a secret changed in
    the file since is told from it. None in records from before."""
    pending_run: str | None = None
    """The run (its audit run id) whose intent `pending` is: only that run's, or the crashed
    run's right before, proves that nobody holds the key it made (keyprov.run_trust)."""

    def __repr__(self) -> str:
        secret = mask_secret(self.secret) if self.secret else None
        return f"LedgerEntry(identity={self.identity!r}, hash={self.hash!r}, secret={secret!r})"

    @property
    def has_key(self) -> bool:
        return self.hash is not None and self.secret is not None


def secret_digest_of(secret: str) -> str:
    """16 hex digits of the secret's sha256: enough to tell a changed secret, nothing to use."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


_TEXT = ("key_name", "name", "email", "participant_id", "hash", "secret", "label")
_MORE_TEXT = ("limit_reset", "expires_at", "created_at", "roster_limit_reset", "handed_out")
_NUMBERS = ("limit", "roster_limit", "limit_target")
_KNOWN = frozenset(item.name for item in fields(LedgerEntry))


def record_damage(event: str, values: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A journal record's fields, each of the type it must have (a value of another type is
    dropped), and what is wrong with it when it cannot stand for its participant's key as it
    is: None for a sound record.

    A `created` record must hold its key's hash, secret and name, and a secret that is the
    one the server gave (its digest, its label). An intent holds no key: one that does was a
    `created` record once (changed by hand, or by a keyprov of another version).
    """
    kept: dict[str, Any] = {}
    wrong: list[str] = []
    for name, value in values.items():
        if name not in _KNOWN:
            continue
        if name in (*_TEXT, *_MORE_TEXT, "limit_op", "secret_digest", "pending_run"):
            ok = value is None or isinstance(value, str)
        elif name in _NUMBERS:
            ok = value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        elif name in ("pending", "removed"):
            ok = isinstance(value, bool)
        elif name == "retired":
            ok = isinstance(value, list | tuple) and all(isinstance(h, str) for h in value)
            value = tuple(value) if ok else ()
        else:
            ok = True
        if ok:
            kept[name] = value
        else:
            wrong.append(f"its {name} is {type(value).__name__}")
    if not isinstance(kept.get("key_name"), str):
        kept["key_name"] = ""
    holds_key = kept.get("hash") is not None or kept.get("secret") is not None
    if event == "intent" and not holds_key:
        return kept, "; ".join(wrong) or None
    if event == "intent":
        wrong.append("it is an intent that holds a key")
    for name in ("hash", "secret"):
        if not kept.get(name):
            wrong.append(f"it has no {name}")
    if not kept["key_name"]:
        wrong.append("it has no key_name")
    secret, digest, label = kept.get("secret"), kept.get("secret_digest"), kept.get("label")
    if secret and digest and secret_digest_of(secret) != digest:
        wrong.append("its secret is not the one the server gave")
    elif secret and label and mask_secret(secret) != label:
        wrong.append("its secret does not match its label")
    return kept, "; ".join(wrong) or None
