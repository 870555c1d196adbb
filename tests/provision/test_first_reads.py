"""The listing's first page, read while GET /key names the account, is never believed over the
state: another run that changed the workshop after the page was read makes provision list
again (keyprov.provision.first_reads).

Each test lets the page be answered, then runs "another command" on the same workshop before
this run's GET /key is sent, so before it holds the workshop: the window the page is older
than the state in. The end state on the server is what is asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keyprov.api.client import OpenRouterClient
from keyprov.lifecycle.changes import revoke
from keyprov.provision import ProvisionSettings, provision
from keyprov.sandbox import Sandbox
from keyprov.workshop.folder import WorkshopRef
from keyprov.workshop.journal import Ledger
from tests.helpers import FAST_RETRY, key_name_in, make_roster


class AnotherRunFirst(OpenRouterClient):
    """Before its GET /key, waits for the first listing page to be answered, then lets
    `meanwhile` (another command, with its own client) change the workshop."""

    def __init__(self, sandbox: Sandbox, key: str, meanwhile: Callable[[], None]) -> None:
        super().__init__(key, sandbox.base_url, retry=FAST_RETRY)
        self.sandbox = sandbox
        self.meanwhile: Callable[[], None] | None = meanwhile

    def current_key(self) -> dict[str, Any]:
        if self.meanwhile is not None:
            deadline = time.monotonic() + 10
            while not any(
                r.path == "/api/v1/keys" and r.status == 200 for r in self.sandbox.request_log
            ):
                assert time.monotonic() < deadline, "the first page was never asked for"
                time.sleep(0.005)
            self.meanwhile()
            self.meanwhile = None
        return super().current_key()


def provisioned(sandbox: Sandbox, key: str, tmp_path: Path, people: int) -> ProvisionSettings:
    settings = ProvisionSettings(roster=make_roster(tmp_path / "ws.csv", people), out_dir=tmp_path)
    with OpenRouterClient(key, sandbox.base_url, retry=FAST_RETRY) as client:
        assert provision(settings, client).counts() == {"created": people}
    sandbox.clear_log()
    return settings


def listings(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.request_log if r.method == "GET" and r.path == "/api/v1/keys")


def test_a_rerun_uses_the_page_it_read_early_when_nothing_changed(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    settings = provisioned(sandbox, management_key, tmp_path, 3)
    with AnotherRunFirst(sandbox, management_key, lambda: None) as client:
        assert provision(settings, client).counts() == {"present": 3}
    assert listings(sandbox) == 1


def test_keys_disabled_after_the_page_was_read_are_seen_disabled(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    settings = provisioned(sandbox, management_key, tmp_path, 3)

    def revoke_every_key() -> None:
        ref = WorkshopRef(settings.roster, None, tmp_path)
        with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as other:
            revoke(ref, other)
        assert all(key["disabled"] for key in sandbox.keys())

    with AnotherRunFirst(sandbox, management_key, revoke_every_key) as client:
        result = provision(settings, client)
    # The early page showed three enabled keys: believed, the run would say they are there
    # for the participants, and keys.xlsx would hand out three dead keys as good ones.
    assert result.counts() == {"disabled on server": 3}
    assert all(key["disabled"] for key in sandbox.keys())
    assert listings(sandbox) == 3  # the early page, revoke's listing, the listing again


def test_a_create_in_flight_when_the_page_was_read_is_found_not_made_twice(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    settings = provisioned(sandbox, management_key, tmp_path, 2)
    settings = ProvisionSettings(roster=make_roster(tmp_path / "ws.csv", 3), out_dir=tmp_path)
    folder = tmp_path / "ws"
    newcomer = "person2@example.org"  # the roster's third
    # A run journaled its create for the newcomer, then sent it: the state says so already
    # when this run starts, the server commits the key only after the page was read, and
    # that run is stopped dead before it hears back (no secret anywhere).
    name = key_name_in(folder, "ws", newcomer)
    with Ledger.open(folder / "state.jsonl") as ledger:
        ledger.record_intent(newcomer, name)

    def the_create_lands() -> None:
        with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as other:
            other.create_key(name, limit=1.0)

    with AnotherRunFirst(sandbox, management_key, the_create_lands) as client:
        provision(settings, client)
    names = [key["name"] for key in sandbox.keys()]
    assert len(names) == len(set(names)) == 3, names
    # The early page, the listing again, and once more after its create: another copy of
    # the workshop that created at the same time would be seen there (issue 28).
    assert listings(sandbox) == 3


def test_a_limit_change_in_flight_when_the_page_was_read_is_read_from_the_server(
    sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    settings = provisioned(sandbox, management_key, tmp_path, 2)
    folder = tmp_path / "ws"
    # A set-limit journaled the limit it was about to send, sent it, and was stopped dead
    # before it heard back; the server applies it only after this run's page was read.
    with Ledger.open(folder / "state.jsonl") as ledger:
        entry = ledger.entries()[0]
        ledger.record_targets("set 5", {entry.identity: 5.0})
    assert entry.hash is not None

    def the_change_lands() -> None:
        with OpenRouterClient(management_key, sandbox.base_url, retry=FAST_RETRY) as other:
            other.update_key(entry.hash, limit=5.0)

    with AnotherRunFirst(sandbox, management_key, the_change_lands) as client:
        result = provision(settings, client)
    assert listings(sandbox) == 2  # the early page, and the listing again
    assert {key["limit"] for key in sandbox.keys()} == {1.0, 5.0}
    assert result.counts() == {"present": 2}
