"""Shared fixtures: a real sandbox on a free loopback port, and a client pointed at it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from keyprov.client import OpenRouterClient
from keyprov.sandbox import Sandbox
from tests.helpers import FAST_RETRY


@pytest.fixture
def management_key() -> str:
    # A fresh random value per test: a sentinel that must never show up where it should not.
    return "sk-or-v1-" + secrets.token_hex(32)


@pytest.fixture
def sandbox(management_key: str) -> Iterator[Sandbox]:
    with Sandbox(management_key) as server:
        yield server


@pytest.fixture
def client(sandbox: Sandbox, management_key: str) -> Iterator[OpenRouterClient]:
    with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as api:
        yield api
