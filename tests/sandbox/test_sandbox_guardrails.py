"""Guardrails in the sandbox (create, list, get, update, delete; auth, faults, persistence),
over real HTTP, against the contract (/work/shared/openrouter-guardrails-api.md).

Assignments are in test_sandbox_assignments.py."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from keyprov.sandbox import Behaviour, Faults, Sandbox
from tests.sandbox.support import (
    GUARDRAIL_FIELDS,
    ISO_Z_RE,
    MGMT,
    OTHER_WORKSPACE,
    WORKSPACE,
    assign,
    call,
    create_guardrail,
    error_of,
)


@pytest.fixture
def sandbox():
    with Sandbox(MGMT) as sb:
        yield sb


# -- create -----------------------------------------------------------------------------------


def test_create_answers_201_with_the_whole_guardrail_in_canonical_slugs(sandbox):
    guardrail = create_guardrail(
        sandbox,
        limit_usd=5,
        allowed_models=["openai/gpt-4o-mini", "anthropic/claude-4.5-haiku-20251001"],
    )

    assert set(guardrail) == GUARDRAIL_FIELDS
    assert uuid.UUID(guardrail["id"])
    assert guardrail["name"] == "keyprov:ws"
    assert guardrail["limit_usd"] == 5
    assert guardrail["allowed_models"] == [
        "openai/gpt-4o-mini-2024-07-18",
        "anthropic/claude-4.5-haiku-20251001",
    ]
    assert guardrail["include_byok_in_budgets"] is False
    assert guardrail["workspace_id"] == WORKSPACE
    assert ISO_Z_RE.fullmatch(guardrail["created_at"])
    assert guardrail["updated_at"] is None
    for name in GUARDRAIL_FIELDS - {"id", "name", "limit_usd", "allowed_models"}:
        if name not in ("include_byok_in_budgets", "workspace_id", "created_at"):
            assert guardrail[name] is None, name
    assert sandbox.guardrails() == [guardrail]
    assert call(sandbox, "GET", f"/guardrails/{guardrail['id']}").json() == {"data": guardrail}


def test_create_is_not_idempotent_and_names_may_repeat(sandbox):
    first = create_guardrail(sandbox, "same")
    second = create_guardrail(sandbox, "same")
    assert first["id"] != second["id"]
    assert [g["id"] for g in sandbox.guardrails()] == [first["id"], second["id"]]


def test_create_takes_every_documented_field(sandbox):
    guardrail = create_guardrail(
        sandbox,
        description="Workshop ML, December",
        limit_usd=2.5,
        reset_interval="monthly",
        include_byok_in_budgets=True,
        ignored_models=["x-ai/grok-4"],
        allowed_providers=["openai", "anthropic"],
        ignored_providers=["azure"],
        enforce_zdr=True,
        enforce_zdr_xai=False,
        enable_free_model_publication=False,
        enable_free_model_training=False,
        enable_paid_model_training=False,
        content_filter_builtins=[
            {"slug": "email", "action": "redact", "label": "mine"},
            {"slug": "regex-prompt-injection", "action": "block", "scan_scope": "user_only"},
        ],
        content_filters=[{"pattern": r"\bproject-[a-z]+\b", "action": "flag", "label": "code"}],
        workspace_id=OTHER_WORKSPACE,
        guardrail_ids=["ignored"],  # unknown fields are ignored
    )

    assert guardrail["ignored_models"] == ["x-ai/grok-4-07-09"]
    assert guardrail["allowed_providers"] == ["openai", "anthropic"]
    # The deprecated enforce_zdr seeds the per-group switches the request left out.
    assert guardrail["enforce_zdr"] is True
    assert [guardrail[f"enforce_zdr_{g}"] for g in ("anthropic", "openai", "google", "other")] == [
        True
    ] * 4
    assert guardrail["enforce_zdr_xai"] is False
    assert guardrail["content_filter_builtins"] == [
        {"slug": "email", "action": "redact", "label": "[EMAIL]"},
        {
            "slug": "regex-prompt-injection",
            "action": "block",
            "label": "[PROMPT_INJECTION]",
            "scan_scope": "user_only",
        },
    ]
    assert guardrail["content_filters"] == [
        {"pattern": r"\bproject-[a-z]+\b", "action": "flag", "label": "code"}
    ]
    assert guardrail["workspace_id"] == OTHER_WORKSPACE
    assert "guardrail_ids" not in guardrail


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a", "description": "d" * 1001}, "description"),
        ({"name": "a", "limit_usd": -1}, "limit_usd"),
        ({"name": "a", "limit_usd": "5"}, "limit_usd"),
        ({"name": "a", "reset_interval": "yearly"}, "reset_interval"),
        ({"name": "a", "include_byok_in_budgets": None}, "include_byok_in_budgets"),
        ({"name": "a", "allowed_models": []}, "allowed_models"),
        ({"name": "a", "allowed_models": ["openai/gpt-9"]}, "allowed_models[0]"),
        ({"name": "a", "allowed_providers": []}, "allowed_providers"),
        ({"name": "a", "ignored_providers": [""]}, "ignored_providers"),
        ({"name": "a", "enforce_zdr_openai": "yes"}, "enforce_zdr_openai"),
        ({"name": "a", "content_filter_builtins": [{"slug": "dna", "action": "block"}]}, "slug"),
        ({"name": "a", "content_filter_builtins": [{"slug": "ssn", "action": "ban"}]}, "action"),
        ({"name": "a", "content_filters": [{"pattern": "", "action": "block"}]}, "pattern"),
        ({"name": "a", "workspace_id": "default"}, "workspace_id"),
        (["name"], "body"),
    ],
)
def test_create_refuses_a_bad_body_naming_the_field(sandbox, body, field):
    r = call(sandbox, "POST", "/guardrails", json=body)

    assert r.status_code == 400
    message = error_of(r)
    assert message.startswith("Invalid request parameters")
    assert field in message
    assert sandbox.guardrails() == []


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [("(?<=@)x", "lookaround"), (r"(a)\1", "backreference"), ("(a+)+$", "nested quantifier")],
)
def test_custom_filters_refuse_patterns_a_linear_engine_cannot_run(sandbox, pattern, problem):
    body = {"name": "a", "content_filters": [{"pattern": pattern, "action": "block"}]}

    r = call(sandbox, "POST", "/guardrails", json=body)

    assert r.status_code == 400
    assert "invalid_regex_pattern" in error_of(r)
    assert problem in error_of(r)
    assert r.json()["error"]["metadata"]["error_type"] == "invalid_regex_pattern"


# -- list, get, update, delete ----------------------------------------------------------------


def test_list_pages_with_offset_limit_and_total_count(sandbox):
    made = [sandbox.create_guardrail_directly(f"g{i}")["id"] for i in range(120)]
    sandbox.create_guardrail_directly("elsewhere", workspace_id=OTHER_WORKSPACE)

    default = call(sandbox, "GET", "/guardrails").json()
    page = call(sandbox, "GET", "/guardrails", params={"offset": 100, "limit": 100}).json()
    other = call(sandbox, "GET", "/guardrails", params={"workspace_id": OTHER_WORKSPACE}).json()

    assert set(default) == {"data", "total_count"}
    assert [g["id"] for g in default["data"]] == made[:50]  # oldest first, 50 by default
    assert default["total_count"] == 120
    assert [g["id"] for g in page["data"]] == made[100:]
    assert [g["name"] for g in other["data"]] == ["elsewhere"]
    assert other["total_count"] == 1


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"workspace_id": "x"}]
)
def test_list_refuses_bad_paging(sandbox, params):
    r = call(sandbox, "GET", "/guardrails", params=params)
    assert r.status_code == 400
    assert next(iter(params)) in error_of(r)


def test_update_replaces_arrays_keeps_absent_fields_and_null_clears(sandbox):
    guardrail = create_guardrail(
        sandbox,
        limit_usd=5,
        allowed_models=["openai/gpt-4o-mini", "openai/gpt-4.1-mini"],
        allowed_providers=["openai"],
    )
    path = f"/guardrails/{guardrail['id']}"

    r = call(sandbox, "PATCH", path, json={"allowed_models": ["anthropic/claude-haiku-4.5"]})
    patched = r.json()["data"]
    assert r.status_code == 200
    assert patched["allowed_models"] == ["anthropic/claude-4.5-haiku-20251001"]
    assert patched["allowed_providers"] == ["openai"]
    assert patched["limit_usd"] == 5
    assert ISO_Z_RE.fullmatch(patched["updated_at"])
    assert patched["created_at"] == guardrail["created_at"]

    cleared = call(sandbox, "PATCH", path, json={"allowed_providers": None, "limit_usd": 10})
    assert cleared.json()["data"]["allowed_providers"] is None
    assert cleared.json()["data"]["limit_usd"] == 10
    assert sandbox.guardrails() == [cleared.json()["data"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"workspace_id": WORKSPACE}, "workspace_id"),
        ({"allowed_models": []}, "allowed_models"),
        ({"name": ""}, "name"),
        ({"ignored_models": ["nobody/nothing"]}, "ignored_models[0]"),
    ],
)
def test_update_refuses_a_bad_body_and_changes_nothing(sandbox, body, field):
    guardrail = create_guardrail(sandbox, allowed_models=["openai/gpt-4o-mini"])

    r = call(sandbox, "PATCH", f"/guardrails/{guardrail['id']}", json=body)

    assert r.status_code == 400
    assert field in error_of(r)
    assert sandbox.guardrails() == [guardrail]


@pytest.mark.parametrize("guardrail_id", ["0f8fad5b-d9cb-469f-a165-70867728950e", "not-a-uuid"])
def test_unknown_guardrails_are_404_everywhere(sandbox, guardrail_id):
    _, key = sandbox.create_key_directly("k")
    requests_ = [
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("DELETE", "", None),
        ("GET", "/assignments/keys", None),
        ("POST", "/assignments/keys", {"key_hashes": [key["hash"]]}),
        ("POST", "/assignments/keys/remove", {"key_hashes": [key["hash"]]}),
    ]
    for method, suffix, body in requests_:
        r = call(sandbox, method, f"/guardrails/{guardrail_id}{suffix}", json=body)
        assert r.status_code == 404, (method, suffix)
        assert error_of(r) == "Resource not found"
    assert sandbox.assignments() == []


def test_delete_answers_deleted_and_drops_the_guardrails_assignments(sandbox):
    kept = create_guardrail(sandbox, "kept")
    gone = create_guardrail(sandbox, "gone")
    _, a = sandbox.create_key_directly("a")
    _, b = sandbox.create_key_directly("b")
    sandbox.assign_keys_directly(gone["id"], [a["hash"]])
    sandbox.assign_keys_directly(kept["id"], [b["hash"]])

    r = call(sandbox, "DELETE", f"/guardrails/{gone['id']}")

    assert (r.status_code, r.json()) == (200, {"deleted": True})
    assert call(sandbox, "GET", f"/guardrails/{gone['id']}").status_code == 404
    assert call(sandbox, "DELETE", f"/guardrails/{gone['id']}").status_code == 404
    assert [g["name"] for g in sandbox.guardrails()] == ["kept"]
    assert [x["key_hash"] for x in sandbox.assignments()] == [b["hash"]]


# -- auth, faults, persistence ----------------------------------------------------------------

ROUTES = [
    ("GET", "/guardrails", None),
    ("POST", "/guardrails", {"name": "sneaky"}),
    ("GET", "/guardrails/{id}", None),
    ("PATCH", "/guardrails/{id}", {"limit_usd": 1000}),
    ("DELETE", "/guardrails/{id}", None),
    ("GET", "/guardrails/{id}/assignments/keys", None),
    ("POST", "/guardrails/{id}/assignments/keys", {"key_hashes": ["{hash}"]}),
    ("POST", "/guardrails/{id}/assignments/keys/remove", {"key_hashes": ["{hash}"]}),
    ("GET", "/guardrails/assignments/keys", None),
    ("GET", "/guardrails/assignments/members", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_a_normal_key_gets_403_and_no_key_401_on_every_guardrail_route(sandbox, method, path, body):
    guardrail = sandbox.create_guardrail_directly("g")
    secret, key = sandbox.create_key_directly("participant")
    path = path.format(id=guardrail["id"])
    body = json.loads(json.dumps(body).replace("{hash}", key["hash"])) if body else None

    normal = call(sandbox, method, path, token=secret, json=body)
    nobody = call(sandbox, method, path, token=None, json=body)
    sandbox.behaviour = Behaviour(normal_key_status=401)
    normal_401 = call(sandbox, method, path, token=secret, json=body)

    assert normal.status_code == 403
    assert error_of(normal) == "Only management keys can perform this operation"
    assert nobody.status_code == 401
    assert normal_401.status_code == 401
    assert sandbox.guardrails() == [guardrail]
    assert sandbox.assignments() == []


def test_guardrail_routes_take_forced_and_random_faults(sandbox):
    sandbox.force(503, path_prefix="/guardrails")
    sandbox.force("list_null_data", path_prefix="/guardrails")
    sandbox.force("drop_after_commit", path_prefix="/guardrails")
    sandbox.create_guardrail_directly("listed")

    assert call(sandbox, "POST", "/guardrails", json={"name": "a"}).status_code == 503
    assert call(sandbox, "GET", "/guardrails").json() == {"data": None, "total_count": 1}
    with pytest.raises(requests.ConnectionError):
        call(sandbox, "POST", "/guardrails", json={"name": "committed"})
    assert [g["name"] for g in sandbox.guardrails()] == ["listed", "committed"]

    sandbox.faults = Faults(rate_limit=1, burst=1)
    assert call(sandbox, "GET", "/guardrails").status_code == 200
    assert call(sandbox, "GET", "/guardrails/assignments/keys").status_code == 429


def test_create_without_key_never_applies_to_a_guardrail(sandbox):
    sandbox.force("create_without_key")
    assert set(call(sandbox, "POST", "/guardrails", json={"name": "a"}).json()) == {"data"}
    assert [f["kind"] for f in sandbox.forced()] == ["create_without_key"]


def test_list_faults_reshape_guardrail_pages_too(sandbox):
    made = [sandbox.create_guardrail_directly(f"g{i}")["id"] for i in range(4)]
    sandbox.force("list_item_without_hash", path_prefix="/guardrails", hash=made[1])
    sandbox.force("list_missing_key", path_prefix="/guardrails", hash=made[0])

    stripped = call(sandbox, "GET", "/guardrails").json()
    assert ["id" in g for g in stripped["data"]] == [True, False, True, True]
    missing = call(sandbox, "GET", "/guardrails", params={"limit": 2}).json()
    assert [g["id"] for g in missing["data"]] == made[1:3]
    assert missing["total_count"] == 4


def test_guardrails_and_assignments_survive_a_restart(tmp_path):
    state = tmp_path / "state.json"
    with Sandbox(MGMT, state_path=state) as sb:
        guardrail = create_guardrail(sb, allowed_models=["openai/gpt-4o-mini"])
        _, key = sb.create_key_directly("k")
        assign(sb, guardrail["id"], [key["hash"]])
        assign(sb, guardrail["id"], ["user_2sandbox0000000000000000000"], kind="members")
        before = (sb.guardrails(), sb.assignments(), sb.member_assignments())

    with Sandbox(MGMT, state_path=state) as sb:
        assert (sb.guardrails(), sb.assignments(), sb.member_assignments()) == before
        later = create_guardrail(sb, "later")
        assert [g["id"] for g in sb.guardrails()] == [guardrail["id"], later["id"]]


def test_a_state_file_from_before_guardrails_still_loads(tmp_path):
    state = tmp_path / "old.json"
    with Sandbox(MGMT, state_path=state) as sb:
        secret, key = sb.create_key_directly("old")
    data = json.loads(state.read_text())
    old = {"format": data["format"], "version": 1, "keys": data["keys"]}
    state.write_text(json.dumps(old))

    with Sandbox(MGMT, state_path=state) as sb:
        assert sb.keys() == [key]
        assert sb.guardrails() == []
        assert call(sb, "GET", "/key", token=secret).status_code == 200
        create_guardrail(sb)
    assert json.loads(state.read_text())["version"] == 2
