"""`make bench` itself: a small run of the real script must work and report what it measured.

No timing is asserted (that is what bench/results.md is for); this only keeps the script from
rotting: the scenarios run against real sandbox processes, every key is made, and a rerun of a
provisioned roster creates nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench.py"


def test_a_small_bench_run_writes_its_table(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    # Small and quick (a second rate of 20, not 8, is 0.6 s of creates, not 1.5 s): the
    # script's numbers are not asserted, only that every scenario runs and is reported.
    arguments = ["--keys", "12", "--latency", "0.005", "--rate", "40", "--other-rates", "20"]
    arguments += ["--rows", "40", "--repeats", "1", "--output", str(results)]
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
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    speed = [row.split(" | ") for row in rows if " 12 | " in row]
    assert [cells[0].strip("| ") for cells in speed] == [
        "sequential (notebook)",
        "keyprov, default settings",
        "keyprov, default settings",
    ]
    assert all(cells[-1].strip(" |") == "0" for cells in speed), "failures"
    rerun = next(row for row in rows if row.startswith("| rerun, fully provisioned"))
    assert rerun.split(" | ")[4] == "0", "a rerun of a provisioned roster must create nothing"
    first = next(row for row in rows if row.startswith("| first run"))
    assert first.split(" | ")[4] == "40"
    assert "machine: " in text and "Against the targets" in text
