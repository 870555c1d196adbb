"""The claim page over real HTTP, against the sandbox: what a claim does and what it never does."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests

from keyprov.claim.page import ClaimSettings
from keyprov.lifecycle.claim_limits import Budgets, FailureBudget
from keyprov.workshop.claimcodes import normalise_code
from tests.claim.support import Browser, claim_page, code_of, folder_of, key_in
from tests.clock import now
from tests.helpers import CliWorkshop, make_roster


@pytest.fixture
def closed(workshop: CliWorkshop) -> CliWorkshop:
    make_roster(workshop.roster, 4)
    done = workshop.provision("--closed")
    assert done.returncode == 0, done.stderr
    return workshop


def enabled_hashes(workshop: CliWorkshop) -> set[str]:
    return {key["hash"] for key in workshop.sandbox.keys() if not key["disabled"]}


def state_secret(workshop: CliWorkshop, email: str) -> tuple[str, str]:
    """(hash, secret) of the participant's key as the workshop's state holds it."""
    for line in (folder_of(workshop) / "state.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("identity") == email and record.get("secret"):
            found = record["hash"], record["secret"]
    return found


def test_a_get_never_reveals_enables_or_consumes(closed: CliWorkshop, management_key) -> None:
    with claim_page(closed, management_key) as page:
        code = code_of(closed, "person1@example.org")
        closed.sandbox.clear_log()
        scanner = Browser(page.url)  # a mail scanner opening the link in the message
        for _ in range(3):
            opened = scanner.open(f"?code={code}")
            assert opened.status_code == 200
            assert f'value="{code}"' in opened.text, "the code in the link only fills the form"
            assert "sk-or-v1-" not in opened.text
        assert closed.writes() == [] and enabled_hashes(closed) == set()
        claims = (folder_of(closed) / "claims.jsonl").read_text()
        assert '"reserved"' not in claims
        # The participant, on their own phone, still gets their key.
        shown = Browser(page.url).claim(code)
        assert shown.status_code == 200 and key_in(shown) is not None


def test_a_claim_enables_and_shows_exactly_its_own_key_once_per_device(
    closed: CliWorkshop, management_key
) -> None:
    with claim_page(closed, management_key) as page:
        code = code_of(closed, "person2@example.org")
        key_hash, secret = state_secret(closed, "person2@example.org")
        phone = Browser(page.url)
        closed.sandbox.clear_log()
        shown = phone.claim(code.lower().replace("-", " "))  # case, dashes and spaces forgiven
        assert shown.status_code == 200
        assert key_in(shown) == secret
        assert "Person, here is your API key" in shown.text or "here is your API key" in shown.text
        assert 'data-copy="key"' in shown.text and "export OPENROUTER_API_KEY" in shown.text
        assert enabled_hashes(closed) == {key_hash}, "only the claimed key works"
        patches = closed.calls("PATCH")
        assert [r.path.rsplit("/", 1)[1] for r in patches] == [key_hash]

        again = phone.claim(code)
        assert again.status_code == 200 and key_in(again) == secret
        assert "You claimed this key before" in again.text
        other = Browser(page.url).claim(code)
        assert other.status_code == 409 and key_in(other) is None
        assert "Already claimed" in other.text
        assert len(closed.calls("PATCH")) == 1, "enabled once"

    audit = [json.loads(line) for line in (folder_of(closed) / "audit.jsonl").open()]
    claimed = [event for event in audit if event["event"] == "claimed"]
    assert len(claimed) == 1
    assert claimed[0]["hash"] == key_hash and claimed[0]["client"] == "127.0.0.1"
    assert len(claimed[0]["pseudonym"]) == 16 and claimed[0]["ts"]
    plain = normalise_code(code)
    for name in ("audit.jsonl", "claims.jsonl"):
        text = (folder_of(closed) / name).read_text()
        assert secret not in text and plain not in text and code not in text
        assert "person2@example.org" not in text or name == "audit.jsonl"
    assert plain not in (folder_of(closed) / "state.jsonl").read_text()
    assert "claimed" in str(closed.sheet()), "keys.xlsx says who claimed"


def test_an_open_workshop_shows_the_key_without_changing_it(
    workshop: CliWorkshop, management_key
) -> None:
    workshop.provisioned(2)
    with claim_page(workshop, management_key) as page:
        workshop.sandbox.clear_log()
        shown = Browser(page.url).claim(code_of(workshop, "person0@example.org"))
        assert shown.status_code == 200 and key_in(shown) is not None
        assert workshop.writes() == []


def test_wrong_codes_are_limited_per_device_and_for_the_room(
    closed: CliWorkshop, management_key
) -> None:
    budget = FailureBudget(Budgets(per_client=3, overall=5, backoff=600))
    with claim_page(closed, management_key, budget=budget) as page:
        guesser = Browser(page.url)
        for _ in range(3):
            wrong = guesser.claim("ACDE-FHJK-MNPR")
            assert wrong.status_code == 403 and "not right" in wrong.text
        blocked = guesser.claim(code_of(closed, "person0@example.org"))  # even a right one
        assert blocked.status_code == 429 and key_in(blocked) is None
        assert int(blocked.headers["Retry-After"]) > 0
        assert "Too many wrong codes came from this device" in blocked.text
        # The room's budget: two more wrong codes, from anywhere, pause every claim.
        budget.failed("10.0.0.7")
        budget.failed("10.0.0.8")
        paused = Browser(page.url).claim(code_of(closed, "person1@example.org"))
        assert paused.status_code == 429 and "from this room" in paused.text
        assert enabled_hashes(closed) == set()
    audit = (folder_of(closed) / "audit.jsonl").read_text()
    assert "claims_throttled" in audit and "ACDE" not in audit


@pytest.mark.parametrize("when", ["before", "after"])
def test_outside_the_window_nothing_is_claimed(closed: CliWorkshop, management_key, when) -> None:
    moment = now().astimezone()
    window = (
        {"opens": moment + timedelta(hours=2)}
        if when == "before"
        else {"closes": moment - timedelta(minutes=1), "opens": moment - timedelta(hours=1)}
    )
    with claim_page(closed, management_key, ClaimSettings(port=0, **window)) as page:
        browser = Browser(page.url)
        opened = browser.open()
        expected = "Claims open at" if when == "before" else "Claims closed at"
        assert opened.status_code == 200 and expected in opened.text
        assert 'name="code"' not in opened.text
        token = browser.session.cookies  # the page set its cookie; a POST is refused anyway
        assert token
        refused = browser.claim(code_of(closed, "person0@example.org"), token="0" * 64)
        assert refused.status_code == 403 and key_in(refused) is None
        assert enabled_hashes(closed) == set()


def test_the_post_needs_the_form_of_this_page(closed: CliWorkshop, management_key) -> None:
    with claim_page(closed, management_key) as page:
        code = code_of(closed, "person3@example.org")
        browser = Browser(page.url)
        browser.open()
        no_token = browser.session.post(f"{browser.base}/claim", data={"code": code}, timeout=30)
        assert no_token.status_code == 403 and "expired" in no_token.text
        other_device = Browser(page.url)
        stolen = other_device.claim(code, token=_token_of(browser))
        assert stolen.status_code == 403
        cross_site = browser.claim(code, Origin="http://evil.example")
        assert cross_site.status_code == 403
        fetched = browser.claim(code, **{"Sec-Fetch-Site": "cross-site"})
        assert fetched.status_code == 403
        no_cookie = requests.post(
            f"{browser.base}/claim", data={"code": code, "token": _token_of(browser)}, timeout=30
        )
        assert no_cookie.status_code == 403
        assert enabled_hashes(closed) == set()
        assert browser.claim(code).status_code == 200, "the page's own form works"


def _token_of(browser: Browser) -> str:
    from tests.claim.support import TOKEN

    found = TOKEN.search(browser.open().text)
    assert found
    return found[1]


def test_every_answer_forbids_caching_and_framing_and_checks_the_host(
    closed: CliWorkshop, management_key
) -> None:
    with claim_page(closed, management_key) as page:
        browser = Browser(page.url)
        answers = [
            browser.open(),
            browser.claim("ACDE-FHJK-MNPR"),
            browser.session.get(f"{browser.base}/nowhere", timeout=30),
            browser.session.get(f"{browser.base}/claim", headers={"Host": "evil.example"}),
        ]
        assert answers[2].status_code == 404
        assert answers[3].status_code == 400, "a Host this page is not served as (rebinding)"
        for answer in answers:
            assert answer.headers["Cache-Control"] == "no-store"
            csp = answer.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert answer.headers["X-Frame-Options"] == "DENY"
        cookie = answers[0].headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_the_organiser_page_counts_on_this_machine_only(
    closed: CliWorkshop, management_key
) -> None:
    with claim_page(closed, management_key) as page:
        browser = Browser(page.url)
        browser.claim(code_of(closed, "person0@example.org"))
        counts = requests.get(f"{browser.base}/organiser", timeout=30)
        assert counts.status_code == 200
        text = counts.text
        assert "<dt>Claimed</dt><dd>1</dd>" in text and "<dt>Not claimed</dt><dd>3</dd>" in text
        assert "sk-or-v1-" not in text and "@example.org" not in text and "Person" not in text
        # Asked for by another name than loopback's (as from the room), it is not there.
        import socket

        elsewhere = requests.get(
            f"{browser.base}/organiser", headers={"Host": socket.gethostname()}, timeout=30
        )
        assert elsewhere.status_code in (400, 404)


def test_a_rotated_key_keeps_its_participants_code(closed: CliWorkshop, management_key) -> None:
    with claim_page(closed, management_key) as page:
        code = code_of(closed, "person1@example.org")
        first = key_in(Browser(page.url).claim(code))
    rotated = closed.keyprov("rotate", "ws.csv", "--participant", "person1@example.org")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert enabled_hashes(closed) == set(), "the successor waits, as the workshop is closed"
    with claim_page(closed, management_key) as page:
        second = key_in(Browser(page.url).claim(code))
    assert first and second and first != second
    new_hash, new_secret = state_secret(closed, "person1@example.org")
    assert second == new_secret and enabled_hashes(closed) == {new_hash}


def test_a_participant_gone_from_the_roster_cannot_claim(
    closed: CliWorkshop, management_key
) -> None:
    make_roster(closed.roster, 3)  # person3 cancelled
    assert closed.provision().returncode == 0
    with claim_page(closed, management_key) as page:
        code = code_of(closed, "person3@example.org")
        refused = Browser(page.url).claim(code)
        assert refused.status_code == 403 and key_in(refused) is None
