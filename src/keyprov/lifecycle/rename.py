"""`keyprov rename-keys`: move a workshop's key names to pseudonyms (or back to readable).

The names are changed on the server by PATCHing each key's `name`; nothing else about a key
changes, so its secret, budget and spend stay as they were. Stopped at any moment, a rerun
finishes the job: the target naming (with the secret pseudonyms are made with) is written to
state.jsonl and keys.xlsx before the first PATCH, every name is read in either form from then
on (keyprov.workshop.keynames.KeyNameIndex), and the PATCHes still to do are worked out from the
names the server holds now. No key is ever created or deleted here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from keyprov.api.client import OpenRouterClient
from keyprov.engine.fanout import DEFAULT_CONCURRENCY, fan_out
from keyprov.engine.session import Session, session
from keyprov.engine.snapshot import Snapshot, snapshot
from keyprov.errors import ApiError, ConfigurationError
from keyprov.lifecycle.changes import Change
from keyprov.lifecycle.steps import ChangeProgress, Silent
from keyprov.models import ApiKey
from keyprov.roster import Participant
from keyprov.status import ExitStatus
from keyprov.workshop.audit import set_subject
from keyprov.workshop.folder import Workshop, WorkshopRef
from keyprov.workshop.journal import LedgerEntry
from keyprov.workshop.keynames import (
    KeyNameIndex,
    NameMode,
    NamingPolicy,
    Rename,
    RenamePlan,
    identity_from_key_name,
    new_workshop_secret,
    rename_plan,
)
from keyprov.workshop.locate import find_workshop, remembered_locally
from keyprov.workshop.options import DesiredOptions


@dataclass(frozen=True)
class RenameResult:
    """What a rename-keys run did (or, in a dry run, would do)."""

    workshop: str
    to: NameMode
    dry_run: bool
    changes: list[Change]
    """One per key whose name was (or would be) changed, failed ones included."""
    already: int
    """Keys of the workshop that already had their name in the `to` form."""
    unresolved: list[ApiKey] = field(default_factory=list)
    """Keys with a pseudonym that no participant of the roster or the state gives: their
    names are left as they are."""
    roster_notes: list[str] = field(default_factory=list)

    @property
    def exit_status(self) -> ExitStatus:
        """OK when every key of the workshop has its name in the `to` form; a key left with a
        pseudonym counts only when readable names were asked for (it holds no personal data)."""
        failed = any(not change.ok for change in self.changes)
        stuck = self.to is NameMode.READABLE and bool(self.unresolved)
        return ExitStatus.INCOMPLETE if failed or stuck else ExitStatus.OK


def rename_keys(
    ref: WorkshopRef,
    desired: DesiredOptions,
    client: OpenRouterClient,
    *,
    to: NameMode = NameMode.PSEUDONYMOUS,
    given: Iterable[str] | None = None,
    dry_run: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: ChangeProgress | None = None,
) -> RenameResult:
    """Give every key of the workshop its name in the `to` form, and name its future keys so.

    The roster (read as `desired` says, the workshop's remembered options standing in for
    those not `given`) and the local state say whose each key is; up to `concurrency` names
    are changed at once. Raises the roster's errors (exit 2) before any request,
    UnknownWorkshopError for a workshop never provisioned, LockedError when another run holds
    it, NamingSecretLostError when its keys carry pseudonyms and no file holds their secret.
    """
    remembered = remembered_locally(ref)
    participants, notes = _read_roster(desired, given, remembered)
    if dry_run:
        workshop = find_workshop(ref, client)
        if dict(workshop.options) != remembered:
            participants, notes = _read_roster(desired, given, workshop.options)
        current = snapshot(workshop, client)
        target = _target(current.workshop.naming, to)
        renaming = _Renaming.of(current, participants, target)
        changes = [
            Change(renaming.whose(r), renaming.label(r), True, f"would be {_forms(renaming, r)}")
            for r in renaming.plan.renames
        ]
        return renaming.result(changes, dry_run=True, notes=notes)
    details = {"to": to.value, "roster": str(desired.roster) if desired.roster else None}
    with session(ref, client, "rename-keys", details=details) as held:
        if dict(held.workshop.options) != remembered:
            participants, notes = _read_roster(desired, given, held.workshop.options)
        progress = progress or Silent()
        current = held.snapshot(progress.listing)
        target = _target(held.workshop.naming, to)
        renaming = _Renaming.of(current, participants, target)
        if target != held.workshop.naming:
            _journal_naming(held, target, planned=len(renaming.plan.renames))
        _note_names_already_changed(held, renaming)
        # After the naming is journaled, the PATCHes may land in any order: every name is
        # read in either form, and each renamed key is journaled as its answer comes in.
        progress.start(len(renaming.plan.renames))

        def renamed(item: Rename) -> Change:
            change = _rename_one(held, renaming, item)
            progress.step(change.identity, change.label, change.ok, change.detail)
            return change

        changes = fan_out(renaming.plan.renames, renamed, concurrency=concurrency)
        result = renaming.result(changes, dry_run=False, notes=notes)
        held.counts.update(
            renamed=sum(change.ok for change in changes),
            failed=sum(not change.ok for change in changes),
            already=result.already,
            unresolved=len(result.unresolved),
        )
        held.exit_status = result.exit_status
        return result


def _read_roster(
    desired: DesiredOptions, given: Iterable[str] | None, remembered: Mapping[str, object]
) -> tuple[list[Participant], list[str]]:
    roster = desired.merged(given, remembered).roster_options().read()
    notes = [*roster.warnings, *(f"skipped: {problem}" for problem in roster.skipped)]
    return list(roster.participants), notes


def _target(naming: NamingPolicy, to: NameMode) -> NamingPolicy:
    """The naming to move to. The secret is kept either way: half-way back to readable,
    the keys still named by pseudonyms are read with it."""
    if to is NameMode.PSEUDONYMOUS:
        return NamingPolicy(to, naming.secret or new_workshop_secret())
    return NamingPolicy(to, naming.secret)


@dataclass(frozen=True)
class _Renaming:
    """The plan for one workshop, with whose each key is (for the terminal, not the server)."""

    workshop: Workshop
    target: NamingPolicy
    plan: RenamePlan
    owners: dict[str, str]
    """Key hash -> identity, from the state (current and retired keys)."""
    current: dict[str, str]
    """Key hash -> identity of the participant whose current key it is, from the state."""
    index: KeyNameIndex
    keys: dict[str, ApiKey]
    already: int

    @classmethod
    def of(
        cls, current: Snapshot, participants: Sequence[Participant], target: NamingPolicy
    ) -> _Renaming:
        workshop = current.workshop
        entries = list(current.entries.values())
        owners = {h: entry.identity for entry in entries for h in _hashes(entry)}
        current_keys = {entry.hash: entry.identity for entry in entries if entry.hash}
        identities = [participant.identity for participant in participants]
        # Without a secret (readable to readable) no key can carry a pseudonym of this
        # workshop: any secret reads the names the same.
        secret = target.secret or new_workshop_secret()
        try:
            index = NamingPolicy(NameMode.PSEUDONYMOUS, secret).index(
                workshop.name, [*identities, *owners.values()]
            )
            plan = rename_plan(
                workshop.name,
                current.server_keys,
                identities,
                secret=secret,
                to=target.mode,
                owners=owners,
            )
        except ValueError as error:  # two participants' pseudonyms collide (all but never)
            raise ConfigurationError(str(error)) from error
        keys = {key.hash: key for key in current.server_keys}
        ours = sum(index.belongs(key.name) for key in current.server_keys)
        already = ours - len(plan.renames) - len(plan.unresolved)
        return cls(workshop, target, plan, owners, current_keys, index, keys, already)

    def whose(self, rename: Rename) -> str:
        found = self.owners.get(rename.hash) or self.index.identity_of(rename.old_name)
        if found is None:
            found = identity_from_key_name(self.workshop.name, rename.old_name)
        return found or rename.hash

    def label(self, rename: Rename) -> str:
        key = self.keys.get(rename.hash)
        return key.label if key is not None else ""

    def form(self, name: str) -> str:
        form = self.index.form_of(name)
        return form.value if form is not None else "other"

    def result(self, changes: list[Change], *, dry_run: bool, notes: list[str]) -> RenameResult:
        return RenameResult(
            self.workshop.name,
            self.target.mode,
            dry_run,
            changes,
            self.already,
            list(self.plan.unresolved),
            notes,
        )


def _hashes(entry: LedgerEntry) -> tuple[str, ...]:
    return tuple(h for h in (entry.hash, *entry.retired) if h)


def _forms(renaming: _Renaming, rename: Rename) -> str:
    return f"renamed {renaming.form(rename.old_name)} -> {renaming.form(rename.new_name)}"


def _journal_naming(held: Session, target: NamingPolicy, *, planned: int) -> None:
    """Write the target naming to state.jsonl, then keys.xlsx, before any name changes.

    From then on both forms of every name are read with its secret, so a run stopped after
    any PATCH leaves a workshop whose every key is still found (and none made twice), even if
    only keys.xlsx survives.
    """
    held.ledger.record_naming(target.mode.value, target.secret)
    held.workshop = replace(held.workshop, naming=target)
    held.audit.event("key_names", mode=target.mode.value, renaming=planned)
    not_saved = held.save()
    if not_saved is not None:
        raise not_saved


def _note_names_already_changed(held: Session, renaming: _Renaming) -> None:
    """The state's name for keys an earlier run renamed but was stopped before noting."""
    planned = {rename.hash for rename in renaming.plan.renames}
    for entry in held.ledger.entries():
        key = renaming.keys.get(entry.hash or "")
        if key is not None and key.hash not in planned and key.name != entry.key_name:
            held.ledger.record_update(entry.identity, key_name=key.name)


def _rename_one(held: Session, renaming: _Renaming, rename: Rename) -> Change:
    whose, label = renaming.whose(rename), renaming.label(rename)
    old_form, new_form = renaming.form(rename.old_name), renaming.form(rename.new_name)
    set_subject(whose)
    try:
        key = held.client.update_key(rename.hash, name=rename.new_name)
    except ApiError as error:
        held.audit.event("key_rename_failed", hash=rename.hash, label=label, error=str(error))
        return Change(whose, label, False, str(error))
    held.saw(key)
    if key.hash in renaming.current:
        held.ledger.record_update(renaming.current[key.hash], key_name=key.name)
    # The hash and the forms say which key became what; a readable name holds an email or
    # id, so only a pseudonym is written down.
    names = {
        **({"old_name": rename.old_name} if old_form == NameMode.PSEUDONYMOUS else {}),
        **({"new_name": key.name} if new_form == NameMode.PSEUDONYMOUS else {}),
    }
    held.audit.event(
        "key_renamed", hash=key.hash, label=key.label, old=old_form, new=new_form, **names
    )
    return Change(whose, key.label, True, f"renamed {old_form} -> {new_form}")
