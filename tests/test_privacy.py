"""Pseudonymous key names: no participant's email, id or name ever reaches the server.

A whole workshop (provision, check, top-up, rotate, report, rename-keys, revoke, and handouts
when keyprov has the command) runs through the real CLI against the sandbox, behind a TCP
relay that records every byte keyprov sends, headers included. Nothing a roster says about a
person may be in any request: not as typed, lower-cased, upper-cased, URL-encoded or
JSON-escaped. The same workshop with readable names must be caught leaking, so the search is
known to find what it looks for.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from keyprov.cli.common import every_command
from keyprov.sandbox import Sandbox
from tests.helpers import invoke, write_csv

# Ids hold letters that are not hex digits, so no key hash in a URL can contain one by chance.
ROSTER = [
    ("Zoë Ångström", "zoe.angstrom@uni-heidelberg.example", "MAT-2025-0417"),
    ("José María Núñez", "jose.nunez@usal.example", "ÉTU-88213"),
    ("Nguyễn Thị Minh Khai", "minh.nguyen@hcmus.example", "SV-20187734"),
    ("François Lefèvre", "f.lefevre@sorbonne.example", "ÉTU-88214"),
    ("Siobhán O'Connor", "siobhan.oconnor@tcd.example", "TCD-19-3381"),
    ("Łukasz Wróbel", "lukasz.wrobel@uw.example", "UW-445120"),
    ("Ada Lovelace", "ada.lovelace@example.org", "ID-X1815"),
    ("Søren Kierkegaard", "soren.kierkegaard@ku.example", "KU-ÅR-7"),
]


class Relay:
    """A TCP relay on 127.0.0.1 in front of the sandbox: what keyprov sends, byte for byte."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._sent: list[bytes] = []
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def sent(self) -> bytes:
        with self._lock:
            return b"".join(self._sent)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, record: bool) -> None:
        with contextlib.suppress(OSError):  # either end closing ends the relay
            while data := source.recv(65536):
                if record:
                    with self._lock:
                        self._sent.append(data)
                target.sendall(data)
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for end in self._open:
                end.close()


@pytest.fixture
def relay(sandbox: Sandbox) -> Iterator[Relay]:
    relay = Relay(sandbox.port)
    yield relay
    relay.close()


def forms_of(text: str) -> set[str]:
    """The ways a value could travel: as typed, in either case, either Unicode form,
    URL-encoded, JSON-escaped."""
    variants = {text, text.lower(), text.upper(), text.casefold()}
    variants |= {unicodedata.normalize(form, v) for v in variants for form in ("NFC", "NFD")}
    encoded = {quote(v, safe="") for v in variants} | {quote_plus(v) for v in variants}
    encoded |= {quote(v) for v in variants}
    escaped = {json.dumps(v)[1:-1] for v in variants}
    return variants | encoded | escaped


def personal_data() -> dict[str, set[str]]:
    """Each roster value worth hiding (email, its local part, id, name, each long name
    part), with every form it could take on the wire."""
    values: dict[str, set[str]] = {}
    for name, email, participant_id in ROSTER:
        parts = [email, email.split("@")[0], participant_id, name]
        parts += [word for word in name.replace("'", " ").split() if len(word) >= 4]
        for value in parts:
            values[value] = forms_of(value)
    return values


def leaks(texts: list[str]) -> set[str]:
    """The roster values found in any of `texts`."""
    return {
        value
        for value, forms in personal_data().items()
        if any(form in text for text in texts for form in forms)
    }


def run_workshop(sandbox: Sandbox, relay: Relay, key: str, folder: Path, *naming: str) -> None:
    """A workshop from first provision to revoke, every command through the real CLI."""
    write_csv(
        folder / "ws.csv",
        ("Name", "Email", "Student ID", "Limit"),
        [(name, email, participant_id, 2) for name, email, participant_id in ROSTER],
    )
    env = {
        "OPENROUTER_PROVISIONING_KEY": key,
        "OPENROUTER_BASE_URL": f"http://127.0.0.1:{relay.port}/api/v1",
    }
    zoe, jose = ROSTER[0], ROSTER[1]
    commands = [
        ["provision", "ws.csv", "--dry-run", *naming],
        ["provision", "ws.csv", *naming],
        ["provision", "ws.csv"],
        ["check", "ws.csv"],
        ["set-limit", "ws.csv", "--participant", zoe[2], "--add", "1"],
        ["rotate", "ws.csv", "--participant", jose[2]],
        ["report", "ws.csv"],
        # Pseudonymous already: nothing to rename. Readable: a dry run, so it stays readable.
        ["rename-keys", "ws.csv", *(["--dry-run"] if naming else [])],
    ]
    if "handouts" in every_command():
        commands.append(["handouts", "ws.csv"])
    commands += [["revoke", "ws.csv", "--dry-run"], ["revoke", "ws.csv", "--yes"]]
    for command in commands:
        done = invoke(command, env=env, cwd=folder)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        if command == ["provision", "ws.csv", *naming]:
            sandbox.spend(usage=0.25)  # something to report, and for rotate to carry over


def test_a_pseudonymous_workshop_sends_no_email_id_or_name(
    sandbox: Sandbox, relay: Relay, management_key: str, tmp_path: Path
) -> None:
    run_workshop(sandbox, relay, management_key, tmp_path)

    log = sandbox.request_log
    methods = {record.method for record in log}
    assert {"GET", "POST", "PATCH"} <= methods, "the whole cycle reached the server"
    assert sum(record.method == "POST" for record in log) == len(ROSTER) + 1, "one rotation"
    assert leaks([record.sent_text() for record in log]) == set()
    wire = relay.sent
    assert b"Authorization: Bearer" in wire, "the relay saw the requests, headers and all"
    assert leaks([wire.decode("utf-8", errors="replace")]) == set(), "nor in any header"


def test_the_same_workshop_with_readable_names_is_caught(
    sandbox: Sandbox, relay: Relay, management_key: str, tmp_path: Path
) -> None:
    """The search above finds personal data when there is some to find."""
    run_workshop(sandbox, relay, management_key, tmp_path, "--key-names", "readable")

    found = leaks([record.sent_text() for record in sandbox.request_log])
    assert {participant_id for _, _, participant_id in ROSTER} <= found
    assert leaks([relay.sent.decode("utf-8", errors="replace")]) >= found
