"""The client's guardrail and model endpoints over real HTTP: answers that lie are retried or
refused, never believed; listings that shift are read again; lost creates are unknown."""

from __future__ import annotations

from typing import Any

import pytest

from keyprov.api import guardrail_answers
from keyprov.api.client import OpenRouterClient
from keyprov.errors import (
    InconsistentListingError,
    MalformedAnswerError,
    NotFoundError,
    OutcomeUnknownError,
)
from keyprov.sandbox import Sandbox


def many_guardrails(sandbox: Sandbox, count: int) -> list[str]:
    return [sandbox.create_guardrail_directly(f"g{i}")["id"] for i in range(count)]


def assigned_keys(sandbox: Sandbox, count: int) -> tuple[str, list[str]]:
    guardrail = sandbox.create_guardrail_directly("keyprov:ws")["id"]
    hashes = [
        sandbox.create_key_directly(f"keyprov:ws:p{i}", limit=1)[1]["hash"] for i in range(count)
    ]
    sandbox.assign_keys_directly(guardrail, hashes)
    return guardrail, hashes


def statuses(sandbox: Sandbox, path: str) -> list[Any]:
    return [(r.status, r.fault) for r in sandbox.request_log if r.path == path]


@pytest.mark.parametrize("fault", ["list_no_data", "list_null_data", "list_item_without_hash"])
def test_a_malformed_guardrail_list_is_retried_like_a_5xx(
    sandbox: Sandbox, client: OpenRouterClient, fault: str
) -> None:
    ids = many_guardrails(sandbox, 3)
    sandbox.force(fault, path_prefix="/guardrails")

    listed = client.guardrails.list_guardrails()

    assert [g.id for g in listed] == ids
    assert statuses(sandbox, "/api/v1/guardrails") == [(200, fault), (200, None)]


def test_a_guardrail_list_that_stays_malformed_is_raised_not_read_as_empty(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    many_guardrails(sandbox, 1)
    client.guardrails.list_models()  # something has answered: the address is right
    sandbox.force("list_no_data", count=50, path_prefix="/guardrails")

    with pytest.raises(MalformedAnswerError, match="without a 'data' array"):
        client.guardrails.list_guardrails()


@pytest.mark.parametrize("fault", ["list_short_page", "list_repeat_page", "list_missing_key"])
def test_an_assignment_listing_that_shifts_is_read_again_from_the_start(
    sandbox: Sandbox, client: OpenRouterClient, fault: str
) -> None:
    guardrail, hashes = assigned_keys(sandbox, 150)
    sandbox.force(fault, path_prefix=f"/guardrails/{guardrail}")

    listed = client.guardrails.list_guardrail_assignments(guardrail)

    assert sorted(a.key_hash for a in listed) == sorted(hashes)
    faults = [f for _, f in statuses(sandbox, f"/api/v1/guardrails/{guardrail}/assignments/keys")]
    assert fault in faults


def test_a_short_page_that_keeps_coming_is_an_inconsistent_listing(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    assigned_keys(sandbox, 20)
    sandbox.force("list_missing_key", count=50, path_prefix="/guardrails/assignments")

    with pytest.raises(InconsistentListingError, match="counts 20"):
        client.guardrails.list_key_assignments()


def test_the_account_wide_assignments_are_read_over_every_page(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    guardrail, hashes = assigned_keys(sandbox, 201)

    listed = client.guardrails.list_key_assignments()

    assert sorted(a.key_hash for a in listed) == sorted(hashes)
    assert {a.guardrail_id for a in listed} == {guardrail}
    assert all(a.key_name.startswith("keyprov:ws:") for a in listed)


def test_a_create_answered_with_a_web_page_is_an_unknown_outcome(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    client.guardrails.list_guardrails()
    sandbox.force("html_200", method="POST", path_prefix="/guardrails")

    with pytest.raises(OutcomeUnknownError, match="creating guardrail 'keyprov:ws'"):
        client.guardrails.create_guardrail("keyprov:ws", allowed_models=["openai/gpt-4o-mini"])

    assert len([r for r in sandbox.request_log if r.method == "POST"]) == 1, "never resent"


def test_a_5xx_on_assign_is_retried_since_assignment_is_declarative(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    guardrail = sandbox.create_guardrail_directly("keyprov:ws")["id"]
    _, key = sandbox.create_key_directly("keyprov:ws:p", limit=1)
    sandbox.force(502, method="POST")

    assert client.guardrails.assign_keys(guardrail, [key["hash"]]) == 1
    assert [r.status for r in sandbox.request_log] == [502, 200]


def test_update_get_and_delete_by_id(sandbox: Sandbox, client: OpenRouterClient) -> None:
    created = client.guardrails.create_guardrail(
        "keyprov:ws", allowed_models=["openai/gpt-4o-mini"]
    )
    assert created.updated_at is None and created.zdr == frozenset()

    updated = client.guardrails.update_guardrail(created.id, enforce_zdr_openai=True)
    assert updated.zdr == {"openai"} and updated.updated_at is not None
    assert client.guardrails.get_guardrail(created.id) == updated

    assert client.guardrails.delete_guardrail(created.id) is True
    assert client.guardrails.delete_guardrail(created.id) is False, "already gone"
    with pytest.raises(NotFoundError):
        client.guardrails.get_guardrail(created.id)


def test_unassign_takes_keys_off(sandbox: Sandbox, client: OpenRouterClient) -> None:
    guardrail, hashes = assigned_keys(sandbox, 3)
    assert client.guardrails.unassign_keys(guardrail, hashes[:2]) == 2
    assert [a["key_hash"] for a in sandbox.assignments()] == hashes[2:]
    assert client.guardrails.unassign_keys(guardrail, []) == 0


# -- answers the sandbox cannot be made to give ------------------------------------------------

WHERE = "GET /models?output_modalities=all"


def model(slug: str) -> dict[str, Any]:
    return {"id": slug, "canonical_slug": slug, "name": slug}


def test_a_catalogue_with_a_next_page_is_not_the_whole_catalogue() -> None:
    body = {"data": [model("a/b")], "total_count": 1, "links": {"next": "https://x/models?o=1"}}
    with pytest.raises(MalformedAnswerError, match="next page"):
        guardrail_answers.model_list(body, WHERE, 200)


def test_a_catalogue_shorter_than_its_count_is_refused() -> None:
    body = {"data": [model("a/b")], "total_count": 2, "links": {"next": None}}
    with pytest.raises(MalformedAnswerError, match="1 of the 2"):
        guardrail_answers.model_list(body, WHERE, 200)


def test_a_catalogue_without_count_or_links_is_read_as_the_examples_show() -> None:
    [read] = guardrail_answers.model_list({"data": [model("a/b")]}, WHERE, 200)
    assert read.id == read.canonical_slug == "a/b"


@pytest.mark.parametrize(
    "item",
    [
        {"id": "a/b", "name": "x"},
        {"id": "", "canonical_slug": "a/b"},
        {"id": "a/b", "canonical_slug": "a/b", "alias_target": {"name": "x"}},
        {"id": "a/b", "canonical_slug": "a/b", "expiration_date": 20261231},
    ],
)
def test_a_model_lacking_what_keyprov_reads_is_refused(item: dict[str, Any]) -> None:
    with pytest.raises(MalformedAnswerError):
        guardrail_answers.model_list({"data": [item]}, WHERE, 200)


@pytest.mark.parametrize(
    "change",
    [
        {"allowed_models": "openai/gpt-4o"},
        {"allowed_providers": [1]},
        {"enforce_zdr_openai": "true"},
        {"limit_usd": "5"},
        {"name": None},
    ],
)
def test_a_guardrail_of_the_wrong_shape_is_refused(change: dict[str, Any]) -> None:
    item = {"id": "g", "name": "keyprov:ws", "allowed_models": ["a/b"], **change}
    with pytest.raises(MalformedAnswerError):
        guardrail_answers.guardrail_page({"data": [item], "total_count": 1}, "x", 200)


def test_an_empty_allow_list_reads_as_no_restriction_as_the_guide_says() -> None:
    item = {"id": "g", "name": "n", "allowed_models": [], "allowed_providers": []}
    read = guardrail_answers.one_guardrail({"data": item}, "x", 200)
    assert read.allowed_models is None and read.allowed_providers is None


def test_the_deprecated_zdr_switch_stands_in_for_groups_left_out() -> None:
    item = {"id": "g", "name": "n", "enforce_zdr": True, "enforce_zdr_openai": False}
    read = guardrail_answers.one_guardrail({"data": item}, "x", 200)
    assert read.zdr == {"anthropic", "google", "xai", "other"}


def test_a_list_without_its_count_is_refused() -> None:
    with pytest.raises(MalformedAnswerError, match="total_count"):
        guardrail_answers.assignment_page({"data": []}, "x", 200)
