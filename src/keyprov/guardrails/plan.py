"""One guardrail per workshop, named `keyprov:<workshop>`, and every key of it assigned.

Pure decisions (`plan_guardrail`, `missing_assignments`, `check_guardrail`, ...) and thin
calls that carry them out (`apply_guardrail`, `assign`). Follows
/work/shared/openrouter-guardrails-api.md §9: a guardrail is found by its exact name (names
are not unique, so two of them is an error); a PATCH sends the whole desired value of every
field keyprov owns (arrays are replaced); a restriction is lifted with null, never `[]`; the
server echoes canonical slugs, so comparisons go through the catalogue.

The fields keyprov owns are `allowed_models`, `allowed_providers` and the five
`enforce_zdr_<group>` switches. Anything else set on the guardrail in the dashboard (a budget,
content filters, ignored models) is left alone: it can only narrow what the keys may do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from keyprov.api.guardrail_endpoints import GuardrailEndpoints
from keyprov.errors import GuardrailConflictError, OptionError, OutcomeUnknownError
from keyprov.guardrails.checks import (
    assignment_problems,
    check_guardrail,
    check_key_models,
    describe_changes,
    foreign_assignments,
    missing_assignments,
)
from keyprov.guardrails.policy import (
    ALL,
    Catalogue,
    GuardrailPolicy,
    model_warnings,
    validate_models,
)
from keyprov.models import ZDR_GROUPS, Guardrail
from keyprov.workshop.keynames import KEY_NAME_PREFIX

__all__ = [
    "ALL",
    "ASSIGN_BATCH",
    "AssignResult",
    "Catalogue",
    "GuardrailAction",
    "GuardrailPlan",
    "GuardrailPolicy",
    "apply_guardrail",
    "assign",
    "assignment_problems",
    "check_guardrail",
    "check_key_models",
    "describe_changes",
    "desired_fields",
    "find_guardrail",
    "foreign_assignments",
    "guardrail_name",
    "missing_assignments",
    "model_warnings",
    "plan_guardrail",
    "validate_models",
]

ASSIGN_BATCH = 100
"""Hashes per bulk assign. The contract sets no maximum (§4.7); 100 is its §9.2 advice."""
CREATE_ATTEMPTS = 3
"""Creates sent, each after a listing found none, before an unanswered create is given up."""
MAX_NAME = 200


class GuardrailClient(Protocol):
    """What these calls need of `OpenRouterClient`: its guardrail endpoints."""

    guardrails: GuardrailEndpoints


def guardrail_name(workshop: str) -> str:
    """`keyprov:<workshop>`: the one name the workshop's guardrail carries."""
    name = f"{KEY_NAME_PREFIX}:{workshop}"
    if len(name) > MAX_NAME:
        raise OptionError(
            f"--workshop {workshop}",
            f"the name is too long for a guardrail name ({MAX_NAME} characters at most); "
            "choose a shorter one",
        )
    return name


def desired_fields(policy: GuardrailPolicy) -> dict[str, Any]:
    """Every field keyprov owns, as a create or PATCH sends it: null lifts a restriction."""
    return {
        "allowed_models": list(policy.models) or None,
        "allowed_providers": list(policy.providers) or None,
        **{f"enforce_zdr_{group}": True if policy.zdr else None for group in ZDR_GROUPS},
    }


class GuardrailAction(StrEnum):
    CREATE = "create"
    PATCH = "patch"
    UNCHANGED = "unchanged"
    DELETE = "delete"


@dataclass(frozen=True)
class GuardrailPlan:
    """What `apply_guardrail` will do to make the server's guardrail match the policy."""

    action: GuardrailAction
    name: str
    policy: GuardrailPolicy
    guardrail: Guardrail | None
    """The workshop's guardrail on the server now, if there is one."""
    body: Mapping[str, Any] = field(default_factory=dict)
    """What a create or PATCH sends: every field keyprov owns."""
    changes: tuple[str, ...] = ()
    """For a PATCH, each difference in words, for --dry-run and the audit log."""

    @property
    def writes(self) -> bool:
        return self.action is not GuardrailAction.UNCHANGED

    def in_words(self) -> str:
        if self.action is GuardrailAction.CREATE:
            return f"create guardrail {self.name}: {self.policy.in_words()}"
        if self.action is GuardrailAction.PATCH:
            return f"update guardrail {self.name}: {'; '.join(self.changes)}"
        if self.action is GuardrailAction.DELETE:
            return f"delete guardrail {self.name}: the workshop allows any model now"
        if self.guardrail is None:
            return "no guardrail: the workshop allows any model"
        return f"guardrail {self.name} unchanged: {self.policy.in_words()}"


def plan_guardrail(
    policy: GuardrailPolicy,
    existing: Sequence[Guardrail],
    workshop: str,
    *,
    catalogue: Catalogue,
) -> GuardrailPlan:
    """Create, PATCH (the whole desired body), leave, or delete the workshop's guardrail.

    `existing` is every guardrail of the workspace (`client.guardrails.list_guardrails()`);
    `catalogue` maps the policy's ids to the canonical slugs the server echoes. Raises
    GuardrailConflictError when more than one guardrail carries the workshop's name.
    """
    name = guardrail_name(workshop)
    current = find_guardrail(existing, name)
    if not policy.restricts:
        if current is None:
            return GuardrailPlan(GuardrailAction.UNCHANGED, name, policy, None)
        return GuardrailPlan(GuardrailAction.DELETE, name, policy, current)
    body = desired_fields(policy)
    if current is None:
        description = f"Set by keyprov: what the keys of workshop {workshop} may use."
        return GuardrailPlan(
            GuardrailAction.CREATE, name, policy, None, {"description": description, **body}
        )
    changes = tuple(describe_changes(policy, current, catalogue))
    if not changes:
        return GuardrailPlan(GuardrailAction.UNCHANGED, name, policy, current)
    return GuardrailPlan(GuardrailAction.PATCH, name, policy, current, body, changes)


def find_guardrail(existing: Iterable[Guardrail], name: str) -> Guardrail | None:
    """The one guardrail with this exact name, None if none; GuardrailConflictError if several."""
    found = [guardrail for guardrail in existing if guardrail.name == name]
    if len(found) > 1:
        listed = ", ".join(
            f"{g.id} (created {g.created_at or 'at an unknown time'})" for g in found
        )
        raise GuardrailConflictError(
            f"{len(found)} guardrails are named {name!r} ({listed}), so keyprov cannot tell "
            "which one is the workshop's and changes none of them. Delete all but one at "
            "https://openrouter.ai/settings/privacy (Guardrails), then run again."
        )
    return found[0] if found else None


def apply_guardrail(client: GuardrailClient, plan: GuardrailPlan) -> Guardrail | None:
    """Carry out the plan; the workshop's guardrail afterwards (None once deleted or absent).

    A create whose answer was lost is looked for by name before it is sent again (there is no
    idempotency key), so it never makes a second guardrail; one found was made by that create.
    """
    if plan.action is GuardrailAction.UNCHANGED:
        return plan.guardrail
    if plan.action is GuardrailAction.PATCH:
        assert plan.guardrail is not None
        return client.guardrails.update_guardrail(plan.guardrail.id, **plan.body)
    if plan.action is GuardrailAction.DELETE:
        assert plan.guardrail is not None
        client.guardrails.delete_guardrail(plan.guardrail.id)
        return None
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            return client.guardrails.create_guardrail(plan.name, **plan.body)
        except OutcomeUnknownError:
            found = find_guardrail(client.guardrails.list_guardrails(), plan.name)
            if found is not None:
                return found
            if attempt == CREATE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


# -- assignments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignResult:
    """Which of the keys asked for are on the guardrail now, as the server confirmed."""

    assigned: frozenset[str]
    missing: frozenset[str]
    """Still not on it after one retry: unknown to the server (deleted?) or refused."""


def assign(
    client: GuardrailClient,
    guardrail_id: str,
    key_hashes: Iterable[str],
    *,
    batch: int = ASSIGN_BATCH,
) -> AssignResult:
    """Put the keys on the guardrail in bulk (batches of `batch`), moving any off another.

    A count below the number sent (keys already on it are not counted, unknown hashes are
    skipped) is checked against the guardrail's assignments, and the keys not there are sent
    once more. Raises what the client raises (NotFoundError for an unknown guardrail).
    """
    wanted = list(dict.fromkeys(key_hashes))
    counted = sum(
        client.guardrails.assign_keys(guardrail_id, wanted[start : start + batch])
        for start in range(0, len(wanted), batch)
    )
    if counted >= len(wanted):
        return AssignResult(frozenset(wanted), frozenset())
    missing = _not_on(client, guardrail_id, wanted)
    if missing:
        for start in range(0, len(missing), batch):
            client.guardrails.assign_keys(guardrail_id, missing[start : start + batch])
        missing = _not_on(client, guardrail_id, missing)
    return AssignResult(frozenset(wanted) - set(missing), frozenset(missing))


def _not_on(client: GuardrailClient, guardrail_id: str, hashes: list[str]) -> list[str]:
    on = {a.key_hash for a in client.guardrails.list_guardrail_assignments(guardrail_id)}
    return [key_hash for key_hash in hashes if key_hash not in on]
