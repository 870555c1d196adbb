"""Top-ups by rule during the workshop: a key whose budget left falls to the rule's threshold
gets the rule's amount added, once per crossing, never past the ceilings.

Each goes through set-limit's journaled read-add-write (the key's limit read, the new limit
journaled in state.jsonl, then PATCHed) inside the workshop's session, and is journaled in
events.jsonl first: `top_up_begun` (participant, key, old and new limit), then `top_up_done`.
A watch killed at any point between the two finishes the top-up at its next poll, comparing
the server's limit with the old and the new one: it is never sent twice, and never lost.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from keyprov.api.client import OpenRouterClient
from keyprov.engine.fanout import DEFAULT_CONCURRENCY, fan_out
from keyprov.engine.session import Session, session
from keyprov.errors import ApiError, LockedError
from keyprov.lifecycle.changes import send_limit
from keyprov.lifecycle.live import LiveKey, Poll
from keyprov.lifecycle.watch_journal import EventJournal
from keyprov.status import ExitStatus
from keyprov.workshop.audit import set_subject
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.journal import LedgerEntry
from keyprov.workshop.options import DesiredOptions

OP_PREFIX = "top-up "
"""Names the set-limit operations the watch journals in state.jsonl."""
CENT = 0.005


@dataclass(frozen=True)
class TopUpRule:
    amount: float
    when_left: float
    """USD, or a share of the limit (0.2 for 20 %) when `share`."""
    share: bool
    max_per_key: float
    """The most the rule ever adds to one participant's limit, all top-ups together."""
    max_total: float
    """The most the rule ever adds to the whole workshop."""

    def threshold(self, key: LiveKey) -> float | None:
        if key.limit is None:
            return None
        return self.when_left * key.limit if self.share else self.when_left

    def wants(self, key: LiveKey) -> bool:
        """A live key with a limit whose budget left is at or below the threshold."""
        threshold = self.threshold(key)
        if not key.live or threshold is None or key.left is None:
            return False
        return key.left <= threshold + 1e-9


def parse_when_left(text: str) -> tuple[float, bool]:
    """'0.5' (USD) or '20%' (of the limit) -> (0.5, False) or (0.2, True); ValueError."""
    value = text.strip()
    share = value.endswith("%")
    number = value.rstrip("%").strip()
    try:
        parsed = float(number)
    except ValueError:
        parsed = math.nan
    if not math.isfinite(parsed) or parsed < 0 or (share and parsed > 100):
        raise ValueError(f"{text!r}: give USD left (like 0.5) or a share of the limit (like 20%)")
    return (parsed / 100, True) if share else (parsed, False)


@dataclass(frozen=True)
class TopUp:
    """One top-up, or why a key that wanted one did not get it (safe to print)."""

    identity: str
    name: str
    outcome: str
    """'done', 'finished' (begun by an earlier watch), 'stopped' (a ceiling), 'pending' (to
    be finished at the next poll), 'postponed' (the workshop is busy), 'superseded'."""
    added: float = 0.0
    old: float | None = None
    new: float | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("done", "finished", "stopped", "superseded")


def apply_top_ups(
    ref: WorkshopRef,
    client: OpenRouterClient,
    poll: Poll,
    rule: TopUpRule,
    journal: EventJournal,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[TopUp]:
    """This poll's top-ups: those begun and not confirmed first, then every armed key at or
    below the threshold. The workshop is held only while they are made; when another run
    holds it, they wait for the next poll."""
    remembered = journal.remembered
    rearmed = [
        key.hash for key in poll.keys if key.hash in remembered.disarmed and not rule.wants(key)
    ]
    if rearmed:
        journal.write_many([("top_up_armed", {"hash": h}) for h in rearmed], at=poll.at)
    wanted = [key for key in poll.keys if rule.wants(key) and key.hash not in remembered.disarmed]
    if not wanted and not remembered.open_top_ups:
        return []
    try:
        with session(ref, client, "watch top-up") as held:
            held.saw(poll.server_keys)
            done = _finish_open(held, journal, poll)
            done += _top_up(held, journal, poll, wanted, rule, concurrency)
            held.exit_status = ExitStatus.OK if all(t.ok for t in done) else ExitStatus.INCOMPLETE
        # A top-up that lifted its key above the threshold ends the crossing: the next one
        # may be topped up again, even if no poll sees the key in between.
        lifted = [
            key.hash
            for key in after_top_ups(poll.keys, done)
            if key.hash in remembered.disarmed and not rule.wants(key)
        ]
        if lifted:
            journal.write_many([("top_up_armed", {"hash": h}) for h in lifted], at=poll.at)
        return done
    except LockedError:
        return [
            TopUp(key.identity, key.name, "postponed", detail="another keyprov run holds the "
                  "workshop: tried again at the next poll")
            for key in wanted
        ]  # fmt: skip


def after_top_ups(keys: list[LiveKey], top_ups: list[TopUp]) -> list[LiveKey]:
    """The keys as they are after this poll's top-ups: the view shows what participants have."""
    given = {t.identity: t for t in top_ups if t.outcome in ("done", "finished")}
    updated = []
    for key in keys:
        top_up = given.get(key.identity)
        if top_up is not None and top_up.new is not None and key.left is not None:
            raised = top_up.new - (key.limit or 0.0)
            key = replace(key, limit=top_up.new, left=key.left + raised)
        updated.append(key)
    return updated


def _top_up(
    held: Session,
    journal: EventJournal,
    poll: Poll,
    wanted: list[LiveKey],
    rule: TopUpRule,
    concurrency: int,
) -> list[TopUp]:
    remembered = journal.remembered
    entries = {entry.identity: entry for entry in held.ledger.entries()}
    max_limit = DesiredOptions.from_json(held.workshop.options).max_limit
    chosen = [key for key in wanted if _entry_for(entries, key) is not None]
    current = fan_out(chosen, lambda key: _read_limit(held, key), concurrency=concurrency)
    results: list[TopUp] = []
    begun: list[tuple[str, dict[str, Any]]] = []
    targets: dict[str, float] = {}
    planned_total = 0.0
    for key, old in zip(chosen, current, strict=True):
        if isinstance(old, ApiError):
            results.append(TopUp(key.identity, key.name, "pending", detail=str(old)))
            continue
        allowances = [
            (rule.amount, ""),
            (rule.max_per_key - remembered.given.get(key.identity, 0.0), "--max-per-key"),
            (rule.max_total - remembered.given_total - planned_total, "--max-total"),
            (max_limit - (old or 0.0), "the workshop's --max-limit"),
        ]
        add, ceiling = min(allowances, key=lambda pair: pair[0])
        add = math.floor(add * 100 + 1e-6) / 100  # whole cents, never rounded up past a ceiling
        if add < 0.01:
            detail = f"{ceiling} reached: not topped up"
            journal.write("top_up_stopped", at=poll.at, participant=key.identity,
                          hash=key.hash, ceiling=ceiling)  # fmt: skip
            results.append(TopUp(key.identity, key.name, "stopped", detail=detail))
            continue
        new = round((old or 0.0) + add, 6)
        planned_total += add
        record = {
            "id": uuid.uuid4().hex[:12],
            "participant": key.identity,
            "hash": key.hash,
            "old": old,
            "new": new,
            "add": add,
            "op": _op(rule, poll.at),
            "cut_by": ceiling or None,
        }
        begun.append(("top_up_begun", record))
        targets[key.identity] = new
    if not begun:
        return results
    # Journaled before anything is sent: a kill from here on is finished by the next poll.
    records = journal.write_many(begun, at=poll.at)
    held.ledger.record_targets(_op(rule, poll.at), targets)
    results += _send(held, journal, poll, records, resumed=False, concurrency=concurrency)
    return results


def _finish_open(held: Session, journal: EventJournal, poll: Poll) -> list[TopUp]:
    """Top-ups an earlier watch began and did not confirm: sent again when the server still
    has the old limit (the new one is absolute: harmless if it had arrived), confirmed when
    it has the new one, left alone (superseded) when someone set another limit since."""
    opened = list(journal.remembered.open_top_ups.values())
    if not opened:
        return []
    entries = {entry.identity: entry for entry in held.ledger.entries()}
    names = {key.identity: key.name for key in poll.keys}
    resend, results = [], []
    for record in opened:
        who = record["participant"]
        entry = entries.get(who)
        name = names.get(who, who)
        if entry is not None and entry.limit_op == record["op"] and entry.limit_target is not None:
            resend.append(record)
            continue
        try:
            limit = held.client.get_key(record["hash"]).limit
        except ApiError as error:
            results.append(TopUp(who, name, "pending", detail=str(error)))
            continue
        if _same(limit, record["new"]):
            journal.write("top_up_done", at=poll.at, id=record["id"], resumed=True)
            results.append(_outcome(record, name, "finished"))
        elif _same(limit, record["old"]) and entry is not None:
            held.ledger.record_targets(record["op"], {who: float(record["new"])})
            resend.append(record)
        else:
            journal.write("top_up_superseded", at=poll.at, id=record["id"], limit=limit)
            results.append(_outcome(record, name, "superseded", f"the limit is {limit} now"))
    return results + _send(held, journal, poll, resend, resumed=True, concurrency=8)


def _send(
    held: Session,
    journal: EventJournal,
    poll: Poll,
    records: list[dict[str, Any]],
    *,
    resumed: bool,
    concurrency: int,
) -> list[TopUp]:
    names = {key.identity: key.name for key in poll.keys}

    def one(record: dict[str, Any]) -> TopUp:
        who = record["participant"]
        entry = held.ledger.get(who)
        assert entry is not None
        change = send_limit(held, entry, resumed=resumed)
        name = names.get(who, who)
        if not change.ok:
            # Left open: the next poll reads the limit and finishes it, or sees it arrived.
            return _outcome(record, name, "pending", change.detail)
        journal.write("top_up_done", at=poll.at, id=record["id"], resumed=resumed)
        held.audit.event(
            "top_up",
            participant=who,
            hash=record["hash"],
            old=record["old"],
            new=record["new"],
            added=record["add"],
            cut_by=record.get("cut_by"),
            resumed=resumed,
        )
        return _outcome(record, name, "finished" if resumed else "done")

    return fan_out(records, one, concurrency=concurrency)


def _outcome(record: dict[str, Any], name: str, outcome: str, detail: str = "") -> TopUp:
    cut = record.get("cut_by")
    if not detail and cut:
        detail = f"cut to {record['add']:.2f} USD by {cut}"
    return TopUp(
        record["participant"],
        name,
        outcome,
        added=float(record["add"]),
        old=record["old"],
        new=record["new"],
        detail=detail,
    )


def _entry_for(entries: dict[str, LedgerEntry], key: LiveKey) -> LedgerEntry | None:
    entry = entries.get(key.identity)
    return entry if entry is not None and entry.hash == key.hash else None


def _read_limit(held: Session, key: LiveKey) -> float | ApiError | None:
    """The key's limit as the server has it now: the read of read-add-write."""
    set_subject(key.identity)
    try:
        return held.client.get_key(key.hash).limit
    except ApiError as error:
        return error


def _op(rule: TopUpRule, at: datetime) -> str:
    return f"{OP_PREFIX}{rule.amount:g} at {at.isoformat(timespec='seconds')}"


def _same(one: float | None, other: object) -> bool:
    if one is None or not isinstance(other, int | float):
        return one is None and other is None
    return abs(one - float(other)) < CENT
