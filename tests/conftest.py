"""Shared fixtures: a real sandbox on a free loopback port, and a client pointed at it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.sandbox import Sandbox
from tests.helpers import FAST_RETRY, CliWorkshop
from tests.smtp import LoopbackController, Mailbox


@pytest.fixture(autouse=True)
def own_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each test its own list of workshops: never the developer's, never another test's.

    Set by hand, not with monkeypatch: tests that call monkeypatch.undo() keep it.
    """
    saved = os.environ.get("KEYPROV_HOME")
    os.environ["KEYPROV_HOME"] = str(tmp_path_factory.mktemp("keyprov-home"))
    yield
    if saved is None:
        os.environ.pop("KEYPROV_HOME", None)
    else:
        os.environ["KEYPROV_HOME"] = saved


@pytest.fixture
def management_key() -> str:
    # A fresh random value per test: a sentinel that must never show up where it should not.
    return "sk-or-v1-" + secrets.token_hex(32)


@pytest.fixture
def sandbox(management_key: str) -> Iterator[Sandbox]:
    with Sandbox(management_key) as server:
        yield server


@pytest.fixture
def workshop(sandbox: Sandbox, management_key: str, tmp_path: Path) -> CliWorkshop:
    """A roster ws.csv in tmp_path, run through the CLI against this test's sandbox.

    Tests that need more (mail, a second machine) define their own `workshop` fixture.
    """
    return CliWorkshop(sandbox, management_key, tmp_path)


@pytest.fixture
def client(sandbox: Sandbox, management_key: str) -> Iterator[OpenRouterClient]:
    with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as api:
        yield api


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run in this process (`invoke`) back off as briefly as the test clients do.

    The same retry code, with waits of milliseconds: for tests that force 5xx answers or lost
    connections for what follows from them, not for how long production waits. Retry-After is
    still obeyed. Subprocesses keep the production policy.
    """
    monkeypatch.setattr("keyprov.api.transport.DEFAULT_RETRY", FAST_RETRY)


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_server(mailbox) -> Iterator[LoopbackController]:
    controller = LoopbackController(mailbox)
    controller.start()
    yield controller
    controller.stop()
