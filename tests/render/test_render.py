"""The texts of a provisioning run, exactly: results built by hand, every line compared.

The dry run and the run's end, as a person reads them (sqlite-utils' way of testing output).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from keyprov.engine.outcomes import Outcome, ParticipantResult
from keyprov.engine.planner import Action, ParticipantPlan, Plan
from keyprov.engine.run_stats import RunStats
from keyprov.models import ApiKey, Credits
from keyprov.provision import ProvisionResult
from keyprov.render.plan import plan_lines
from keyprov.render.run import attention_lines, history_lines, provision_lines
from keyprov.roster import Participant
from keyprov.status import ExitStatus

ADA = Participant("Ada Lovelace", "ada@example.org", 2.0, "monthly", 2, "1001")
BOB = Participant("Bob Brown", "bob@example.org", 2.5, "monthly", 3, "1002")
CHEN = Participant("陈伟", "chen@example.org", 2.0, None, 4, "1010")


def key(name: str, label: str = "sk-or-v1-abc...123", **fields: Any) -> ApiKey:
    values: dict[str, Any] = {
        "hash": f"hash-{name}",
        "name": name,
        "label": label,
        "disabled": False,
        "limit": 2.0,
        "limit_remaining": 2.0,
        "limit_reset": None,
        "usage": 0.0,
        "usage_daily": 0.0,
        "usage_weekly": 0.0,
        "usage_monthly": 0.0,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": None,
        "expires_at": None,
    }
    return ApiKey(**{**values, **fields})


def bssdh_plan() -> Plan:
    return Plan(
        "bssdh",
        [
            ParticipantPlan(ADA, Action.CREATE),
            ParticipantPlan(BOB, Action.KEEP, key("keyprov:bssdh:1002")),
            ParticipantPlan(
                CHEN, Action.UPDATE, key("keyprov:bssdh:1010"), note="limit 1.0 -> 2 USD"
            ),
        ],
        not_in_roster=[key("keyprov:bssdh:0999", label="sk-or-v1-fed...987")],
    )


def test_a_dry_run_short_of_credits_says_the_real_run_stops_and_exits_2() -> None:
    result = ProvisionResult(
        "bssdh",
        bssdh_plan(),
        credits=Credits(total_credits=1.5, total_usage=0.0),
        dry_run=True,
        expires_at="2026-12-05T23:59:59Z",
        roster_notes=["skipped: bssdh.csv, row 9: 'Refunded'"],
    )

    lines = provision_lines(result, quiet=False, prune=False)

    assert lines.stdout == [
        "plan for workshop 'bssdh': 3 participants",
        "  keys to create:                1   new budget 2.00 USD per window",
        "  limits to change:              1",
        "  present and unchanged:         1",
        "  disabled on the server:        0   (--reenable enables them again)",
        "  on server, secret lost:        0",
        "  with extra keys:               0   (--prune disables the extras)",
        "  keys not in the roster:        1   (--prune disables them)",
        "  credits left:               1.50 USD (NOT enough: the real run stops here, before "
        "creating any key)",
        "  new keys expire:      at the end of 2026-12-05 (23:59:59 UTC)",
        "  limits reset:         per participant: 1 monthly, 1 never",
        # Name and email beside the id, in columns (陈伟 is two characters, four columns).
        "  create         1001  Ada Lovelace  ada@example.org   2.00 USD  monthly",
        "  update         1010  陈伟          chen@example.org  2.00 USD           "
        "limit 1.0 -> 2 USD",
        "  not in roster  0999                                  2.00 USD           "
        "sk-or-v1-fed...987 (enabled)",
        "dry run: nothing was changed.",
    ]
    assert lines.stderr == [
        "note: skipped: bssdh.csv, row 9: 'Refunded'",
        "dry run: the real run would stop before creating any key (exit 2): the new keys can "
        "spend 2.00 USD but the account has 1.50 USD of credits left. Buy credits "
        "at https://openrouter.ai/settings/credits, lower the limits, or add "
        "--allow-overcommit (limits are caps, not charges).",
    ]
    assert result.exit_status == ExitStatus.BAD_INPUT


def test_a_dry_run_with_allow_overcommit_would_go_on_and_exits_0() -> None:
    result = ProvisionResult(
        "bssdh",
        bssdh_plan(),
        credits=Credits(total_credits=1.5, total_usage=0.0),
        dry_run=True,
        allow_overcommit=True,
    )
    lines = provision_lines(result, quiet=True, prune=False)
    assert lines.stdout[8:12] == [
        "  most spent by expiry:      no end   (a budget per window, and the keys never expire: "
        "--expires sets an end)",
        "  credits left:               1.50 USD (NOT enough; --allow-overcommit creates the "
        "keys anyway)",
        "  new keys expire:      never (--expires YYYY-MM-DD sets the last day they work)",
        "  limits reset:         per participant: 1 monthly, 1 never",
    ]
    assert lines.stderr == []
    assert result.exit_status == ExitStatus.OK


def test_a_plan_without_ids_shows_name_and_email_and_one_reset() -> None:
    people = [
        Participant("Person 2", "person2@example.org", 1.25, None, 3),
        Participant("Person 10", "person10@example.org", 1.25, None, 11),
    ]
    plan = Plan("ws", [ParticipantPlan(person, Action.CREATE) for person in people])

    lines = plan_lines(plan, Credits(1000.0, 0.0))

    assert lines[8:] == [
        "  credits left:            1000.00 USD (enough)",
        "  new keys expire:      never (--expires YYYY-MM-DD sets the last day they work)",
        "  limits reset:         never (--limit-reset daily|weekly|monthly sets a reset)",
        "  create  Person 2   person2@example.org   1.25 USD",
        "  create  Person 10  person10@example.org  1.25 USD",
    ]


def troubled_run() -> ProvisionResult:
    """100 keys' worth of trouble in a few participants: retries, unanswered creates."""
    results = [
        ParticipantResult(
            f"s{i}",
            f"Student {i}",
            f"s{i}@example.org",
            Outcome.CREATED,
            label=f"sk-or-v1-{i:03d}...abc",
        )
        for i in (1, 10, 2)
    ]
    results.append(
        ParticipantResult(
            "s3",
            "Student 3",
            "s3@example.org",
            Outcome.UNRESOLVED,
            "the server never answered the create; the next run resolves it",
        )
    )
    stats = RunStats(
        retries=Counter({"503": 12, "429": 6, "TransportError": 1}),
        waited_on_429_s=7.46,
        unanswered_creates=8,
        made_by_unanswered=5,
        deleted_undelivered=5,
        disabled=1,
    )
    return ProvisionResult(
        "bssdh",
        Plan("bssdh", []),
        results=results,
        keys_path=Path("output/bssdh/keys.xlsx"),
        audit_path=Path("output/bssdh/audit.jsonl"),
        duration=12.34,
        stats=stats,
        pruned=[key("keyprov:bssdh:s99", label="sk-or-v1-999...999")],
    )


HISTORY = [
    "  took 12 s",
    "  19 retries: 12 after HTTP 503, 6 after HTTP 429, 1 after no connection; requests "
    "waited 7.5 s in all on 429s",
    "  8 creates got no answer; listing the server's keys showed it had made 5 of them "
    "(deleted: nobody had their secret); 1 outcome still unknown (the next run resolves them)",
    "  disabled 1 key (a disabled key can be enabled again):",
    "    s99  sk-or-v1-999...999",
]
ATTENTION = [
    "  Student 3, s3@example.org, id s3: outcome unknown: the server never answered the "
    "create; the next run resolves it"
]
FILES = [
    "keys:  output/bssdh/keys.xlsx (owner-only; hand out: keyprov handouts, or keyprov send)",
    "audit: output/bssdh/audit.jsonl",
]


def test_the_summary_says_what_the_run_went_through_and_who_needs_attention() -> None:
    lines = provision_lines(troubled_run(), quiet=False, prune=True)
    assert lines.stdout == [
        "bssdh: 4 participants: 3 created, 1 outcome unknown",
        *HISTORY,
        *FILES,
    ]
    assert lines.stderr == ATTENTION


def test_list_shows_everyone_in_natural_order_with_name_and_email() -> None:
    lines = provision_lines(troubled_run(), quiet=False, prune=True, list_all=True)
    assert lines.stdout == [
        "bssdh: 4 participants: 3 created, 1 outcome unknown",
        *HISTORY,
        "  created          s1   Student 1   s1@example.org   sk-or-v1-001...abc",
        "  created          s2   Student 2   s2@example.org   sk-or-v1-002...abc",
        "  outcome unknown  s3   Student 3   s3@example.org",
        "  created          s10  Student 10  s10@example.org  sk-or-v1-010...abc",
        *FILES,
    ]


def test_quiet_is_the_summary_line_and_the_problems_only() -> None:
    result = troubled_run()
    result.roster_notes = ["skipped: ws.csv, row 3: 'Cancelled'"]
    lines = provision_lines(result, quiet=True, prune=True)
    assert lines.stdout == ["bssdh: 4 participants: 3 created, 1 outcome unknown"]
    assert lines.stderr == ATTENTION


def test_a_run_that_met_no_trouble_says_only_its_outcome() -> None:
    result = ProvisionResult(
        "ws",
        Plan("ws", []),
        results=[ParticipantResult("a@example.org", "A", "a@example.org", Outcome.PRESENT)],
        keys_path=Path("k"),
        audit_path=Path("a"),
        stats=RunStats(),
    )
    lines = provision_lines(result, quiet=False, prune=False)
    assert lines.stdout == [
        "ws: 1 participants: 1 present",
        "keys:  k (owner-only; hand out: keyprov handouts, or keyprov send)",
        "audit: a",
    ]


def test_unanswered_creates_the_server_never_made_and_keys_left_by_an_earlier_run() -> None:
    result = troubled_run()
    result.results = result.results[:3]
    assert result.stats is not None
    result.stats.retries.clear()
    result.stats.unanswered_creates, result.stats.made_by_unanswered = 2, 0
    result.stats.deleted_undelivered = 3
    result.pruned = []
    assert history_lines(result) == [
        "  took 12 s",
        "  2 creates got no answer; listing the server's keys showed it had made none of "
        "them; all were sent again",
        "  deleted 3 keys left by an earlier run's unanswered creates (nobody had their "
        "secret) and created new ones",
    ]


def test_a_participant_who_needs_attention_is_named_the_same_way_without_an_id() -> None:
    lost = ParticipantResult(
        "person1@example.org",
        "Person 1",
        "person1@example.org",
        Outcome.SECRET_LOST,
        "a key exists on the server but its secret is not in the local state",
    )
    assert attention_lines([lost]) == [
        "  Person 1, person1@example.org: secret lost: a key exists on the server but its "
        "secret is not in the local state"
    ]
