"""The one way a key is made, for provision and rotate alike.

The intent is journaled before the create is sent, the secret is stored before the
participant counts as done, and a create whose answer was lost is reconciled by listing
before it is sent again (OpenRouter has no idempotency key, and shows a secret only once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from keyprov.engine.fanout import DEFAULT_CONCURRENCY, fan_out
from keyprov.engine.outcomes import Outcome, ParticipantResult, ResultCallback, Results
from keyprov.engine.planner import ParticipantPlan
from keyprov.engine.session import Session
from keyprov.engine.snapshot import expected_keys, list_server_keys
from keyprov.errors import ApiError, CredentialError, OutcomeUnknownError, StateWriteError
from keyprov.models import ApiKey
from keyprov.workshop.audit import set_subject
from keyprov.workshop.journal import LedgerEntry

MAX_CREATE_ROUNDS = 8
"""How many times one run tries a participant whose creates keep ending with no answer."""


@dataclass(frozen=True)
class CreateRequest:
    """One key to make: for whom, with what, and what it replaces."""

    identity: str
    name: str
    email: str
    participant_id: str | None
    limit: float | None
    """USD; None only for the successor of a key that has no limit (rotate copies it)."""
    limit_reset: str | None
    expires_at: str | None
    roster_limit: float | None
    """The roster's values to journal with the key (a rotation keeps the old ones, so a
    top-up survives it)."""
    roster_limit_reset: str | None
    undelivered: tuple[ApiKey, ...] = ()
    """Keys an unanswered create made for this participant: nobody holds their secret, so
    they are deleted before the key is created again."""
    replaces: tuple[ApiKey, ...] = ()
    """For a rotation: the keys the new one retires, in the same record that stores it (more
    than one for a participant whose keys' secrets were lost)."""
    note: str = ""
    emails: tuple[str, ...] = ()
    """Every address of the participant, when they have several."""

    @classmethod
    def for_plan_item(cls, item: ParticipantPlan, expires_at: str | None) -> CreateRequest:
        participant = item.participant
        return cls(
            identity=participant.identity,
            name=participant.name,
            email=participant.email,
            participant_id=participant.participant_id,
            limit=participant.limit,
            limit_reset=participant.limit_reset,
            expires_at=item.expires_at or expires_at,
            roster_limit=participant.limit,
            roster_limit_reset=participant.limit_reset,
            undelivered=item.undelivered,
            note=item.note,
            emails=participant.emails,
        )

    @classmethod
    def rotation(
        cls,
        entry: LedgerEntry,
        replaces: tuple[ApiKey, ...],
        *,
        limit: float | None,
        expires_at: str | None,
    ) -> CreateRequest:
        """The successor of `replaces` (the first is its model: its limit reset is kept).

        `entry` says who the participant is and what the roster last said of them; the
        roster values are journaled unchanged, so that a later provision run does not
        "correct" the successor's limit back (a rotation's limit is not a roster change).
        Without journaled roster values (older state), the replaced key's own stand in.
        """
        model = replaces[0]
        journaled = entry.roster_limit is not None
        return cls(
            identity=entry.identity,
            name=entry.name,
            email=entry.email,
            participant_id=entry.participant_id,
            limit=limit,
            limit_reset=model.limit_reset,
            expires_at=expires_at,
            roster_limit=entry.roster_limit if journaled else model.limit,
            roster_limit_reset=entry.roster_limit_reset if journaled else model.limit_reset,
            replaces=replaces,
            emails=entry.emails,
        )


class Creator:
    """Creates keys concurrently; every create is journaled before it is sent."""

    def __init__(
        self,
        session: Session,
        results: Results,
        *,
        concurrency: int,
        on_stopping: Callable[[int], None] | None = None,
    ) -> None:
        self.session = session
        self.results = results
        self.concurrency = concurrency
        self.on_stopping = on_stopping
        """Told, at Ctrl-C, how many creates are in flight: the run waits for their answers."""

    def create_all(self, requests: list[CreateRequest]) -> None:
        """Create; resolve creates that got no answer by listing, then send those again."""
        pending = requests
        for _ in range(MAX_CREATE_ROUNDS):
            if not pending or self.results.stop.is_set():
                break
            unknown = self._run_concurrently(pending)
            stopped = self.results.stop.is_set()
            pending = self._reconcile(unknown) if unknown and not stopped else unknown
        for request in pending:
            self._finish(
                request,
                Outcome.UNRESOLVED,
                "the server never answered the create; the next run resolves it",
            )

    def _run_concurrently(self, requests: list[CreateRequest]) -> list[CreateRequest]:
        """Send the creates (Ctrl-C: those in flight are waited for and journaled); the ones
        that got no answer, in the order given."""
        answered = fan_out(
            requests,
            self._create_one,
            concurrency=self.concurrency,
            stop=self.results.stop,
            on_stopping=self.on_stopping,
        )
        return [request for request, ok in zip(requests, answered, strict=True) if not ok]

    def _create_one(self, request: CreateRequest) -> bool:
        """Create one key; False when the create got no answer and must be reconciled."""
        if self.results.stop.is_set():
            self._finish(request, Outcome.FAILED, "not attempted: the run was stopped")
            return True
        set_subject(request.identity)
        ledger, client = self.session.ledger, self.session.client
        name = self.session.key_name(request.identity)
        try:
            for stale in request.undelivered:
                delete_undelivered(self.session, request.identity, stale)
            ledger.record_intent(request.identity, name)
            created = client.create_key(
                name,
                limit=request.limit,
                limit_reset=request.limit_reset,
                expires_at=request.expires_at,
            )
        except OutcomeUnknownError as error:
            self.session.stats.add("unanswered_creates")
            self.session.audit.event(
                "outcome_unknown", participant=request.identity, error=str(error)
            )
            return False
        except (CredentialError, StateWriteError) as error:
            self.results.stop_run(error)
            self._finish(request, Outcome.FAILED, str(error))
            return True
        except ApiError as error:
            self._finish(request, Outcome.FAILED, str(error))
            return True
        previous = ledger.get(request.identity)
        retired = previous.retired if previous else ()
        retired = (*retired, *(key.hash for key in request.replaces if key.hash not in retired))
        detail = request.note
        try:
            ledger.record_created(
                request.identity,
                created,
                name=request.name,
                email=request.email,
                participant_id=request.participant_id,
                roster_limit=request.roster_limit,
                roster_limit_reset=request.roster_limit_reset,
                retired=retired,
                emails=request.emails,
            )
        except StateWriteError as error:
            # The key exists and its secret is in memory; the run's end tries to save it.
            self.results.stop_run(error)
            detail = "created; its record did not reach the disk (the run's end saves it)"
        self.session.saw(created.key)
        self._finish(request, Outcome.CREATED, detail, created.key)
        return True

    def _reconcile(self, unknown: list[CreateRequest]) -> list[CreateRequest]:
        """Find out which unanswered creates the server made, before creating anything again.

        Returns the requests to send again, each with the keys the server did make for them
        (nobody holds those secrets; they are deleted first). When the server cannot be
        listed, nothing is created again: the participants are left unresolved.
        """
        try:
            ledger = self.session.ledger
            server_keys = list_server_keys(self.session.client, expected=expected_keys(ledger))
        except ApiError as error:
            self.session.audit.event("reconcile_failed", error=str(error))
            for request in unknown:
                self._finish(
                    request,
                    Outcome.UNRESOLVED,
                    "the create got no answer and the server could not be listed to check it; "
                    "the next run resolves it",
                )
            return []
        known = self.session.ledger.known_hashes()
        again: list[CreateRequest] = []
        for request in unknown:
            name = self.session.key_name(request.identity)
            made = tuple(key for key in server_keys if key.name == name and key.hash not in known)
            self.session.stats.add("made_by_unanswered", len(made))
            self.session.audit.event(
                "reconciled",
                participant=request.identity,
                found=[key.hash for key in made],
                next="delete the undelivered key, then create again" if made else "create again",
            )
            again.append(
                replace(request, undelivered=made, note="created after an unanswered attempt")
            )
        return again

    def _finish(
        self, request: CreateRequest, outcome: Outcome, detail: str, key: ApiKey | None = None
    ) -> None:
        self.results.finish(request.identity, request.name, request.email, outcome, detail, key)


def delete_undelivered(session: Session, identity: str, key: ApiKey) -> None:
    session.client.delete_key(key.hash)
    session.gone(key.hash)
    session.stats.add("deleted_undelivered")
    session.audit.event(
        "deleted_undelivered",
        participant=identity,
        hash=key.hash,
        label=key.label,
        reason="created by a create whose answer (and secret) never arrived",
    )


def create_keys(
    session: Session,
    requests: list[CreateRequest],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_result: ResultCallback | None = None,
) -> dict[str, ParticipantResult]:
    """Create keys with the journaling, concurrency and unknown-outcome handling of a run.

    A request with `replaces` is a rotation: the new key's record names the old key retired,
    so a run that dies before disabling it leaves the next run to do so. Raises the error
    that stopped the creates (a refused key, a state that cannot be written).
    """
    results = Results(session, on_result)
    Creator(session, results, concurrency=concurrency).create_all(requests)
    results.raise_fatal()
    return results.by_identity
