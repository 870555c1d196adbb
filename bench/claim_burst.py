"""The bench's claim burst: a room scans the projected QR code at once.

A closed workshop of N participants is provisioned against a sandbox in its own process
(latency L, no rate limit); `keyprov claim ROSTER` runs in its own process, as on the
organiser's laptop. N clients, each with its own cookies and connection (spread over a few
worker processes, so the clients' own Python does not queue behind one interpreter lock),
first open the form, then all post their codes at the same moment. Each post is timed from
just before it is sent to its answer.

What must hold, checked here and reported: every claim got exactly its own participant's key
(compared with the workshop's state), no key was shown twice, every key is enabled on the
server once (one PATCH each), and no other key is enabled.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from harness import BENCH_KEY, sandbox_process, workspace, write_csv_roster

from keyprov.api.client import OpenRouterClient
from keyprov.workshop.claimcodes import claim_code, display_code

TOKEN = re.compile(r'name="token" value="([0-9a-f]+)"')
KEY = re.compile(r'id="key" rows="3" readonly spellcheck="false">(sk-or-v1-[0-9a-f]{64})<')
URL = re.compile(r"^  (https?://\S+/claim)$", re.MULTILINE)
CLIENT_PROCESSES = 4


@dataclass(frozen=True)
class BurstRow:
    claims: int
    latency: float
    p50: float
    p95: float
    p99: float
    slowest: float
    wall: float
    """From the moment every post was let go to the last answer."""
    own_keys: int
    """Claims answered with exactly their own participant's key."""
    distinct: int
    enabled: int
    """Keys enabled on the server afterwards: all the workshop's, since all were claimed."""
    patches: int
    """PATCHes the server answered: one per key enabled, none twice."""
    failures: int

    @property
    def correct(self) -> bool:
        return (
            self.own_keys == self.claims == self.distinct == self.enabled == self.patches
            and self.failures == 0
        )


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


def _clients(
    base: str, claims: list[tuple[str, str]], ready: multiprocessing.Queue, go: object, out: object
) -> None:
    """One worker process: a session per client, the form first, then every post at once."""
    sessions = {identity: requests.Session() for identity, _ in claims}
    tokens = {}
    for identity, _code in claims:
        page = sessions[identity].get(f"{base}/claim", timeout=60)
        found = TOKEN.search(page.text)
        tokens[identity] = found[1] if found else ""
    ready.put(len(claims))
    go.wait()  # type: ignore[attr-defined]
    results: list[tuple[str, float, float, str | None, int]] = []
    lock = threading.Lock()

    def post(identity: str, code: str) -> None:
        started = time.monotonic()
        try:
            answer = sessions[identity].post(
                f"{base}/claim", data={"code": code, "token": tokens[identity]}, timeout=120
            )
            found = KEY.search(answer.text)
            outcome = (found[1] if found else None), answer.status_code
        except requests.RequestException:
            outcome = None, 0
        finished = time.monotonic()
        with lock:
            results.append((identity, started, finished, *outcome))

    threads = [threading.Thread(target=post, args=pair) for pair in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(results)  # type: ignore[attr-defined]


def _state(folder: Path) -> tuple[str, dict[str, str]]:
    """The claim secret, and each identity's key secret, from state.jsonl."""
    secret, keys = "", {}
    for line in (folder / "state.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "claim_secret":
            secret = record["secret"]
        elif record.get("secret") and record.get("identity"):
            keys[record["identity"]] = record["secret"]
    return secret, keys


def claim_burst(claims: int, latency: float) -> BurstRow:
    with sandbox_process(latency=latency, rate_limit=None) as sandbox, workspace() as space:
        roster = write_csv_roster(space.folder / "room.csv", claims)
        made = space.run(sandbox, ["provision", str(roster), "--out", str(space.out), "--closed"])
        if made.returncode != 0:
            raise RuntimeError(f"provision --closed for the claim burst failed: {made.stderr}")
        page = subprocess.Popen(
            [sys.executable, "-m", "keyprov", "claim", str(roster), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=space.environment(sandbox),
            cwd=space.folder,
        )
        try:
            assert page.stdout is not None
            printed = ""
            for line in page.stdout:
                printed += line
                if line.startswith("Ctrl-C stops the page"):
                    break
            found = URL.search(printed)
            if not found:
                raise RuntimeError(f"keyprov claim did not start: {printed}")
            base = found[1].removesuffix("/claim")
            secret, keys = _state(space.out / "room")
            pairs = [(identity, display_code(claim_code(secret, identity))) for identity in keys]
            sandbox.clear_log()
            results, let_go = _run_clients(base, pairs)
        finally:
            page.send_signal(signal.SIGINT)
            page.communicate(timeout=60)
        seen = sandbox.requests_seen()
        with OpenRouterClient(BENCH_KEY, sandbox.base_url) as client:
            server = client.list_all_keys(include_disabled=True)
    answered = [(who, finished - started, key) for who, started, finished, key, _ in results]
    latencies = [seconds for _, seconds, _ in answered]
    shown = [key for _, _, key in answered if key is not None]
    patched = [r for r in seen if r["method"] == "PATCH" and r["status"] == 200]
    return BurstRow(
        claims=claims,
        latency=latency,
        p50=_percentile(latencies, 0.50),
        p95=_percentile(latencies, 0.95),
        p99=_percentile(latencies, 0.99),
        slowest=max(latencies),
        wall=max(finished for _, _, finished, _, _ in results) - let_go,
        own_keys=sum(1 for identity, _, key in answered if key == keys[identity]),
        distinct=len(set(shown)),
        enabled=sum(1 for key in server if not key.disabled),
        patches=len(patched),
        failures=sum(1 for *_, status in results if status != 200),
    )


def _run_clients(
    base: str, pairs: list[tuple[str, str]]
) -> tuple[list[tuple[str, float, float, str | None, int]], float]:
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    ready, out, go = context.Queue(), context.Queue(), context.Event()
    shares = [pairs[i::CLIENT_PROCESSES] for i in range(CLIENT_PROCESSES)]
    workers = [
        context.Process(target=_clients, args=(base, share, ready, go, out)) for share in shares
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=300)
    let_go = time.monotonic()
    go.set()
    results = []
    for _ in workers:
        results.extend(out.get(timeout=300))
    for worker in workers:
        worker.join(timeout=60)
    return results, let_go


def burst_table(rows: list[BurstRow]) -> list[str]:
    lines = [
        "| claims | L | p50 | p95 | p99 | slowest | last answer | own key each | "
        "distinct keys | enabled (PATCHes) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.claims} | {row.latency * 1000:g} ms | {row.p50:.2f} s | {row.p95:.2f} s | "
            f"{row.p99:.2f} s | {row.slowest:.2f} s | {row.wall:.2f} s | {row.own_keys} | "
            f"{row.distinct} | {row.enabled} ({row.patches}) |"
        )
    return lines


def burst_verdicts(rows: list[BurstRow]) -> list[str]:
    lines = []
    for row in rows:
        met = row.correct and row.p99 < 2.0
        lines.append(
            f"- Claim burst, {row.claims} at once at L = {row.latency * 1000:g} ms: p99 "
            f"{row.p99:.2f} s (target < 2 s), each claim its own key, none twice, each enabled "
            f"once: {'met' if met else 'MISSED'}"
        )
    return lines
