"""kill -9 during `keyprov send` through an HTTP provider, the moment the provider has taken a
message and before it answers: the one window a duplicate can come from. Whatever happens,
nobody receives another participant's key; SMTP2GO's log finds every such message, so nobody
gets a second copy; SendGrid's cannot be searched, so its messages stay held until
`--resend-unknown`, and only then can a participant get their key twice.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from pathlib import Path

import pytest

from keyprov.sandbox import Sandbox
from tests.delivery.test_mail_http import api_key_for, mail_env
from tests.helpers import CliWorkshop, keyprov_process_env, run_keyprov
from tests.mail_fake_apis import FAKES
from tests.mail_fakes import KEY

PARTICIPANTS = 12
KILLS = 4


@pytest.mark.parametrize("provider", ["smtp2go", "sendgrid"])
def test_kill_9_after_the_provider_took_a_message_never_sends_it_twice_unasked(
    provider: str, sandbox: Sandbox, management_key: str, tmp_path: Path
) -> None:
    workshop = CliWorkshop(sandbox, management_key, tmp_path)
    workshop.provisioned(PARTICIPANTS)
    chance = random.Random(20261207)
    printed: list[str] = []
    with FAKES[provider](api_key_for(provider)) as fake:
        env = keyprov_process_env({**workshop.env, **mail_env(fake)})
        process: list[subprocess.Popen[str]] = []
        kill_at = [0]

        def kill_when_armed() -> None:
            if process and len(fake.delivered) >= kill_at[0] and process[0].poll() is None:
                process[0].kill()
                process[0].wait()

        fake.on_take = kill_when_armed
        kills = 0
        for _ in range(KILLS):
            kill_at[0] = len(fake.delivered) + chance.randint(1, 2)
            process[:] = [
                subprocess.Popen(
                    [sys.executable, "-m", "keyprov", "send", "ws.csv", "--rate", "6000"],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            ]
            out, err = process[0].communicate(timeout=120)
            printed += [out, err]
            kills += process[0].returncode == -9
        fake.on_take = None
        assert kills == KILLS, "every run was killed while it had mail to send"

        final = run_keyprov(["send", "ws.csv", "--rate", "6000"], env=env, cwd=tmp_path)
        printed += [final.stdout, final.stderr]
        if provider == "smtp2go":
            assert final.returncode == 0, final.stderr
        else:
            assert final.returncode == 1, "held: SendGrid's log cannot be searched"
            assert f"{KILLS} outcome unknown" in final.stdout
            forced = run_keyprov(
                ["send", "ws.csv", "--rate", "6000", "--resend-unknown"], env=env, cwd=tmp_path
            )
            printed += [forced.stdout, forced.stderr]
            assert forced.returncode == 0, forced.stderr

        live = {str(row[1]): str(row[2]) for row in workshop.sheet()}
        for email, secret in live.items():
            assert hashlib.sha256(secret.encode()).hexdigest() == workshop.key_of(email)["hash"]
        for item in fake.delivered:
            (address,) = item.recipients
            assert item.keys == {live[address]}, "their own key, and no other"
        copies = {email: len(fake.to(email)) for email in live}
        assert min(copies.values()) == 1, "everyone got their key"
        duplicates = len(fake.delivered) - len(live)
        assert duplicates == (0 if provider == "smtp2go" else KILLS)
        for text in printed:
            assert KEY.findall(text) == [] and fake.api_key not in text
