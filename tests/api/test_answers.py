"""The client never believes an answer that is not what OpenRouter documents.

`ScriptedApi` is a real HTTP server on 127.0.0.1 that answers like OpenRouter's key API from
a list of keys, except for the answers a test queues; the real client talks to it over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from keyprov.api.client import LISTING_ATTEMPTS, OpenRouterClient, RetryEvent
from keyprov.errors import (
    InconsistentListingError,
    MalformedAnswerError,
    NotFoundError,
    OutcomeUnknownError,
    ServerUnreachableError,
)
from keyprov.provision import ProvisionSettings, provision
from keyprov.status import ExitStatus
from tests.helpers import FAST_RETRY, make_roster

HTML = b"<!doctype html><html><body>OpenRouter</body></html>"


def server_key(number: int) -> dict[str, Any]:
    return {
        "hash": hashlib.sha256(str(number).encode()).hexdigest(),
        "name": f"keyprov:ws:person{number}@example.org",
        "label": "sk-or-v1-abc...123",
        "disabled": False,
        "limit": 1,
        "limit_remaining": 1,
        "limit_reset": None,
        "usage": 0,
        "usage_daily": 0,
        "usage_weekly": 0,
        "usage_monthly": 0,
        "created_at": "2026-01-01T00:00:00.000000+00:00",
        "updated_at": None,
        "expires_at": None,
    }


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]


@dataclass
class ScriptedApi:
    """OpenRouter's key API over real HTTP, with answers a test queues for chosen requests."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    """(method, path with query) of every request, in order."""
    _queued: list[tuple[str, str, Answer]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> ScriptedApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                answer = api.answer(self.command, self.path, body)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PATCH = do_DELETE = do_any

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v1"

    def queue(
        self,
        method: str,
        path: str,
        status: int,
        body: Any,
        *,
        times: int = 1,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests whose path (with query) starts with `path` so."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        answer = Answer(status, raw, content_type, headers or {})
        with self._lock:
            self._queued.extend([(method, path, answer)] * times)

    def page(self, offset: int) -> list[dict[str, Any]]:
        return self.keys[offset : offset + 100]

    def offsets(self) -> list[int]:
        return [
            int(parse_qs(urlsplit(path).query)["offset"][0])
            for method, path in self.log
            if method == "GET" and urlsplit(path).path == "/api/v1/keys"
        ]

    def calls(self, method: str) -> int:
        return sum(1 for logged, _ in self.log if logged == method)

    def answer(self, method: str, path: str, body: Any) -> Answer:
        with self._lock:
            self.log.append((method, path))
            for position, (queued_method, prefix, answer) in enumerate(self._queued):
                if queued_method == method and path.startswith(prefix):
                    del self._queued[position]
                    return answer
        return self._documented(method, path, body)

    def _documented(self, method: str, path: str, body: Any) -> Answer:
        parts = urlsplit(path)
        route = parts.path.removeprefix("/api/v1")
        if method == "GET" and route == "/keys":
            offset = int(parse_qs(parts.query).get("offset", ["0"])[0])
            return _json(200, {"data": self.page(offset)})
        if method == "POST" and route == "/keys":
            key = {**server_key(len(self.keys) + 1000), "name": body["name"]}
            self.keys.insert(0, key)
            return _json(201, {"data": key, "key": "sk-or-v1-" + secrets.token_hex(32)})
        if method == "GET" and route == "/credits":
            return _json(200, {"data": {"total_credits": 100, "total_usage": 1.5}})
        if method == "GET" and route == "/key":
            return _json(200, {"data": {"label": "sk-or-v1-abc...123", "is_management_key": True}})
        found = [key for key in self.keys if route == f"/keys/{key['hash']}"]
        if not found:
            return _json(404, {"error": {"code": 404, "message": "Not Found"}})
        if method == "DELETE":
            self.keys.remove(found[0])
            return _json(200, {"deleted": True})
        if method == "PATCH":
            found[0].update(body)
        return _json(200, {"data": found[0]})


def _json(status: int, body: Any) -> Answer:
    return Answer(status, json.dumps(body).encode(), "application/json", {})


@pytest.fixture
def api() -> Iterator[ScriptedApi]:
    with ScriptedApi(keys=[server_key(number) for number in range(150)]) as server:
        yield server


@pytest.fixture
def client(api: ScriptedApi, management_key: str) -> Iterator[OpenRouterClient]:
    with OpenRouterClient(management_key, api.base_url, retry=FAST_RETRY) as connected:
        connected.credits()  # the server has answered: what follows is not first contact
        yield connected


# -- listings ------------------------------------------------------------------------------------

LIST_PROBLEMS = {
    "no data": ({}, r"answered 200 without a 'data' array \(got \{\}\)"),
    "null data": ({"data": None}, r"without a 'data' array \(got \{'data': None\}\)"),
    "a list, not an object": ([], r"without a 'data' array \(got \[\]\)"),
    "item without hash": ({"data": [{"name": "x"}]}, r"item 0 of 'data' lacking a string 'hash'"),
    "hash not a string": ({"data": [{"hash": 7, "name": "x"}]}, r"lacking a string 'hash'"),
    "item without name": ({"data": [{"hash": "ab"}]}, r"lacking a string 'name'"),
    "item not an object": ({"data": ["ab"]}, r"item 0 of 'data' not an object"),
    "limit as text": (
        {"data": [{"hash": "ab", "name": "x", "limit": "5"}]},
        r"'limit' of item 0 of 'data' not a number or null \(got '5'\)",
    ),
    "usage as true": (
        {"data": [{"hash": "ab", "name": "x", "usage": True}]},
        r"'usage' of item 0 of 'data' not a number",
    ),
    "disabled as text": (
        {"data": [{"hash": "ab", "name": "x", "disabled": "no"}]},
        r"'disabled' of item 0 of 'data' not true or false",
    ),
    "usage NaN": (b'{"data": [{"hash": "ab", "name": "x", "usage": NaN}]}', r"not a number"),
    "html": (HTML, r"answered 200 with text/html, not JSON"),
}


@pytest.mark.parametrize("case", sorted(LIST_PROBLEMS))
def test_a_malformed_listing_that_persists_is_an_error_never_no_keys(
    case: str, api: ScriptedApi, client: OpenRouterClient
) -> None:
    body, problem = LIST_PROBLEMS[case]
    kind = "text/html" if body is HTML else "application/json"
    api.queue("GET", "/api/v1/keys?offset=0", 200, body, times=99, content_type=kind)
    with pytest.raises(MalformedAnswerError, match=problem) as raised:
        client.list_all_keys()
    message = str(raised.value)
    assert message.startswith("GET /keys?offset=0&include_disabled=true answered 200")
    assert message.endswith("the server's answer is not what OpenRouter documents")
    # Retried like a 5xx, with the whole policy: the server has answered before.
    assert api.offsets() == [0] * FAST_RETRY.max_attempts


def test_a_malformed_page_once_is_retried_and_the_listing_completes(
    api: ScriptedApi, client: OpenRouterClient
) -> None:
    events: list[RetryEvent] = []
    client.on_retry = events.append
    api.queue("GET", "/api/v1/keys?offset=100", 200, {"data": None})
    keys = client.list_all_keys()
    assert [key.hash for key in keys] == [key["hash"] for key in api.keys]
    assert api.offsets() == [0, 100, 100]
    assert [(event.kind, event.status, event.ever_succeeded) for event in events] == [
        ("malformed", 200, True)
    ]


def test_a_repeated_page_restarts_the_listing_from_the_first_page(
    api: ScriptedApi, client: OpenRouterClient
) -> None:
    events: list[RetryEvent] = []
    client.on_retry = events.append
    api.queue("GET", "/api/v1/keys?offset=100", 200, {"data": api.page(0)})
    keys = client.list_all_keys()
    assert len({key.hash for key in keys}) == len(keys) == 150
    assert api.offsets() == [0, 100, 0, 100]
    assert [event.kind for event in events] == ["inconsistent_listing"]


def test_a_listing_whose_pages_keep_disagreeing_is_an_error(
    api: ScriptedApi, client: OpenRouterClient
) -> None:
    shifted = {"data": api.page(99)}  # a key created meanwhile: the last key comes again
    api.queue("GET", "/api/v1/keys?offset=100", 200, shifted, times=LISTING_ATTEMPTS)
    with pytest.raises(
        InconsistentListingError, match=r"offset=100 listed key .*offset=0 listed too"
    ):
        client.list_all_keys()
    assert api.offsets() == [0, 100] * LISTING_ATTEMPTS


def test_a_key_twice_on_one_page_is_an_inconsistent_listing(
    api: ScriptedApi, client: OpenRouterClient
) -> None:
    twice = {"data": [server_key(1), server_key(1)]}
    api.queue("GET", "/api/v1/keys?offset=0", 200, twice, times=LISTING_ATTEMPTS)
    with pytest.raises(InconsistentListingError):
        client.list_all_keys()


def test_a_run_creates_nothing_when_the_listing_is_malformed(
    api: ScriptedApi, client: OpenRouterClient, tmp_path: Path
) -> None:
    # Read as "no keys", it would create a second key for every participant.
    roster = make_roster(tmp_path / "ws.csv", 3)
    api.queue("GET", "/api/v1/keys", 200, {"data": None}, times=99)
    settings = ProvisionSettings(roster=roster, out_dir=tmp_path / "out", force=True)
    with pytest.raises(MalformedAnswerError, match="without a 'data' array"):
        provision(settings, client)
    assert api.calls("POST") == 0


# -- one key, creates, the account ---------------------------------------------------------------


def test_a_create_answered_without_its_secret_is_an_unknown_outcome(
    api: ScriptedApi, client: OpenRouterClient
) -> None:
    created = {"data": server_key(7)}
    api.queue("POST", "/api/v1/keys", 201, created)
    with pytest.raises(OutcomeUnknownError, match=r"answered 201 without the new key's secret"):
        client.create_key("keyprov:ws:ada@example.org", limit=1.0)
    assert api.calls("POST") == 1, "a create that may have happened was sent again"


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        (HTML, "text/html", "with text/html, not JSON"),
        (b"", "application/json", "not JSON"),
        ({"key": "sk-or-v1-" + "a" * 64}, "application/json", "without a 'data' object"),
        ({"key": "sk-or-v1-" + "a" * 64, "data": {"name": "x"}}, "application/json", "'hash'"),
    ],
)
def test_a_malformed_create_answer_is_an_unknown_outcome_never_echoing_it(
    api: ScriptedApi, client: OpenRouterClient, body: Any, content_type: str, problem: str
) -> None:
    api.queue("POST", "/api/v1/keys", 201, body, content_type=content_type)
    with pytest.raises(OutcomeUnknownError, match=problem) as raised:
        client.create_key("keyprov:ws:ada@example.org", limit=1.0)
    assert "a" * 20 not in str(raised.value)
    assert api.calls("POST") == 1


def test_get_key_believes_only_the_key_it_asked_for(
    api: ScriptedApi, client: OpenRouterClient
) -> None:
    wanted, other = api.keys[0], api.keys[1]
    api.queue("GET", f"/api/v1/keys/{wanted['hash']}", 200, {"data": other}, times=99)
    with pytest.raises(MalformedAnswerError, match="not the one asked for"):
        client.get_key(wanted["hash"])


def test_a_404_that_is_not_openrouters_proves_no_absence(
    api: ScriptedApi, client: OpenRouterClient
) -> None:
    key = api.keys[0]["hash"]
    api.queue("GET", f"/api/v1/keys/{key}", 404, HTML, content_type="text/html", times=99)
    with pytest.raises(MalformedAnswerError, match="404"):
        client.get_key(key)
    api.queue("DELETE", f"/api/v1/keys/{key}", 404, HTML, content_type="text/html", times=99)
    with pytest.raises(MalformedAnswerError):
        client.delete_key(key)
    assert any(k["hash"] == key for k in api.keys)
    with pytest.raises(NotFoundError):
        client.get_key("f" * 64)


def test_update_and_delete_answers_are_checked(api: ScriptedApi, client: OpenRouterClient) -> None:
    key = api.keys[0]["hash"]
    api.queue("PATCH", f"/api/v1/keys/{key}", 200, {"data": None}, times=99)
    with pytest.raises(MalformedAnswerError, match=r"PATCH /keys/.* without a 'data' object"):
        client.update_key(key, limit=2.0)
    api.queue("DELETE", f"/api/v1/keys/{key}", 200, {"deleted": "yes"}, times=99)
    with pytest.raises(MalformedAnswerError, match="without 'deleted': true"):
        client.delete_key(key)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"data": {"total_credits": "100", "total_usage": 1}}, "'data.total_credits' not a number"),
        ({"data": {"total_credits": 100}}, "'data.total_usage' not a number"),
        ({"data": None}, "without a 'data' object"),
    ],
)
def test_credits_must_be_numbers(
    api: ScriptedApi, client: OpenRouterClient, body: Any, problem: str
) -> None:
    api.queue("GET", "/api/v1/credits", 200, body, times=99)
    with pytest.raises(MalformedAnswerError, match=problem):
        client.credits()


def test_the_current_key_must_be_an_object(api: ScriptedApi, client: OpenRouterClient) -> None:
    api.queue("GET", "/api/v1/key", 200, {"data": []}, times=99)
    with pytest.raises(MalformedAnswerError, match="GET /key answered 200 without a 'data' object"):
        client.current_key()


# -- first contact: a web page where the API should be --------------------------------------------


def test_a_web_page_before_any_answer_means_a_wrong_address(
    api: ScriptedApi, management_key: str
) -> None:
    # openrouter.ai/keys (a base URL without /api/v1) is the dashboard's page: 200, text/html.
    api.queue("GET", "/api/v1/keys", 200, HTML, content_type="text/html", times=99)
    events: list[RetryEvent] = []
    with (
        OpenRouterClient(
            management_key, api.base_url, retry=FAST_RETRY, on_retry=events.append
        ) as client,
        pytest.raises(ServerUnreachableError, match=r"not JSON.*end in /api/v1") as raised,
    ):
        client.list_all_keys()
    assert raised.value.exit_status == ExitStatus.BAD_INPUT
    assert len(events) == FAST_RETRY.first_contact_attempts - 1
    assert not any(event.ever_succeeded for event in events)


def test_a_redirect_is_not_followed(api: ScriptedApi, management_key: str) -> None:
    # Wherever it points, the key would travel on with the request.
    elsewhere = "http://127.0.0.2:9/api/v1/credits"
    api.queue("GET", "/api/v1/credits", 302, b"", headers={"Location": elsewhere}, times=99)
    with (
        OpenRouterClient(management_key, api.base_url, retry=FAST_RETRY) as client,
        pytest.raises(ServerUnreachableError, match=r"a redirect to http://127\.0\.0\.2:9"),
    ):
        client.credits()
    assert api.calls("GET") == FAST_RETRY.first_contact_attempts
