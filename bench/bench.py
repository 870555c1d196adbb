"""`make bench`: how fast keyprov is, as the user waits for it, beside baselines of the same run.

Every measurement starts its own sandbox process (`keyprov sandbox --latency L --rate-limit
R`), so the server's work does not share the client's interpreter. It measures:

1. provisioning, the whole `keyprov provision` process, at each size N and rate limit R,
   beside the notebook's one-at-a-time loop (`scenarios.provision_speed`, `loop_speed`);
2. start-up: `keyprov provision --help`, and the first request's arrival after the spawn;
3. the lifecycle commands (set-limit --all --add, rotate --all, revoke) over a provisioned
   workshop, each its whole process;
4. scale: reading a 10,000-row roster, provisioning it at R = 200, and its rerun;
5. on the day: one `keyprov watch --once` poll of 1,000 keys and the requests it sent
   (`--only watch` runs this alone, into bench/results-watch.md);
6. mail: `keyprov send` of 300 messages through a local fake of each HTTP mail API at its
   rate (`bench/mail.py`; `--only mail` runs this alone, into bench/results-mail.md);
7. on the day: a room claims at once, 300 claims posted together against `keyprov claim`
   (`--only claim-burst` runs this alone, into bench/results-claim-burst.md).

The tables are printed and written to bench/results.md with the machine and the date. Nothing
here is a test: timings depend on the machine, so they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import claim_burst
import mail
import report
import scenarios
import watch_poll

RESULTS_FILE = Path(__file__).resolve().parent / "results.md"
REPEAT_BELOW_SECONDS = 30.0


def _numbers(text: str) -> list[float]:
    try:
        return [float(value) for value in text.split(",") if value.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated numbers") from error


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_numbers, default=[20, 100, 500], help="keys, N")
    parser.add_argument("--rates", type=_numbers, default=[2, 5, 50, 200], help="R, req/s")
    parser.add_argument("--latency", type=float, default=0.150, help="server latency, s")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="skip a provisioning scenario or loop whose least time N / R is longer",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of a short scenario")
    parser.add_argument("--startup-runs", type=int, default=5, help="runs of each start-up")
    parser.add_argument("--life-keys", type=int, default=500, help="keys for the lifecycle")
    parser.add_argument("--life-rate", type=float, default=50.0, help="R for the lifecycle")
    parser.add_argument("--rows", type=int, default=10_000, help="rows for the scale runs")
    parser.add_argument("--scale-rate", type=float, default=200.0, help="R for the scale runs")
    parser.add_argument("--watch-keys", type=int, default=1000, help="keys for the watch poll")
    parser.add_argument(
        "--mail-messages", type=int, default=300, help="messages for the mail runs (0: none)"
    )
    parser.add_argument(
        "--only",
        choices=["watch", "mail", "claim-burst"],
        help="run this scenario alone (written to results-NAME.md)",
    )
    parser.add_argument("--claims", type=int, default=300, help="claims posted at once")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def measure_watch(arguments: argparse.Namespace, results: report.Results) -> None:
    if arguments.watch_keys:
        print(f"watch: one poll of {arguments.watch_keys} keys ...", flush=True)
        results.watch.append(watch_poll.watch_poll(arguments.watch_keys, arguments.latency))


def measure_claims(arguments: argparse.Namespace, results: report.Results) -> None:
    if arguments.claims:
        print(f"claim burst: {arguments.claims} claims at once ...", flush=True)
        results.claims.append(claim_burst.claim_burst(arguments.claims, arguments.latency))


def measure_mail(arguments: argparse.Namespace, results: report.Results) -> None:
    messages = arguments.mail_messages
    for provider, rate in mail.MAIL_RUNS if messages else ():
        pace = f"--rate {rate:g}" if rate else "its default pace"
        print(f"send: {messages} messages through {provider}'s fake, {pace} ...", flush=True)
        results.mail.append(mail.mail_speed(provider, messages, rate))


def measure(arguments: argparse.Namespace) -> report.Results:
    results = report.Results()
    if arguments.only == "watch":
        measure_watch(arguments, results)
        return results
    if arguments.only == "mail":
        measure_mail(arguments, results)
        return results
    if arguments.only == "claim-burst":
        measure_claims(arguments, results)
        return results
    latency = arguments.latency
    sizes = [int(size) for size in arguments.sizes]
    # The loop sends at most 1 / L requests a second: above that rate the limit never bites.
    loop_rates = {rate: rate for rate in arguments.rates}
    unbound = [rate for rate in arguments.rates if rate >= 1 / latency]
    for rate in unbound:
        loop_rates[rate] = min(unbound)
    loops: dict[tuple[int, float], scenarios.SpeedRow] = {}
    for rate in arguments.rates:
        for keys in sizes:
            least = keys / rate
            if least > arguments.max_seconds:
                results.skipped.append(
                    f"N={keys} at R={rate:g}: at least {least:.0f} s (--max-seconds "
                    f"{arguments.max_seconds:g})"
                )
                continue
            loop_rate = loop_rates[rate]
            if (keys, loop_rate) not in loops:
                print(f"loop: {keys} keys at R={loop_rate:g}/s ...", flush=True)
                loops[keys, loop_rate] = scenarios.loop_speed(keys, loop_rate, latency)
                results.loops.append(loops[keys, loop_rate])
            repeats = arguments.repeats if least < REPEAT_BELOW_SECONDS else 1
            print(f"keyprov provision: {keys} keys at R={rate:g}/s x{repeats} ...", flush=True)
            row = scenarios.provision_speed(keys, rate, latency, repeats)
            results.speed.append(replace(row, baseline_wall=loops[keys, loop_rate].wall))
    print("start-up ...", flush=True)
    results.startup = scenarios.startup(arguments.startup_runs)
    if arguments.life_keys:
        print(f"lifecycle: {arguments.life_keys} keys at R={arguments.life_rate:g}/s ...")
        results.lifecycle = scenarios.lifecycle_speed(
            arguments.life_keys, arguments.life_rate, latency
        )
    if arguments.rows:
        print(f"scale: {arguments.rows} rows at R={arguments.scale_rate:g}/s ...", flush=True)
        results.scale = scenarios.scale(arguments.rows, arguments.scale_rate, latency)
    measure_watch(arguments, results)
    measure_mail(arguments, results)
    measure_claims(arguments, results)
    return results


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.WARNING)
    if arguments.child:
        kind, roster = arguments.child
        assert kind == "plan", kind
        print(json.dumps(scenarios.child_plan(Path(roster))))
        return 0
    results = measure(arguments)
    command = "make bench" if not argv else "python bench/bench.py " + " ".join(argv)
    if arguments.only:
        text = report.only_report(results, command, arguments.only)
        output = arguments.output or RESULTS_FILE.with_name(f"results-{arguments.only}.md")
    else:
        text = report.report(results, command, arguments.latency)
        output = arguments.output or RESULTS_FILE
    output.write_text(text, encoding="utf-8")
    print()
    print(text)
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
