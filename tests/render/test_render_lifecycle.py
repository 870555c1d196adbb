"""The texts of check, report, revoke and of a usage error, exactly, from results built by hand."""

from __future__ import annotations

from pathlib import Path

from keyprov.lifecycle import Change, CheckResult, CheckRow, UsageReport
from keyprov.lifecycle.report_sheet import ReportRow, report_totals
from keyprov.models import Credits
from keyprov.render.lifecycle import check_lines, check_verdict, report_lines, revoke_lines
from keyprov.render.setup import usage_error_lines
from keyprov.render.text import table

ADA = CheckRow(
    "ada@example.org", "Ada", "ada@example.org", "sk-or-v1-aaa...111", 2.0, 1.5, None, ()
)
BOB = CheckRow(
    "bob@example.org",
    "Bob",
    "bob@example.org",
    "sk-or-v1-bbb...222",
    2.0,
    -0.16,
    None,
    (
        "nothing left to spend: -0.16 of 2.00 USD; top up with keyprov set-limit "
        "--participant bob@example.org --add USD",
    ),
)


def test_check_names_everyone_and_counts_the_participants_not_ready() -> None:
    result = CheckResult("ws", [ADA, BOB], Credits(10.0, 0.0), needed=1.5)
    assert check_lines(result) == [
        "      name  email            key                 limit USD  left USD",
        "ok    Ada   ada@example.org  sk-or-v1-aaa...111       2.00      1.50  ready",
        "FAIL  Bob   bob@example.org  sk-or-v1-bbb...222       2.00     -0.16  nothing left to "
        "spend: -0.16 of 2.00 USD; top up with keyprov set-limit --participant bob@example.org "
        "--add USD",
        "ws: NOT READY: 1 of 2 participants not ready",
    ]


def test_a_workshop_problem_alone_is_not_read_as_everyone_ready() -> None:
    short = "the remaining limits add up to 1.50 USD but the account has 1.00 USD of credits left"
    result = CheckResult("ws", [ADA], Credits(1.0, 0.0), needed=1.5, workshop_problems=[short])
    assert check_lines(result)[-2:] == [
        f"FAIL  {short}",
        "ws: NOT READY: every participant's key is ready, but 1 workshop problem (FAIL above) "
        "must be fixed",
    ]
    ready = CheckResult("ws", [ADA], Credits(10.0, 0.0), needed=1.5)
    assert check_verdict(ready) == "ws: READY: 1 of 1 participants ready"


def test_check_with_ids_shows_the_id_column() -> None:
    row = CheckRow("1001", "Ada", "ada@example.org", "sk-or-v1-aaa...111", None, None, None, ())
    result = CheckResult("ws", [row], Credits(10.0, 0.0), needed=0.0)
    assert check_lines(result)[:2] == [
        "    id    name  email            key                 limit USD  left USD",
        "ok  1001  Ada   ada@example.org  sk-or-v1-aaa...111          -         -  ready",
    ]


def usage_report(rows: list[ReportRow]) -> UsageReport:
    return UsageReport(
        "ws",
        rows,
        Path("output/ws/report.xlsx"),
        Path("output/ws/spend.png"),
        report_totals(rows),
        "usage this month (limits reset on the 1st, 00:00 UTC)",
    )


def test_the_report_totals_are_report_xlsx_s_and_say_what_they_add_up() -> None:
    rows = [
        ReportRow("rich2@example.org", "Rich Two", "sk-or-v1-two...002", "current", 2.0,
                  "monthly", 2.16, 3.0, -0.16, False, None),
        ReportRow("rich2@example.org", "Rich Two", "sk-or-v1-old...000", "retired", 2.0,
                  "monthly", 0.3, 0.3, 1.7, True, None),
        ReportRow("rich10@example.org", "Rich Ten", "sk-or-v1-ten...010", "current", 2.0,
                  "monthly", 0.5, 1.25, 1.5, False, None),
    ]  # fmt: skip
    assert report_lines(usage_report(rows)) == [
        "usage per key of workshop 'ws', in USD; window: usage this month (limits reset on "
        "the 1st, 00:00 UTC)",
        "the keys may use: any model",
        "participant         name               key                 limit  window  all-time   left",
        "rich2@example.org   Rich Two           sk-or-v1-two...002   2.00    2.16      3.00  -0.16"
        "  OUT",
        "rich2@example.org   Rich Two           sk-or-v1-old...000   2.00    0.30      0.30"
        "      —  replaced, disabled",
        "rich10@example.org  Rich Ten           sk-or-v1-ten...010   2.00    0.50      1.25   1.50",
        "total               3 keys, 2 enabled                       4.00    2.96      4.55   1.34",
        "limit and left add up the 2 enabled keys (what can still be spent); window and "
        "all-time add up all 3 keys, disabled and replaced ones too (what was spent).",
        "report: output/ws/report.xlsx",
        "chart:  output/ws/spend.png",
    ]


def test_a_report_of_enabled_keys_says_left_is_limit_minus_window() -> None:
    rows = [
        ReportRow("a@example.org", "A", "sk-or-v1-aaa...001", "current", 2.0, None, 0.0004,
                  0.0004, 1.9996, False, None),
        ReportRow("b@example.org", "", "sk-or-v1-bbb...002", "unknown", None, None, 0.0, 0.0,
                  None, False, None),
    ]  # fmt: skip
    lines = report_lines(usage_report(rows))
    assert lines[1] == "the keys may use: any model"
    assert lines[2:7] == [
        "participant    name               key                 limit  window  all-time  left",
        "a@example.org  A                  sk-or-v1-aaa...001   2.00    0.00      0.00  2.00",
        "b@example.org                     sk-or-v1-bbb...002      -    0.00      0.00     -"
        "  secret not in local state",
        "total          2 keys, 2 enabled                       2.00    0.00      0.00  2.00",
        "every total adds up all 2 keys; left = limit - window usage, as the server counts "
        "it: what can still be spent.",
    ]


def test_revoke_lists_keys_in_natural_order_and_counts_them() -> None:
    changes = [
        Change("rich0@example.org", "sk-or-v1-000...abc", True, "disabled"),
        Change("rich10@example.org", "sk-or-v1-010...abc", True, "disabled"),
        Change("rich1@example.org", "sk-or-v1-001...abc", True, "disabled"),
        Change("rich2@example.org", "sk-or-v1-002...abc", False, "HTTP 503"),
    ]
    assert revoke_lines(changes, workshop="ws", delete=False, dry_run=False) == [
        "ok    rich0@example.org   sk-or-v1-000...abc  disabled",
        "ok    rich1@example.org   sk-or-v1-001...abc  disabled",
        "FAIL  rich2@example.org   sk-or-v1-002...abc  HTTP 503",
        "ok    rich10@example.org  sk-or-v1-010...abc  disabled",
        "ws: 3 keys disabled; 1 could not be (FAIL above): run again to retry them",
    ]


def test_revoke_dry_run_and_nothing_to_do() -> None:
    changes = [
        Change("rich1@example.org", "sk-or-v1-001...abc", True, "would be disabled"),
        Change("rich0@example.org", "sk-or-v1-000...abc", True, "already disabled"),
    ]
    assert revoke_lines(changes, workshop="ws", delete=False, dry_run=True) == [
        "ok  rich0@example.org  sk-or-v1-000...abc  already disabled",
        "ok  rich1@example.org  sk-or-v1-001...abc  would be disabled",
        "dry run: ws: 1 to disable, 1 already disabled; nothing was changed.",
    ]
    assert revoke_lines([], workshop="ws", delete=False, dry_run=False) == [
        "ws: every key of the workshop is already disabled."
    ]
    assert revoke_lines([], workshop="ws", delete=True, dry_run=False) == [
        "ws: no key of this workshop is on the server."
    ]


def test_a_usage_error_keeps_click_s_usage_and_hint_with_keyprov_s_prefix() -> None:
    assert usage_error_lines(
        "Usage: keyprov provision [OPTIONS] ROSTER", "keyprov provision", "No such option."
    ) == [
        "Usage: keyprov provision [OPTIONS] ROSTER",
        "Try 'keyprov provision -h' for help.",
        "",
        "error: No such option.",
    ]
    assert usage_error_lines(None, None, "bad") == ["error: bad"]


def test_columns_align_by_terminal_width_and_drop_a_column_empty_everywhere() -> None:
    assert table([("陈伟", "", "1.00"), ("Ada", "", "12.50")], "<<>") == [
        "陈伟   1.00",
        "Ada   12.50",
    ]
