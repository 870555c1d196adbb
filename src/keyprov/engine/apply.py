"""Apply a provision plan on the server: updates, re-enables, prunes, then the creates."""

from __future__ import annotations

from pathlib import Path

from keyprov.engine.creator import CreateRequest, Creator, delete_undelivered
from keyprov.engine.outcomes import (
    Outcome,
    ParticipantResult,
    Results,
    participant_options,
    rotate_command,
)
from keyprov.engine.planner import Action, ParticipantPlan, Plan
from keyprov.engine.session import Session
from keyprov.errors import ApiError
from keyprov.models import ApiKey

CLOSED_NOTE = "disabled until the workshop opens (keyprov open) or the key is claimed"

_MAY_BE_THEIRS = (
    "not created: keys named as this workshop's that its state never made are on the server "
    "(another copy of the workshop, on another machine or in another folder, made them?), "
    "and one of them may be theirs. Run keyprov from the copy that made them (its folder "
    "holds their secrets); if that copy is lost, `keyprov revoke` here disables every key of "
    "the workshop, and the next provision makes new ones, to be handed out again."
)


class PlanApplier:
    """Applies a provision plan: everything but the creates first, then the creates."""

    def __init__(
        self,
        session: Session,
        results: Results,
        creator: Creator,
        *,
        expires_at: str | None,
        prune: bool,
        reenable: bool,
        roster: Path | None = None,
        closed: bool = False,
    ) -> None:
        self.session = session
        self.results = results
        self.creator = creator
        self.expires_at = expires_at
        self.prune_keys = prune
        self.reenable = reenable
        self.roster = roster
        """The roster as the user gave it, for the commands a result suggests."""
        self.closed = closed
        """The workshop is closed: its keys are disabled on purpose (keyprov.engine.gating)."""
        self.pruned: list[ApiKey] = []

    def apply(self, plan: Plan) -> list[ParticipantResult]:
        to_create: list[CreateRequest] = []
        for item in plan.items:
            if item.renamed_from is not None and item.participant.participant_id is not None:
                self.session.ledger.record_renamed(
                    item.renamed_from, item.participant.identity, item.participant.participant_id
                )
            for key in item.retired:
                self._prune(key, f"replaced by rotation for {item.participant.identity}")
            if item.action is Action.CREATE and plan.anyones:
                self._finish(item, Outcome.ELSEWHERE, _MAY_BE_THEIRS, None)
                continue
            if item.action is Action.CREATE:
                to_create.append(CreateRequest.for_plan_item(item, self.expires_at))
                continue
            self._follow_addresses(item)
            if item.undelivered:
                self._resolve_undelivered(item)
            if item.action is Action.UPDATE or (item.action is Action.DISABLED and self.reenable):
                self._update(item)
            elif item.action is Action.DISABLED and self.closed and item.patch:
                self._update(item, enable=False)
            else:
                self._finish_unchanged(item)
        self.creator.create_all(to_create)
        if self.prune_keys:
            for key in plan.not_in_roster:
                self._prune(key, "its participant is no longer in the roster")
        self.results.raise_fatal()
        return [self.results.by_identity[item.participant.identity] for item in plan.items]

    def _follow_addresses(self, item: ParticipantPlan) -> None:
        """Keep where a participant's key is sent to what the roster says now: an address
        added to their cell, or a new one under the same id, is where `send` writes."""
        participant = item.participant
        entry = self.session.ledger.get(participant.identity)
        if entry is None or not entry.has_key or entry.addresses == participant.emails:
            return
        several = participant.emails if len(participant.emails) > 1 else ()
        self.session.ledger.record_update(
            participant.identity, email=participant.email, emails=several
        )

    def _resolve_undelivered(self, item: ParticipantPlan) -> None:
        """A participant who kept their key while a create for them went unanswered (a crashed
        rotation, say): the key that create made was never delivered, so it goes."""
        try:
            for stale in item.undelivered:
                delete_undelivered(self.session, item.participant.identity, stale)
        except ApiError as error:
            self.session.audit.event(
                "delete_undelivered_failed", participant=item.participant.identity, error=str(error)
            )
            return
        self.session.ledger.record_update(item.participant.identity, pending=False)

    def _update(self, item: ParticipantPlan, *, enable: bool = True) -> None:
        """PATCH the roster values that changed (and re-enable, when asked)."""
        participant = item.participant
        assert item.key is not None
        changes: dict[str, object] = dict(item.patch)
        if item.action is Action.DISABLED and enable:
            changes["disabled"] = False
        try:
            key = self.session.client.update_key(item.key.hash, **changes)
        except ApiError as error:
            self._finish(item, Outcome.FAILED, f"could not update the key: {error}", item.key)
            return
        self.session.saw(key)
        self.session.ledger.record_update(
            participant.identity,
            limit=key.limit,
            limit_reset=key.limit_reset,
            roster_limit=participant.limit,
            roster_limit_reset=participant.limit_reset,
        )
        note = "re-enabled" if item.action is Action.DISABLED and enable else item.note
        self._finish_with_duplicates(item, Outcome.UPDATED, note, key)

    def _finish_unchanged(self, item: ParticipantPlan) -> None:
        key = item.key
        if item.action is Action.KEEP:
            assert key is not None
            self._finish_with_duplicates(item, Outcome.PRESENT, "", key)
        elif item.action is Action.DISABLED and self.closed:
            assert key is not None
            self._finish_with_duplicates(item, Outcome.PRESENT, CLOSED_NOTE, key)
        elif item.action is Action.DISABLED:
            self._finish(
                item, Outcome.DISABLED, f"{item.note}; run with --reenable to enable it again", key
            )
        else:
            identity = item.participant.identity
            command = rotate_command(
                self.session.workshop.name, self.roster, *participant_options([identity])
            )
            self._finish(
                item,
                Outcome.SECRET_LOST,
                f"{item.note}. Restore state.jsonl from a backup, or give them a new key "
                f"(it is made first, then this one is disabled): {command}",
                key,
            )

    def _finish_with_duplicates(
        self, item: ParticipantPlan, outcome: Outcome, note: str, key: ApiKey
    ) -> None:
        """A participant with extra enabled keys is not done until they are pruned."""
        extra = [duplicate for duplicate in item.duplicates if not duplicate.disabled]
        if extra and self.prune_keys:
            for duplicate in extra:
                self._prune(duplicate, f"a second key of {item.participant.identity}")
            extra = []
        if extra:
            labels = ", ".join(duplicate.label for duplicate in extra)
            self._finish(
                item,
                Outcome.DUPLICATED,
                f"{len(extra)} more enabled key(s) on the server ({labels}); "
                "run with --prune to disable them",
                key,
            )
            return
        self._finish(item, outcome, note, key)

    def _prune(self, key: ApiKey, reason: str) -> None:
        """Disable, never delete: a pruned key can be enabled again from the dashboard."""
        if key.disabled:
            return
        try:
            disabled = self.session.client.update_key(key.hash, disabled=True)
        except ApiError as error:
            self.session.audit.event(
                "prune_failed", hash=key.hash, label=key.label, error=str(error)
            )
            return
        self.session.saw(disabled)
        self.session.stats.add("disabled")
        self.pruned.append(key)
        self.session.audit.event(
            "pruned", hash=key.hash, label=key.label, name=key.name, reason=reason
        )

    def _finish(
        self, item: ParticipantPlan, outcome: Outcome, detail: str, key: ApiKey | None
    ) -> None:
        participant = item.participant
        self.results.finish(
            participant.identity, participant.name, participant.email, outcome, detail, key
        )
