"""The management key goes only where the check says, and a wrong address says so (exit 2).

Every case runs over real sockets: the sandbox, and plain TCP listeners standing where a
mis-parsed address or a proxy would send the key, which must receive nothing at all.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from urllib3.util import parse_url

from keyprov.api.client import OpenRouterClient, RetryEvent
from keyprov.api.config import api_settings_from_env
from keyprov.errors import (
    ConfigurationError,
    NotFoundError,
    ServerUnreachableError,
    TransportError,
)
from keyprov.sandbox import Sandbox
from keyprov.status import ExitStatus
from tests.helpers import FAST_RETRY, invoke, make_roster


class Listener:
    """A real TCP socket that records every connection made to it and what was sent."""

    def __init__(self, host: str = "127.0.0.1", *, reply: bytes = b"") -> None:
        self._socket = socket.create_server((host, 0))
        self._reply = reply
        self.host = host
        self.port = self._socket.getsockname()[1]
        self.received: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = connection.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    connection.sendall(self._reply)
                except OSError:
                    pass
                self.received.append(data)

    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._socket.close()
        self._thread.join(timeout=5)


@pytest.fixture
def elsewhere() -> Iterator[Listener]:
    """A listener on another loopback address, where a mis-read address would connect."""
    listener = Listener("127.0.0.2")
    yield listener
    listener.close()


@pytest.fixture
def proxy() -> Iterator[Listener]:
    """A proxy that records what it is sent and refuses every tunnel, as a strict one does."""
    listener = Listener(reply=b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    yield listener
    listener.close()


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- item 3: the key goes only where the check says --------------------------------------------

BAD_ADDRESSES: dict[str, Callable[[int, int], str]] = {
    # urllib.parse sees 127.0.0.1; urllib3 and requests connect to the host before the backslash.
    "backslash before @": lambda here, there: rf"http://127.0.0.2:{there}\@127.0.0.1:{here}/api/v1",
    "user and password": lambda here, there: f"http://ada:hunter2pass@127.0.0.1:{here}/api/v1",
    "host hidden behind @": lambda here, there: f"http://127.0.0.2:{there}@127.0.0.1:{here}/api/v1",
    "fragment": lambda here, there: f"http://127.0.0.1:{here}#@127.0.0.2:{there}/api/v1",
    "query": lambda here, there: f"http://127.0.0.1:{here}?@127.0.0.2:{there}/api/v1",
    "fragment without @": lambda here, there: f"http://127.0.0.1:{here}/api/v1#x",
    "tab": lambda here, there: f"http://127.0.0.1:{here}/api\t/v1",
    "line break": lambda here, there: f"http://127.0.0.1:{here}/api/v1\n",
    "space": lambda here, there: f"http://127.0.0.1:{here} /api/v1",
    "percent escape": lambda here, there: f"http://127.0.0.%31:{here}/api/v1",
    "full-width dots": lambda here, there: f"http://127\u30020\u30020\u30021:{here}/api/v1",
    "empty port": lambda here, there: "http://127.0.0.1:/api/v1",
    "no such port": lambda here, there: "http://127.0.0.1:99999/api/v1",
    "no scheme": lambda here, there: f"127.0.0.1:{here}/api/v1",
    "clear text to elsewhere": lambda here, there: f"http://127.0.0.2.nip.io:{here}/api/v1",
}


@pytest.mark.parametrize("case", sorted(BAD_ADDRESSES))
def test_a_bad_address_is_refused_before_any_request(
    case: str, sandbox: Sandbox, elsewhere: Listener, management_key: str
) -> None:
    url = BAD_ADDRESSES[case](sandbox.port, elsewhere.port)
    with pytest.raises(ConfigurationError) as raised:
        OpenRouterClient(management_key, url, retry=FAST_RETRY)
    message = str(raised.value)
    assert message.startswith("OPENROUTER_BASE_URL")
    assert management_key not in message and "hunter2pass" not in message
    assert raised.value.exit_status == ExitStatus.BAD_INPUT
    assert sandbox.request_log == [] and elsewhere.received == []


def test_the_backslash_address_would_really_have_gone_elsewhere(
    sandbox: Sandbox, elsewhere: Listener
) -> None:
    # Why the case above matters: the HTTP library connects to the listener, not the sandbox.
    url = BAD_ADDRESSES["backslash before @"](sandbox.port, elsewhere.port)
    assert (parse_url(url).host, parse_url(url).port) == ("127.0.0.2", elsewhere.port)


@pytest.mark.parametrize("case", ["backslash before @", "user and password", "query"])
def test_the_command_refuses_a_bad_address_without_echoing_secrets(
    case: str, sandbox: Sandbox, elsewhere: Listener, management_key: str, tmp_path: Path
) -> None:
    make_roster(tmp_path / "ws.csv", 1)
    url = BAD_ADDRESSES[case](sandbox.port, elsewhere.port)
    env = {"OPENROUTER_PROVISIONING_KEY": management_key, "OPENROUTER_BASE_URL": url}
    done = invoke(["provision", "ws.csv"], env=env, cwd=tmp_path)
    assert done.returncode == ExitStatus.BAD_INPUT
    assert "error: OPENROUTER_BASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
    assert management_key not in done.stderr + done.stdout
    assert "hunter2pass" not in done.stderr + done.stdout
    assert sandbox.request_log == [] and elsewhere.received == []


def test_settings_refuse_the_same_addresses(sandbox: Sandbox, management_key: str) -> None:
    for case in ("backslash before @", "fragment", "percent escape"):
        env = {
            "OPENROUTER_PROVISIONING_KEY": management_key,
            "OPENROUTER_BASE_URL": BAD_ADDRESSES[case](sandbox.port, 1),
        }
        with pytest.raises(ConfigurationError, match="OPENROUTER_BASE_URL"):
            api_settings_from_env(env, Path.cwd())


@pytest.mark.parametrize(
    "url",
    [
        "https://openrouter.ai/api/v1",
        "https://openrouter.ai/api/v1/",
        "HTTPS://OpenRouter.ai:443/api/v1",
        "https://xn--bcher-kva.example/api/v1",
        "http://localhost:8787/api/v1",
        "http://[::1]:8787/api/v1",
    ],
)
def test_plain_addresses_are_accepted(url: str) -> None:
    with OpenRouterClient("sk-or-v1-x", url) as client:
        assert client.base_url == url.rstrip("/")


def test_no_proxy_ever_sees_a_loopback_request(
    sandbox: Sandbox, management_key: str, proxy: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.port}")
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as client:
        assert client.credits().total_credits > 0
    assert [r.status for r in sandbox.request_log] == [200]
    assert proxy.received == []


def test_a_proxy_for_a_remote_host_gets_only_the_tunnel_never_the_key(
    management_key: str, proxy: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A company proxy stays usable for https, and the key travels inside TLS through it.
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    with (
        OpenRouterClient(
            management_key, "https://openrouter.invalid/api/v1", retry=FAST_RETRY
        ) as client,
        pytest.raises(ServerUnreachableError, match="HTTPS_PROXY") as raised,
    ):
        client.credits()
    assert raised.value.reason == "proxy"
    assert proxy.received, "the proxy was not used"
    assert all(data.startswith(b"CONNECT openrouter.invalid:443 ") for data in proxy.received)
    sent = b"".join(proxy.received)
    assert management_key.encode() not in sent and b"Bearer" not in sent


# -- item 4: a wrong address or a stopped sandbox is a configuration error -----------------------


def test_a_closed_port_is_a_configuration_error_after_a_few_tries() -> None:
    url = f"http://127.0.0.1:{_dead_port()}/api/v1"
    events: list[RetryEvent] = []
    with (
        OpenRouterClient("sk-or-v1-x", url, retry=FAST_RETRY, on_retry=events.append) as client,
        pytest.raises(ServerUnreachableError) as raised,
    ):
        client.list_all_keys()
    error = raised.value
    assert error.exit_status == ExitStatus.BAD_INPUT and error.reason == "refused"
    assert url in str(error)
    assert "Is the sandbox running" in str(error) and "end in /api/v1" in str(error)
    # Fewer tries than a server that has answered gets, each one reported as it happens.
    assert len(events) == FAST_RETRY.first_contact_attempts - 1 < FAST_RETRY.max_attempts
    assert all(not event.ever_succeeded and event.kind == "refused" for event in events)
    assert events[0].message(url).startswith(f"waiting for the server at {url} (connection")


def test_the_command_exits_2_for_a_closed_port(management_key: str, tmp_path: Path) -> None:
    make_roster(tmp_path / "ws.csv", 1)
    url = f"http://127.0.0.1:{_dead_port()}/api/v1"
    env = {"OPENROUTER_PROVISIONING_KEY": management_key, "OPENROUTER_BASE_URL": url}
    done = invoke(["provision", "ws.csv"], env=env, cwd=tmp_path)
    assert done.returncode == ExitStatus.BAD_INPUT, done.stderr
    assert f"could not connect to {url}" in done.stderr
    assert "Is the sandbox running" in done.stderr
    assert "waiting for the server" in done.stderr, "the retries are not waited out in silence"
    assert not (tmp_path / "output").exists(), "no folder for a server that never answered"


def test_an_address_without_api_v1_is_a_configuration_error(
    sandbox: Sandbox, management_key: str
) -> None:
    root = sandbox.base_url.removesuffix("/api/v1")
    with (
        OpenRouterClient(management_key, root, retry=FAST_RETRY) as client,
        pytest.raises(ServerUnreachableError, match=r"answered 404.*end in /api/v1") as raised,
    ):
        client.list_all_keys()
    assert raised.value.reason == "not_found"


def test_a_missing_key_is_not_found_only_where_the_api_is(
    sandbox: Sandbox, management_key: str
) -> None:
    # First request of each client: the same 404, told apart by asking a route that exists.
    with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as client:
        with pytest.raises(NotFoundError):
            client.get_key("0" * 64)
        assert client.delete_key("0" * 64) is False
    root = sandbox.base_url.removesuffix("/api/v1")
    with OpenRouterClient(management_key, root, retry=FAST_RETRY) as misplaced:
        with pytest.raises(ServerUnreachableError):
            misplaced.get_key("0" * 64)
        with pytest.raises(ServerUnreachableError):
            misplaced.delete_key("0" * 64)


def test_a_server_that_goes_away_after_answering_is_a_transport_error(
    sandbox: Sandbox, management_key: str
) -> None:
    events: list[RetryEvent] = []
    with OpenRouterClient(
        management_key, sandbox.base_url, retry=FAST_RETRY, on_retry=events.append
    ) as client:
        client.list_all_keys()
        sandbox.stop()
        with pytest.raises(TransportError) as raised:
            client.create_key("keyprov:w:ada@example.org", limit=1.0)
    assert raised.value.exit_status == ExitStatus.INCOMPLETE
    assert len(events) == FAST_RETRY.max_attempts - 1
    assert all(event.ever_succeeded for event in events)


def test_doctor_reports_a_closed_port_as_a_failed_check(
    management_key: str, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{_dead_port()}/api/v1"
    env = {"OPENROUTER_PROVISIONING_KEY": management_key, "OPENROUTER_BASE_URL": url}
    done = invoke(["doctor"], env=env, cwd=tmp_path)
    assert done.returncode == ExitStatus.INCOMPLETE, done.stderr
    assert re.search(r"^FAIL\s+management key\s+could not connect to", done.stdout, re.MULTILINE)
    # ...and the other checks still run: doctor is where a wrong address gets diagnosed.
    assert re.search(r"^ok\s+outputs git-ignored", done.stdout, re.MULTILINE)
