"""Step 3 of reading a roster: validate and normalise every row into a participant.

Every problem of every row is collected, so the user fixes the file once. A row whose status
says the registration was cancelled or refunded is skipped with its reason, never provisioned.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

from keyprov.errors import RosterProblem
from keyprov.roster.headers import FIELD_OF_HEADER, Columns, Header, normalise_header, words
from keyprov.roster.table import Cell, Table, cell_text, is_blank, listing, normalise_text

LIMIT_RESETS = ("daily", "weekly", "monthly")
DEFAULT_MAX_LIMIT = 100.0

SKIPPED_STATUS_WORDS = frozenset(
    words(
        "cancelled canceled cancellation cancelation refunded withdrawn deleted rejected denied "
        "declined blocked void voided transferred suspended waitlisted waitlist"
    )
)
"""A status whose first word is one of these is a registration that must get no key."""
SKIPPED_STATUS_PHRASES = ("not attending", "not going", "waiting list", "wait list", "on waitlist")

_LOCAL_PART = r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
_DOMAIN_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
EMAIL_PATTERN = re.compile(
    rf"^{_LOCAL_PART}@(?:{_DOMAIN_LABEL}\.)+(?:[^\W\d_]{{2,}}|xn--[a-z0-9-]+)$"
)
MAX_EMAIL_LENGTH = 254

_CURRENCY = re.compile(r"^(?:us\s*\$|\$|usd)?\s*(.*?)\s*(?:usd|us\s*\$|\$)?$", re.IGNORECASE)
_WHOLE = re.compile(r"\d+")
_AMBIGUOUS = re.compile(r"[1-9]\d{0,2}[.,]\d{3}")
"""'1,000' or '2.500': a thousands separator or a decimal point, depending on the locale."""
_ONE_SEPARATOR = re.compile(r"\d*[.,]\d+")
_COMMA_GROUPS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DOT_GROUPS = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_EXCEL_ERRORS = frozenset(
    {"#n/a", "#value!", "#ref!", "#div/0!", "#num!", "#name?", "#null!", "#spill!", "#calc!"}
)


@dataclass(frozen=True)
class Participant:
    name: str
    email: str
    limit: float
    limit_reset: str | None
    row: int
    """The row number as a spreadsheet app shows it, for messages."""
    participant_id: str | None = None

    @property
    def identity(self) -> str:
        """What makes two rows the same person: the id when the roster has one, else the email."""
        return self.participant_id or self.email


def check_defaults(
    header: Header,
    default_limit: float | None,
    default_limit_reset: str | None,
    max_limit: float,
    shown: str,
) -> list[RosterProblem]:
    problems: list[RosterProblem] = []
    if default_limit is not None and not (0 < default_limit <= max_limit):
        problems.append(
            RosterProblem(
                shown,
                None,
                None,
                f"--limit {default_limit:g} must be more than 0 and at most --max-limit "
                f"{max_limit:g} USD.",
            )
        )
    if default_limit_reset is not None and default_limit_reset not in LIMIT_RESETS:
        problems.append(
            RosterProblem(
                shown,
                None,
                None,
                f"--limit-reset {default_limit_reset!r} must be one of {', '.join(LIMIT_RESETS)}.",
            )
        )
    if default_limit is None and "limit" not in header.found:
        problems.append(
            RosterProblem(
                shown,
                header.row,
                None,
                "the roster has no limit column ('limit', 'budget', 'credit', 'usd') and no "
                "--limit was given. Give every key's budget with --limit USD, or add a "
                "'limit' column.",
            )
        )
    return problems


@dataclass
class RowResults:
    participants: list[Participant] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)
    skipped: list[RosterProblem] = field(default_factory=list)


class RowReader:
    """Validates rows one by one, and the roster as a whole (no participant twice)."""

    def __init__(
        self,
        shown: str,
        columns: Columns,
        default_limit: float | None,
        default_limit_reset: str | None,
        max_limit: float,
    ) -> None:
        self.shown = shown
        self.columns = columns
        self.default_limit = default_limit
        self.default_limit_reset = default_limit_reset
        self.max_limit = max_limit

    def read(self, table: Table, start: int) -> RowResults:
        result = RowResults()
        first_row_of: dict[str, int] = {}
        first_row_of_email: dict[str, int] = {}
        for index in range(start, len(table.rows)):
            cells = table.rows[index]
            if is_blank(cells):
                continue
            row = table.row_number(index)
            skip = self._skip_reason(cells, row)
            if skip is not None:
                result.skipped.append(skip)
                continue
            participant, problems = self._read_row(cells, row)
            result.problems.extend(problems)
            if participant is None:
                continue
            duplicate = self._duplicate(participant, first_row_of, first_row_of_email)
            if duplicate is not None:
                result.problems.append(duplicate)
                continue
            first_row_of[participant.identity] = row
            first_row_of_email[participant.email] = row
            result.participants.append(participant)
        return result

    def _problem(self, row: int, name: str | None, message: str) -> RosterProblem:
        column = self.columns.header_of(name) if name is not None else None
        return RosterProblem(self.shown, row, column, message)

    def _skip_reason(self, cells: Sequence[Cell], row: int) -> RosterProblem | None:
        for position, header in self.columns.status:
            status = normalise_text(cell_text(cells[position] if position < len(cells) else None))
            if _is_skipped_status(status):
                who = f"{self._name(cells)} <{self.columns.text(cells, 'email').lower()}>"
                return RosterProblem(
                    self.shown,
                    row,
                    header,
                    f"{who} is not provisioned: the status is {status!r}, a registration that "
                    "was cancelled, refunded or withdrawn. Change the status to provision them.",
                )
        return None

    def _duplicate(
        self,
        participant: Participant,
        first_row_of: dict[str, int],
        first_row_of_email: dict[str, int],
    ) -> RosterProblem | None:
        identity = participant.identity
        if identity in first_row_of:
            name = "id" if participant.participant_id else "email"
            return self._problem(
                participant.row,
                name,
                f"{identity!r} is also on row {first_row_of[identity]}; each participant may "
                "appear once. Delete one of the two rows.",
            )
        if participant.email in first_row_of_email:
            # With ids as identity, one email on two rows is still almost surely one person
            # registered twice; two keys would go to the same inbox.
            return self._problem(
                participant.row,
                "email",
                f"{participant.email!r} is also on row {first_row_of_email[participant.email]} "
                "(with another id); each participant may appear once. Delete one of the two "
                "rows, or correct the email.",
            )
        return None

    def _read_row(
        self, cells: Sequence[Cell], row: int
    ) -> tuple[Participant | None, list[RosterProblem]]:
        problems: list[RosterProblem] = []
        columns = self.columns
        if self._repeats_header(cells):
            message = (
                "this row repeats the header (a second table or section in the export?). "
                "keyprov reads one table: delete this row and the rows that are not participants."
            )
            return None, [self._problem(row, None, message)]
        name = self._name(cells)
        raw_email = columns.text(cells, "email")
        if not name and not raw_email:
            has = listing(cells)
            message = (
                f"this row has no name and no email (it has: {has}). Fill them in, or delete "
                "the row if it is not a participant."
            )
            return None, [self._problem(row, None, message)]
        if not name:
            field_name = "name" if "name" in columns.index else "first_name"
            if field_name not in columns.index:
                field_name = "last_name"
            problems.append(
                self._problem(row, field_name, "the name is empty. Fill it in; keys.xlsx lists it.")
            )
        email = self._email(raw_email, row, problems)
        limit = self._limit(columns.cell(cells, "limit"), row, problems)
        limit_reset = self._limit_reset(columns.text(cells, "limit_reset"), row, problems)
        participant_id = self._id(cells, row, problems)
        if problems or limit is None or email is None:
            return None, problems
        return Participant(name, email, limit, limit_reset, row, participant_id), problems

    def _repeats_header(self, cells: Sequence[Cell]) -> bool:
        key = normalise_header(self.columns.text(cells, "email"))
        own = normalise_header(self.columns.header_of("email") or "")
        return bool(key) and (key == own or FIELD_OF_HEADER.get(key) == "email")

    def _name(self, cells: Sequence[Cell]) -> str:
        name = self.columns.text(cells, "name")
        if name or "name" in self.columns.index:
            return name
        parts = (self.columns.text(cells, "first_name"), self.columns.text(cells, "last_name"))
        return " ".join(part for part in parts if part)

    def _email(self, text: str, row: int, problems: list[RosterProblem]) -> str | None:
        # Invisible characters (zero-width spaces from copy and paste) are never part of an
        # address; everything else that is odd is reported, not repaired.
        email = "".join(char for char in text if unicodedata.category(char) != "Cf").lower()
        if not email:
            problems.append(
                self._problem(
                    row,
                    "email",
                    "the email is empty; every participant needs one. Fill it in, or delete "
                    "the row if it is not a participant.",
                )
            )
            return None
        if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(email):
            problems.append(
                self._problem(
                    row,
                    "email",
                    f"{text!r} is not a valid email address. Correct it (one address, like "
                    "name@example.org).",
                )
            )
            return None
        return email

    def _limit(self, cell: Cell, row: int, problems: list[RosterProblem]) -> float | None:
        text = normalise_text(cell_text(cell))
        if not text:
            # Without a limit column the file-level problem says it once, not on every row.
            if self.default_limit is None and "limit" in self.columns.index:
                problems.append(
                    self._problem(
                        row,
                        "limit",
                        "no limit: fill in this cell, or give a default with --limit USD.",
                    )
                )
            return self.default_limit
        amount = _parse_amount(cell, text)
        if isinstance(amount, str):
            problems.append(self._problem(row, "limit", f"{text!r} {amount}"))
            return None
        if amount <= 0:
            problems.append(
                self._problem(
                    row,
                    "limit",
                    f"{text!r} must be a positive amount of US dollars. Write e.g. 2.50, or "
                    "leave the cell empty for the --limit default.",
                )
            )
            return None
        if amount > self.max_limit:
            problems.append(
                self._problem(
                    row,
                    "limit",
                    f"{text!r} is above the maximum of {self.max_limit:g} USD per key "
                    "(a typo for a smaller amount?). Fix the cell, or raise --max-limit.",
                )
            )
            return None
        return amount

    def _limit_reset(self, text: str, row: int, problems: list[RosterProblem]) -> str | None:
        if not text:
            return self.default_limit_reset
        value = text.lower()
        if value in LIMIT_RESETS:
            return value
        problems.append(
            self._problem(
                row,
                "limit_reset",
                f"{text!r} is not one of {', '.join(LIMIT_RESETS)}. Write one of them, or leave "
                "the cell empty for the --limit-reset default.",
            )
        )
        return None

    def _id(self, cells: Sequence[Cell], row: int, problems: list[RosterProblem]) -> str | None:
        if "id" not in self.columns.index:
            return None
        participant_id = self.columns.text(cells, "id")
        if not participant_id:
            problems.append(
                self._problem(
                    row,
                    "id",
                    "the id is empty, but the roster identifies participants by this column. "
                    "Fill it in (or remove the whole column to identify them by email).",
                )
            )
            return None
        return participant_id


def _is_skipped_status(status: str) -> bool:
    words = re.sub(r"[\W_]+", " ", status.casefold()).split()
    if not words:
        return False
    return words[0] in SKIPPED_STATUS_WORDS or " ".join(words).startswith(SKIPPED_STATUS_PHRASES)


def _without_currency(text: str) -> str:
    matched = _CURRENCY.match(text)
    return matched.group(1) if matched else text.strip()


def _parse_amount(cell: Cell, text: str) -> float | str:
    """US dollars from a cell: a number as stored, or text like '2.50', '$2', '2,50 USD'.

    Returns the amount, or the end of a message saying why it is not one.
    """
    not_a_number = "is not a number of US dollars. Write e.g. 2.50."
    if isinstance(cell, bool):
        return not_a_number
    if isinstance(cell, int | float):
        return round(float(cell), 6) if math.isfinite(cell) else not_a_number
    if isinstance(cell, datetime | date | time):
        return "is a date or time, not an amount. Write the amount in US dollars, e.g. 2.50."
    if text.lower() in _EXCEL_ERRORS:
        return "is an Excel error, not an amount. Fix the formula, or type the amount."
    sign = 1.0
    body = _without_currency(text)
    if body[:1] in ("-", "\u2212", "+"):
        sign = 1.0 if body[0] == "+" else -1.0
        body = _without_currency(body[1:])
    if _AMBIGUOUS.fullmatch(body):
        return (
            "is ambiguous: a thousands separator or a decimal point? Write it without "
            "separators (e.g. 2.5 or 2500)."
        )
    if _WHOLE.fullmatch(body) or _ONE_SEPARATOR.fullmatch(body):
        value = float(body.replace(",", "."))
    elif _COMMA_GROUPS.fullmatch(body):
        value = float(body.replace(",", ""))
    elif _DOT_GROUPS.fullmatch(body):
        value = float(body.replace(".", "").replace(",", "."))
    else:
        return not_a_number
    return round(sign * value, 6)
