"""Step 2 of reading a roster: find the header row and map its columns to fields.

A column is a field because the user named it with --column, or else because its header is
one of the field's synonyms. Where two columns could hold the same field, their cells decide
(`content`); when the cells do not, the user is asked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from keyprov.errors import OptionError, RosterError, RosterProblem
from keyprov.roster.content import choose_column, column_is_empty
from keyprov.roster.table import Cell, Table, cell_text, fail, is_blank, listing, normalise_text

HEADER_SEARCH_ROWS = 100
"""How far down to look for the header: some exports put title or report lines above it
(Zoom lists the hosts and panelists of a webinar above its attendees)."""


def words(text: str) -> tuple[str, ...]:
    """A long word list written as one string: easier to read and extend than a list literal."""
    return tuple(text.split())


FIELDS = ("name", "first_name", "last_name", "email", "limit", "limit_reset", "id", "status")
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    # Compared after normalise_header: no case, accents, spaces or punctuation; "#" is "number".
    "name": words(
        "name fullname yourname yourfullname participant participantname attendeename student "
        "studentname firstandlastname firstnameandlastname nameandsurname nomcomplet "
        "nombrecompleto "
        # Latvian, Lithuanian, Estonian: 'Vārds' and 'Vardas' are a given name beside a surname.
        "vards vardsuzvards vardas vardaspavarde vardasirpavarde nimi eesjaperekonnanimi"
    ),
    "first_name": words("firstname first givenname givennames forename prenom vorname eesnimi"),
    "last_name": words(
        "lastname last surname familyname nom nachname familienname apellido apellidos "
        "uzvards pavarde perekonnanimi"
    ),
    "email": words(
        "email emailaddress emailaddr mail mailaddress youremail youremailaddress useremail "
        "participantemail attendeeemail studentemail emailadresse mailadresse courriel "
        "adressecourriel adressedecourriel adresseemail correo correoelectronico "
        "epasts epastaadrese elpastas elpastoadresas epastas epost epostiaadress"
    ),
    "limit": words(
        # Not "credits": that is a course's ECTS credits in many university exports.
        "limit limitusd limitinusd usdlimit budget budgetusd budgetinusd usdbudget credit "
        "creditusd usd spendlimit spendinglimit keylimit apilimit apibudget"
    ),
    "limit_reset": words("limitreset reset resets budgetreset resetperiod"),
    "id": words(
        "id studentid studentnumber participantid userid sisuserid idnumber "
        "matriculationnumber matrikelnummer registrationid"
    ),
    "status": words(
        "status state registrationstatus registrationstate attendeestatus approvalstatus "
        "orderstatus ticketstatus paymentstatus enrolmentstatus enrollmentstatus"
    ),
}
FIELD_OF_HEADER = {synonym: name for name, synonyms in SYNONYMS.items() for synonym in synonyms}
GIVEN_NAME_BESIDE_SURNAME = frozenset(words("name vards vardas nimi"))
"""Headers that are the given name when a surname column is beside them ('Name' + 'Surname',
'Vārds' + 'Uzvārds'), and the full name otherwise."""


def normalise_header(text: str) -> str:
    """Header matching ignores case, accents, spacing and punctuation: 'E-mail Address' ->
    'emailaddress', 'Prénom' -> 'prenom', 'Attendee #' -> 'attendeenumber'."""
    plain = text.replace("#", " number ")
    if not plain.isascii():  # ASCII has no accents to take off: the common case, cheaply
        decomposed = unicodedata.normalize("NFKD", plain)
        plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[\W_]+", "", plain.casefold())


@dataclass(frozen=True)
class HeaderMatcher:
    """Says which field each header cell names: the user's --column first, then the synonyms."""

    overrides: Mapping[str, str]
    """field -> the header text the user gave."""
    override_keys: Mapping[str, str]
    """field -> that header text, normalised."""

    @classmethod
    def build(cls, overrides: Mapping[str, str]) -> HeaderMatcher:
        """The matcher for these --column options; OptionError names a bad one."""
        keys = {}
        given: dict[str, str] = {}
        for raw_name, header in overrides.items():
            # 'first name' and 'first-name' mean first_name.
            name = re.sub(r"[\s-]+", "_", raw_name.strip().lower())
            option = f"--column {raw_name}={header!r}"
            if name not in FIELDS:
                raise OptionError(
                    option, f"there is no field {name!r}; use one of {', '.join(FIELDS)}."
                )
            if not normalise_header(header):
                raise OptionError(option, "the header is empty; copy it from the file.")
            given[name] = header
            keys[name] = normalise_header(header)
        return cls(overrides=given, override_keys=keys)

    def candidates(self, cells: Sequence[Cell]) -> dict[str, list[int]]:
        """field -> the positions of the cells that could hold it."""
        found: dict[str, list[int]] = {}
        for position, cell in enumerate(cells):
            if not isinstance(cell, str):
                continue
            key = normalise_header(cell)
            if not key:
                continue
            chosen = [name for name, wanted in self.override_keys.items() if wanted == key]
            if not chosen:
                synonym_field = FIELD_OF_HEADER.get(key)
                if synonym_field is not None and synonym_field not in self.override_keys:
                    chosen = [synonym_field]
            for name in chosen:
                found.setdefault(name, []).append(position)
        return found

    def score(self, cells: Sequence[Cell]) -> tuple[int, int]:
        """(is a complete header, how many fields it names): to rank candidate header rows."""
        found = self.candidates(cells)
        return int(_is_complete(found)), len(found)


def _is_complete(found: Mapping[str, list[int]]) -> bool:
    return "email" in found and any(name in found for name in ("name", "first_name", "last_name"))


@dataclass(frozen=True)
class Header:
    index: int
    """Index of the header in table.rows."""
    row: int
    """Its spreadsheet row number."""
    cells: Sequence[Cell]
    found: dict[str, list[int]]


def find_header(table: Table, matcher: HeaderMatcher, shown: str) -> Header:
    best: tuple[int, int] | None = None
    for index, cells in enumerate(table.rows[:HEADER_SEARCH_ROWS]):
        found = matcher.candidates(cells)
        if _is_complete(found):
            return Header(index, table.row_number(index), cells, found)
        if found and (best is None or len(found) > best[1]):
            best = (index, len(found))
    if all(is_blank(row) for row in table.rows):
        raise fail(shown, "the file is empty.")
    index = best[0] if best else next(i for i, row in enumerate(table.rows) if not is_blank(row))
    searched = [matcher.candidates(cells) for cells in table.rows[:HEADER_SEARCH_ROWS]]
    unmatched = [
        _override_problem(shown, name, wanted, table.row_number(index), table.rows[index])
        for name, wanted in matcher.overrides.items()
        if not any(name in found for found in searched)
    ]
    if unmatched:
        # A --column the file does not have explains a missing header best.
        raise RosterError(unmatched)
    raise fail(shown, _no_header_message(table, matcher, best))


def _override_problem(
    shown: str, name: str, wanted: str, row: int, cells: Sequence[Cell]
) -> RosterProblem:
    return RosterProblem(
        shown,
        row,
        None,
        f"--column {name}={wanted!r}: the header row has no such column (row {row} has: "
        f"{listing(cells)}). Copy the header text exactly.",
    )


def _no_header_message(table: Table, matcher: HeaderMatcher, best: tuple[int, int] | None) -> str:
    sheets = ""
    if len(table.sheets) > 1:
        listed = ", ".join(repr(name) for name in table.sheets)
        sheets = f" The workbook has the sheets {listed}: choose one with --sheet NAME."
    how = 'Rename the column in the file, or name it with --column FIELD="Header".' + sheets
    if best is None:
        has = listing(next(row for row in table.rows if not is_blank(row)))
        return (
            "no header row with a name column ('name', or 'first name' and 'last name') and an "
            f"'email' column was found in the first {HEADER_SEARCH_ROWS} rows (the first row "
            f'has: {has}). Add a header row, or name the columns with --column FIELD="Header".'
            + sheets
        )
    index = best[0]
    cells = table.rows[index]
    has = listing(cells)
    found = matcher.candidates(cells)
    if "email" not in found:
        missing = "no 'email' column", "an email ('email', 'e-mail', 'email address', 'mail')"
    else:
        missing = "no name column", "a name ('name', 'full name', or 'first name' + 'last name')"
    return (
        f"{missing[0]}: row {table.row_number(index)} looks like the header ({has}) but none "
        f"of its columns is named like {missing[1]}. {how}"
    )


@dataclass(frozen=True)
class Columns:
    """Which grid column holds each field, and the header text the user wrote for it."""

    index: Mapping[str, int]
    header: Mapping[str, str]
    status: tuple[tuple[int, str], ...] = ()
    """(position, header) of every status column."""
    warnings: tuple[str, ...] = ()

    def cell(self, cells: Sequence[Cell], name: str) -> Cell:
        position = self.index.get(name)
        if position is None or position >= len(cells):
            return None
        return cells[position]

    def text(self, cells: Sequence[Cell], name: str) -> str:
        return normalise_text(cell_text(self.cell(cells, name)))

    def header_of(self, name: str) -> str | None:
        return self.header.get(name)


def resolve_columns(
    header: Header, matcher: HeaderMatcher, table: Table, shown: str
) -> tuple[Columns | None, list[RosterProblem]]:
    """The columns to read, or None and the problems that make the header unusable.

    Where two columns could hold one field, their cells decide (see `content`); a name
    column empty in every row gives way to first and last name columns. Each such choice is
    a note in Columns.warnings.
    """
    found = dict(header.found)
    problems: list[RosterProblem] = []
    notes: list[str] = []
    index: dict[str, int] = {}

    def label(position: int) -> str:
        return f"{cell_text(header.cells[position]).strip()!r} (column {_column_letter(position)})"

    def pick(name: str) -> None:
        positions = found.get(name, [])
        if len(positions) == 1:
            index[name] = positions[0]
            return
        if not positions:
            return
        choice = choose_column(name, positions, table, header.index, label)
        if choice.position is not None:
            index[name] = choice.position
            notes.append(f"{shown}: the {_words(name)} is read from {choice.reason}.")
            return
        listed = " and ".join(label(position) for position in choice.candidates)
        example = cell_text(header.cells[choice.candidates[-1]]).strip()
        problems.append(
            RosterProblem(
                shown,
                header.row,
                None,
                f"the columns {listed} could each be the {_words(name)} ({choice.reason}). Say "
                f'which one with --column {name}="{example}", or rename the other.',
            )
        )

    problems.extend(
        _override_problem(shown, name, wanted, header.row, header.cells)
        for name, wanted in matcher.overrides.items()
        if name not in found
    )
    for name in ("email", "limit", "limit_reset", "id"):
        pick(name)
    if _name_is_given_name(found, header, matcher, table):
        found["first_name"] = found.pop("name")
    parts = [name for name in ("first_name", "last_name") if name in found]
    empty_names = _names_giving_way(found, parts, matcher, table, header.index)
    if empty_names is not None:
        del found["name"]
    if "name" in found:
        pick("name")
        # First and last name fill in a row whose name cell is empty; they are never asked
        # about, since the name column is the one read.
        index.update({name: found[name][0] for name in parts if len(found[name]) == 1})
    else:
        for name in parts:
            pick(name)
        if empty_names and all(name in index for name in parts):
            verb = "is" if len(empty_names) == 1 else "are"
            notes.append(
                f"{shown}: the name is read from "
                f"{' and '.join(label(index[name]) for name in parts)}, because "
                f"{' and '.join(label(position) for position in empty_names)} {verb} empty in "
                "every row."
            )
    if problems:
        return None, problems
    headers = {name: cell_text(header.cells[position]).strip() for name, position in index.items()}
    status = tuple(
        (position, cell_text(header.cells[position]).strip())
        for position in found.get("status", ())
    )
    columns = Columns(index=index, header=headers, status=status, warnings=tuple(notes))
    return columns, []


def _name_is_given_name(
    found: Mapping[str, list[int]], header: Header, matcher: HeaderMatcher, table: Table
) -> bool:
    """Whether 'Name' is the given name, the surname being in a column of its own.

    So it is when a surname column is beside it and no first-name column, unless the user
    named the name column, or its cells already end with the surname ('Ada Lovelace' beside
    'Lovelace'): then it is the full name, as it always was.
    """
    names = found.get("name", [])
    if len(names) != 1 or "first_name" in found or len(found.get("last_name", [])) != 1:
        return False
    if "name" in matcher.override_keys:
        return False
    if normalise_header(cell_text(header.cells[names[0]])) not in GIVEN_NAME_BESIDE_SURNAME:
        return False
    surname_position = found["last_name"][0]
    both = [
        (normalise_text(cell_text(cells[names[0]])).casefold(), surname.casefold())
        for cells in table.rows[header.index + 1 :]
        if len(cells) > max(names[0], surname_position)
        and (surname := normalise_text(cell_text(cells[surname_position])))
        and normalise_text(cell_text(cells[names[0]]))
    ]
    return not both or not all(name.endswith(surname) for name, surname in both)


def _names_giving_way(
    found: Mapping[str, list[int]],
    parts: Sequence[str],
    matcher: HeaderMatcher,
    table: Table,
    header_index: int,
) -> list[int] | None:
    """The name columns to leave for first and last name, or None to read the name column.

    They give way when the user named first or last name with --column, or when they are
    empty in every row and first or last name is not (then the list says which, for the
    note). A name column the user named with --column is read even when it is empty.
    """
    if "name" not in found or not parts or "name" in matcher.override_keys:
        return None
    if any(name in matcher.override_keys for name in parts):
        return []
    names = found["name"]
    if not all(column_is_empty(table, header_index, position) for position in names):
        return None
    filled = [
        position
        for name in parts
        for position in found[name]
        if not column_is_empty(table, header_index, position)
    ]
    return list(names) if filled else None


def _words(name: str) -> str:
    return name.replace("_", " ")


def _column_letter(position: int) -> str:
    letters = ""
    number = position + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
