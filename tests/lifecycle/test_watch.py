"""keyprov watch against the sandbox: alerts once per key per threshold per window (across a
restart and a window reset), delivered to a real webhook receiver and a real SMTP server,
credit warnings, what participants see, and what one poll costs."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.delivery.settings import SmtpSettings
from keyprov.lifecycle.notify import Webhook
from keyprov.render import watch as view
from keyprov.sandbox import Faults, Sandbox
from tests.helpers import CliWorkshop, keyprov_process_env, most_at_once
from tests.lifecycle.watching import events, provision_room, spend, start_watch
from tests.smtp import KEY, LoopbackController, Mailbox
from tests.webhook import WebhookReceiver


@pytest.fixture
def workshop(sandbox: Sandbox, management_key: str, tmp_path: Path) -> CliWorkshop:
    room = CliWorkshop(sandbox, management_key, tmp_path)
    provision_room(room)
    return room


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


def smtp_settings(controller: LoopbackController) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1", port=controller.port, security="plain", from_address="watch@example.org"
    )


def test_alerts_fire_once_per_key_threshold_and_window_across_a_restart_and_a_reset(
    workshop: CliWorkshop,
    client: OpenRouterClient,
    receiver: WebhookReceiver,
    smtp_server: LoopbackController,
    mailbox: Mailbox,
) -> None:
    sandbox = workshop.sandbox
    ada = spend(workshop, "ada@example.org", 0.85)
    grace = spend(workshop, "grace@example.org", 1.07)  # overspent: in-flight requests finished
    spend(workshop, "alan@example.org", 0.5)
    hook = Webhook(receiver.url, "json")
    settings = dict(
        webhook=hook, email_to=("organiser@example.org",), smtp=smtp_settings(smtp_server)
    )

    watch = start_watch(client, sandbox, **settings)
    report = watch.poll()
    assert [(a.name, a.threshold, a.passed) for a in report.alerts] == [
        ("Grace Hopper", 100, (80, 100)),
        ("Ada Lovelace", 80, (80,)),
    ]
    assert report.needs_attention
    assert watch.poll().alerts == []  # the same window: nothing fires again
    watch.__exit__(None, None, None)

    restarted = start_watch(client, sandbox, **settings)
    assert restarted.poll().alerts == [], "a restart never alerts again in the same window"

    # One digest per poll: one POST and one email, whatever the number of alerts.
    assert len(receiver.posted) == 1
    (posted,) = receiver.posted
    body = posted.json
    today = sandbox.now().date().isoformat()
    assert body["workshop"] == "ws"
    assert body["alerts"] == [
        {"participant": "Grace H.", "threshold": 100, "spent": 1.07, "limit": 1.0,
         "window": f"{today} UTC"},
        {"participant": "Ada L.", "threshold": 80, "spent": 0.85, "limit": 1.0,
         "window": f"{today} UTC"},
    ]  # fmt: skip
    sent = posted.body.decode()
    assert "@" not in sent and "Lovelace" not in sent and "sk-or-" not in sent
    (mail,) = mailbox.to("organiser@example.org")
    assert mail.keys == set() and "sk-or-" not in mail.message.get_content()
    assert "Grace Hopper: 100 % of the limit (1.07 of 1.00 USD" in mail.message.get_content()

    # Tomorrow (the sandbox's clock moves on): the daily windows start again, and so may alerts.
    sandbox.advance_clock(24 * 3600)
    assert workshop.key_of("ada@example.org")["usage_daily"] == 0
    sandbox.set_usage(ada, usage=1.7, daily=0.85, weekly=1.7, monthly=1.7)
    tomorrow = restarted.poll()
    assert [(a.name, a.threshold, a.window) for a in tomorrow.alerts] == [
        ("Ada Lovelace", 80, f"daily:{sandbox.now().date()}")
    ]
    fired = [(e["hash"], e["threshold"]) for e in events(workshop.folder) if e["event"] == "alert"]
    assert sorted(fired) == sorted([(grace, 80), (grace, 100), (ada, 80), (ada, 80)])
    restarted.__exit__(None, None, None)


def test_the_slack_text_names_participants_by_first_name_and_initial(
    workshop: CliWorkshop, client: OpenRouterClient, receiver: WebhookReceiver
) -> None:
    spend(workshop, "emile@example.org", 1.0)
    watch = start_watch(client, workshop.sandbox, webhook=Webhook(receiver.url, "slack"))
    watch.poll()
    (posted,) = receiver.posted
    text = posted.json["text"]
    assert text.startswith("keyprov watch · ws · 1 alert")
    assert "• Émile B.: 100 % of the limit (1.00 of 1.00 USD" in text
    watch.__exit__(None, None, None)


def test_a_digest_the_webhook_refused_is_delivered_at_the_next_poll_once(
    workshop: CliWorkshop, client: OpenRouterClient, receiver: WebhookReceiver
) -> None:
    spend(workshop, "ada@example.org", 0.9)
    receiver.fail_next = [503]
    watch = start_watch(client, workshop.sandbox, webhook=Webhook(receiver.url, "json"))
    first = watch.poll()
    assert first.delivery_problems == [
        "webhook: the webhook answered 503 (tried again at the next poll)"
    ]
    assert receiver.posted == []
    second = watch.poll()
    assert second.alerts == [] and second.delivery_problems == []
    assert [p.json["alerts"][0]["participant"] for p in receiver.posted] == ["Ada L."]
    watch.poll()
    assert len(receiver.posted) == 1
    watch.__exit__(None, None, None)


def test_credit_warnings_are_told_once_and_participants_see_402_at_zero(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    sandbox = workshop.sandbox
    spend(workshop, "ada@example.org", 0.5)
    # The four keys may still spend 3.50 USD; the account has 2.00 left.
    sandbox.set_credits(total_credits=10.0, total_usage=8.0)
    watch = start_watch(client, sandbox)
    report = watch.poll()
    assert [w.kind for w in report.new_warnings] == ["credits_short"]
    assert view.warning_text(report.warnings[0]) == (
        "credits: 2.00 USD left, but the enabled keys may still spend 3.50: add credits "
        "before they run out"
    )
    assert watch.poll().new_warnings == []  # told once while it lasts

    sandbox.set_credits(total_credits=10.0, total_usage=10.0)
    used_up = watch.poll()
    assert [w.kind for w in used_up.new_warnings] == ["credits_running_out"]
    ada = next(k for k in used_up.poll.keys if k.name == "Ada Lovelace")
    assert view.participant_sees(ada, used_up.poll.credits_left) == (
        "every key blocked (402): the account's credits are used up"
    )
    sandbox.set_credits(total_credits=100.0, total_usage=10.0)
    assert watch.poll().warnings == []
    kinds = [e["event"] for e in events(workshop.folder) if e["event"].startswith("credits")]
    assert kinds == ["credits_warning", "credits_warning", "credits_cleared", "credits_cleared"]
    watch.__exit__(None, None, None)


def test_what_participants_see_out_of_budget_disabled_and_expired(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    spend(workshop, "ada@example.org", 1.2)
    client.update_key(workshop.key_of("alan@example.org")["hash"], disabled=True)
    watch = start_watch(client, workshop.sandbox)
    poll = watch.poll().poll
    sees = {k.name: view.participant_sees(k, poll.credits_left) for k in poll.keys}
    assert sees["Ada Lovelace"] == "blocked until 00:00 UTC (403 key limit)"
    assert sees["Alan Turing"] == "key disabled: every request refused (401)"
    assert sees["Grace Hopper"] == "working"
    ada = next(k for k in poll.keys if k.name == "Ada Lovelace")
    assert view.cell(ada) == "Ada Lovelace      1.20/1.00 +0.20 over"
    watch.__exit__(None, None, None)


def test_one_poll_is_one_listing_with_its_pages_at_once_and_the_credits_read(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    sandbox = workshop.sandbox
    for number in range(296):  # another workshop's keys share the account's listing
        sandbox.create_key_directly(f"other:{number}", limit=1.0)
    keys = len(sandbox.keys())
    assert keys == 300
    sandbox.faults = Faults(latency=0.05)  # so that requests sent together overlap
    watch = start_watch(client, sandbox)
    for _ in range(3):
        sandbox.clear_log()
        watch.poll()
        log = sandbox.request_log
        assert len(log) <= math.ceil(keys / 100) + 2
        assert sorted((r.method, r.path) for r in log) == [("GET", "/api/v1/credits")] + [
            ("GET", "/api/v1/keys")
        ] * (len(log) - 1)
    # After the first, a poll asks for every page it expects at once, and the credits with them.
    assert most_at_once(log) == len(log) == 5
    watch.__exit__(None, None, None)


def test_the_view_fits_120_by_30_with_300_participants(
    sandbox: Sandbox, management_key: str, tmp_path: Path, client: OpenRouterClient
) -> None:
    room = CliWorkshop(sandbox, management_key, tmp_path)
    room.provisioned(300, "--limit-reset", "daily")
    for number, key in enumerate(sandbox.keys()):
        # A room an hour in: some over, some nearly out, some not started, most under way.
        amount = {0: 1.1, 1: 0.9, 2: 0.0, 3: 1.0}.get(number % 10, 0.2 + number % 7 / 10)
        sandbox.set_usage(key["hash"], usage=amount, daily=amount, weekly=amount, monthly=amount)
    watch = start_watch(client, sandbox)
    report = watch.poll()
    lines = view.watch_view(report, width=120, height=30, every=30)
    assert len(lines) <= 30 and all(len(text) <= 120 for text, _style in lines)
    assert lines[0][0].startswith("ws · 300 of 300 keys enabled · spent ")
    text = "\n".join(t for t, _ in lines)
    poll = report.poll
    for section, count in (
        ("OUT OF BUDGET", len([k for k in poll.keys if k.out])),
        ("BELOW 20 %", len([k for k in poll.keys if k.low])),
        ("NOT USED YET", len([k for k in poll.keys if k.unused])),
    ):
        assert count > 0 and f"{section} ({count})" in text, section
    assert "TOP SPENDERS" in text and "more" in text and "over" in text
    watch.__exit__(None, None, None)


def test_watch_once_exits_0_with_nothing_to_report_and_1_with_alerts(
    workshop: CliWorkshop, receiver: WebhookReceiver
) -> None:
    workshop.env["KEYPROV_WEBHOOK_URL"] = receiver.url
    quiet = workshop.keyprov("watch", "ws.csv", "--once")
    assert quiet.returncode == 0, quiet.stderr
    (line,) = [json.loads(text) for text in quiet.stdout.splitlines()]
    assert line["type"] == "poll" and line["keys_enabled"] == 4
    assert [r.path for r in workshop.sandbox.request_log].count("/api/v1/keys") == 1

    spend(workshop, "grace@example.org", 1.0)
    receiver.fail_next = [500]
    loud = workshop.keyprov("watch", "ws.csv", "--once")
    assert loud.returncode == 1
    records = [json.loads(text) for text in loud.stdout.splitlines()]
    assert [r["type"] for r in records] == ["poll", "alert", "delivery_failed"]
    assert records[0]["out_of_budget"][0]["sees"] == "blocked until 00:00 UTC (403 key limit)"
    # The webhook's address is a secret: its path is nowhere, printed or written.
    written = [loud.stdout, loud.stderr]
    for name in ("events.jsonl", "audit.jsonl"):
        written.append((workshop.folder / "output" / "ws" / name).read_text())
    assert not any("s3cr3tPathPart" in text for text in written)
    assert not any(KEY.search(text) for text in written)


def test_ctrl_c_stops_a_watch_with_130_and_loses_nothing(workshop: CliWorkshop) -> None:
    spend(workshop, "ada@example.org", 0.9)
    process = subprocess.Popen(
        [sys.executable, "-m", "keyprov", "watch", "ws.csv", "--every", "5s"],
        cwd=workshop.folder,
        env=keyprov_process_env(workshop.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())  # without a terminal: JSON lines
    alert = json.loads(process.stdout.readline())
    assert (first["type"], alert["type"], alert["name"]) == ("poll", "alert", "Ada Lovelace")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    journal = events(workshop.folder)
    assert [e["event"] for e in journal] == ["alert", "digest"]
    # The watch's lock went with it: the next one starts, and tells nothing again.
    again = workshop.keyprov("watch", "ws.csv", "--once")
    assert [json.loads(line)["type"] for line in again.stdout.splitlines()] == ["poll"]
