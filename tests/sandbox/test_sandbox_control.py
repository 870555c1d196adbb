"""The sandbox's plumbing: its request log, its /_sandbox control routes, and HTTP itself
(concurrency, keep-alive, 100-continue)."""

from __future__ import annotations

import json
import socket
import threading

import pytest
import requests

from keyprov.sandbox import Behaviour, Faults, Sandbox
from tests.sandbox.support import MGMT, call, control


@pytest.fixture
def sandbox():
    with Sandbox(MGMT) as sb:
        yield sb


def test_request_log_records_each_api_request(sandbox):
    call(sandbox, "GET", "/keys", params={"include_disabled": "true", "offset": "0"})
    call(sandbox, "GET", "/nope")
    call(sandbox, "GET", "/keys", token=None)

    log = sandbox.request_log
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/api/v1/keys", 200),
        ("GET", "/api/v1/nope", 404),
        ("GET", "/api/v1/keys", 401),
    ]
    assert log[0].query == {"include_disabled": "true", "offset": "0"}
    assert all(r.started <= r.finished for r in log)
    sandbox.clear_log()
    assert sandbox.request_log == []


def test_request_log_keeps_bodies_and_the_whole_query(sandbox):
    sandbox.create_key_directly("existing")
    call(sandbox, "POST", "/keys", json={"name": "Zoë Ngũgĩ <zoe@example.org>", "limit": 2})
    call(sandbox, "GET", "/keys?offset=0&workspace_id=a%40b&offset=100")
    key_hash = sandbox.keys()[0]["hash"]
    call(sandbox, "PATCH", f"/keys/{key_hash}", data=b"\xff not json")

    post, listing, patch = sandbox.request_log
    assert json.loads(post.body) == {"name": "Zoë Ngũgĩ <zoe@example.org>", "limit": 2}
    assert "Zoë" not in post.body  # requests escapes it as \u00eb ...
    assert "Zoë Ngũgĩ <zoe@example.org>" in post.sent_text()  # ... which sent_text undoes
    assert listing.body == ""
    assert listing.query_string == "offset=0&workspace_id=a%40b&offset=100"
    assert listing.query_items == (("offset", "0"), ("workspace_id", "a@b"), ("offset", "100"))
    assert listing.query == {"offset": "100", "workspace_id": "a@b"}
    assert "workspace_id=a@b" in listing.sent_text()
    assert (patch.status, patch.body) == (400, "\ufffd not json")
    assert f"/api/v1/keys/{key_hash}" in patch.sent_text()


def test_request_log_never_holds_a_credential(sandbox):
    secret, _ = sandbox.create_key_directly("participant")
    call(sandbox, "POST", "/keys", json={"name": "a"})
    call(sandbox, "GET", "/key", token=secret)
    call(sandbox, "GET", "/keys", token="sk-or-v1-" + "e" * 64)

    everything = json.dumps([r.to_dict() for r in sandbox.request_log])
    everything += "".join(r.sent_text() for r in sandbox.request_log)
    for credential in (MGMT, secret, "e" * 64):
        assert credential not in everything
    served = control(sandbox, "GET", "/requests").json()
    assert served[0]["body"] == '{"name": "a"}'
    assert MGMT not in json.dumps(served)


def test_control_routes(sandbox):
    _, key = sandbox.create_key_directly("ctl", limit=10)
    call(sandbox, "GET", "/keys")
    root = sandbox.base_url.removesuffix("/api/v1") + "/_sandbox"
    auth = {"Authorization": f"Bearer {MGMT}"}

    log = requests.get(f"{root}/requests", headers=auth, timeout=5).json()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [("GET", "/api/v1/keys", 200)]

    sandbox.force(503)  # must not hit control routes, and they must not use it up
    put = requests.put(f"{root}/faults", json={"latency": 0, "seed": 4}, headers=auth, timeout=5)
    assert put.status_code == 200
    assert sandbox.faults == Faults(seed=4)
    assert (
        requests.get(f"{root}/faults", headers=auth, timeout=5).json() == Faults(seed=4).to_dict()
    )
    bad = requests.put(f"{root}/faults", json={"latncy": 1}, headers=auth, timeout=5)
    assert bad.status_code == 400
    assert (
        requests.put(f"{root}/faults", json={"burst": 0}, headers=auth, timeout=5).status_code
        == 400
    )

    usage = requests.post(
        f"{root}/keys/{key['hash']}/usage", json={"usage": 3, "daily": 1}, headers=auth, timeout=5
    )
    assert usage.status_code == 200
    assert usage.json()["data"]["limit_remaining"] == 7
    assert sandbox.keys()[0]["usage_daily"] == 1
    missing = requests.post(f"{root}/keys/{'0' * 64}/usage", json={}, headers=auth, timeout=5)
    assert missing.status_code == 404

    assert requests.delete(f"{root}/requests", headers=auth, timeout=5).status_code == 200
    assert sandbox.request_log == []
    assert requests.get(f"{root}/requests", timeout=5).status_code == 401
    secret, _ = sandbox.create_key_directly("not-admin")
    forbidden = requests.get(
        f"{root}/requests", headers={"Authorization": f"Bearer {secret}"}, timeout=5
    )
    assert forbidden.status_code == 403
    assert call(sandbox, "GET", "/keys").status_code == 503  # the forced fault is still pending
    assert len(sandbox.request_log) == 1


def test_concurrent_creates_all_land(sandbox):
    results = []

    def worker(i):
        results.append(call(sandbox, "POST", "/keys", json={"name": f"c{i}"}).status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == [201] * 32
    assert len({k["hash"] for k in sandbox.keys()}) == 32


def test_keep_alive_serves_several_requests_on_one_connection(sandbox):
    with requests.Session() as session:
        headers = {"Authorization": f"Bearer {MGMT}"}
        first = session.post(sandbox.base_url + "/keys", json={"name": "a"}, headers=headers)
        # An error answered before the body is read must not poison the next request.
        denied = session.post(sandbox.base_url + "/keys", json={"name": "b"})
        second = session.get(sandbox.base_url + "/keys", headers=headers, timeout=5)
    assert first.raw.version == 11
    assert (first.status_code, denied.status_code, second.status_code) == (201, 401, 200)
    assert len(second.json()["data"]) == 1


def test_a_client_expecting_100_continue_is_answered_at_once(sandbox):
    # curl sends `Expect: 100-continue` before a large body and waits for the interim answer.
    body = json.dumps({"name": "keyprov:w:ada@example.org", "limit": 1}).encode()
    address = sandbox.base_url.split("//")[1].split("/")[0]
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.settimeout(0.5)  # well below the 1 s a client waits before sending anyway
        connection.sendall(
            b"POST /api/v1/keys HTTP/1.1\r\nHost: " + address.encode() + b"\r\n"
            b"Authorization: Bearer " + MGMT.encode() + b"\r\n"
            b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        assert connection.recv(4096).startswith(b"HTTP/1.1 100")
        connection.sendall(body)
        assert connection.recv(4096).startswith(b"HTTP/1.1 201")
    assert len(sandbox.keys()) == 1


def test_spend_hook_and_route_put_spend_on_the_chosen_keys(sandbox):
    _, ada = sandbox.create_key_directly("keyprov:ws:ada", limit=4, limit_reset="weekly")
    sandbox.create_key_directly("other")

    updated = sandbox.spend(name_prefix="keyprov:ws:", usage=3, daily=1)
    assert [(k["hash"], k["usage"], k["usage_weekly"], k["usage_daily"]) for k in updated] == [
        (ada["hash"], 3, 3, 1)
    ]
    assert updated[0]["limit_remaining"] == 1

    r = control(sandbox, "POST", "/spend", json={"hashes": [ada["hash"]], "usage": 0.25})
    assert r.status_code == 200
    assert [k["usage"] for k in r.json()["data"]] == [0.25]
    assert {k["name"]: k["usage"] for k in sandbox.keys()} == {"keyprov:ws:ada": 0.25, "other": 0}
    for bad in ({"usage": "1"}, {"random": 1}, {"hashes": [1], "usage": 1}, {"who": 1}, {}):
        r = control(sandbox, "POST", "/spend", json=bad)
        assert r.status_code == 400, bad
    with pytest.raises(ValueError, match="not both"):
        sandbox.spend(name_prefix="k", hashes=[ada["hash"]], usage=1)


def test_behaviour_route_switches_the_unknowns(sandbox):
    assert control(sandbox, "GET", "/behaviour").json() == Behaviour().to_dict()

    r = control(sandbox, "PUT", "/behaviour", json={"unknown_assignment": "404"})

    assert r.status_code == 200
    assert sandbox.behaviour == Behaviour(unknown_assignment="404")
    for bad in ({"unknown_assignment": "maybe"}, {"normal_key_status": 418}, {"colour": 1}):
        assert control(sandbox, "PUT", "/behaviour", json=bad).status_code == 400
    assert sandbox.behaviour == Behaviour(unknown_assignment="404")
