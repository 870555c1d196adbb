"""Ensuring a workshop's one guardrail over real HTTP against the sandbox: create, a rerun that
writes nothing, a changed list that is one PATCH of the whole set, delete, and the ways a
create or the server's state can go wrong."""

from __future__ import annotations

import json

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.errors import GuardrailConflictError, OutcomeUnknownError
from keyprov.guardrails.plan import (
    Catalogue,
    GuardrailAction,
    GuardrailPolicy,
    apply_guardrail,
    check_guardrail,
    plan_guardrail,
)
from keyprov.models import Guardrail
from keyprov.sandbox import Sandbox

WORKSHOP = "ws-2026"
NAME = "keyprov:ws-2026"
HAIKU = "anthropic/claude-3.5-haiku"
HAIKU_CANONICAL = "anthropic/claude-3-5-haiku-20241022"
MINI = "openai/gpt-4o-mini"
MINI_CANONICAL = "openai/gpt-4o-mini-2024-07-18"


@pytest.fixture
def catalogue(client: OpenRouterClient) -> Catalogue:
    return Catalogue(client.guardrails.list_models())


def ensure(client: OpenRouterClient, policy: GuardrailPolicy, catalogue: Catalogue):
    plan = plan_guardrail(
        policy, client.guardrails.list_guardrails(), WORKSHOP, catalogue=catalogue
    )
    return plan, apply_guardrail(client, plan)


def writes(sandbox: Sandbox) -> list:
    return [r for r in sandbox.request_log if r.method != "GET"]


def test_a_first_ensure_creates_one_guardrail_with_exactly_those_models(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    plan, guardrail = ensure(client, GuardrailPolicy.from_options(f"{MINI},{HAIKU}"), catalogue)

    assert plan.action is GuardrailAction.CREATE
    [stored] = sandbox.guardrails()
    assert stored["name"] == NAME
    assert sorted(stored["allowed_models"]) == [HAIKU_CANONICAL, MINI_CANONICAL]
    assert stored["allowed_providers"] is None
    assert guardrail is not None and guardrail.id == stored["id"]
    [post] = writes(sandbox)
    assert (post.method, post.path) == ("POST", "/api/v1/guardrails")


def test_a_rerun_makes_no_write(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    policy = GuardrailPolicy.from_options(f"{MINI},{HAIKU}")
    ensure(client, policy, catalogue)
    sandbox.clear_log()

    # The server answers canonical slugs; the policy holds ids: still no difference.
    plan, guardrail = ensure(client, policy, catalogue)

    assert plan.action is GuardrailAction.UNCHANGED and not plan.writes
    assert writes(sandbox) == []
    assert guardrail is not None and guardrail.name == NAME
    assert check_guardrail(policy, guardrail, catalogue=catalogue) == []


def test_a_changed_list_is_one_patch_with_the_whole_set(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    ensure(client, GuardrailPolicy.from_options(MINI), catalogue)
    sandbox.clear_log()

    plan, guardrail = ensure(client, GuardrailPolicy.from_options(f"{MINI},{HAIKU}"), catalogue)

    assert plan.action is GuardrailAction.PATCH
    assert plan.changes == (f"allowed models: {MINI} -> {HAIKU}, {MINI}",)
    [patch] = writes(sandbox)
    assert patch.method == "PATCH" and patch.path.endswith(guardrail.id)
    body = json.loads(patch.body)
    assert sorted(body["allowed_models"]) == [HAIKU, MINI], "arrays replace: send the whole set"
    assert "name" not in body and "workspace_id" not in body
    [stored] = sandbox.guardrails()
    assert sorted(stored["allowed_models"]) == [HAIKU_CANONICAL, MINI_CANONICAL]


def test_providers_and_zdr_are_set_and_lifted_with_null(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    strict = GuardrailPolicy.from_options(MINI, "OpenAI, azure", zdr=True)
    ensure(client, strict, catalogue)
    [stored] = sandbox.guardrails()
    assert sorted(stored["allowed_providers"]) == ["azure", "openai"]
    assert all(stored[f"enforce_zdr_{g}"] is True for g in ("openai", "anthropic", "other"))

    ensure(client, strict.with_options(providers="all", zdr=False), catalogue)

    [stored] = sandbox.guardrails()
    assert stored["allowed_providers"] is None
    assert stored["enforce_zdr_openai"] is None
    assert stored["allowed_models"] == [MINI_CANONICAL]
    patch = writes(sandbox)[-1]
    assert "[]" not in patch.body, "an empty list is invalid: a restriction is lifted with null"


def test_models_all_deletes_the_guardrail_and_then_nothing_is_left_to_do(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    policy = GuardrailPolicy.from_options(MINI)
    ensure(client, policy, catalogue)

    plan, guardrail = ensure(client, policy.with_options(models="all"), catalogue)

    assert plan.action is GuardrailAction.DELETE and guardrail is None
    assert sandbox.guardrails() == []
    sandbox.clear_log()
    plan, _ = ensure(client, GuardrailPolicy(), catalogue)
    assert plan.action is GuardrailAction.UNCHANGED and writes(sandbox) == []


def test_an_edit_on_the_server_fails_the_check_and_the_next_ensure_restores_it(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    policy = GuardrailPolicy.from_options(f"{MINI},{HAIKU}")
    _, guardrail = ensure(client, policy, catalogue)
    assert guardrail is not None
    client.guardrails.update_guardrail(
        guardrail.id, allowed_models=[MINI, HAIKU, "anthropic/claude-sonnet-4.5"]
    )
    edited = client.guardrails.get_guardrail(guardrail.id)

    problems = check_guardrail(policy, edited, catalogue=catalogue)

    assert problems == [
        f"guardrail {NAME} allows 3 models, the workshop 2: "
        "anthropic/claude-sonnet-4.5 was added on the server"
    ]
    sandbox.clear_log()
    plan, restored = ensure(client, policy, catalogue)
    assert plan.action is GuardrailAction.PATCH and len(writes(sandbox)) == 1
    assert check_guardrail(policy, restored, catalogue=catalogue) == []


def test_check_reports_a_missing_guardrail_and_one_left_over(catalogue: Catalogue) -> None:
    policy = GuardrailPolicy.from_options(MINI)
    [missing] = check_guardrail(policy, None, catalogue=catalogue)
    assert "no guardrail" in missing and MINI in missing
    assert check_guardrail(GuardrailPolicy(), None, catalogue=catalogue) == []
    leftover = Guardrail(
        id="x", name=NAME, description=None, allowed_models=(MINI_CANONICAL,),
        allowed_providers=None, ignored_models=None, ignored_providers=None,
        zdr=frozenset(), limit_usd=None, workspace_id=None, created_at="", updated_at=None,
    )  # fmt: skip
    [still] = check_guardrail(GuardrailPolicy(), leftover, catalogue=catalogue)
    assert "deletes it" in still


def test_check_words_a_lifted_restriction_and_zdr_switched_off(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    policy = GuardrailPolicy.from_options(MINI, zdr=True)
    _, guardrail = ensure(client, policy, catalogue)
    assert guardrail is not None
    edited = client.guardrails.update_guardrail(
        guardrail.id, allowed_models=None, enforce_zdr_openai=False
    )

    problems = check_guardrail(policy, edited, catalogue=catalogue)

    assert problems == [
        f"guardrail {NAME} allows any model; the workshop only {MINI}",
        f"guardrail {NAME} does not enforce zero data retention for openai; the workshop "
        "requires it for every model group",
    ]


def test_two_guardrails_with_the_workshop_name_stop_before_any_write(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    first = sandbox.create_guardrail_directly(NAME)
    second = sandbox.create_guardrail_directly(NAME)
    sandbox.create_guardrail_directly("keyprov:ws-2026-other")

    with pytest.raises(GuardrailConflictError) as raised:
        ensure(client, GuardrailPolicy.from_options(MINI), catalogue)

    message = str(raised.value)
    assert first["id"] in message and second["id"] in message and "Delete all but one" in message
    assert raised.value.exit_status == 2
    assert writes(sandbox) == []


def test_a_create_whose_answer_is_lost_is_found_by_name_not_made_twice(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    sandbox.force("drop_after_commit", method="POST", path_prefix="/guardrails")

    plan, guardrail = ensure(client, GuardrailPolicy.from_options(MINI), catalogue)

    assert plan.action is GuardrailAction.CREATE
    [stored] = sandbox.guardrails()
    assert guardrail is not None and guardrail.id == stored["id"]
    assert len([r for r in writes(sandbox) if r.method == "POST"]) == 1


def test_a_create_refused_before_it_was_made_is_sent_again_once_none_is_listed(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    sandbox.force(503, method="POST", path_prefix="/guardrails")

    _, guardrail = ensure(client, GuardrailPolicy.from_options(MINI), catalogue)

    posts = [r.status for r in sandbox.request_log if r.method == "POST"]
    assert posts == [503, 201]
    assert [g["id"] for g in sandbox.guardrails()] == [guardrail.id]


def test_a_create_that_keeps_failing_is_an_unknown_outcome_after_a_few_tries(
    sandbox: Sandbox, client: OpenRouterClient, catalogue: Catalogue
) -> None:
    sandbox.force(503, count=10, method="POST", path_prefix="/guardrails")

    with pytest.raises(OutcomeUnknownError):
        ensure(client, GuardrailPolicy.from_options(MINI), catalogue)

    assert len([r for r in sandbox.request_log if r.method == "POST"]) == 3
    assert sandbox.guardrails() == []
