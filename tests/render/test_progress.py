"""What a run shows while it works, exactly: the Reporter's writes for a given series of events.

A terminal gets lines redrawn in place (carriage return, clear to the end of the line); a log
gets whole numbered lines. The clock is the test's, so every ETA is known.
"""

from __future__ import annotations

import io

from keyprov.cli.progress import Reporter
from keyprov.engine.outcomes import Outcome, ParticipantResult
from keyprov.engine.planner import Action, ParticipantPlan, Plan
from keyprov.render.progress import bar_line, eta_seconds
from keyprov.roster import Participant

REDRAW = "\r\x1b[K"
PEOPLE = [Participant(f"P {i}", f"p{i}@example.org", 1.0, None, i + 2) for i in range(4)]
PLAN = Plan("ws", [ParticipantPlan(person, Action.CREATE) for person in PEOPLE])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def created(i: int) -> ParticipantResult:
    return ParticipantResult(
        f"p{i}@example.org", f"P {i}", f"p{i}@example.org", Outcome.CREATED,
        label=f"sk-or-v1-00{i}...abc",
    )  # fmt: skip


def reporter(*, interactive: bool, quiet: bool = False) -> tuple[Reporter, io.StringIO, Clock]:
    stream, clock = io.StringIO(), Clock()
    shown = Reporter(
        quiet=quiet,
        label="provisioning ws",
        stream=stream,
        interactive=interactive,
        width=72,
        clock=clock,
    )
    return shown, stream, clock


def test_a_terminal_sees_the_listing_then_a_labelled_bar_with_count_and_eta() -> None:
    shown, stream, clock = reporter(interactive=True)
    shown.listing(0, 0, False)
    shown.listing(100, 1, False)
    shown.listing(243, 3, True)
    shown.plan(PLAN)
    for i in range(4):
        clock.now += 2
        shown.result(created(i))
    shown.close()

    assert stream.getvalue().split(REDRAW)[1:] == [
        "listing the server's keys: page 1",
        "listing the server's keys: page 2, 100 keys so far",
        "listed 243 keys on the server (3 pages)\n",
        "provisioning ws  [..............................]  0/4  0%",
        "provisioning ws  [#######.......................]  1/4  25%",
        "provisioning ws  [###############...............]  2/4  50%  ETA 0:04",
        "provisioning ws  [######################........]  3/4  75%  ETA 0:02",
        "provisioning ws  [##############################]  4/4  100%",
        "provisioning ws  [##############################]  4/4  100%  in 0:08\n",
    ]


def test_ctrl_c_says_at_once_what_the_run_waits_for_and_counts_down() -> None:
    shown, stream, clock = reporter(interactive=True)
    shown.plan(PLAN)
    clock.now += 1
    shown.result(created(0))
    shown.stopping(2)
    shown.result(created(1))
    shown.interrupted_again()
    shown.result(created(2))
    shown.close()

    assert stream.getvalue().split(REDRAW)[1:] == [
        "provisioning ws  [..............................]  0/4  0%",
        "provisioning ws  [#######.......................]  1/4  25%\n",  # kept, on its line
        "stopping: waiting for 2 creates in flight so their keys are saved",
        "stopping: waiting for 1 create in flight so their keys are saved",
        "still waiting for 1 create in flight: their keys are saved before exit",
        "stopping: saving what was done\n",
    ]


def test_a_log_gets_numbered_lines_and_the_stopping_line() -> None:
    shown, stream, _ = reporter(interactive=False)
    shown.listing(0, 0, False)
    shown.listing(100, 1, False)  # a page on its own is not worth a line in a log
    shown.listing(143, 2, True)
    shown.plan(PLAN)
    shown.result(created(0))
    shown.stopping(1)
    shown.result(created(1))
    shown.close()

    assert stream.getvalue().splitlines() == [
        "listing the server's keys: page 1",
        "listed 143 keys on the server (2 pages)",
        "[1/4] created             P 0, p0@example.org  sk-or-v1-000...abc",
        "stopping: waiting for 1 create in flight so their keys are saved",
        "[2/4] created             P 1, p1@example.org  sk-or-v1-001...abc",
    ]


def test_quiet_shows_no_progress_only_what_a_ctrl_c_waits_for() -> None:
    for interactive in (True, False):
        shown, stream, _ = reporter(interactive=interactive, quiet=True)
        shown.listing(0, 0, False)
        shown.listing(10, 1, True)
        shown.plan(PLAN)
        shown.result(created(0))
        shown.close()
        assert stream.getvalue() == ""
        shown.stopping(3)
        assert stream.getvalue() == (
            "stopping: waiting for 3 creates in flight so their keys are saved\n"
        )


def test_a_line_never_wider_than_the_terminal() -> None:
    shown, stream, _ = reporter(interactive=True)
    shown._width = 40
    shown.stopping(12)
    assert stream.getvalue() == f"{REDRAW}stopping: waiting for 12 creates in fl…"


def test_the_bar_keeps_its_length_and_drops_it_on_a_narrow_terminal() -> None:
    assert bar_line("provisioning ws", 84, 300, width=79, eta=45) == (
        "provisioning ws  [########......................]  84/300  28%  ETA 0:45"
    )
    assert bar_line("provisioning ws", 300, 300, width=79, elapsed=3725) == (
        "provisioning ws  [##############################]  300/300  100%  in 1:02:05"
    )
    assert bar_line("provisioning ws", 84, 300, width=40, eta=45) == (
        "provisioning ws  84/300  28%  ETA 0:45"
    )


def test_the_eta_follows_the_latest_pace_and_grows_during_a_stall() -> None:
    assert eta_seconds([10.0, 11.0, 12.0], now=12.0, remaining=10) == 10.0
    assert eta_seconds([10.0, 11.0, 12.0], now=14.0, remaining=10) == 20.0
    assert eta_seconds([10.0], now=12.0, remaining=10) is None
    assert eta_seconds([10.0, 11.0], now=12.0, remaining=0) is None
