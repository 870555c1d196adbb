"""The real client over real HTTP against the sandbox: retries, typed errors, pagination."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from keyprov.api.client import OpenRouterClient, RetryEvent, parse_retry_after
from keyprov.errors import (
    AuthenticationError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
)
from keyprov.sandbox import Sandbox
from tests.helpers import FAST_RETRY


def api_calls(sandbox: Sandbox, method: str, path: str = "/api/v1/keys") -> list:
    return [r for r in sandbox.request_log if r.method == method and r.path.rstrip("/") == path]


def test_429_with_retry_after_is_waited_out(sandbox: Sandbox, client: OpenRouterClient) -> None:
    retries: list[RetryEvent] = []
    client.on_retry = retries.append
    sandbox.force(429, count=1, method="POST")
    created = client.create_key("keyprov:w:ada@example.org", limit=1.0)

    posts = api_calls(sandbox, "POST")
    assert [post.status for post in posts] == [429, 201]
    assert posts[1].started - posts[0].finished >= 1.0, "Retry-After: 1 was not honoured"
    assert [(r.status, r.attempt) for r in retries] == [(429, 1)]
    assert retries[0].wait >= 1.0
    stored = sandbox.keys()
    assert [key["hash"] for key in stored] == [created.key.hash]


def test_retry_after_as_http_date_is_understood() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(7)
    assert parse_retry_after("3") == 3
    assert parse_retry_after("soon") is None


def test_a_retry_after_too_long_to_sleep_through_is_surfaced(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    sandbox.force(429, count=1, retry_after="3600")
    with pytest.raises(RateLimitedError) as raised:
        client.list_keys_page()
    assert raised.value.retry_after == 3600
    assert len(sandbox.request_log) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_on_a_read_is_retried(sandbox: Sandbox, client: OpenRouterClient, status: int) -> None:
    sandbox.create_key_directly("keyprov:w:ada@example.org", limit=1)
    sandbox.force(status, count=2, method="GET")
    assert len(client.list_all_keys()) == 1
    assert [r.status for r in sandbox.request_log] == [status, status, 200]


def test_5xx_on_create_is_not_resent_blindly(sandbox: Sandbox, client: OpenRouterClient) -> None:
    sandbox.force(503, count=1, method="POST")
    with pytest.raises(OutcomeUnknownError):
        client.create_key("keyprov:w:ada@example.org", limit=1.0)
    assert len(api_calls(sandbox, "POST")) == 1


def test_dropped_connection_after_commit_is_an_unknown_outcome(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    sandbox.force("drop_after_commit", count=1)
    with pytest.raises(OutcomeUnknownError):
        client.create_key("keyprov:w:ada@example.org", limit=1.0)
    assert len(api_calls(sandbox, "POST")) == 1
    stored = sandbox.keys()
    assert [key["name"] for key in stored] == ["keyprov:w:ada@example.org"]


def test_read_timeout_on_create_is_an_unknown_outcome(
    sandbox: Sandbox, management_key: str
) -> None:
    sandbox.force("slow", count=1, method="POST", seconds=1.0)
    with (
        OpenRouterClient(
            management_key, sandbox.base_url, timeout=(2, 0.3), retry=FAST_RETRY
        ) as impatient,
        pytest.raises(OutcomeUnknownError),
    ):
        impatient.create_key("keyprov:w:ada@example.org", limit=1.0)
    deadline = time.monotonic() + 5
    while not api_calls(sandbox, "POST") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(api_calls(sandbox, "POST")) == 1
    assert len(sandbox.keys()) == 1, "the slow create was committed on the server"


def test_401_stops_at_once(sandbox: Sandbox) -> None:
    with (
        OpenRouterClient("sk-or-v1-unknown", sandbox.base_url, retry=FAST_RETRY) as stranger,
        pytest.raises(AuthenticationError, match="OPENROUTER_PROVISIONING_KEY"),
    ):
        stranger.list_all_keys()
    assert [r.status for r in sandbox.request_log] == [401]


def test_a_normal_key_is_refused_with_a_permission_error(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    created = client.create_key("keyprov:w:ada@example.org", limit=1.0)
    with (
        OpenRouterClient(created.secret, sandbox.base_url, retry=FAST_RETRY) as participant,
        pytest.raises(PermissionDeniedError, match="not a management key"),
    ):
        participant.create_key("keyprov:w:eve@example.org", limit=100.0)
    assert len(sandbox.keys()) == 1


def test_listing_reads_every_page(sandbox: Sandbox, client: OpenRouterClient) -> None:
    for i in range(230):
        sandbox.create_key_directly(f"keyprov:w:p{i}@example.org", limit=1)
    keys = client.list_all_keys()
    assert len({key.hash for key in keys}) == 230
    offsets = [r.query.get("offset") for r in api_calls(sandbox, "GET")]
    assert offsets == ["0", "100", "200"]


def test_secrets_are_masked_in_reprs(sandbox: Sandbox, client: OpenRouterClient) -> None:
    created = client.create_key("keyprov:w:ada@example.org", limit=1.0)
    assert created.secret not in repr(created)
    assert created.key.label in repr(created)
    assert "sk-or-v1-" not in repr(client).replace("sk-or-v1-...", "")


def test_a_netrc_entry_for_the_host_does_not_replace_the_bearer_token(
    sandbox: Sandbox, management_key: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password something-else\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as api:
        assert api.credits().total_credits > 0
    assert [r.status for r in sandbox.request_log] == [200]
