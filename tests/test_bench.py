"""`make bench` itself: a small run of the real script must work and report what it measured.

No timing is asserted (that is what bench/results.md is for); this only keeps the script from
rotting: the scenarios run against real sandbox processes, every key is made, the lifecycle
commands exit 0, and a rerun of a provisioned roster creates nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench.py"


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_a_small_bench_run_writes_its_tables(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    arguments = ["--sizes", "12", "--rates", "40", "--latency", "0.02", "--repeats", "1"]
    arguments += ["--life-keys", "6", "--life-rate", "40", "--rows", "150"]
    arguments += ["--scale-rate", "100", "--startup-runs", "1", "--output", str(results)]
    arguments += ["--watch-keys", "130", "--mail-messages", "5", "--claims", "9"]
    done = subprocess.run(
        [sys.executable, str(BENCH), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = results.read_text()
    assert text in done.stdout
    rows = [_cells(line) for line in text.splitlines() if line.startswith("| ")]
    speed = [cells for cells in rows if cells[:2] == ["40", "12"] and len(cells) == 10]
    assert len(speed) == 1 and speed[0][-1] == "0", "every key of the speed run is made"
    loop = [cells for cells in rows if cells[:2] == ["40", "12"] and len(cells) == 6]
    assert len(loop) == 1 and loop[0][-1] == "0", "the loop makes every key too"
    commands = [cells for cells in rows if cells[0].startswith("`keyprov ") and len(cells) == 9]
    assert [cells[0] for cells in commands] == [
        "`keyprov set-limit --all --add 1`",
        "`keyprov rotate --all`",
        "`keyprov revoke`",
    ]
    assert all(cells[-1] == "0" for cells in commands), "each lifecycle command exits 0"
    (watch,) = [cells for cells in rows if len(cells) == 10 and cells[0] == "130"]
    (burst,) = [cells for cells in rows if len(cells) == 10 and cells[0] == "9"]
    assert burst[7:] == ["9", "9", "9 (9)"], "each claim its own key, none twice, each enabled"
    assert watch[5:8] == ["3", "4", "2"], "one poll: 2 listing pages at once and the credits"
    first = next(cells for cells in rows if cells[0] == "first run")
    assert first[5] == "150", "the first run makes every key"
    rerun = next(cells for cells in rows if cells[0] == "rerun, fully provisioned")
    assert rerun[5] == "0", "a rerun of a provisioned roster must create nothing"
    assert any(cells[0].startswith("spawn to first request") for cells in rows)
    mail = [cells for cells in rows if cells[0] in ("SendGrid", "SMTP2GO", "Mailgun")]
    assert [cells[0] for cells in mail] == ["SendGrid", "SMTP2GO", "Mailgun"]
    assert all(cells[7] == "5" and cells[9] == "0" for cells in mail), "every message sent"
    assert "machine: " in text and "Against the targets" in text
