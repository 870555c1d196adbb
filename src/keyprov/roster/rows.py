"""Step 3 of reading a roster: validate and normalise every row into a participant.

Every problem of every row is collected, so the user fixes the file once; one problem on many
rows is reported once with the rows listed. A row whose status says the registration was
cancelled or refunded is skipped with its reason, never provisioned. In a roster with an id
column, a row without an id is identified by its email (Moodle lists teachers without an 'ID
number'), and a note says how many rows that is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from keyprov.errors import RosterProblem
from keyprov.roster.folding import fold_repeats, row_listing
from keyprov.roster.headers import FIELD_OF_HEADER, Columns, Header, normalise_header, words
from keyprov.roster.table import Cell, Table, cell_text, is_blank, listing, normalise_text
from keyprov.roster.values import (
    DEFAULT_MAX_LIMIT,
    LIMIT_RESETS,
    is_email,
    parse_amount,
    split_addresses,
)

__all__ = ["DEFAULT_MAX_LIMIT", "LIMIT_RESETS", "Participant", "RowReader", "RowResults"]

SKIPPED_STATUS_WORDS = frozenset(
    words(
        "cancelled canceled cancellation cancelation refunded withdrawn deleted rejected denied "
        "declined blocked void voided transferred suspended waitlisted waitlist"
    )
)
"""A status whose first word is one of these is a registration that must get no key."""
SKIPPED_STATUS_PHRASES = ("not attending", "not going", "waiting list", "wait list", "on waitlist")


@dataclass(frozen=True)
class Participant:
    name: str
    email: str
    limit: float
    limit_reset: str | None
    row: int
    """The row number as a spreadsheet app shows it, for messages."""
    participant_id: str | None = None
    identity_is_email_fallback: bool = False
    """True for a row without an id in a roster with an id column: its identity is its email
    until it gets an id. A run that then meets the new id should match it against this email
    before treating the participant as new, so they keep their key."""
    emails: tuple[str, ...] = ()
    """Every address of the participant, `email` (the first) included: a cell may hold two
    ('a@x.lv, b@y.com'); `send` writes to all of them. Filled from `email` when not given."""

    def __post_init__(self) -> None:
        if not self.emails:
            object.__setattr__(self, "emails", (self.email,))

    @property
    def identity(self) -> str:
        """What makes two rows the same person: the id when the row has one, else the email."""
        return self.participant_id or self.email


def check_limit_column(
    header: Header, default_limit: float | None, shown: str
) -> list[RosterProblem]:
    """Without a limit column, --limit is every key's budget: say so once, not on every row."""
    if default_limit is not None or "limit" in header.found:
        return []
    return [
        RosterProblem(
            shown,
            header.row,
            None,
            "the roster has no limit column ('limit', 'budget', 'credit', 'usd') and no "
            "--limit was given. Give every key's budget with --limit USD, or add a "
            "'limit' column.",
        )
    ]


@dataclass
class RowResults:
    participants: list[Participant] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)
    skipped: list[RosterProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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
        # The email column's own header, normalised once rather than for every row.
        self._email_header = normalise_header(columns.header_of("email") or "")

    def read(self, table: Table, start: int) -> RowResults:
        result = RowResults()
        problems: list[RosterProblem] = []
        first_row_of: dict[str, int] = {}
        first_with_email: dict[str, Participant] = {}
        for index in range(start, len(table.rows)):
            cells = table.rows[index]
            if is_blank(cells):
                continue
            row = table.row_number(index)
            skip = self._skip_reason(cells, row)
            if skip is not None:
                result.skipped.append(skip)
                continue
            participant = self._read_row(cells, row, problems)
            if participant is None:
                continue
            duplicate = self._duplicate(participant, first_row_of, first_with_email)
            if duplicate is not None:
                problems.append(duplicate)
                continue
            first_row_of[participant.identity] = row
            for address in participant.emails:
                first_with_email[address] = participant
            result.participants.append(participant)
        result.problems = fold_repeats(problems)
        result.warnings.extend(self._fallback_note(result.participants))
        return result

    def _problem(
        self, row: int, name: str | None, message: str, plural: str | None = None
    ) -> RosterProblem:
        """A problem of one row; `plural` says it of many ('have no limit: ...'), to fold."""
        column = self.columns.header_of(name) if name is not None else None
        return RosterProblem(self.shown, row, column, message, plural=plural)

    def _fallback_note(self, participants: Sequence[Participant]) -> list[str]:
        header = self.columns.header_of("id")
        fallback = [person.row for person in participants if person.identity_is_email_fallback]
        if header is None or not fallback:
            return []
        if len(fallback) == len(participants):
            # Moodle's unused 'ID number', often: an id column that identifies no one.
            return [
                f"{self.shown}: the column {header!r} is empty in every row, so participants "
                "are identified by their email."
            ]
        verb = "has" if len(fallback) == 1 else "have"
        return [
            f"{self.shown}: {len(fallback)} of {len(participants)} participants {verb} no "
            f"{header!r} (rows {row_listing(fallback)}), so they are identified by their email "
            "and the others by their id. One who gets an id later keeps their key."
        ]

    def _skip_reason(self, cells: Sequence[Cell], row: int) -> RosterProblem | None:
        for position, header in self.columns.status:
            status = normalise_text(cell_text(cells[position] if position < len(cells) else None))
            if _is_skipped_status(status):
                who = f"{self._name(cells)} <{self.columns.text(cells, 'email').lower()}>"
                return RosterProblem(
                    self.shown,
                    row,
                    header,
                    f"{who} is not provisioned: the status is {status!r}, "
                    f"{_skipped_meaning(status)}. Change the status to provision them.",
                )
        return None

    def _duplicate(
        self,
        participant: Participant,
        first_row_of: dict[str, int],
        first_with_email: dict[str, Participant],
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
        for address in participant.emails:
            first = first_with_email.get(address)
            if first is None:
                continue
            # With ids as identity, one email on two rows is still almost surely one person
            # registered twice; two keys would go to the same inbox.
            ids = (
                " (with another id)" if first.participant_id and participant.participant_id else ""
            )
            return self._problem(
                participant.row,
                "email",
                f"{address!r} is also on row {first.row}{ids}; each participant may "
                "appear once. Delete one of the two rows, or correct the email.",
            )
        return None

    def _read_row(
        self, cells: Sequence[Cell], row: int, problems: list[RosterProblem]
    ) -> Participant | None:
        """The row's participant, or None after adding its problems to `problems`."""
        columns = self.columns
        if self._repeats_header(cells):
            message = (
                "this row repeats the header (a second table or section in the export?). "
                "keyprov reads one table: delete this row and the rows that are not participants."
            )
            problems.append(self._problem(row, None, message))
            return None
        name = self._name(cells)
        raw_email = columns.text(cells, "email")
        if not name and not raw_email:
            has = listing(cells)
            message = (
                f"this row has no name and no email (it has: {has}). Fill them in, or delete "
                "the row if it is not a participant."
            )
            problems.append(self._problem(row, None, message))
            return None
        found = len(problems)
        if not name:
            field_name = "name" if "name" in columns.index else "first_name"
            if field_name not in columns.index:
                field_name = "last_name"
            problems.append(
                self._problem(
                    row,
                    field_name,
                    "the name is empty. Fill it in; keys.xlsx lists it.",
                    "have no name. Fill them in; keys.xlsx lists them.",
                )
            )
        emails = self._emails(raw_email, row, problems)
        limit = self._limit(columns.cell(cells, "limit"), row, problems)
        limit_reset = self._limit_reset(columns.text(cells, "limit_reset"), row, problems)
        if len(problems) > found or limit is None or emails is None:
            return None
        email = emails[0]
        if "id" not in columns.index:
            return Participant(name, email, limit, limit_reset, row, emails=emails)
        participant_id = columns.text(cells, "id") or None
        fallback = participant_id is None
        return Participant(
            name, email, limit, limit_reset, row, participant_id, fallback, emails=emails
        )

    def _repeats_header(self, cells: Sequence[Cell]) -> bool:
        key = normalise_header(self.columns.text(cells, "email"))
        return bool(key) and (key == self._email_header or FIELD_OF_HEADER.get(key) == "email")

    def _name(self, cells: Sequence[Cell]) -> str:
        """The name cell, or else first and last name joined (which fill in an empty name)."""
        name = self.columns.text(cells, "name")
        if name:
            return name
        parts = (self.columns.text(cells, "first_name"), self.columns.text(cells, "last_name"))
        return " ".join(part for part in parts if part)

    def _emails(self, text: str, row: int, problems: list[RosterProblem]) -> tuple[str, ...] | None:
        """The row's addresses (one, or several in one cell), or None after its problem."""
        problem = address_problem(text)
        if problem is None:
            return tuple(dict.fromkeys(split_addresses(text)))
        problems.append(self._problem(row, "email", *problem))
        return None

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
                        "have no limit: fill in these cells, or give a default with --limit USD.",
                    )
                )
            return self.default_limit
        amount = parse_amount(cell, text)
        if isinstance(amount, str):
            problems.append(
                self._problem(row, "limit", f"{text!r} {amount}", f"hold {text!r}, which {amount}")
            )
            return None
        if amount <= 0:
            problems.append(
                self._problem(
                    row,
                    "limit",
                    f"{text!r} must be a positive amount of US dollars. Write e.g. 2.50, or "
                    "leave the cell empty for the --limit default.",
                    f"hold {text!r}, which is not a positive amount of US dollars. Write e.g. "
                    "2.50, or leave the cells empty for the --limit default.",
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
                    f"hold {text!r}, above the maximum of {self.max_limit:g} USD per key (a "
                    "typo for a smaller amount?). Fix the cells, or raise --max-limit.",
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
                f"hold {text!r}, which is not one of {', '.join(LIMIT_RESETS)}. Write one of "
                "them, or leave the cells empty for the --limit-reset default.",
            )
        )
        return None


def address_problem(text: str) -> tuple[str, str] | None:
    """What is wrong with an email cell (the message for one row, and for many), or None."""
    addresses = split_addresses(text)
    if not addresses[0]:
        return (
            "the email is empty; every participant needs one. Fill it in, or delete the row if "
            "it is not a participant.",
            "have no email; every participant needs one. Fill them in, or delete the rows that "
            "are not participants.",
        )
    if len(addresses) == 1 and not is_email(addresses[0]):
        return (
            f"{text!r} is not a valid email address. Correct it (one address, like "
            "name@example.org).",
            f"hold {text!r}, which is not a valid email address. Correct them (one address "
            "each, like name@example.org).",
        )
    wrong = [address for address in addresses if not is_email(address)]
    if wrong:
        return (
            f"{text!r} holds several addresses, and {wrong[0]!r} is not a valid one. Correct "
            "it (addresses like name@example.org, separated by commas).",
            f"hold {text!r}, in which {wrong[0]!r} is not a valid address. Correct them "
            "(addresses like name@example.org, separated by commas).",
        )
    return None


def _is_skipped_status(status: str) -> bool:
    words = re.sub(r"[\W_]+", " ", status.casefold()).split()
    if not words:
        return False
    return words[0] in SKIPPED_STATUS_WORDS or " ".join(words).startswith(SKIPPED_STATUS_PHRASES)


_MEANINGS = (
    (("waitlisted", "waitlist", "waiting", "wait", "on"), "a place on the waiting list"),
    (("not",), "someone who is not coming"),
    (("rejected", "denied", "declined", "blocked"), "a registration that was declined"),
    (("transferred",), "a registration passed on to someone else"),
    (("suspended",), "a registration that is suspended"),
)


def _skipped_meaning(status: str) -> str:
    """What a skipped status says of the person, in the words a reader would use."""
    first = re.sub(r"[\W_]+", " ", status.casefold()).split()[0]
    for firsts, meaning in _MEANINGS:
        if first in firsts:
            return meaning
    return "a registration that was cancelled, refunded or withdrawn"
