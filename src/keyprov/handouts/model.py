"""What one participant is handed: their key and what it allows, nothing about anyone else."""

from __future__ import annotations

from dataclasses import dataclass, field

from keyprov.handouts.quickstarts import DEFAULT_QUICKSTARTS
from keyprov.redaction import mask_secret

# Dropped from the front of a name when guessing the first name for "Hello Ada,".
_TITLES = frozenset({"dr", "dr.", "prof", "prof.", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "mx"})
# After a comma, these end a name ("Martin Luther King, Jr.") rather than start the given one.
_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "phd", "ph.d.", "md", "m.d."})


def first_name_of(name: str) -> str:
    """The name to greet someone by: the first word, or the first word after the comma of
    "Lovelace, Ada". A name written without spaces (山田太郎) is kept whole: splitting it would
    be a guess."""
    family, comma, given = name.partition(",")
    if comma and given.strip() and given.strip().casefold() not in _SUFFIXES:
        name = given
    elif comma:
        name = family
    words = name.split()
    while len(words) > 1 and words[0].casefold() in _TITLES:
        words.pop(0)
    return words[0] if words else ""


@dataclass(frozen=True, kw_only=True)
class Handout:
    """One participant and their current key.

    Build handouts only from keys that are enabled: what is handed out or sent is exactly
    what is here, and nothing checks the server again.
    """

    identity: str
    """The participant's identity in the roster (its id, else the email)."""
    name: str
    email: str
    secret: str = field(repr=False)
    key_label: str
    """The masked form OpenRouter shows (`sk-or-v1-abc...123`): safe to print and log."""
    key_hash: str
    limit: float | None = None
    """US dollars; None: no limit."""
    limit_reset: str | None = None
    """"daily", "weekly", "monthly", or None (the limit is for the key's whole life)."""
    expires_at: str | None = None
    """ISO 8601 as OpenRouter answers (`2026-12-05T23:59:59Z`); None: no end date."""
    models: tuple[str, ...] = ()
    """The models the key may use; empty: any."""
    replaces: str | None = None
    """The label of the key this one replaces, after a rotation."""
    full_limit: float | None = None
    """The regular limit when `limit` is cut for the window now running (a rotation passes on
    only what the old key left of it): from the next reset, `full_limit` again."""
    first_name: str = ""
    """Derived from `name` when not given."""
    claim_code: str = field(default="", repr=False)
    """The participant's claim code (keyprov.workshop.claimcodes), for the claim page."""
    claim_url: str = field(default="", repr=False)
    """The claim page's address with the code in it (opening it only fills in the form);
    empty when the workshop has no --claim-url."""
    emails: tuple[str, ...] = ()
    """Every address of a participant who has several, `email` first; empty: just `email`."""
    quickstarts: tuple[str, ...] = DEFAULT_QUICKSTARTS
    """Which first calls the slip and the message show (`--quickstart`), in their order."""

    def __post_init__(self) -> None:
        if not self.first_name:
            object.__setattr__(self, "first_name", first_name_of(self.name))
        if not isinstance(self.models, tuple):
            object.__setattr__(self, "models", tuple(self.models))
        for listed in ("emails", "quickstarts"):
            if not isinstance(getattr(self, listed), tuple):
                object.__setattr__(self, listed, tuple(getattr(self, listed)))

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address the key is sent to, the first being `email`."""
        return self.emails or (self.email,)

    @property
    def who(self) -> str:
        """What a slip is headed with: the name, or for a roster of bare addresses, those."""
        return self.name or ", ".join(self.addresses)

    def __repr__(self) -> str:
        return (
            f"Handout(identity={self.identity!r}, email={self.email!r}, "
            f"key_label={self.key_label!r}, secret={mask_secret(self.secret)!r})"
        )
