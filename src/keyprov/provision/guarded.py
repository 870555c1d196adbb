"""The workshop's guardrail during a provision run: which policy, checked against which
catalogue, and every key put on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keyprov.api.client import OpenRouterClient
from keyprov.engine.session import Session
from keyprov.errors import ApiError
from keyprov.guardrails.guarding import (
    Guard,
    assign_keys,
    catalogue_for,
    desired_policy,
    remembered_policy,
)
from keyprov.guardrails.policy import Catalogue, GuardrailPolicy
from keyprov.provision.result import ProvisionResult
from keyprov.provision.settings import ProvisionSettings
from keyprov.status import ExitStatus


@dataclass(frozen=True)
class Guarded:
    """The policy this run applies, and the model catalogue it was checked against."""

    policy: GuardrailPolicy
    catalogue: Catalogue | None
    before: GuardrailPolicy
    """What the workshop remembered: a guardrail to delete when `policy` lifts it."""

    @property
    def matters(self) -> bool:
        """Whether this run has a guardrail to keep in step (else no request is spent)."""
        return self.policy.restricts or self.before.restricts

    @classmethod
    def of(
        cls, settings: ProvisionSettings, remembered: Mapping[str, Any], client: OpenRouterClient
    ) -> Guarded:
        policy = desired_policy(
            remembered, models=settings.models, providers=settings.providers, zdr=settings.zdr
        )
        return cls(policy, catalogue_for(client, policy), remembered_policy(remembered))


def assign_everyone(held: Session, guard: Guard, result: ProvisionResult) -> None:
    """Every enabled key of the workshop on its guardrail: the new ones, and any a stopped
    run left off it. A key off it can reach any model, so the run is not done without it."""
    if guard.guardrail is None:
        return
    server = held.server or {}
    hashes = [
        entry.hash
        for entry in held.ledger.entries()
        if entry.has_key and entry.hash in server and not server[entry.hash].disabled
    ]
    try:
        assigned = assign_keys(held, guard, hashes)
    except ApiError as error:
        result.warnings.append(
            f"the keys could not be put on guardrail {guard.guardrail.name} ({error}); they "
            "can reach any model until they are: run keyprov provision again."
        )
        held.exit_status = ExitStatus.INCOMPLETE
        return
    if assigned is not None and assigned.missing:
        result.warnings.append(
            f"{len(assigned.missing)} key(s) are not on guardrail {guard.guardrail.name}; "
            "run keyprov provision again."
        )
        held.exit_status = ExitStatus.INCOMPLETE
