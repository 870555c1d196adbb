"""A workshop's guardrail, held in step with its policy and its keys.

The policy (which models, providers, zero data retention) is an option of provision,
remembered with the workshop; a later run that leaves `--models` out keeps it, and only
`--models all` lifts it. One guardrail, named `keyprov:<workshop>`, carries it on the
server; every key of the workshop is assigned to it: new keys in the same run, right after
the creates, and a key a stopped run left unassigned by the next run. Which keys are on it
is read from the server each time, not believed from a journal: what the server says is
what a participant's key can do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from keyprov.api.client import OpenRouterClient
from keyprov.engine.session import Session
from keyprov.errors import ConfigurationError
from keyprov.guardrails.checks import assignment_problems, check_guardrail
from keyprov.guardrails.plan import (
    AssignResult,
    apply_guardrail,
    assign,
    find_guardrail,
    guardrail_name,
    plan_guardrail,
)
from keyprov.guardrails.policy import Catalogue, GuardrailPolicy, validate_models
from keyprov.models import Guardrail

POLICY_OPTION = "guardrail"
"""Where workshop.json keeps the policy, beside the other remembered options."""


def remembered_policy(options: Mapping[str, Any]) -> GuardrailPolicy:
    try:
        return GuardrailPolicy.from_json(options.get(POLICY_OPTION))
    except ValueError as error:
        raise ConfigurationError(
            f"the workshop's remembered models cannot be read ({error}); give --models again "
            "(or --models all)."
        ) from error


def desired_policy(
    options: Mapping[str, Any],
    *,
    models: str | None = None,
    providers: str | None = None,
    zdr: bool | None = None,
) -> GuardrailPolicy:
    """The remembered policy with this run's options (None keeps a remembered value)."""
    return remembered_policy(options).with_options(models=models, providers=providers, zdr=zdr)


def catalogue_for(
    client: OpenRouterClient, policy: GuardrailPolicy, *, needed: bool = False
) -> Catalogue | None:
    """The model catalogue, checked against the policy (OptionError with the nearest slugs),
    when the policy restricts anything or `needed`; None otherwise (no request)."""
    if not policy.restricts and not needed:
        return None
    catalogue = Catalogue(client.guardrails.list_models())
    validate_models(policy, catalogue)
    return catalogue


@dataclass
class Guard:
    """The workshop's guardrail during one session."""

    policy: GuardrailPolicy
    catalogue: Catalogue | None
    guardrail: Guardrail | None = None
    change: str | None = None
    """What this run changed on the guardrail, in words (None: nothing)."""

    @property
    def active(self) -> bool:
        return self.guardrail is not None


def ensure_guardrail(held: Session, policy: GuardrailPolicy, catalogue: Catalogue | None) -> Guard:
    """Create, PATCH (the whole desired set), keep or delete the workshop's guardrail."""
    existing = held.client.guardrails.list_guardrails()
    name = guardrail_name(held.workshop.name)
    if catalogue is None and not any(g.name == name for g in existing):
        return Guard(policy, None)  # nothing to keep in step
    plan = plan_guardrail(
        policy, existing, held.workshop.name, catalogue=catalogue or Catalogue(())
    )
    guardrail = apply_guardrail(held.client, plan)
    if plan.writes:
        held.audit.event(
            "guardrail",
            action=plan.action.value,
            name=plan.name,
            id=guardrail.id if guardrail else (plan.guardrail.id if plan.guardrail else None),
            changes=list(plan.changes),
            policy=policy.to_json(),
        )
    return Guard(policy, catalogue, guardrail, plan.in_words() if plan.writes else None)


def assign_keys(held: Session, guard: Guard, key_hashes: Iterable[str]) -> AssignResult | None:
    """Put these keys on the workshop's guardrail (those already on it cost nothing)."""
    if guard.guardrail is None:
        return None
    wanted = [key_hash for key_hash in dict.fromkeys(key_hashes) if key_hash]
    on = {a.key_hash for a in held.client.guardrails.list_guardrail_assignments(guard.guardrail.id)}
    missing = [key_hash for key_hash in wanted if key_hash not in on]
    if not missing:
        return AssignResult(frozenset(wanted), frozenset())
    result = assign(held.client, guard.guardrail.id, missing)
    held.audit.event(
        "guardrail_assigned",
        guardrail=guard.guardrail.id,
        assigned=sorted(result.assigned),
        missing=sorted(result.missing),
    )
    return result


def guardrail_change(
    client: OpenRouterClient, workshop: str, policy: GuardrailPolicy, catalogue: Catalogue | None
) -> str | None:
    """For a dry run: what provision would change on the guardrail, in words (reads only)."""
    plan = plan_guardrail(
        policy, client.guardrails.list_guardrails(), workshop, catalogue=catalogue or Catalogue(())
    )
    return plan.in_words() if plan.writes else None


def guardrail_problems(
    client: OpenRouterClient,
    workshop: str,
    policy: GuardrailPolicy,
    key_hashes: Iterable[str],
) -> tuple[list[str], dict[str, str]]:
    """For check: what is wrong with the guardrail, and per key what is wrong with its
    assignment (reads only)."""
    existing = [
        g for g in client.guardrails.list_guardrails() if g.name == guardrail_name(workshop)
    ]
    if not policy.restricts and not existing:
        return [], {}
    catalogue = catalogue_for(client, policy, needed=True)
    assert catalogue is not None
    guardrail = existing[0] if len(existing) == 1 else None
    problems = check_guardrail(policy, guardrail, catalogue=catalogue)
    if len(existing) > 1:
        problems.append(f"{len(existing)} guardrails are named keyprov:{workshop}")
    if guardrail is None or not policy.restricts:
        return problems, {}
    assignments = client.guardrails.list_key_assignments()
    names = {g.id: g.name for g in client.guardrails.list_guardrails()}
    per_key = assignment_problems(guardrail, assignments, list(key_hashes), guardrail_names=names)
    return problems, per_key


def assign_to_workshop_guardrail(held: Session, key_hashes: Iterable[str]) -> str | None:
    """For rotate: put new keys on the guardrail the workshop has (never changing it);
    the problem in words when that fails, None when done (or there is no guardrail)."""
    policy = remembered_policy(held.workshop.options)
    if not policy.restricts:
        return None
    guardrail = find_guardrail(
        held.client.guardrails.list_guardrails(), guardrail_name(held.workshop.name)
    )
    if guardrail is None:
        return "the workshop's guardrail is missing on the server: run keyprov provision"
    result = assign_keys(held, Guard(policy, None, guardrail), key_hashes)
    if result is not None and result.missing:
        return f"{len(result.missing)} new key(s) could not be put on {guardrail.name}"
    return None


def remove_workshop_guardrail(held: Session) -> str | None:
    """For revoke --delete, after the keys: the guardrail goes too; its name when deleted."""
    name = guardrail_name(held.workshop.name)
    guardrail = find_guardrail(held.client.guardrails.list_guardrails(), name)
    if guardrail is None:
        return None
    held.client.guardrails.delete_guardrail(guardrail.id)
    held.audit.event("guardrail", action="delete", name=name, id=guardrail.id)
    return name
