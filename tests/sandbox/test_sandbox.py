"""End-to-end tests of the OpenRouter key-management emulator, over real HTTP with `requests`.

Faults are in test_sandbox_faults.py, the `keyprov sandbox` command in test_sandbox_command.py.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import requests

from keyprov.sandbox import DEMO_MANAGEMENT_KEY, Sandbox, default_management_key
from tests.clock import day, end_of_day
from tests.sandbox.support import (
    CURRENT_KEY_FIELDS,
    KEY_FIELDS,
    MGMT,
    SECRET_RE,
    TIMESTAMP_RE,
    call,
    create,
    error_of,
)


@pytest.fixture
def sandbox():
    with Sandbox(MGMT) as sb:
        yield sb


# -- create, get, list, update, delete --------------------------------------------------------


def test_create_returns_201_with_the_secret_beside_data(sandbox):
    body = create(sandbox, "alice", limit=5)

    assert set(body) == {"data", "key"}
    secret, key = body["key"], body["data"]
    assert SECRET_RE.fullmatch(secret)
    assert set(key) == KEY_FIELDS
    assert key["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert key["label"] == f"sk-or-v1-{secret[9:12]}...{secret[-3:]}"
    assert secret not in json.dumps(key)
    assert key["name"] == "alice"
    assert key["limit"] == 5
    assert key["limit_remaining"] == 5
    assert key["limit_reset"] is None
    assert key["disabled"] is False
    assert key["usage"] == 0
    assert key["updated_at"] is None
    assert key["expires_at"] is None
    assert TIMESTAMP_RE.fullmatch(key["created_at"])


def test_create_accepts_every_documented_field(sandbox):
    key = create(
        sandbox,
        "bob",
        limit=None,
        limit_reset="monthly",
        include_byok_in_limit=True,
        expires_at=end_of_day(400),
        creator_user_id="user_abc",
        workspace_id="0df9e665-d932-5740-b2c7-b52af166bc11",
    )["data"]

    assert key["limit"] is None
    assert key["limit_remaining"] is None
    assert key["limit_reset"] == "monthly"
    assert key["include_byok_in_limit"] is True
    assert key["expires_at"] == f"{day(400)}T23:59:59+00:00"
    assert key["creator_user_id"] == "user_abc"


def test_names_are_not_unique(sandbox):
    first = create(sandbox, "same")["data"]["hash"]
    second = create(sandbox, "same")["data"]["hash"]

    assert first != second
    listed = call(sandbox, "GET", "/keys").json()["data"]
    assert [k["hash"] for k in listed] == [second, first]


def test_list_pages_of_100_newest_first(sandbox):
    created = [sandbox.create_key_directly(f"p{i:03d}")[1]["hash"] for i in range(250)]

    pages = [
        call(sandbox, "GET", "/keys", params={"offset": offset}).json()
        for offset in (0, 100, 200, 250)
    ]

    assert all(set(page) == {"data"} for page in pages)
    assert [len(p["data"]) for p in pages] == [100, 100, 50, 0]
    listed = [k["hash"] for p in pages for k in p["data"]]
    assert listed == created[::-1]
    assert call(sandbox, "GET", "/keys").json()["data"][0]["name"] == "p249"
    assert call(sandbox, "GET", "/keys", params={"offset": 249}).json()["data"][0]["name"] == "p000"


def test_list_hides_disabled_keys_unless_asked(sandbox):
    on = create(sandbox, "on")["data"]["hash"]
    off = create(sandbox, "off")["data"]["hash"]
    assert call(sandbox, "PATCH", f"/keys/{off}", json={"disabled": True}).status_code == 200

    default = [k["hash"] for k in call(sandbox, "GET", "/keys").json()["data"]]
    included = call(sandbox, "GET", "/keys", params={"include_disabled": "true"}).json()["data"]
    excluded = call(sandbox, "GET", "/keys", params={"include_disabled": "false"}).json()["data"]

    assert default == [on]
    assert [k["hash"] for k in included] == [off, on]
    assert [k["hash"] for k in excluded] == [on]
    assert {k["hash"] for k in sandbox.keys()} == {on, off}


def test_get_patch_delete_then_404(sandbox):
    created = create(sandbox, "carol", limit=10)["data"]
    path = f"/keys/{created['hash']}"

    got = call(sandbox, "GET", path)
    assert got.status_code == 200
    assert got.json() == {"data": created}

    patch = {
        "name": "carol2",
        "limit": 75,
        "limit_reset": "daily",
        "include_byok_in_limit": True,
        "disabled": False,
    }
    patched = call(sandbox, "PATCH", path, json=patch)
    assert patched.status_code == 200
    key = patched.json()["data"]
    assert {k: key[k] for k in patch} == patch
    assert key["limit_remaining"] == 75
    assert key["created_at"] == created["created_at"]
    assert TIMESTAMP_RE.fullmatch(key["updated_at"])

    deleted = call(sandbox, "DELETE", path)
    assert deleted.status_code == 200
    assert deleted.json() == {"deleted": True}
    for method, kwargs in (("GET", {}), ("PATCH", {"json": {"name": "x"}}), ("DELETE", {})):
        r = call(sandbox, method, path, **kwargs)
        assert r.status_code == 404
        assert error_of(r) == "Resource not found"
    assert sandbox.keys() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expires_at": None}, "expires_at"),
        ({"workspace_id": "0df9e665-d932-5740-b2c7-b52af166bc11"}, "workspace_id"),
        ({"creator_user_id": "user_x"}, "creator_user_id"),
        ({"disabled": "yes"}, "disabled"),
        ({"limit": -1}, "limit"),
        ({"limit_reset": "yearly"}, "limit_reset"),
        ({"name": 3}, "name"),
    ],
)
def test_patch_rejects_bad_or_immutable_fields(sandbox, body, field):
    key = create(sandbox)["data"]

    r = call(sandbox, "PATCH", f"/keys/{key['hash']}", json=body)

    assert r.status_code == 400
    assert field in error_of(r)
    assert sandbox.keys()[0]["updated_at"] is None


def test_trailing_slash_is_accepted_and_unknown_routes_are_404(sandbox):
    r = call(sandbox, "POST", "/keys/", json={"name": "slash"})
    assert r.status_code == 201
    key_hash = r.json()["data"]["hash"]
    assert call(sandbox, "GET", f"/keys/{key_hash}/").status_code == 200
    assert call(sandbox, "GET", "/credits/").status_code == 200
    assert call(sandbox, "GET", "/key/").status_code == 200

    for method, path in (("GET", "/nope"), ("PUT", "/keys"), ("POST", f"/keys/{key_hash}")):
        r = call(sandbox, method, path)
        assert r.status_code == 404
        assert r.json() == {"error": {"code": 404, "message": "Not Found"}}


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"name": "a", "limit": -0.01}, "limit"),
        ({"name": "a", "limit": "10"}, "limit"),
        ({"name": "a", "limit": True}, "limit"),
        ({"name": "a", "limit_reset": "yearly"}, "limit_reset"),
        ({"name": "a", "include_byok_in_limit": "true"}, "include_byok_in_limit"),
        ({"name": "a", "expires_at": f"{day(400)}T23:59:59+02:00"}, "expires_at"),
        ({"name": "a", "expires_at": f"{day(400)}T23:59:59"}, "expires_at"),
        ({"name": "a", "expires_at": day(400)}, "expires_at"),
        ({"name": "a", "expires_at": "soon Z"}, "expires_at"),
        ({"name": "a", "workspace_id": "not-a-uuid"}, "workspace_id"),
        (["name", "a"], "body"),
    ],
)
def test_create_rejects_bad_bodies_naming_the_field(sandbox, body, field):
    r = call(sandbox, "POST", "/keys", json=body)

    assert r.status_code == 400
    message = error_of(r)
    assert message.startswith("Invalid request parameters")
    assert field in message
    assert sandbox.keys() == []


def test_create_rejects_a_body_that_is_not_json(sandbox):
    r = call(sandbox, "POST", "/keys", data=b"{name: alice", timeout=5)
    assert r.status_code == 400
    assert sandbox.keys() == []


@pytest.mark.parametrize("field", ["external_user", "external_api_key"])
def test_connect_only_fields_are_forbidden_for_a_management_key(sandbox, field):
    r = call(sandbox, "POST", "/keys", json={"name": "a", field: "x"})
    assert r.status_code == 403
    assert sandbox.keys() == []


@pytest.mark.parametrize(
    "params",
    [
        {"offset": "-1"},
        {"offset": "abc"},
        {"offset": "1.5"},
        {"include_disabled": "yes"},
        {"workspace_id": "nope"},
    ],
)
def test_list_rejects_bad_query_parameters(sandbox, params):
    r = call(sandbox, "GET", "/keys", params=params)
    assert r.status_code == 400
    assert next(iter(params)) in error_of(r)


# -- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/keys", "/key", "/credits"])
def test_missing_and_unknown_credentials_are_401(sandbox, path):
    missing = call(sandbox, "GET", path, token=None)
    not_bearer = requests.get(
        sandbox.base_url + path, headers={"Authorization": f"Basic {MGMT}"}, timeout=5
    )
    unknown = call(sandbox, "GET", path, token="sk-or-v1-" + "0" * 64)

    assert missing.status_code == not_bearer.status_code == 401
    assert error_of(missing) == error_of(not_bearer) == "No auth credentials found"
    assert unknown.status_code == 401
    assert error_of(unknown) == "User not found."


def test_a_deleted_or_disabled_key_is_401(sandbox):
    secret, key = sandbox.create_key_directly("gone")
    assert call(sandbox, "GET", "/key", token=secret).status_code == 200

    call(sandbox, "PATCH", f"/keys/{key['hash']}", json={"disabled": True})
    assert call(sandbox, "GET", "/key", token=secret).status_code == 401
    call(sandbox, "DELETE", f"/keys/{key['hash']}")
    r = call(sandbox, "GET", "/key", token=secret)
    assert r.status_code == 401
    assert error_of(r) == "User not found."


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/keys", None),
        ("POST", "/keys", {"name": "sneaky"}),
        ("GET", "/keys/{hash}", None),
        ("PATCH", "/keys/{hash}", {"limit": 1000}),
        ("DELETE", "/keys/{hash}", None),
        ("GET", "/credits", None),
    ],
)
def test_a_normal_key_is_403_on_management_routes(sandbox, method, path, body):
    secret, key = sandbox.create_key_directly("participant", limit=5)

    r = call(sandbox, method, path.format(hash=key["hash"]), token=secret, json=body)

    assert r.status_code == 403
    assert error_of(r) == "Only management keys can perform this operation"
    assert sandbox.keys() == [key]


def test_credits_answer_the_management_key_and_optionally_normal_keys():
    with Sandbox(MGMT, total_credits=50, credits_for_normal_keys=True) as sb:
        secret, _ = sb.create_key_directly("participant")
        assert call(sb, "GET", "/credits").json() == {
            "data": {"total_credits": 50.0, "total_usage": 0.0}
        }
        sb.set_credits(100.5, 25.75)
        for token in (MGMT, secret):
            r = call(sb, "GET", "/credits", token=token)
            assert r.status_code == 200
            assert r.json() == {"data": {"total_credits": 100.5, "total_usage": 25.75}}


@pytest.mark.parametrize("path", ["/key", "/auth/key"])
def test_current_key_describes_the_caller(sandbox, path):
    secret, key = sandbox.create_key_directly("dave", limit=20, limit_reset="weekly")
    sandbox.set_usage(key["hash"], usage=9, weekly=4)

    normal = call(sandbox, "GET", path, token=secret).json()["data"]
    management = call(sandbox, "GET", path).json()["data"]

    assert set(normal) == set(management) == CURRENT_KEY_FIELDS
    assert normal["label"] == key["label"]
    assert normal["is_management_key"] is normal["is_provisioning_key"] is False
    assert (normal["limit"], normal["limit_remaining"], normal["limit_reset"]) == (20, 16, "weekly")
    assert (normal["usage"], normal["usage_weekly"]) == (9, 4)
    assert management["is_management_key"] is management["is_provisioning_key"] is True
    assert management["limit"] is None
    assert management["limit_remaining"] is None
    assert MGMT not in json.dumps(management)


def test_default_management_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENROUTER_PROVISIONING_KEY", "from-env")
    assert default_management_key() == "from-env"
    monkeypatch.setenv("OPENROUTER_PROVISIONING_KEY", "")
    assert default_management_key() == DEMO_MANAGEMENT_KEY
    monkeypatch.delenv("OPENROUTER_PROVISIONING_KEY")
    assert default_management_key() == DEMO_MANAGEMENT_KEY
    assert not re.search(r"[0-9a-f]{64}", DEMO_MANAGEMENT_KEY)


# -- limit_remaining ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit_reset", "include_byok", "expected"),
    [
        (None, False, 100 - 40),
        ("daily", False, 100 - 1),
        ("weekly", False, 100 - 5),
        ("monthly", False, 100 - 20),
        (None, True, 100 - 40 - 8),
        ("daily", True, 100 - 1 - 0.5),
        ("monthly", True, 100 - 20 - 4),
    ],
)
def test_limit_remaining_uses_the_reset_window(sandbox, limit_reset, include_byok, expected):
    _, key = sandbox.create_key_directly(
        "eve", limit=100, limit_reset=limit_reset, include_byok_in_limit=include_byok
    )
    sandbox.set_usage(key["hash"], usage=40, daily=1, weekly=5, monthly=20)
    sandbox.set_usage(key["hash"], byok=8, byok_daily=0.5, byok_weekly=2, byok_monthly=4)

    got = call(sandbox, "GET", f"/keys/{key['hash']}").json()["data"]

    assert got["limit_remaining"] == pytest.approx(expected)
    assert got["usage"] == 40


def test_limit_remaining_is_not_clamped_and_is_null_without_a_limit(sandbox):
    _, capped = sandbox.create_key_directly("over", limit=5)
    _, uncapped = sandbox.create_key_directly("free")
    sandbox.set_usage(capped["hash"], usage=7.25)
    sandbox.set_usage(uncapped["hash"], usage=7.25)

    keys = {k["name"]: k for k in call(sandbox, "GET", "/keys").json()["data"]}

    assert keys["over"]["limit_remaining"] == pytest.approx(-2.25)
    assert keys["free"]["limit_remaining"] is None


# -- persistence ------------------------------------------------------------------------------


def test_state_survives_a_restart_without_storing_secrets(tmp_path):
    state = tmp_path / "state" / "sandbox.json"
    with Sandbox(MGMT, state_path=state) as sb:
        secret, _ = sb.create_key_directly("kept")
        body = create(sb, "also-kept", limit=3)
        call(sb, "PATCH", f"/keys/{body['data']['hash']}", json={"disabled": True})
        removed = create(sb, "removed")["data"]["hash"]
        call(sb, "DELETE", f"/keys/{removed}")
        before = sb.keys()

    text = state.read_text()
    assert secret not in text
    assert body["key"] not in text
    assert not SECRET_RE.search(text)
    assert MGMT not in text
    assert [p.name for p in state.parent.iterdir()] == ["sandbox.json"]

    with Sandbox(MGMT, state_path=state) as sb:
        assert sb.keys() == before
        # Authentication works from the stored hash alone.
        assert call(sb, "GET", "/key", token=secret).status_code == 200
        newest = create(sb, "after-restart")["data"]["hash"]
        assert sb.keys()[0]["hash"] == newest


def test_a_corrupt_state_file_is_refused(tmp_path):
    state = tmp_path / "sandbox.json"
    state.write_text("{not json")
    with pytest.raises(ValueError, match="state file"):
        Sandbox(MGMT, state_path=state)
