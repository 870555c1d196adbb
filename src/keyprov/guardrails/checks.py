"""How a workshop's guardrail and keys differ from its policy, in words.

Pure: for `check` (what was edited on the server), for `provision --dry-run` (what a PATCH
will change), and for what `GET /models/user` says a participant's key can reach. Fields
compared are the ones keyprov owns (see `guardrails`); model slugs go through the catalogue,
since the server echoes canonical slugs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from keyprov.guardrails.policy import Catalogue, GuardrailPolicy
from keyprov.models import ZDR_GROUPS, Guardrail, KeyAssignment, Model


def missing_assignments(
    guardrail: Guardrail, assignments: Iterable[KeyAssignment], key_hashes: Iterable[str]
) -> set[str]:
    """The keys (of `key_hashes`) not on this guardrail, per the assignments listed."""
    on = {a.key_hash for a in assignments if a.guardrail_id == guardrail.id}
    return {key_hash for key_hash in key_hashes if key_hash not in on}


def foreign_assignments(
    guardrail: Guardrail, assignments: Iterable[KeyAssignment], key_hashes: Iterable[str]
) -> dict[str, KeyAssignment]:
    """The keys (of `key_hashes`) on *another* guardrail, from the account-wide listing.

    Assigning such a key moves it to the workshop's guardrail (a key has one guardrail, and
    the assignment replaces it: §4.7) without the server saying so; this is how to say it.
    """
    wanted = set(key_hashes)
    return {
        a.key_hash: a
        for a in assignments
        if a.key_hash in wanted and a.guardrail_id != guardrail.id
    }


# -- check -------------------------------------------------------------------------------------


def check_guardrail(
    policy: GuardrailPolicy, guardrail: Guardrail | None, *, catalogue: Catalogue
) -> list[str]:
    """How the server's guardrail differs from the policy, in words; empty when it matches."""
    if guardrail is None:
        if not policy.restricts:
            return []
        return [
            f"the workshop has no guardrail on the server (it should allow "
            f"{policy.in_words()}): the next provision creates it"
        ]
    if not policy.restricts:
        return [
            f"guardrail {guardrail.name} still restricts the keys, but the workshop allows any "
            "model: the next provision deletes it"
        ]
    return list(_drift(policy, guardrail, catalogue))


def assignment_problems(
    guardrail: Guardrail,
    assignments: Iterable[KeyAssignment],
    key_hashes: Iterable[str],
    *,
    guardrail_names: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Per key not on the guardrail, why, in words. Give the account-wide assignments to tell
    a key on another guardrail (named through `guardrail_names`, id -> name) from one on none."""
    listed = list(assignments)
    hashes = list(key_hashes)
    elsewhere = foreign_assignments(guardrail, listed, hashes)
    names = guardrail_names or {}
    problems = {}
    for key_hash in sorted(missing_assignments(guardrail, listed, hashes)):
        other = elsewhere.get(key_hash)
        if other is None:
            problems[key_hash] = f"not assigned to guardrail {guardrail.name}"
        else:
            shown = names.get(other.guardrail_id, other.guardrail_id)
            problems[key_hash] = f"assigned to another guardrail ({shown}), not to {guardrail.name}"
    return problems


def check_key_models(
    policy: GuardrailPolicy, key_models: Iterable[Model], catalogue: Catalogue
) -> tuple[list[str], list[str]]:
    """What `GET /models/user` with a participant's key says: (problems, notes).

    A problem is a model the key can use that the workshop does not allow (the guardrail is
    not on the key, or is wider than it should be). A note is an allowed model the key cannot
    reach: account privacy or provider settings (or ZDR) may cut it, which is not a failure.
    """
    if not policy.models:
        return [], []
    models = list(key_models)
    extra = sorted(m.id for m in models if not catalogue.allows(policy.models, m))
    problems = []
    if extra:
        shown = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
        problems.append(
            f"the key can use {len(extra)} model{'s' if len(extra) != 1 else ''} the workshop "
            f"does not allow ({shown}): is it assigned to the workshop's guardrail?"
        )
    reachable = {m.canonical_slug for m in models}
    notes = [
        f"{slug} is allowed but the key cannot reach it (account privacy or provider settings)"
        for slug in policy.models
        if catalogue.canonical(slug) not in reachable
    ]
    return problems, notes


def describe_changes(
    policy: GuardrailPolicy, guardrail: Guardrail, catalogue: Catalogue
) -> list[str]:
    """Each owned field that differs, as "allowed models: a, b -> a, b, c"."""
    changes = []
    models, providers = _models(guardrail, catalogue), _providers(guardrail)
    wanted_models = {catalogue.canonical(slug) for slug in policy.models} or None
    if models != wanted_models:
        before = _listed(models, catalogue, "any model")
        changes.append(f"allowed models: {before} -> {policy.models_in_words}")
    if providers != (set(policy.providers) or None):
        before = _listed(providers, None, "any provider")
        after = ", ".join(policy.providers) or "any provider"
        changes.append(f"allowed providers: {before} -> {after}")
    wanted_zdr = set(ZDR_GROUPS) if policy.zdr else set()
    if set(guardrail.zdr) != wanted_zdr:
        before = _listed(set(guardrail.zdr) or None, None, "none")
        after = "every model group" if policy.zdr else "none"
        changes.append(f"zero data retention: {before} -> {after}")
    return changes


def _drift(policy: GuardrailPolicy, guardrail: Guardrail, catalogue: Catalogue) -> list[str]:
    """The same differences as `describe_changes`, told as what was edited on the server."""
    problems = []
    name = f"guardrail {guardrail.name}"
    models = _models(guardrail, catalogue)
    wanted = {catalogue.canonical(slug) for slug in policy.models} or None
    if models != wanted:
        problems.append(_list_drift(name, "model", models, wanted, catalogue))
    providers, wanted_providers = _providers(guardrail), set(policy.providers) or None
    if providers != wanted_providers:
        problems.append(_list_drift(name, "provider", providers, wanted_providers, None))
    groups, wanted_groups = set(guardrail.zdr), set(ZDR_GROUPS) if policy.zdr else set()
    if groups != wanted_groups:
        if policy.zdr:
            lacking = ", ".join(sorted(wanted_groups - groups))
            problems.append(
                f"{name} does not enforce zero data retention for {lacking}; the workshop "
                "requires it for every model group"
            )
        else:
            problems.append(
                f"{name} enforces zero data retention for {', '.join(sorted(groups))}; the "
                "workshop does not ask for it"
            )
    return problems


def _list_drift(
    name: str,
    noun: str,
    actual: set[str] | None,
    wanted: set[str] | None,
    catalogue: Catalogue | None,
) -> str:
    if actual is None:
        return f"{name} allows any {noun}; the workshop only {_listed(wanted, catalogue, '')}"
    if wanted is None:
        return f"{name} allows only {_listed(actual, catalogue, '')}; the workshop any {noun}"
    parts = []
    for extra, verb in ((actual - wanted, "added"), (wanted - actual, "removed")):
        if extra:
            were = "was" if len(extra) == 1 else "were"
            parts.append(f"{_listed(extra, catalogue, '')} {were} {verb} on the server")
    return f"{name} allows {_count(len(actual), noun)}, the workshop {len(wanted)}: " + "; ".join(
        parts
    )


def _models(guardrail: Guardrail, catalogue: Catalogue) -> set[str] | None:
    if guardrail.allowed_models is None:
        return None
    return {catalogue.canonical(slug) for slug in guardrail.allowed_models}


def _providers(guardrail: Guardrail) -> set[str] | None:
    if guardrail.allowed_providers is None:
        return None
    return {provider.lower() for provider in guardrail.allowed_providers}


def _listed(slugs: set[str] | None, catalogue: Catalogue | None, empty: str) -> str:
    if not slugs:
        return empty
    shown = sorted(catalogue.shown(slug) for slug in slugs) if catalogue else sorted(slugs)
    return ", ".join(shown)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
