"""Assigning a workshop's keys to its guardrail, over real HTTP against the sandbox: in bulk,
in batches, idempotent; keys on another guardrail; and what a participant's key then sees."""

from __future__ import annotations

import json

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.errors import BadRequestError, KeyRejectedError
from keyprov.guardrails.plan import (
    Catalogue,
    GuardrailPolicy,
    apply_guardrail,
    assign,
    assignment_problems,
    check_key_models,
    foreign_assignments,
    missing_assignments,
    plan_guardrail,
)
from keyprov.models import Guardrail
from keyprov.sandbox import Behaviour, Sandbox

MINI, HAIKU = "openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"


@pytest.fixture
def catalogue(client: OpenRouterClient) -> Catalogue:
    return Catalogue(client.guardrails.list_models())


def workshop_guardrail(client: OpenRouterClient, catalogue: Catalogue) -> Guardrail:
    policy = GuardrailPolicy.from_options(f"{MINI},{HAIKU}")
    plan = plan_guardrail(policy, client.guardrails.list_guardrails(), "ws", catalogue=catalogue)
    guardrail = apply_guardrail(client, plan)
    assert guardrail is not None
    return guardrail


def make_keys(sandbox: Sandbox, count: int) -> list[tuple[str, str]]:
    """(secret, hash) of `count` keys of workshop ws."""
    made = [sandbox.create_key_directly(f"keyprov:ws:p{i}", limit=1) for i in range(count)]
    return [(secret, key["hash"]) for secret, key in made]


def assign_posts(sandbox: Sandbox) -> list:
    return [r for r in sandbox.request_log if r.method == "POST" and "assignments" in r.path]


def test_150_keys_are_assigned_in_two_batches_and_listed_over_two_pages(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    guardrail = workshop_guardrail(client, catalogue)
    hashes = [key_hash for _, key_hash in make_keys(sandbox, 150)]
    sandbox.clear_log()

    result = assign(client, guardrail.id, hashes)

    assert result.assigned == set(hashes) and not result.missing
    sizes = [len(json.loads(r.body)["key_hashes"]) for r in assign_posts(sandbox)]
    assert sizes == [100, 50]
    assert {a["key_hash"] for a in sandbox.assignments()} == set(hashes)
    listed = client.guardrails.list_guardrail_assignments(guardrail.id)
    assert sorted(a.key_hash for a in listed) == sorted(hashes)
    pages = [r.query for r in sandbox.request_log if r.method == "GET"]
    assert pages == [{"offset": "0", "limit": "100"}, {"offset": "100", "limit": "100"}]


def test_a_rerun_finds_nothing_missing_and_writes_nothing(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    guardrail = workshop_guardrail(client, catalogue)
    hashes = [key_hash for _, key_hash in make_keys(sandbox, 150)]
    assign(client, guardrail.id, hashes)
    sandbox.clear_log()

    missing = missing_assignments(guardrail, client.guardrails.list_key_assignments(), hashes)
    result = assign(client, guardrail.id, missing)

    assert missing == set() and result.assigned == frozenset()
    assert [r.method for r in sandbox.request_log] == ["GET", "GET"]


def test_assigning_keys_already_on_it_again_is_harmless_and_confirmed_by_reading(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    guardrail = workshop_guardrail(client, catalogue)
    hashes = [key_hash for _, key_hash in make_keys(sandbox, 3)]
    assign(client, guardrail.id, hashes[:2])
    sandbox.clear_log()

    # The server counts 1 of 3 (two were on it already): the assignments are read to confirm.
    result = assign(client, guardrail.id, hashes)

    assert result.assigned == set(hashes) and not result.missing
    assert [r.method for r in sandbox.request_log] == ["POST", "GET"]
    assert len(sandbox.assignments()) == 3


def test_a_key_the_server_does_not_know_is_reported_missing(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    guardrail = workshop_guardrail(client, catalogue)
    [(_, known)] = make_keys(sandbox, 1)
    gone = "f" * 64

    result = assign(client, guardrail.id, [known, gone])

    assert result.assigned == {known} and result.missing == {gone}
    # Sent once, then once more alone after the assignments showed it missing.
    assert [json.loads(r.body)["key_hashes"] for r in assign_posts(sandbox)] == [
        [known, gone],
        [gone],
    ]


def test_a_key_on_another_guardrail_is_reported_then_moved(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    guardrail = workshop_guardrail(client, catalogue)
    other = sandbox.create_guardrail_directly("someone else's", allowed_models=["openai/gpt-5"])
    (_, mine), (_, theirs) = make_keys(sandbox, 2)
    sandbox.assign_keys_directly(other["id"], [theirs])
    everyone = client.guardrails.list_key_assignments()

    foreign = foreign_assignments(guardrail, everyone, [mine, theirs])
    problems = assignment_problems(
        guardrail, everyone, [mine, theirs], guardrail_names={other["id"]: other["name"]}
    )

    assert list(foreign) == [theirs] and foreign[theirs].guardrail_id == other["id"]
    assert problems == {
        mine: "not assigned to guardrail keyprov:ws",
        theirs: "assigned to another guardrail (someone else's), not to keyprov:ws",
    }
    assign(client, guardrail.id, [mine, theirs])
    assert {a["key_hash"]: a["guardrail_id"] for a in sandbox.assignments()} == {
        mine: guardrail.id,
        theirs: guardrail.id,
    }
    assert (
        assignment_problems(guardrail, client.guardrails.list_key_assignments(), [mine, theirs])
        == {}
    )


def test_an_unknown_hash_refused_by_the_server_is_raised_not_ignored(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    guardrail = workshop_guardrail(client, catalogue)
    sandbox.behaviour = Behaviour(unknown_assignment="400")
    with pytest.raises(BadRequestError):
        assign(client, guardrail.id, ["f" * 64])


def test_a_participant_key_on_the_guardrail_sees_only_the_allowed_models(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    guardrail = workshop_guardrail(client, catalogue)
    [(secret, key_hash)] = make_keys(sandbox, 1)
    policy = GuardrailPolicy.from_options(f"{MINI},{HAIKU}")

    before = client.guardrails.models_for_key(secret)
    assign(client, guardrail.id, [key_hash])
    after = client.guardrails.models_for_key(secret)

    assert len(before) > 2
    problems, _ = check_key_models(policy, before, catalogue)
    assert problems and "is it assigned" in problems[0]
    assert sorted(m.id for m in after) == [HAIKU, MINI]
    assert check_key_models(policy, after, catalogue) == ([], [])
    user_calls = [r for r in sandbox.request_log if r.path == "/api/v1/models/user"]
    assert len(user_calls) == 2
    assert all(secret not in r.sent_text() for r in sandbox.request_log)


def test_an_allowed_model_the_key_cannot_reach_is_a_note_not_a_problem(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    # grok-4 has no endpoint that keeps no data, so zero data retention leaves it unreachable.
    policy = GuardrailPolicy.from_options(f"{MINI},x-ai/grok-4", zdr=True)
    plan = plan_guardrail(policy, [], "ws", catalogue=catalogue)
    guardrail = apply_guardrail(client, plan)
    assert guardrail is not None
    [(secret, key_hash)] = make_keys(sandbox, 1)
    assign(client, guardrail.id, [key_hash])

    problems, notes = check_key_models(policy, client.guardrails.models_for_key(secret), catalogue)

    assert problems == []
    assert notes == [
        "x-ai/grok-4 is allowed but the key cannot reach it (account privacy or provider settings)"
    ]


def test_a_disabled_participant_key_is_rejected_without_blaming_the_management_key(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    [(secret, key_hash)] = make_keys(sandbox, 1)
    client.update_key(key_hash, disabled=True)

    with pytest.raises(KeyRejectedError) as raised:
        client.guardrails.models_for_key(secret)

    assert raised.value.status == 401
    assert secret not in str(raised.value) and "OPENROUTER_PROVISIONING_KEY" not in str(
        raised.value
    )
    client.guardrails.list_guardrails()  # the management key still works on the same client


def test_models_for_key_refuses_a_value_that_is_no_key(client: OpenRouterClient) -> None:
    with pytest.raises(ValueError):
        client.guardrails.models_for_key("sk-or-v1-abc\r\nX-Injected: 1")
