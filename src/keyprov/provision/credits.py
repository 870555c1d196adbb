"""The credits preflight: a run never creates keys whose limits the account cannot cover."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from keyprov.api.client import OpenRouterClient
from keyprov.engine.exposure import Exposure, exposure
from keyprov.engine.planner import Action, Plan
from keyprov.errors import ApiError, InsufficientCreditsError
from keyprov.models import Credits
from keyprov.provision.settings import ProvisionSettings
from keyprov.roster import Participant
from keyprov.workshop.audit import AuditLog
from keyprov.workshop.journal import Ledger

CREDITS_UNKNOWN = (
    "the account's credits could not be read (GET /credits failed), so the keys were created "
    "without checking that the credits cover their limits; run `keyprov check` to see them."
)


def read_credits(client: OpenRouterClient) -> Credits | None:
    """The balance, or None when the server won't tell: its keys cap spending on their own, so
    an unreadable balance is a warning, not a reason to leave a workshop without keys."""
    try:
        return client.credits()
    except ApiError:
        return None


def prefetch_credits(
    client: OpenRouterClient,
    participants: list[Participant],
    ledger: Ledger,
    asked: Future[Credits | None] | None = None,
) -> Future[Credits | None] | None:
    """Ask for the balance while the keys are listed, when the run will likely create keys.

    The two reads are independent, and a round trip saved is a round trip off every run that
    creates. A roster whose participants all have a key already needs no balance, so it is
    not asked for (the listing decides; `_check_credits` asks then if it must). `asked`: the
    balance asked for already (keyprov.provision.first_reads), used rather than asked again.
    """
    known = {entry.identity for entry in ledger.entries()}
    if all(participant.identity in known for participant in participants):
        return None
    if asked is not None:
        return asked
    future: Future[Credits | None] = Future()

    def fetch() -> None:
        try:
            future.set_result(read_credits(client))
        except BaseException as error:  # handed to the caller, who re-raises it
            future.set_exception(error)

    threading.Thread(target=fetch, name="credits", daemon=True).start()
    return future


def check_credits(
    settings: ProvisionSettings,
    client: OpenRouterClient,
    plan: Plan,
    audit: AuditLog,
    prefetched: Future[Credits | None] | None = None,
) -> Credits | None:
    """Refuse to create keys whose limits together exceed what the account has left."""
    if not plan.with_action(Action.CREATE):
        return None
    credits = _asked(prefetched, client)
    spendable = exposure(plan, settings.expires_at)
    needed = spendable.needed
    if credits is None:
        audit.event("credits_unknown", needed_usd=round(needed, 2))
        return None
    audit.event(
        "credits",
        remaining_usd=round(credits.remaining, 2),
        needed_usd=round(needed, 2),
        allow_overcommit=settings.allow_overcommit,
    )
    if credits.remaining < needed and not settings.allow_overcommit:
        raise InsufficientCreditsError(
            f"the new keys can spend {spending_in_words(spendable)} but the account has "
            f"{credits.remaining:.2f} USD of credits left; nothing was created. Buy credits at "
            "https://openrouter.ai/settings/credits, lower the limits, or run again with "
            "--allow-overcommit (limits are caps, not charges)."
        )
    return credits


def _asked(prefetched: Future[Credits | None] | None, client: OpenRouterClient) -> Credits | None:
    """The balance asked for ahead, or asked now when it was not, or its asking failed.

    Asked for alongside GET /key, the balance may have failed as nothing else can once the
    server has answered (its address not yet known to be the API's, it said "unreachable"):
    asked again now, it is a balance or a warning, as it always was.
    """
    if prefetched is not None:
        try:
            return prefetched.result()
        except Exception:  # the read again says what is wrong, if anything still is
            pass
    return read_credits(client)


def spending_in_words(spendable: Exposure) -> str:
    """'267.00 USD until they expire (89.00 USD per window)', or why one window is counted."""
    if spendable.most is None:
        return (
            f"{spendable.per_window:.2f} USD per window, with no end (they never expire: "
            "--expires gives the most they can spend)"
        )
    if spendable.resets and spendable.most != spendable.per_window:
        return (
            f"{spendable.most:.2f} USD until they expire ({spendable.per_window:.2f} USD per "
            "window)"
        )
    return f"{spendable.most:.2f} USD"
