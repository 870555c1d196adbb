"""spend.png: which participants get a bar, how overspend shows, and a picture of bounded size."""

from __future__ import annotations

import random
import stat
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keyprov.lifecycle.charts import (
    LEGEND,
    LIMIT_COLOUR,
    NEARLY_OUT_COLOUR,
    OVERSPENT_COLOUR,
    SPENT_COLOUR,
    SpendBar,
    plan_spend_chart,
    spend_chart,
    window_description,
    write_spend_chart,
)

MADE = datetime(2026, 12, 1, 14, 2, tzinfo=UTC)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk, which follows the 8-byte signature."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def workshop_of(count: int, seed: int = 1) -> list[SpendBar]:
    rng = random.Random(seed)
    return [
        SpendBar(f"Participant {i}", round(rng.uniform(0, 2.4), 2), rng.choice([2.0, 5.0]))
        for i in range(count)
    ]


def test_spend_beyond_the_limit_is_its_own_part_of_the_bar() -> None:
    over, at_limit, half = plan_spend_chart(
        [SpendBar("half", 1.0, 2.0), SpendBar("over", 2.16, 2.0), SpendBar("at", 2.0, 2.0)]
    ).bars

    assert over.label == "over" and over.share == pytest.approx(1.08)
    assert (over.within, over.unspent) == (2.0, 0.0)
    assert over.over == pytest.approx(0.16)
    assert over.colour == NEARLY_OUT_COLOUR
    assert (at_limit.within, at_limit.over, at_limit.unspent) == (2.0, 0.0, 0.0)
    assert (half.within, half.over, half.unspent, half.colour) == (1.0, 0.0, 1.0, SPENT_COLOUR)


def test_ninety_percent_is_nearly_out_even_where_floating_point_says_89_99() -> None:
    (bar,) = plan_spend_chart([SpendBar("a", 0.09, 0.1)]).bars
    assert bar.colour == NEARLY_OUT_COLOUR


def test_the_bars_are_the_30_largest_shares_of_limit_used_largest_first() -> None:
    bars = workshop_of(300)
    plan = plan_spend_chart(bars)

    by_share = sorted(bars, key=lambda bar: (-bar.spent / (bar.limit or 1), -bar.spent, bar.label))
    assert len(plan.bars) == 30
    assert [bar.label for bar in plan.bars] == [bar.label for bar in by_share[:30]]
    shares = [bar.share or 0.0 for bar in plan.bars]
    assert shares == sorted(shares, reverse=True)


def test_equal_shares_put_the_larger_spend_first_and_keys_without_a_limit_last() -> None:
    plan = plan_spend_chart(
        [
            SpendBar("unlimited", 50.0, None),
            SpendBar("small", 1.0, 2.0),
            SpendBar("large", 5.0, 10.0),
            SpendBar("none spent", 0.0, 2.0),
        ]
    )
    assert [bar.label for bar in plan.bars] == ["large", "small", "none spent", "unlimited"]
    assert plan.without_limit == 1 and plan.histogram is None, "everyone has a bar"


def test_the_histogram_counts_everyone_by_share_of_limit_used() -> None:
    shares = [0.0, 0.05, 0.1, 0.55, 0.89, 0.9, 1.0, 1.08, 3.0]
    bars = [SpendBar(f"p{i}", share * 2, 2.0) for i, share in enumerate(shares)]
    bars += [SpendBar(f"q{i}", 0.5, 2.0) for i in range(30)]  # 25%: more people than bars
    bars.append(SpendBar("unlimited", 9.0, None))
    plan = plan_spend_chart(bars)

    assert plan.histogram is not None
    counts = {b.label: b.count for b in plan.histogram}
    assert counts == {
        "0-10%": 2,
        "10-20%": 1,
        "20-30%": 30,
        "30-40%": 0,
        "40-50%": 0,
        "50-60%": 1,
        "60-70%": 0,
        "70-80%": 0,
        "80-90%": 1,
        "90-100%": 2,  # exactly at the limit is not overspent
        "over 100%": 2,
    }
    assert sum(counts.values()) == plan.participants - plan.without_limit == 39
    assert (plan.over_limit, plan.nearly_out) == (2, 2)
    assert plan.histogram[-1].colour == OVERSPENT_COLOUR


def test_every_colour_drawn_is_explained_by_the_legend() -> None:
    explained = {colour for colour, _text in LEGEND} | {LIMIT_COLOUR}
    plan = plan_spend_chart(workshop_of(100))
    assert plan.histogram is not None
    drawn = {bar.colour for bar in plan.bars} | {b.colour for b in plan.histogram}
    assert drawn | {OVERSPENT_COLOUR} <= explained
    assert len({text for _colour, text in LEGEND}) == len(LEGEND) == len(explained) - 1


@pytest.mark.parametrize(
    ("resets", "window"),
    [
        (["daily", "daily"], "usage today (limits reset daily, 00:00 UTC)"),
        (["monthly"], "usage this month (limits reset on the 1st, 00:00 UTC)"),
        ([None], "all-time usage (the limits never reset)"),
        (["daily", "weekly"], "usage in each key's limit window"),
    ],
)
def test_the_window_is_named_from_the_keys_limit_resets(
    resets: list[str | None], window: str
) -> None:
    assert window_description(resets).startswith(window)


@pytest.mark.parametrize("participants", [30, 300, 3000])
def test_the_picture_stays_a_bounded_size_at_any_workshop_size(
    tmp_path: Path, participants: int
) -> None:
    path = tmp_path / "spend.png"
    plan = write_spend_chart(
        path,
        workshop_of(participants),
        workshop="bssdh",
        window=window_description(["daily"]),
        generated_at=MADE,
    )
    width, height = png_size(path)
    assert width == 1000
    assert 600 <= height <= 1500, "the 300-participant chart was 10,620 px tall"
    assert len(plan.bars) == 30 and plan.participants == participants


def test_the_chart_names_participants_so_it_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "spend.png"
    path.write_bytes(b"an older chart")
    path.chmod(0o644)
    write_spend_chart(path, workshop_of(3), workshop="ws", window="all-time usage")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert png_size(path)[0] == 1000
    assert [p.name for p in tmp_path.iterdir()] == ["spend.png"], "no temporary file left"


def test_the_former_call_still_writes_the_chart(tmp_path: Path) -> None:
    path = tmp_path / "spend.png"
    spend_chart(path, ["Ada", "Bob"], [2.16, 0.5], [2.0, 0.0])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    width, height = png_size(path)
    assert width == 1000 and height < 600


def test_a_workshop_without_keys_still_gets_a_chart(tmp_path: Path) -> None:
    path = tmp_path / "spend.png"
    plan = write_spend_chart(path, [], workshop="ws", window="all-time usage")
    assert plan.participants == 0 and png_size(path)[0] == 1000
