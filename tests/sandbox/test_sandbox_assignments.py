"""Guardrail assignments in the sandbox (keys and members: bulk assign, unassign, the lists),
over real HTTP, against the contract (/work/shared/openrouter-guardrails-api.md §4.6-4.9)."""

from __future__ import annotations

import uuid

import pytest

from keyprov.sandbox import Behaviour, Sandbox
from tests.sandbox.support import (
    ISO_Z_RE,
    KEY_ASSIGNMENT_FIELDS,
    MEMBER_ASSIGNMENT_FIELDS,
    MGMT,
    assign,
    call,
    create_guardrail,
    error_of,
)


@pytest.fixture
def sandbox():
    with Sandbox(MGMT) as sb:
        yield sb


# -- key assignments --------------------------------------------------------------------------


def test_bulk_assign_counts_new_assignments_and_lists_them(sandbox):
    guardrail = create_guardrail(sandbox)
    keys = [sandbox.create_key_directly(f"keyprov:ws:p{i}")[1] for i in range(3)]
    hashes = [k["hash"] for k in keys]

    first = assign(sandbox, guardrail["id"], hashes[:2])
    again = assign(sandbox, guardrail["id"], hashes)  # two already there: only one is new

    assert (first.status_code, first.json()) == (200, {"assigned_count": 2})
    assert again.json() == {"assigned_count": 1}
    listed = call(sandbox, "GET", f"/guardrails/{guardrail['id']}/assignments/keys").json()
    assert set(listed) == {"data", "total_count"}
    assert listed["total_count"] == 3
    rows = listed["data"]
    assert [r["key_hash"] for r in rows] == hashes
    assert all(set(r) == KEY_ASSIGNMENT_FIELDS for r in rows)
    assert [(r["key_name"], r["key_label"]) for r in rows] == [
        (k["name"], k["label"]) for k in keys
    ]
    assert all(r["guardrail_id"] == guardrail["id"] and uuid.UUID(r["id"]) for r in rows)
    assert all(ISO_Z_RE.fullmatch(r["created_at"]) for r in rows)
    assert sandbox.assignments() == rows


def test_a_key_holds_one_guardrail_and_assigning_moves_it(sandbox):
    old = create_guardrail(sandbox, "old")
    new = create_guardrail(sandbox, "new")
    _, key = sandbox.create_key_directly("moved")
    sandbox.assign_keys_directly(old["id"], [key["hash"]])

    moved = assign(sandbox, new["id"], [key["hash"]])

    assert moved.json() == {"assigned_count": 1}
    everything = call(sandbox, "GET", "/guardrails/assignments/keys").json()
    assert [(r["key_hash"], r["guardrail_id"]) for r in everything["data"]] == [
        (key["hash"], new["id"])
    ]
    assert everything["total_count"] == 1
    old_rows = call(sandbox, "GET", f"/guardrails/{old['id']}/assignments/keys").json()
    assert old_rows == {"data": [], "total_count": 0}


def test_unassign_removes_only_what_this_guardrail_holds(sandbox):
    mine = create_guardrail(sandbox, "mine")
    theirs = create_guardrail(sandbox, "theirs")
    hashes = [sandbox.create_key_directly(f"k{i}")[1]["hash"] for i in range(3)]
    sandbox.assign_keys_directly(mine["id"], hashes[:2])
    sandbox.assign_keys_directly(theirs["id"], hashes[2:])

    r = assign(sandbox, mine["id"], [*hashes, "f" * 64], remove=True)

    assert (r.status_code, r.json()) == (200, {"unassigned_count": 2})
    assert [(a["key_hash"], a["guardrail_id"]) for a in sandbox.assignments()] == [
        (hashes[2], theirs["id"])
    ]


def test_unknown_hashes_are_skipped_and_not_counted_by_default(sandbox):
    guardrail = create_guardrail(sandbox)
    _, key = sandbox.create_key_directly("real")

    r = assign(sandbox, guardrail["id"], ["0" * 64, key["hash"]])

    assert r.json() == {"assigned_count": 1}
    assert [a["key_hash"] for a in sandbox.assignments()] == [key["hash"]]


@pytest.mark.parametrize("status", [404, 400])
def test_unknown_hashes_can_refuse_the_whole_call(sandbox, status):
    sandbox.behaviour = Behaviour(unknown_assignment=str(status))
    guardrail = create_guardrail(sandbox)
    _, key = sandbox.create_key_directly("real")
    sandbox.assign_keys_directly(guardrail["id"], [key["hash"]])

    for remove in (False, True):
        r = assign(sandbox, guardrail["id"], [key["hash"], "0" * 64], remove=remove)
        assert r.status_code == status
    assert [a["key_hash"] for a in sandbox.assignments()] == [key["hash"]]


@pytest.mark.parametrize(
    "body",
    [{}, {"key_hashes": []}, {"key_hashes": "abc"}, {"key_hashes": [""]}, {"key_hashes": [7]}],
)
def test_bulk_assign_refuses_a_bad_body(sandbox, body):
    guardrail = create_guardrail(sandbox)
    for suffix in ("", "/remove"):
        path = f"/guardrails/{guardrail['id']}/assignments/keys{suffix}"
        r = call(sandbox, "POST", path, json=body)
        assert r.status_code == 400
        assert "key_hashes" in error_of(r)


def test_deleting_a_key_drops_its_assignment_and_renaming_shows_at_once(sandbox):
    guardrail = create_guardrail(sandbox)
    _, gone = sandbox.create_key_directly("gone")
    _, renamed = sandbox.create_key_directly("before")
    sandbox.assign_keys_directly(guardrail["id"], [gone["hash"], renamed["hash"]])

    call(sandbox, "DELETE", f"/keys/{gone['hash']}")
    call(sandbox, "PATCH", f"/keys/{renamed['hash']}", json={"name": "after"})

    rows = call(sandbox, "GET", f"/guardrails/{guardrail['id']}/assignments/keys").json()
    assert [(r["key_hash"], r["key_name"]) for r in rows["data"]] == [(renamed["hash"], "after")]
    assert rows["total_count"] == 1


def test_assignment_lists_page_like_the_guardrail_list(sandbox):
    guardrail = create_guardrail(sandbox)
    hashes = [sandbox.create_key_directly(f"k{i}")[1]["hash"] for i in range(60)]
    sandbox.assign_keys_directly(guardrail["id"], hashes)

    for path in (f"/guardrails/{guardrail['id']}/assignments/keys", "/guardrails/assignments/keys"):
        first = call(sandbox, "GET", path).json()
        rest = call(sandbox, "GET", path, params={"offset": 50, "limit": 100}).json()
        assert [r["key_hash"] for r in first["data"] + rest["data"]] == hashes
        assert first["total_count"] == rest["total_count"] == 60
        assert call(sandbox, "GET", path, params={"limit": 101}).status_code == 400


def test_member_assignments_work_like_key_assignments(sandbox):
    guardrail = create_guardrail(sandbox)
    sandbox.create_key_directly("by-ada", creator_user_id="user_ada")

    r = assign(sandbox, guardrail["id"], ["user_ada", "user_nobody"], kind="members")

    assert r.json() == {"assigned_count": 1}
    listed = call(sandbox, "GET", f"/guardrails/{guardrail['id']}/assignments/members").json()
    assert listed["total_count"] == 1
    (row,) = listed["data"]
    assert set(row) == MEMBER_ASSIGNMENT_FIELDS
    assert (row["user_id"], row["guardrail_id"]) == ("user_ada", guardrail["id"])
    assert call(sandbox, "GET", "/guardrails/assignments/members").json() == listed
    assert sandbox.member_assignments() == listed["data"]
    removed = assign(sandbox, guardrail["id"], ["user_ada"], kind="members", remove=True)
    assert removed.json() == {"unassigned_count": 1}
    assert sandbox.member_assignments() == []
