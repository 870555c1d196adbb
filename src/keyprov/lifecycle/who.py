"""Who `--participant` names: an email, an id, or a full name (case and accents ignored).

A name is taken only when it is one participant's: two with the same name are listed and the
command stops (exit 2) before anything is changed, so a top-up or a rotation never lands on
the wrong person.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from keyprov.errors import ConfigurationError
from keyprov.workshop.journal import LedgerEntry

_BASE_LETTERS = str.maketrans({"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "þ": "th"})


def folded(name: str) -> str:
    """A name as a person types it: no case, no accents, single spaces ('Émile  Borel' ->
    'emile borel')."""
    letters = unicodedata.normalize("NFKD", name.casefold()).translate(_BASE_LETTERS)
    plain = "".join(char for char in letters if not unicodedata.combining(char))
    return " ".join(plain.split())


def resolve_names(asked: Iterable[str], entries: Iterable[LedgerEntry]) -> list[str]:
    """Each value as the identity it names: an email or id as it is; a full name as its one
    participant's identity. A name two participants share raises ConfigurationError listing
    them; a value that names nobody is left as it is, for the caller to report."""
    entries = list(entries)
    by_key = {e.identity.lower() for e in entries} | {e.email.lower() for e in entries if e.email}
    resolved = []
    for value in asked:
        wanted = value.strip()
        if wanted.lower() in by_key:
            resolved.append(wanted)
            continue
        matches = [e for e in entries if e.name and folded(e.name) == folded(wanted)]
        identities = {e.identity for e in matches}
        if len(identities) > 1:
            listed = "; ".join(
                f"{e.name} ({e.email or e.identity})"
                for e in sorted(matches, key=lambda e: e.identity)
            )
            raise ConfigurationError(
                f"--participant {wanted!r} names {len(identities)} participants: {listed}. "
                "Name one by email (or id)."
            )
        resolved.append(matches[0].identity if matches else wanted)
    return resolved
