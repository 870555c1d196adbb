"""The sandbox's fault injection: rate limit, random and forced faults, and the answer faults
that make a listing or a create lie, over real HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from keyprov.sandbox import Faults, Sandbox
from tests.sandbox.support import KEY_FIELDS, MGMT, call, control, error_of


@pytest.fixture
def sandbox():
    with Sandbox(MGMT) as sb:
        yield sb


def test_token_bucket_answers_429_with_retry_after_then_recovers():
    with Sandbox(MGMT, faults=Faults(rate_limit=4, burst=2)) as sb:
        assert [call(sb, "GET", "/keys").status_code for _ in range(2)] == [200, 200]

        limited = call(sb, "GET", "/keys")
        assert limited.status_code == 429
        assert limited.json()["error"] == {
            "code": 429,
            "message": "Rate limit exceeded",
            "metadata": {"error_type": "rate_limit_exceeded"},
        }
        assert limited.headers["Retry-After"] == "1"
        assert limited.headers["X-RateLimit-Limit"] == "2"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        reset_ms = int(limited.headers["X-RateLimit-Reset"])
        assert time.time() * 1000 <= reset_ms <= (time.time() + 1) * 1000

        time.sleep(0.3)  # one token comes back every 0.25 s
        assert call(sb, "GET", "/keys").status_code == 200
        assert [r.fault for r in sb.request_log] == [None, None, "429", None]


def test_auth_comes_before_rate_limit_and_random_errors():
    with Sandbox(MGMT, faults=Faults(rate_limit=1, burst=1, error_rate=1.0, seed=3)) as sb:
        assert call(sb, "GET", "/keys", token=None).status_code == 401
        assert call(sb, "GET", "/keys", token="wrong").status_code == 401
        assert call(sb, "GET", "/keys").status_code in (500, 502, 503)
        assert call(sb, "GET", "/keys").status_code == 429


def test_random_errors_do_nothing_and_are_reproducible():
    def statuses(seed):
        with Sandbox(MGMT, faults=Faults(error_rate=0.5, seed=seed)) as sb:
            got = [call(sb, "POST", "/keys", json={"name": "x"}).status_code for _ in range(30)]
            assert len(sb.keys()) == got.count(201)
            return got

    first = statuses(7)
    assert set(first) - {201} <= {500, 502, 503}
    assert 0 < first.count(201) < 30
    assert statuses(7) == first


def test_forced_503_answers_without_creating_then_clears(sandbox):
    sandbox.force(503)

    failed = call(sandbox, "POST", "/keys", json={"name": "a"})
    assert failed.status_code == 503
    assert error_of(failed) == "Service Unavailable"
    assert sandbox.keys() == []
    assert call(sandbox, "POST", "/keys", json={"name": "a"}).status_code == 201
    assert [r.fault for r in sandbox.request_log] == ["503", None]


def test_forced_faults_match_method_and_path_and_count(sandbox):
    sandbox.force(500, 2, method="GET", path_prefix="/credits")
    sandbox.force(429, method="POST", path_prefix="/api/v1/keys", retry_after=None)
    sandbox.force(429, retry_after="Wed, 21 Oct 2037 07:28:00 GMT")

    assert call(sandbox, "GET", "/keys").headers["Retry-After"] == "Wed, 21 Oct 2037 07:28:00 GMT"
    post = call(sandbox, "POST", "/keys", json={"name": "a"})
    assert post.status_code == 429
    assert "Retry-After" not in post.headers
    assert [call(sandbox, "GET", "/credits").status_code for _ in range(3)] == [500, 500, 200]
    assert call(sandbox, "POST", "/keys", json={"name": "a"}).status_code == 201


def test_a_forced_faults_path_matches_whole_segments(sandbox):
    sandbox.force(503, method="GET", path_prefix="/key")
    sandbox.force(500, method="GET", path_prefix="/keys/")

    assert call(sandbox, "GET", "/keys").status_code == 200  # the listing is not GET /key
    assert call(sandbox, "GET", "/key").status_code == 503
    created = call(sandbox, "POST", "/keys", json={"name": "a"}).json()["data"]
    assert call(sandbox, "GET", "/keys").status_code == 200  # nor under "/keys/"
    assert call(sandbox, "GET", f"/keys/{created['hash']}").status_code == 500


def test_forced_fault_rejects_unknown_kinds(sandbox):
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.force(418)
    with pytest.raises(ValueError, match="seconds"):
        sandbox.force("slow")


def test_commit_then_drop_creates_the_key_but_sends_nothing(sandbox):
    sandbox.force("drop_after_commit")

    with pytest.raises(requests.ConnectionError):
        call(sandbox, "POST", "/keys", json={"name": "ambiguous"})

    assert [k["name"] for k in sandbox.keys()] == ["ambiguous"]
    last = sandbox.request_log[-1]
    assert (last.method, last.path, last.status, last.fault) == (
        "POST",
        "/api/v1/keys",
        None,
        "drop_after_commit",
    )
    assert call(sandbox, "POST", "/keys", json={"name": "next"}).status_code == 201


def test_random_drop_only_affects_creates():
    with Sandbox(MGMT, faults=Faults(drop_after_commit_rate=1.0)) as sb:
        with requests.Session() as session:
            headers = {"Authorization": f"Bearer {MGMT}"}
            assert session.get(sb.base_url + "/keys", headers=headers, timeout=5).ok
            with pytest.raises(requests.ConnectionError):
                session.post(sb.base_url + "/keys", json={"name": "x"}, headers=headers, timeout=5)
        assert len(sb.keys()) == 1


def test_slow_fault_times_the_client_out_after_committing(sandbox):
    sandbox.force("slow", seconds=0.5, method="POST")

    with pytest.raises(requests.ReadTimeout):
        call(sandbox, "POST", "/keys", json={"name": "slow"}, timeout=(2, 0.1))

    assert [k["name"] for k in sandbox.keys()] == ["slow"]
    deadline = time.monotonic() + 3
    while not sandbox.request_log and time.monotonic() < deadline:
        time.sleep(0.05)  # the handler is still sleeping out the delay
    (record,) = sandbox.request_log
    assert (record.status, record.fault) == (201, "slow")
    assert record.finished - record.started >= 0.5


def test_latency_applies_to_api_requests_and_faults_can_change_at_runtime(sandbox):
    sandbox.faults.latency = 0.2
    start = time.monotonic()
    assert call(sandbox, "GET", "/keys").status_code == 200
    assert time.monotonic() - start >= 0.2

    sandbox.faults = Faults()
    start = time.monotonic()
    assert call(sandbox, "GET", "/keys").status_code == 200
    assert time.monotonic() - start < 0.2


def test_faults_validate_their_values():
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError, match="rate_limit"):
        Faults(rate_limit=0)
    assert Faults(rate_limit=0.2).capacity == 1
    assert Faults(rate_limit=7.6).capacity == 8


# -- answer faults: a listing or a create that lies -------------------------------------------


def make_keys(sb, count):
    """`count` keys, returned newest first (the order GET /keys lists them in)."""
    return [sb.create_key_directly(f"k{i:03d}")[1]["hash"] for i in range(count)][::-1]


def hashes_of(r):
    return [k["hash"] for k in r.json()["data"]]


@pytest.mark.parametrize(
    ("kind", "body"), [("list_no_data", {}), ("list_null_data", {"data": None})]
)
def test_list_without_data_answers_200_and_changes_nothing(sandbox, kind, body):
    listed = make_keys(sandbox, 3)
    sandbox.force(kind)

    r = call(sandbox, "GET", "/keys")

    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == body
    assert [k["hash"] for k in sandbox.keys()] == listed
    assert hashes_of(call(sandbox, "GET", "/keys")) == listed
    assert [rec.fault for rec in sandbox.request_log] == [kind, None]


def test_list_short_page_answers_the_first_half_of_a_full_page(sandbox):
    listed = make_keys(sandbox, 250)
    sandbox.force("list_short_page")

    short = call(sandbox, "GET", "/keys")
    assert short.status_code == 200
    assert hashes_of(short) == listed[:50]
    assert hashes_of(call(sandbox, "GET", "/keys")) == listed[:100]
    assert len(sandbox.keys()) == 250


def test_list_short_page_waits_for_a_page_with_keys(sandbox):
    sandbox.force("list_short_page")
    assert call(sandbox, "GET", "/keys").json() == {"data": []}  # nothing to cut

    listed = make_keys(sandbox, 3)
    assert hashes_of(call(sandbox, "GET", "/keys")) == listed[:1]
    assert sandbox.forced() == []


def test_list_repeat_page_answers_the_previous_page_in_place_of_this_one(sandbox):
    listed = make_keys(sandbox, 250)
    sandbox.force("list_repeat_page")

    first = call(sandbox, "GET", "/keys", params={"offset": 0})  # no earlier page: untouched
    repeated = call(sandbox, "GET", "/keys", params={"offset": 100})
    third = call(sandbox, "GET", "/keys", params={"offset": 200})

    assert hashes_of(first) == listed[:100]
    assert hashes_of(repeated) == listed[:100]
    assert hashes_of(third) == listed[200:]
    seen = set(hashes_of(first) + hashes_of(repeated) + hashes_of(third))
    assert seen == set(listed) - set(listed[100:200])
    assert [rec.fault for rec in sandbox.request_log] == [None, "list_repeat_page", None]
    assert hashes_of(call(sandbox, "GET", "/keys", params={"offset": 100})) == listed[100:200]


def test_list_missing_key_hides_one_key_and_keeps_the_page_length(sandbox):
    listed = make_keys(sandbox, 150)
    hidden = listed[10]
    sandbox.force("list_missing_key", hash=hidden)

    first = hashes_of(call(sandbox, "GET", "/keys"))
    second = hashes_of(call(sandbox, "GET", "/keys", params={"offset": 100}))

    assert len(first) == 100
    assert hidden not in first
    assert first == [h for h in listed if h != hidden][:100]
    assert second == listed[100:]  # served normally: its first key was pulled into page one
    assert set(first) | set(second) == set(listed) - {hidden}
    assert len(sandbox.keys()) == 150
    assert call(sandbox, "GET", f"/keys/{hidden}").status_code == 200


def test_list_missing_key_aimed_at_a_later_page_waits_for_it(sandbox):
    listed = make_keys(sandbox, 150)
    sandbox.force("list_missing_key", hash=listed[120])

    assert hashes_of(call(sandbox, "GET", "/keys")) == listed[:100]
    later = hashes_of(call(sandbox, "GET", "/keys", params={"offset": 100}))
    assert later == listed[100:120] + listed[121:]


def test_list_missing_key_without_a_hash_hides_the_first_key_of_the_page(sandbox):
    listed = make_keys(sandbox, 3)
    sandbox.force("list_missing_key")

    assert hashes_of(call(sandbox, "GET", "/keys")) == listed[1:]


@pytest.mark.parametrize("aim", [None, 1])
def test_list_item_without_hash_drops_only_that_field(sandbox, aim):
    listed = make_keys(sandbox, 3)
    target = listed[aim or 0]
    sandbox.force("list_item_without_hash", hash=None if aim is None else target)

    items = call(sandbox, "GET", "/keys").json()["data"]

    assert len(items) == 3
    stripped = [i for i, item in enumerate(items) if "hash" not in item]
    assert stripped == [aim or 0]
    assert set(items[aim or 0]) == KEY_FIELDS - {"hash"}
    assert items[aim or 0]["name"] == sandbox.keys()[aim or 0]["name"]
    assert [item["hash"] for item in items if "hash" in item] == [h for h in listed if h != target]


def test_html_200_answers_a_captive_portal_and_does_nothing(sandbox):
    sandbox.force("html_200", method="POST")
    sandbox.force("html_200", path_prefix="/credits")

    created = call(sandbox, "POST", "/keys", json={"name": "portal"})
    credits = call(sandbox, "GET", "/credits")

    for r in (created, credits):
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.text.startswith("<!DOCTYPE html>")
        with pytest.raises(ValueError):
            r.json()
    assert sandbox.keys() == []
    assert call(sandbox, "POST", "/keys", json={"name": "real"}).status_code == 201
    assert [rec.fault for rec in sandbox.request_log] == ["html_200", "html_200", None]


def test_create_without_key_commits_the_key_but_answers_no_secret(sandbox):
    sandbox.force("create_without_key")
    call(sandbox, "GET", "/keys")  # not a create: does not use it up
    assert call(sandbox, "POST", "/keys", json={"name": ""}).status_code == 400  # nor a refusal

    r = call(sandbox, "POST", "/keys", json={"name": "secretless", "limit": 2})

    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"data"}
    assert set(body["data"]) == KEY_FIELDS
    assert [k["name"] for k in sandbox.keys()] == ["secretless"]
    assert call(sandbox, "GET", f"/keys/{body['data']['hash']}").json() == {"data": body["data"]}
    assert "key" in call(sandbox, "POST", "/keys", json={"name": "next"}).json()


def test_answer_faults_follow_method_and_path_like_other_forced_faults(sandbox):
    listed = make_keys(sandbox, 2)
    sandbox.force("list_no_data", method="POST")  # no POST lists anything: never used up
    sandbox.force("list_null_data", path_prefix="/api/v1/keys/")  # nor does /keys/{hash}
    sandbox.force("create_without_key", path_prefix="/credits")

    assert hashes_of(call(sandbox, "GET", "/keys")) == listed
    assert call(sandbox, "GET", f"/keys/{listed[0]}").status_code == 200
    assert "key" in call(sandbox, "POST", "/keys", json={"name": "k"}).json()
    assert [f["kind"] for f in sandbox.forced()] == [
        "list_no_data",
        "list_null_data",
        "create_without_key",
    ]
    sandbox.clear_forced()
    assert sandbox.forced() == []


def test_answer_faults_count_and_come_after_auth(sandbox):
    make_keys(sandbox, 1)
    sandbox.force("list_null_data", 2)

    assert call(sandbox, "GET", "/keys", token=None).status_code == 401
    assert [call(sandbox, "GET", "/keys").json() for _ in range(3)][:2] == [{"data": None}] * 2
    assert sandbox.forced() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "list_nothing"}, "unknown fault"),
        ({"kind": 503, "hash": "ab"}, "hash="),
        ({"kind": "list_short_page", "hash": "ab"}, "hash="),
        ({"kind": "html_200", "count": 0}, "count"),
    ],
)
def test_force_refuses_what_a_kind_cannot_take(sandbox, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sandbox.force(**kwargs)
    assert sandbox.forced() == []


def test_control_api_forces_lists_and_clears_faults(sandbox):
    make_keys(sandbox, 2)

    posted = control(sandbox, "POST", "/force", json={"kind": "list_null_data", "count": 2})
    assert posted.status_code == 200
    assert control(sandbox, "POST", "/force", json={"kind": "503", "method": "POST"}).ok
    pending = control(sandbox, "GET", "/force").json()["data"]
    assert [(f["kind"], f["remaining"], f["method"]) for f in pending] == [
        ("list_null_data", 2, None),
        (503, 1, "POST"),
    ]
    assert call(sandbox, "GET", "/keys").json() == {"data": None}
    assert call(sandbox, "POST", "/keys", json={"name": "x"}).status_code == 503

    assert control(sandbox, "DELETE", "/force").json() == {"cleared": True}
    assert len(call(sandbox, "GET", "/keys").json()["data"]) == 2
    for bad in ({"kind": "nope"}, {"count": 2}, {"kind": "html_200", "count": "2"}, {"x": 1}, []):
        r = control(sandbox, "POST", "/force", json=bad)
        assert r.status_code == 400, bad
        assert error_of(r).startswith("Invalid request parameters")
    assert control(sandbox, "GET", "/force").json() == {"data": []}
