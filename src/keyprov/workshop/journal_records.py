"""The state journal's records: one participant's entry (which key they have, secret
included), and state.jsonl read back, record by record in order, into those entries.

A last line torn by a crash is ignored (everything before it is intact); a damaged line
before the last, or a record of a kind this keyprov does not know, is a LocalFileError
saying what to do, never a guess.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from keyprov.errors import LocalFileError
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
    """How and when this key reached its participant ('sent 1 Dec 2026 14:02 UTC', 'on slips
    1 Dec 2026'); None until then. A new key (rotation) starts again at None."""
    limit_op: str | None = None
    """The set-limit that aimed at `limit_target` ('add 2', 'set 5'), so that its rerun
    completes it instead of adding again."""
    full_limit: float | None = None
    """The regular limit of a key whose limit is cut for one window (a rotation passes on
    only what was left of it); given back once `cut_until` is past."""
    cut_until: str | None = None
    """When the cut limit's window ends (ISO 8601, UTC): the next reset of the limit."""
    previous_label: str | None = None
    """The label of the last earlier key that reached this participant (a rotation carries
    it), so a new key says it replaces one only to someone who was given one."""
    previous_handed_out: str | None = None
    """How that key reached them ('on slips 7 Dec 2026', 'sent ...'); None: it never did."""
    on_slips: str | None = None
    """When this key was last written to handouts.pdf and mail-merge.csv ('7 Dec 2026'),
    even if it was mailed too: those files hold it until they are written again."""
    emails: tuple[str, ...] = ()
    """Every address of a participant whose roster cell holds several, `email` first; empty
    for one address (the state of a workshop from before is read so)."""
    secret_digest: str | None = None
    """A digest of `secret` as the server gave it (`secret_digest_of`): a secret changed in
    the file since is told from it. None in records from before."""
    pending_run: str | None = None
    """The run (its audit run id) whose intent `pending` is: only that run's, or the crashed
    run's right before, proves that nobody holds the key it made (keyprov.workshop.run_trust)."""

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


def secret_digest_of(secret: str) -> str:
    """16 hex digits of the secret's sha256: enough to tell a changed secret, nothing to use."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


_NONE = type(None)
_TEXT = (
    *("key_name", "name", "email", "participant_id", "hash", "secret", "label"),
    *("limit_reset", "expires_at", "created_at", "roster_limit_reset", "handed_out"),
    *("limit_op", "secret_digest", "pending_run"),
)
_NUMBERS = frozenset(("limit", "roster_limit", "limit_target"))
_ALLOWED: dict[str, tuple[type, ...]] = {
    **{name: (str, _NONE) for name in _TEXT},
    **{name: (int, float, _NONE) for name in _NUMBERS},
    "pending": (bool,),
    "removed": (bool,),
    "retired": (list, tuple),
    "emails": (list, tuple),
}
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
        allowed = _ALLOWED.get(name)
        if allowed is None:
            if name in _KNOWN:
                kept[name] = value
            continue
        if not isinstance(value, allowed) or (value.__class__ is bool and name in _NUMBERS):
            wrong.append(f"its {name} is {type(value).__name__}")
        elif name in ("retired", "emails"):
            if all(isinstance(item, str) for item in value):
                kept[name] = tuple(value)
            else:
                wrong.append(f"its {name} holds what is not text")
        else:
            kept[name] = value
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


@dataclass
class Replayed:
    """What reading the journal found, besides the entries."""

    sheet_digest: str | None = None
    """The sha256 of keys.xlsx as the last run wrote it: when the file still has it, every
    secret in it is in this state too, and it need not be read back."""
    sheet_content: str | None = None
    """The digest of what that keys.xlsx was made from (`outputs.keys_fingerprint`): when it
    is also what this run would write, the file need not be written again."""
    torn_tail: bool = False
    """The last line was cut short (a crash, a full disk): a record may be missing."""
    naming: tuple[str, str | None] | None = None
    """How the workshop names its keys: (mode, secret); None when never recorded (a state
    from before key-name modes: readable names)."""
    closed: bool = False
    """Whether the workshop is closed (`provision --closed`, `keyprov close`): its keys are
    kept disabled but for those claimed since; `keyprov open` opens it again."""
    claim_secret: str | None = None
    """The secret each participant's claim code is derived from (keyprov.workshop.claimcodes);
    None until a command first needs the codes."""
    damaged: dict[str, str] = field(default_factory=dict)
    """Participants whose record lacks what it needs, or holds what cannot be (keyprov.damage),
    with what is wrong: repaired from keys.xlsx and the server, or the run stops."""


RECORD_KINDS = (
    "carried",
    "dropped",
    "intent",
    "created",
    "recovered",
    "updated",
    "sheet",
    "targets",
    "renamed",
    "naming",
    "gate",
    "claim_secret",
)


_ENTRY_FIELDS = frozenset(LedgerEntry.__dataclass_fields__)


def _known_fields(record: dict[str, Any]) -> dict[str, Any]:
    # Fields this keyprov does not know (a newer one wrote them) are left out, not an error.
    return {name: value for name, value in record.items() if name in _ENTRY_FIELDS}


def replay(path: Path) -> tuple[dict[str, LedgerEntry], Replayed]:
    entries: dict[str, LedgerEntry] = {}
    replayed = Replayed()
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise LocalFileError(
            f"{path}: the local state cannot be read ({error.strerror or error}). It must be "
            "a file keyprov wrote (state.jsonl); move whatever is there away, and keyprov "
            "takes the keys back from keys.xlsx on the next run."
        ) from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            event = record.pop("event")
            record.pop("at", None)
            if event == "sheet":
                replayed.sheet_digest = str(record["sha256"])
                content = record.get("content")  # absent in records of older versions
                replayed.sheet_content = None if content is None else str(content)
                continue
            if event == "naming":
                secret = record.get("secret")
                replayed.naming = (str(record["mode"]), None if secret is None else str(secret))
                continue
            if event == "gate":
                replayed.closed = bool(record["closed"])
                continue
            if event == "claim_secret":
                replayed.claim_secret = str(record["secret"])
                continue
            if event == "carried":
                carried, run = list(record["runs"]), record["run"]
                for identity, entry in entries.items():
                    if entry.pending and entry.pending_run in carried:
                        entries[identity] = replace(entry, pending_run=run)
                continue
            if event == "targets":
                for identity, target in dict(record["targets"]).items():
                    if identity in entries:
                        entries[identity] = replace(
                            entries[identity], limit_target=float(target), limit_op=record["op"]
                        )
                continue
            identity = record["identity"]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            if number == len(lines):
                replayed.torn_tail = True
                break  # a write torn by a crash; everything before it is intact
            raise LocalFileError(
                f"{path}, line {number}: the local state is damaged ({error}). Restore it "
                "from a backup, or move it away: the next run takes back every key keys.xlsx "
                "holds, and reports the others whose keys exist on the server without "
                "their secret."
            ) from error
        if event not in RECORD_KINDS:
            raise LocalFileError(
                f"{path}, line {number}: a record of an unknown kind ({event!r}); it was "
                "written by another program or a newer keyprov. Use that keyprov, or move "
                "the file away (keys.xlsx then gives the keys back)."
            )
        if event == "dropped":
            entries.pop(identity, None)
            replayed.damaged.pop(identity, None)
            continue
        if event == "renamed":
            if record["from"] in entries:
                moved = entries.pop(record["from"])
                entries[identity] = replace(
                    moved, identity=identity, participant_id=record["participant_id"]
                )
            continue
        run = record.pop("run", None)
        fields = record if record.keys() <= _ENTRY_FIELDS else _known_fields(record)
        for listed in ("retired", "emails"):
            if isinstance(fields.get(listed), list):
                fields[listed] = tuple(fields[listed])
        if event == "updated":
            if identity in entries:
                entries[identity] = replace(entries[identity], **fields)
            continue
        fields, damage = record_damage(event, fields)
        if event == "intent" and damage is None:
            previous = entries.get(identity) or LedgerEntry(identity, fields["key_name"])
            pending_run = run if run is not None else fields.get("pending_run")
            entries[identity] = replace(
                previous, key_name=fields["key_name"], pending=True, pending_run=pending_run
            )
        else:
            entries[identity] = LedgerEntry(**fields)
        if damage is None:
            replayed.damaged.pop(identity, None)
        else:
            replayed.damaged[identity] = damage
    return entries, replayed
