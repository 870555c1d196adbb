"""A key read again just before its message: one that stopped working is never mailed."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from keyprov.engine.session import Session
from keyprov.errors import ApiError, NotFoundError
from keyprov.handouts import Handout
from keyprov.handouts.wording import parse_expiry
from keyprov.workshop.audit import set_subject


def still_unusable(held: Session, handout: Handout) -> str | None:
    """Why `handout`'s key must not be sent now (disabled, expired, deleted or replaced since
    the run read it), or None. One GET per message: `send` paces far slower than that."""
    set_subject(handout.identity)
    entry = held.ledger.get(handout.identity)
    if entry is None or entry.hash != handout.key_hash:
        return "its key was replaced meanwhile; the next send mails the new one"
    try:
        key = held.client.get_key(handout.key_hash)
    except NotFoundError:
        held.gone(handout.key_hash)
        return "its key was deleted on the server meanwhile (keyprov provision makes a new one)"
    except ApiError as error:
        return f"its key could not be read again ({error}); a rerun tries again"
    held.saw(key)
    # A closed workshop's keys wait, disabled, on purpose (keyprov open enables them).
    if key.disabled and not held.ledger.replayed.closed:
        return (
            "its key was disabled on the server meanwhile (keyprov provision --reenable "
            "enables it, keyprov rotate replaces it)"
        )
    if key.expires_at is not None:
        with contextlib.suppress(ValueError):
            if parse_expiry(key.expires_at) <= datetime.now(UTC):
                return "its key expired meanwhile (keyprov rotate gives them a new one)"
    return None
