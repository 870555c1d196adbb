"""Changes to a provisioned workshop: top up (set-limit) and revoke (rotate: `rotation`).

Each holds the workshop's session: the lock, the state journal and the audit log, and on the
way out the state is saved and keys.xlsx rebuilt with what the server now holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from keyprov.api.client import OpenRouterClient
from keyprov.engine.fanout import DEFAULT_CONCURRENCY, fan_out
from keyprov.engine.session import Session, session
from keyprov.engine.snapshot import OwnedKey, Snapshot, snapshot
from keyprov.errors import ApiError, ConfigurationError, KeyprovError
from keyprov.guardrails.guarding import remove_workshop_guardrail
from keyprov.lifecycle.orphans import keys_left_behind
from keyprov.lifecycle.steps import (
    ChangeProgress,
    Confirm,
    Impact,
    Silent,
    ask_first,
    checked_amount,
)
from keyprov.lifecycle.who import resolve_names
from keyprov.models import ApiKey
from keyprov.status import ExitStatus
from keyprov.workshop.audit import set_subject
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.journal import Ledger, LedgerEntry
from keyprov.workshop.keys_sheet import HANDOUTS_FILE
from keyprov.workshop.locate import find_workshop
from keyprov.workshop.options import DesiredOptions


@dataclass(frozen=True)
class Change:
    identity: str
    label: str
    ok: bool
    detail: str


def _select(ledger: Ledger, participants: list[str] | None) -> list[LedgerEntry]:
    return chosen_entries([entry for entry in ledger.entries() if entry.has_key], participants)


def chosen_entries(entries: list[LedgerEntry], participants: list[str] | None) -> list[LedgerEntry]:
    if participants is None:
        return entries
    wanted = {value.strip().lower() for value in resolve_names(participants, entries)}
    chosen = [e for e in entries if e.identity.lower() in wanted or e.email.lower() in wanted]
    missing = wanted - {e.identity.lower() for e in chosen} - {e.email.lower() for e in chosen}
    if missing:
        raise ConfigurationError(
            f"no key in this workshop's state for {', '.join(sorted(missing))}; check the "
            "email, id or full name, or provision them first."
        )
    return chosen


def _outcome(held: Session, changes: list[Change]) -> list[Change]:
    held.exit_status = (
        ExitStatus.OK if all(change.ok for change in changes) else ExitStatus.INCOMPLETE
    )
    return changes


def set_limit(
    ref: WorkshopRef,
    client: OpenRouterClient,
    *,
    participants: list[str] | None,
    limit: float | None = None,
    add: float | None = None,
    max_limit: float | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    below: float | None = None,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    progress: ChangeProgress | None = None,
) -> list[Change]:
    """Set an absolute limit, or add to the current one (PATCH is absolute: read, add, write).

    `below`: only the chosen participants whose enabled key has less than this many USD left
    in its window now (with `add`: top up everyone running low, in one go).

    Amounts that cannot be a limit (not a number, infinite, 0 or less, over the ceiling) are
    refused with OptionError before any request. `dry_run`: the changes, from the server's
    listing, and nothing written. With everyone given one `limit`, `confirm` is asked before
    the first write (NotConfirmed: nothing changed). `progress` hears the listing and each key.

    A new limit above `max_limit` is refused; None: the workshop's, as provisioned (else the
    default of 100 USD). Up to `concurrency` requests are in flight at once, as in provision.

    Every limit to send is journaled, in one record, before the first is sent: a set-limit
    stopped part-way is finished by its rerun, which sends the journaled limits instead of
    adding again.
    """
    if (limit is None) == (add is None):
        raise ConfigurationError("give exactly one of --limit USD or --add USD.")
    if below is not None and add is None:
        raise ConfigurationError("--below USD tops up those running low: give it with --add USD.")
    checked_amount("--max-limit", max_limit)
    checked_amount("--limit", limit, ceiling=max_limit)
    checked_amount("--add", add)
    if dry_run:
        from keyprov.lifecycle.limit_preview import set_limit_dry_run  # it imports this module

        return set_limit_dry_run(ref, client, participants, limit, add, max_limit, below)
    progress = progress or Silent()
    op = f"add {add:g}" if add is not None else f"set {limit:g}"
    changes: list[Change] = []
    with session(ref, client, "set-limit") as held:
        if max_limit is None:
            ceiling = DesiredOptions.from_json(held.workshop.options).max_limit
            source = "the workshop's --max-limit, as provisioned"
            checked_amount("--limit", limit, ceiling=ceiling)
        else:
            ceiling, source = max_limit, "--max-limit"
        listed = held.snapshot(progress.listing)
        server = {key.hash: key for key in listed.server_keys}

        def choose() -> list[LedgerEntry]:
            chosen = _select(held.ledger, participants)
            if below is None:
                return chosen
            return [entry for entry in chosen if has_less_left(server.get(entry.hash or ""), below)]

        chosen = choose()
        if participants is None and limit is not None:
            from keyprov.lifecycle.limit_preview import limit_impact

            ask_first(confirm, limit_impact(held.workshop.name, chosen, listed, limit))
        unfinished = [entry for entry in chosen if entry.limit_target is not None]
        progress.start(len(unfinished))
        changes.extend(
            fan_out(
                unfinished,
                lambda entry: _stepped(progress, send_limit(held, entry, resumed=True)),
                concurrency=concurrency,
            )
        )
        if unfinished and all(entry.limit_op == op for entry in unfinished):
            # This is the rerun of the set-limit that stopped: it is now complete.
            return _outcome(held, changes)
        chosen = choose()
        progress.start(len(chosen))
        # PATCH is absolute, so --add reads every current limit first (all at once).
        current = (
            fan_out(chosen, lambda entry: _current_limit(held, entry), concurrency=concurrency)
            if add is not None
            else [entry.limit for entry in chosen]
        )
        targets: dict[str, float] = {}
        for entry, old in zip(chosen, current, strict=True):
            if isinstance(old, ApiError):
                changes.append(
                    _stepped(progress, Change(entry.identity, entry.label or "", False, str(old)))
                )
                continue
            new = round((old or 0.0) + add, 6) if add is not None else float(limit or 0.0)
            if new <= 0 or new > ceiling:
                changes.append(
                    _stepped(
                        progress,
                        Change(
                            entry.identity,
                            entry.label or "",
                            False,
                            f"{new:.2f} USD is not in (0, {ceiling:.2f}] ({source}); raise "
                            "--max-limit if meant",
                        ),
                    )
                )
                continue
            targets[entry.identity] = new
        if targets:
            # Journaled, all in one record, before the first PATCH leaves: a run stopped with
            # any of them in flight is finished by its rerun, never added to twice.
            held.ledger.record_targets(op, targets)
        journaled = [entry for entry in held.ledger.entries() if entry.identity in targets]
        changes.extend(
            fan_out(
                journaled,
                lambda entry: _stepped(progress, send_limit(held, entry, resumed=False)),
                concurrency=concurrency,
            )
        )
        return _outcome(held, changes)


def has_less_left(key: ApiKey | None, below: float) -> bool:
    """An enabled key with a limit and less than `below` USD of it left in its window."""
    if key is None or key.disabled or key.limit is None or key.limit_remaining is None:
        return False
    return key.limit_remaining < below


def _current_limit(held: Session, entry: LedgerEntry) -> float | ApiError | None:
    """The key's limit as the server has it now (None: no limit), or why it could not be read."""
    assert entry.hash is not None
    set_subject(entry.identity)
    try:
        return held.client.get_key(entry.hash).limit
    except ApiError as error:
        return error


def send_limit(held: Session, entry: LedgerEntry, *, resumed: bool) -> Change:
    """PATCH the limit the state journaled for this participant; journal that it is set."""
    assert entry.hash is not None and entry.limit_target is not None
    set_subject(entry.identity)
    try:
        key = held.client.update_key(entry.hash, limit=entry.limit_target)
    except ApiError as error:
        return Change(entry.identity, entry.label or "", False, str(error))
    held.saw(key)
    # A limit set by hand is the one meant: a rotation's cut (if any) is not given back over it.
    held.ledger.record_update(
        entry.identity,
        limit=key.limit,
        limit_target=None,
        limit_op=None,
        full_limit=None,
        cut_until=None,
    )
    held.audit.event(
        "limit_set",
        participant=entry.identity,
        hash=key.hash,
        old=entry.limit,
        new=key.limit,
        resumed=resumed,
    )
    detail = f"limit {amount(entry.limit)} -> {amount(key.limit)} USD"
    if resumed:
        detail += " (finishing the set-limit an earlier run left)"
    return Change(entry.identity, key.label, True, detail)


def amount(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def _stepped(progress: ChangeProgress, change: Change) -> Change:
    """Tell `progress` one key is done; the change passes through."""
    progress.step(change.identity, change.label, change.ok, change.detail)
    return change


def roster_identities(ref: WorkshopRef, remembered: Mapping[str, Any]) -> list[str]:
    """The roster's identities, read as provision last read it (the ROSTER given, when it is
    a file, else the remembered one), so that a pseudonymous key whose secret the state lost
    is named by its participant; none when there is no roster to read (never an error: the
    keys are the workshop's either way)."""
    desired = DesiredOptions.from_json(remembered)
    if ref.roster is not None and ref.roster.is_file():
        desired = replace(desired, roster=ref.roster)
    if desired.roster is None:
        return []
    try:
        return [person.identity for person in desired.roster_options().read().participants]
    except (KeyprovError, OSError):
        return []


def workshop_keys(current: Snapshot, ref: WorkshopRef) -> list[OwnedKey]:
    """The workshop's keys; when some are not in the state, the roster says whose they are."""
    owned = current.owned()
    if any(item.role == "unknown" for item in owned):
        owned = current.owned(roster_identities(ref, current.workshop.options))
    return owned


def revoke(
    ref: WorkshopRef,
    client: OpenRouterClient,
    *,
    delete: bool = False,
    dry_run: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    confirm: Confirm | None = None,
    progress: ChangeProgress | None = None,
) -> list[Change]:
    """Disable (or delete) every key of the workshop; keys already disabled are left alone.

    `confirm` is asked before the first write (NotConfirmed: nothing changed). Up to
    `concurrency` keys at once; the changes come in the order the keys are listed."""
    if dry_run:
        workshop = find_workshop(ref, client)
        return [
            Change(
                item.identity,
                item.key.label,
                True,
                "would be deleted"
                if delete
                else ("already disabled" if item.key.disabled else "would be disabled"),
            )
            for item in workshop_keys(snapshot(workshop, client), ref)
        ]
    creating = keys_left_behind(ref, client)
    with session(ref, client, "revoke", creating=creating) as held:
        progress = progress or Silent()
        current = held.snapshot(progress.listing, naming_lost_ok=True)
        targets = [item for item in workshop_keys(current, ref) if delete or not item.key.disabled]
        effect = "are deleted now, for good" if delete else "stop working now"
        ask_first(confirm, Impact("revoke", held.workshop.name, len(targets), effect))
        progress.start(len(targets))
        changes = fan_out(
            targets,
            lambda item: _stepped(progress, _revoke_one(held, item, delete=delete)),
            concurrency=concurrency,
        )
        on_slips = [item for item in targets if _on_slips(item)]
        if on_slips and (held.workshop.folder / HANDOUTS_FILE).exists():
            detail = (
                f"holds {len(on_slips)} key(s) that no longer work, as does mail-merge.csv: "
                "delete both, or keyprov provision --reenable to make the keys work again"
            )
            changes.append(Change("", HANDOUTS_FILE, True, detail))
        if delete and all(change.ok for change in changes):
            # After the keys: a guardrail without keys restricts nobody.
            try:
                removed = remove_workshop_guardrail(held)
            except ApiError as error:
                changes.append(Change("", "", False, f"the guardrail was not deleted: {error}"))
            else:
                if removed is not None:
                    changes.append(Change("", removed, True, "guardrail deleted"))
        return _outcome(held, changes)


def _on_slips(item: OwnedKey) -> bool:
    entry = item.entry
    return entry is not None and entry.hash == item.key.hash and entry.on_slips is not None


def _revoke_one(held: Session, item: OwnedKey, *, delete: bool) -> Change:
    """Disable (or delete) one key; audited once the server has done it."""
    key = item.key
    set_subject(item.identity)
    try:
        if delete:
            held.client.delete_key(key.hash)
            held.gone(key.hash)
        else:
            held.saw(held.client.update_key(key.hash, disabled=True))
    except ApiError as error:
        return Change(item.identity, key.label, False, str(error))
    action = "deleted" if delete else "disabled"
    held.audit.event(f"key_{action}", participant=item.identity, hash=key.hash, label=key.label)
    return Change(item.identity, key.label, True, action)
