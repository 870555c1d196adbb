"""What a run shows while it works: the bar, the listing line, the stopping line, log lines."""

from __future__ import annotations

from collections.abc import Sequence

from keyprov.engine.outcomes import Outcome, ParticipantResult
from keyprov.render.text import display_width, plural, who

BAR_CELLS = 30
FEWEST_BAR_CELLS = 10
"""Below this a bar says nothing: on a narrow terminal only the figures are shown."""
OUTCOME_WIDTH = max(len(outcome.value) for outcome in Outcome)


def bar_line(
    label: str,
    done: int,
    total: int,
    *,
    width: int,
    eta: float | None = None,
    elapsed: float | None = None,
) -> str:
    """'provisioning ws  [#########.....]  84/300  28%  ETA 0:45', fitted into `width` columns.

    `elapsed` (given once every participant is done) replaces the ETA with the time taken.
    """
    percent = 100 * done // total if total else 100
    figures = f"{done}/{total}  {percent}%"
    if elapsed is not None:
        figures += f"  in {clock(elapsed)}"
    elif eta is not None:
        figures += f"  ETA {clock(eta)}"
    # Room for the widest figures this bar will show, so that it keeps one length throughout.
    widest = len(f"{total}/{total}  100%  ETA 00:00")
    cells = min(BAR_CELLS, width - display_width(label) - widest - 5)
    if cells < FEWEST_BAR_CELLS:
        return f"{label}  {figures}"
    filled = cells * done // total if total else cells
    return f"{label}  [{'#' * filled}{'.' * (cells - filled)}]  {figures}"


def clock(value: float) -> str:
    """'0:45', '12:05', '1:02:03'."""
    minutes, secs = divmod(max(0, round(value)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def eta_seconds(times: Sequence[float], now: float, remaining: int) -> float | None:
    """Seconds left at the pace of the latest results (`times`, oldest first), or None.

    Measured up to `now`, so a stall (a wait on a 429) lengthens the estimate as it goes on.
    """
    if remaining <= 0 or len(times) < 2 or now <= times[0]:
        return None
    rate = (len(times) - 1) / (now - times[0])
    return remaining / rate


def listing_line(keys: int, pages: int, done: bool) -> str:
    if done:
        return f"listed {plural(keys, 'key')} on the server ({plural(pages, 'page')})"
    if not keys:
        return "listing the server's keys: page 1"
    return f"listing the server's keys: page {pages + 1}, {plural(keys, 'key')} so far"


def stopping_line(in_flight: int, *, again: bool = False) -> str:
    """After Ctrl-C. Another one cannot cut the wait short: a key the server makes meanwhile
    must be saved before the workshop's lock goes, or the next run would make another."""
    if in_flight <= 0:
        return "stopping: saving what was done"
    creates = plural(in_flight, "create")
    if again:
        return f"still waiting for {creates} in flight: their keys are saved before exit"
    return f"stopping: waiting for {creates} in flight so their keys are saved"


def progress_line(done: int, total: int, result: ParticipantResult) -> str:
    """One participant done, for a log that is not a terminal: '[ 84/300] created  Ada ...'."""
    count = f"[{done:>{len(str(total))}}/{total}]"
    person = who(result.name, result.email, result.identity)
    label = f"  {result.label}" if result.label else ""
    return f"{count} {result.outcome.value:<{OUTCOME_WIDTH}}  {person}{label}"
