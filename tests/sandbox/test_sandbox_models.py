"""GET /models and GET /models/user in the sandbox: the catalogue, and what a participant's
key may use once its guardrails apply."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from keyprov.sandbox import Behaviour, Sandbox
from tests.sandbox.support import MGMT, MODEL_REQUIRED_FIELDS, call, error_of


@pytest.fixture
def sandbox():
    with Sandbox(MGMT) as sb:
        yield sb


def ids(r):
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["data"]]


def participant(sb, **guardrail_fields):
    """A key, on a new guardrail with these fields when any are given; returns its secret."""
    secret, key = sb.create_key_directly("keyprov:ws:p")
    if guardrail_fields:
        guardrail = sb.create_guardrail_directly("keyprov:ws", **guardrail_fields)
        sb.assign_keys_directly(guardrail["id"], [key["hash"]])
    return secret


def text_models(sb):
    return [m["id"] for m in sb.models() if "text" in m["architecture"]["output_modalities"]]


# -- the catalogue ----------------------------------------------------------------------------


def test_the_catalogue_is_public_and_shaped_like_the_contract(sandbox):
    keyless = call(sandbox, "GET", "/models", token=None)
    wrong_key = call(sandbox, "GET", "/models", token="sk-or-v1-" + "0" * 64)

    assert keyless.status_code == wrong_key.status_code == 200
    body = keyless.json()
    assert set(body) == {"data", "total_count", "links"}
    assert body["links"] == {"next": None}
    assert body["total_count"] == len(body["data"]) >= 40
    for model in body["data"]:
        assert set(model) >= MODEL_REQUIRED_FIELDS, model["id"]
        assert all(isinstance(v, str) for v in model["pricing"].values())
        assert {"modality", "input_modalities", "output_modalities"} <= set(model["architecture"])
        assert model["links"]["details"] == f"/api/v1/models/{model['id']}/endpoints"
    providers = {m["id"].split("/")[0].lstrip("~") for m in body["data"]}
    assert {"openai", "anthropic", "google", "meta-llama", "mistralai", "x-ai"} <= providers
    slugs = [m["canonical_slug"] for m in sandbox.models()]
    assert len(slugs) == len(set(slugs))
    assert any(m["id"] != m["canonical_slug"] for m in body["data"])


def test_the_catalogue_lists_text_output_models_unless_asked_for_all(sandbox):
    default = ids(call(sandbox, "GET", "/models"))
    everything = ids(call(sandbox, "GET", "/models", params={"output_modalities": "all"}))
    embeddings = ids(call(sandbox, "GET", "/models", params={"output_modalities": "embeddings"}))

    assert default == text_models(sandbox)
    assert everything == [m["id"] for m in sandbox.models()]
    assert embeddings == ["openai/text-embedding-3-small"]
    assert set(everything) - set(default) == set(embeddings)


def test_paging_is_opt_in_and_links_to_the_next_page(sandbox):
    everything = ids(call(sandbox, "GET", "/models", params={"output_modalities": "all"}))

    first = call(sandbox, "GET", "/models", params={"output_modalities": "all", "limit": 20})
    body = first.json()
    assert ids(first) == everything[:20]
    assert body["total_count"] == len(everything)
    pages = [ids(first)]
    next_url = body["links"]["next"]
    while next_url:
        assert next_url.startswith(sandbox.base_url + "/models?")
        assert parse_qs(urlsplit(next_url).query)["output_modalities"] == ["all"]
        r = call(sandbox, "GET", next_url.removeprefix(sandbox.base_url))
        pages.append(ids(r))
        next_url = r.json()["links"]["next"]
    assert [m for page in pages for m in page] == everything
    only_offset = call(sandbox, "GET", "/models", params={"offset": 3}).json()
    assert only_offset["data"][0]["id"] == text_models(sandbox)[3]  # pages of 500: all the rest


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "1001"}, {"offset": "x"}, {"output_modalities": "smell"}],
)
def test_the_catalogue_refuses_bad_parameters(sandbox, params):
    r = call(sandbox, "GET", "/models", params=params)
    assert r.status_code == 400
    assert next(iter(params)) in error_of(r)


def test_the_catalogue_filters_by_what_a_model_takes_and_does(sandbox):
    images = ids(call(sandbox, "GET", "/models", params={"input_modalities": "image,file"}))
    tools = ids(call(sandbox, "GET", "/models", params={"supported_parameters": "tools"}))
    found = ids(call(sandbox, "GET", "/models", params={"q": "CLAUDE haiku"}))

    by_id = {m["id"]: m for m in sandbox.models()}
    assert images and all(
        {"image", "file"} <= set(by_id[i]["architecture"]["input_modalities"]) for i in images
    )
    assert tools and all("tools" in by_id[i]["supported_parameters"] for i in tools)
    assert found == ["anthropic/claude-haiku-4.5"]


def test_rss_is_served_when_asked(sandbox):
    r = call(sandbox, "GET", "/models", params={"use_rss": "true"})
    assert r.headers["Content-Type"].startswith("application/rss+xml")
    assert r.text.startswith("<?xml")
    assert "<guid>openai/gpt-4o-mini</guid>" in r.text


# -- what a key may use -----------------------------------------------------------------------


def test_a_key_without_a_guardrail_sees_every_text_model(sandbox):
    secret = participant(sandbox)
    r = call(sandbox, "GET", "/models/user", token=secret)
    assert set(r.json()) == {"data", "total_count", "links"}
    assert ids(r) == text_models(sandbox)


def test_allowed_models_narrow_a_key_to_those_models(sandbox):
    secret = participant(
        sandbox,
        allowed_models=["openai/gpt-4o-mini", "anthropic/claude-4.5-haiku-20251001"],
    )
    assert ids(call(sandbox, "GET", "/models/user", token=secret)) == [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4.5",
    ]


def test_ignored_models_and_providers_take_models_away(sandbox):
    secret = participant(
        sandbox,
        ignored_models=["openai/gpt-4o"],
        ignored_providers=["xai", "chutes"],
    )
    seen = ids(call(sandbox, "GET", "/models/user", token=secret))
    assert "openai/gpt-4o" not in seen
    assert not [m for m in seen if m.startswith("x-ai/") or m.endswith(":free")]
    assert "openai/gpt-4o-mini" in seen


def test_allowed_providers_keep_models_some_allowed_provider_serves(sandbox):
    secret = participant(sandbox, allowed_providers=["anthropic", "mistral"])
    seen = ids(call(sandbox, "GET", "/models/user", token=secret))
    assert seen
    assert {m.split("/")[0].lstrip("~") for m in seen} == {"anthropic", "mistralai"}


def test_zero_data_retention_drops_models_without_a_zdr_endpoint(sandbox):
    strict = participant(sandbox, enforce_zdr_xai=True)
    seen = ids(call(sandbox, "GET", "/models/user", token=strict))
    assert not [m for m in seen if m.startswith("x-ai/")]
    assert "openai/gpt-4o-mini" in seen

    everyone = participant(sandbox, enforce_zdr=True)  # the deprecated switch, every group
    seen = ids(call(sandbox, "GET", "/models/user", token=everyone))
    assert "deepseek/deepseek-r1-0528" in seen  # served by a ZDR endpoint too
    assert not [m for m in seen if m.startswith("x-ai/") or m.endswith(":free")]


def test_training_switches_drop_endpoints_that_train(sandbox):
    secret = participant(sandbox, enable_free_model_training=False)
    seen = ids(call(sandbox, "GET", "/models/user", token=secret))
    assert not [m for m in seen if m.endswith(":free")]
    assert "deepseek/deepseek-r1-0528" in seen


def test_a_key_and_its_creators_guardrails_stack(sandbox):
    secret, key = sandbox.create_key_directly("p", creator_user_id="user_ada")
    on_key = sandbox.create_guardrail_directly(
        "key", allowed_models=["openai/gpt-4o-mini", "openai/gpt-4.1-mini"]
    )
    on_member = sandbox.create_guardrail_directly(
        "member", allowed_models=["openai/gpt-4.1-mini", "openai/gpt-4.1-nano"]
    )
    sandbox.assign_keys_directly(on_key["id"], [key["hash"]])
    r = call(
        sandbox,
        "POST",
        f"/guardrails/{on_member['id']}/assignments/members",
        json={"member_user_ids": ["user_ada"]},
    )
    assert r.json() == {"assigned_count": 1}

    assert ids(call(sandbox, "GET", "/models/user", token=secret)) == ["openai/gpt-4.1-mini"]


def test_a_change_to_the_guardrail_shows_at_once(sandbox):
    secret, key = sandbox.create_key_directly("p")
    guardrail = sandbox.create_guardrail_directly("g", allowed_models=["openai/gpt-4o-mini"])
    sandbox.assign_keys_directly(guardrail["id"], [key["hash"]])
    call(sandbox, "PATCH", f"/guardrails/{guardrail['id']}", json={"allowed_models": None})
    assert len(ids(call(sandbox, "GET", "/models/user", token=secret))) == len(text_models(sandbox))
    call(sandbox, "DELETE", f"/guardrails/{guardrail['id']}")
    assert len(ids(call(sandbox, "GET", "/models/user", token=secret))) == len(text_models(sandbox))


def test_models_user_needs_a_working_key(sandbox):
    secret, key = sandbox.create_key_directly("p")
    call(sandbox, "PATCH", f"/keys/{key['hash']}", json={"disabled": True})
    assert call(sandbox, "GET", "/models/user", token=None).status_code == 401
    assert call(sandbox, "GET", "/models/user", token=secret).status_code == 401


def test_the_management_key_gets_the_account_view_or_a_403_by_choice(sandbox):
    assert ids(call(sandbox, "GET", "/models/user")) == text_models(sandbox)
    sandbox.behaviour = Behaviour(models_user_management_key="403")
    assert call(sandbox, "GET", "/models/user").status_code == 403
    sandbox.behaviour = Behaviour(models_user_text_only=False)
    assert ids(call(sandbox, "GET", "/models/user")) == [m["id"] for m in sandbox.models()]


def test_models_user_pages_like_the_catalogue_and_ignores_other_parameters(sandbox):
    secret = participant(sandbox)
    params = {"limit": 10, "offset": 5, "output_modalities": "embeddings"}
    r = call(sandbox, "GET", "/models/user", token=secret, params=params)
    assert ids(r) == text_models(sandbox)[5:15]
    next_url = r.json()["links"]["next"]
    assert parse_qs(urlsplit(next_url).query) == {"offset": ["15"], "limit": ["10"]}
