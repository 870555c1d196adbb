"""One participant's record in the local state: which key they have, secret included."""

from __future__ import annotations

from dataclasses import dataclass

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
    emails: tuple[str, ...] = ()
    """Every address of a participant whose roster cell holds several, `email` first; empty
    for one address (the state of a workshop from before is read so)."""

    def __repr__(self) -> str:
        secret = mask_secret(self.secret) if self.secret else None
        return f"LedgerEntry(identity={self.identity!r}, hash={self.hash!r}, secret={secret!r})"

    @property
    def addresses(self) -> tuple[str, ...]:
        """Where the participant's key is sent: every address, the first being `email`."""
        return self.emails or ((self.email,) if self.email else ())

    @property
    def has_key(self) -> bool:
        return self.hash is not None and self.secret is not None
