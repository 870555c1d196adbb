"""kill -9 of the claim page while a room claims, then a restart: no key is ever shown to two
devices, no claim is lost, and a claim reserved before its key was enabled is finished."""

from __future__ import annotations

import json
import threading
import time

from keyprov.sandbox import Faults
from tests.claim.support import TOKEN, Browser, code_of, folder_of, key_in
from tests.claim.test_claim_cli import start_claim, stop
from tests.helpers import CliWorkshop, make_roster

PARTICIPANTS = 30


def reservations(workshop: CliWorkshop) -> list[dict]:
    path = folder_of(workshop) / "claims.jsonl"
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line torn by the kill
    return [record for record in records if record["event"] == "reserved"]


def secrets_by_identity(workshop: CliWorkshop) -> dict[str, str]:
    found = {}
    for line in (folder_of(workshop) / "state.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("secret") and record.get("identity"):
            found[record["identity"]] = record["secret"]
    return found


def test_a_kill_during_claims_loses_nothing_and_shows_no_key_twice(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, PARTICIPANTS)
    assert workshop.provision("--closed").returncode == 0
    sandbox = workshop.sandbox
    sandbox.faults = Faults(latency=0.05)
    # The first enables are refused for a while (the page retries them with backoff): their
    # claims are reserved, the keys still disabled, when the kill comes.
    sandbox.force(503, 10, method="PATCH")
    process, url, _printed = start_claim(workshop)
    identities = [f"person{i}@example.org" for i in range(PARTICIPANTS)]
    codes = {identity: code_of(workshop, identity) for identity in identities}
    devices = {identity: Browser(url) for identity in identities}
    tokens = {}
    for identity, device in devices.items():
        found = TOKEN.search(device.open().text)
        assert found
        tokens[identity] = found[1]
    shown_before: dict[str, str | None] = {}
    together = threading.Barrier(PARTICIPANTS)

    def claim(identity: str) -> None:
        together.wait()
        try:
            answer = devices[identity].claim(codes[identity], token=tokens[identity])
            shown_before[identity] = key_in(answer)
        except OSError:
            shown_before[identity] = None  # killed before it answered

    sandbox.clear_log()
    threads = [threading.Thread(target=claim, args=(identity,)) for identity in identities]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # Killed once some devices were shown their keys, while others wait for theirs.
        if sum(key is not None for key in list(shown_before.values())) >= 5:
            break
        time.sleep(0.002)
    process.kill()
    process.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=120)
    stop_moment = {r["key"] for r in reservations(workshop)}
    assert stop_moment, "claims were reserved before the kill"
    assert any(key is None for key in shown_before.values()), "the kill cut claims short"
    assert any(key is not None for key in shown_before.values()), "keys were shown before it"
    enabled_at_kill = {k["hash"] for k in sandbox.keys() if not k["disabled"]}
    assert stop_moment - enabled_at_kill, "some reserved claims had no enabled key yet"

    sandbox.clear_forced()
    process, url, _printed = start_claim(workshop)
    try:
        # Started again: every claim reserved before the kill is finished (its key enabled).
        enabled = {k["hash"] for k in sandbox.keys() if not k["disabled"]}
        assert stop_moment <= enabled
        shown_after = {}
        for identity, device in devices.items():
            device.base = url.removesuffix("/claim")
            answer = device.claim(codes[identity])
            assert answer.status_code == 200, answer.text
            shown_after[identity] = key_in(answer)
        for identity in identities:
            thief = Browser(url).claim(codes[identity])
            assert thief.status_code == 409 and key_in(thief) is None
    finally:
        assert stop(process)[0] == 0

    owned = secrets_by_identity(workshop)
    for identity in identities:
        assert shown_after[identity] == owned[identity], "each device its own participant's key"
        before = shown_before[identity]
        assert before is None or before == owned[identity], "the same key before and after"
    assert len(set(shown_after.values())) == PARTICIPANTS, "no key shown to two devices"
    reserved = [record["key"] for record in reservations(workshop)]
    assert len(reserved) == len(set(reserved)) == PARTICIPANTS, "one claim per key, none lost"
    assert len([k for k in sandbox.keys() if not k["disabled"]]) == PARTICIPANTS
