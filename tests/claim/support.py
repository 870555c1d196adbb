"""Helpers for the claim page's tests: a provisioned workshop, its codes, a browser-like client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from keyprov.api.client import OpenRouterClient
from keyprov.claim.page import ClaimPage, ClaimSettings
from keyprov.lifecycle.claim_limits import FailureBudget
from keyprov.workshop.claimcodes import claim_code, display_code
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.journal import Ledger
from tests.helpers import FAST_RETRY, CliWorkshop

TOKEN = re.compile(r'name="token" value="([0-9a-f]+)"')
KEY = re.compile(r'id="key" rows="3" readonly spellcheck="false">(sk-or-v1-[0-9a-f]{64})<')


def folder_of(workshop: CliWorkshop) -> Path:
    return workshop.folder / "output" / "ws"


def code_of(workshop: CliWorkshop, identity: str) -> str:
    """The participant's claim code, as their slip shows it (the state's secret must exist:
    a handouts run or a claim page made it)."""
    secret = Ledger.open(folder_of(workshop) / "state.jsonl").replayed.claim_secret
    assert secret is not None
    return display_code(claim_code(secret, identity))


@contextmanager
def claim_page(
    workshop: CliWorkshop,
    management_key: str,
    settings: ClaimSettings | None = None,
    budget: FailureBudget | None = None,
) -> Iterator[ClaimPage]:
    """The workshop's claim page, served from a thread on a free loopback port."""
    settings = settings or ClaimSettings(port=0)
    with (
        OpenRouterClient(management_key, workshop.sandbox.base_url, retry=FAST_RETRY) as client,
        ClaimPage(
            WorkshopRef(None, "ws", workshop.folder / "output"), client, settings, budget=budget
        ) as page,
    ):
        page.start_in_thread()
        yield page


class Browser:
    """One device: its own cookies, as a phone's browser keeps them."""

    def __init__(self, base: str, *, verify: bool | str = True) -> None:
        self.base = base.removesuffix("/claim")
        self.session = requests.Session()
        self.verify = verify  # per request: REQUESTS_CA_BUNDLE would override a session's

    def open(self, query: str = "") -> requests.Response:
        return self.session.get(f"{self.base}/claim{query}", timeout=30, verify=self.verify)

    def claim(self, code: str, *, token: str | None = None, **headers: str) -> requests.Response:
        if token is None:
            page = self.open()
            found = TOKEN.search(page.text)
            assert found, page.text
            token = found[1]
        return self.session.post(
            f"{self.base}/claim",
            data={"code": code, "token": token},
            headers=headers,
            timeout=60,
            verify=self.verify,
        )


def key_in(page: requests.Response) -> str | None:
    found = KEY.search(page.text)
    return found[1] if found else None
