"""The mail scenario: the whole `keyprov send` process, N messages through a local fake of an
HTTP mail API that enforces a rate (tests/mail_fake_apis.py: a token bucket refilled at that
rate, 429 past it, SendGrid's rate headers on every answer).

The ceiling is N / rate: at the documented pace, the N-th message cannot start before
(N - 1) / rate seconds after the first. The workshop is provisioned first (not timed) against
a sandbox without latency; the timed run reads the roster, lists the keys, and sends.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from harness import sandbox_process, workspace, write_csv_roster

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the fakes live with the tests

from tests.mail_fake_apis import FAKES  # noqa: E402

from keyprov.delivery.providers import PROVIDERS  # noqa: E402

MAIL_RUNS = (("sendgrid", None), ("smtp2go", 600.0), ("mailgun", 600.0))
"""Each provider, at the pace `keyprov send` keeps by default (None) or at --rate. SendGrid's
default is 600 a minute; SMTP2GO's (6, its published 360 an hour) and Mailgun's (60) would
make 300 messages take 50 and 5 minutes, so they run at --rate 600 against a fake limited
to the same 600."""


@dataclass(frozen=True)
class MailRow:
    provider: str
    messages: int
    rate_per_minute: float
    option: str
    """`--rate N`, or "default" for the provider's own pace."""
    wall: float
    delivered: int
    requests: int
    throttled: int
    returncode: int

    @property
    def ceiling(self) -> float:
        return self.messages / (self.rate_per_minute / 60)

    @property
    def ratio(self) -> float:
        return self.wall / self.ceiling


def mail_speed(provider: str, messages: int, rate_per_minute: float | None) -> MailRow:
    pace = rate_per_minute or PROVIDERS[provider].rate_per_minute
    per_second = pace / 60
    api_key = "bench-" + provider + "-key-0123456789abcdef"
    with (
        sandbox_process(latency=0.0, rate_limit=None) as sandbox,
        workspace() as space,
        FAKES[provider](api_key, rate=per_second, burst=max(per_second, 1.0)) as fake,
    ):
        roster = write_csv_roster(space.folder / "mail.csv", messages)
        made = space.run(sandbox, ["provision", str(roster), "--out", str(space.out)])
        if made.returncode != 0:
            raise RuntimeError(f"provisioning for the mail bench failed: {made.stderr}")
        env = {
            "KEYPROV_MAIL": provider,
            "KEYPROV_MAIL_API_KEY": api_key,
            "KEYPROV_MAIL_FROM": "Workshop team <team@example.org>",
            "KEYPROV_MAIL_API_URL": fake.api_url,
            # A paid plan: the free tiers' 100 or 200 a day would stop the run.
            "KEYPROV_MAIL_DAILY_QUOTA": "none",
        }
        if provider == "mailgun":
            env["KEYPROV_MAIL_DOMAIN"] = fake.domain  # type: ignore[attr-defined]
        arguments = ["send", str(roster), "--out", str(space.out)]
        if rate_per_minute is not None:
            arguments += ["--rate", f"{rate_per_minute:g}"]
        run = space.run(sandbox, arguments, env=env)
        return MailRow(
            provider,
            messages,
            pace,
            f"--rate {rate_per_minute:g}" if rate_per_minute else "default",
            run.wall,
            len(fake.delivered),
            fake.sends,
            fake.throttled,
            run.returncode,
        )


def mail_table(rows: list[MailRow]) -> list[str]:
    lines = [
        "| provider | messages | pace (a minute) | `--rate` | wall (s) | ceiling N / rate (s) "
        "| wall / ceiling | delivered | 429s | exit |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {PROVIDERS[row.provider].title} | {row.messages} | {row.rate_per_minute:g} "
            f"| {row.option} | {row.wall:.2f} | {row.ceiling:.2f} | {row.ratio:.3f} "
            f"| {row.delivered} | {row.throttled} | {row.returncode} |"
        )
    return lines


def mail_verdicts(rows: list[MailRow]) -> list[str]:
    return [
        f"- {row.messages} messages through {PROVIDERS[row.provider].title}'s fake at "
        f"{row.rate_per_minute:g} a minute: wall / ceiling {row.ratio:.3f} ≤ 1.1, every message "
        f"delivered once, exit 0: "
        + (
            "met"
            if row.ratio <= 1.1 and row.delivered == row.messages and row.returncode == 0
            else "MISSED"
        )
        for row in rows
    ]


MAIL_NOTE = [
    "The whole `keyprov send` process (roster, key listing, each message journaled before and",
    "after), through a local fake of the provider's API that refuses with 429 past its rate.",
    "The ceiling is N / rate. SendGrid runs at keyprov's default pace for it; SMTP2GO's default",
    "(6 a minute, its published 360 an hour) and Mailgun's (60) would take 50 and 5 minutes",
    "for 300 messages, so they run at `--rate 600` against a fake limited to 600.",
]
