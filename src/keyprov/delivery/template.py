"""The message each participant gets: a subject and a plain-text body with named placeholders.

A template file is `Subject: ...` on its first line, then the body (a blank line between them
is optional). Placeholders are `{name}`, `{key}`, `{last_day}`, ... (`KNOWN_FIELDS`); a literal
brace is written `{{` or `}}`. Every placeholder is checked when the template is loaded, so a
typo stops the run before the first message is sent.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from keyprov.errors import ConfigurationError
from keyprov.handouts.wording import HANDOUT_FIELDS

KNOWN_FIELDS = (*HANDOUT_FIELDS, "workshop")
"""Every placeholder: the handout's fields (`keyprov.handouts.handout_fields`) and `workshop`."""
NOT_IN_SUBJECT = frozenset({"key", "claim_code", "claim_url", "quickstart", "budget_left"})
"""The key and the claim code, because a subject shows in notifications, lock screens and
server logs; the others because they span several lines."""

DEFAULT_SUBJECT = "Your OpenRouter API key"
DEFAULT_SUBJECT_FOR_WORKSHOP = "Your OpenRouter API key for {workshop}"
REPLACEMENT_SUBJECT = "Your new OpenRouter API key for {workshop} (it replaces your previous key)"
REPLACEMENT_PREFIX = "New key, replacing your previous one: "
"""Before a custom template's subject when the message carries a replacement key."""
DEFAULT_SOURCE = "the default message"
DEFAULT_BODY = """\
{greeting}

{replaces}

Here is your own OpenRouter API key. It is yours alone: please do not share it, and do not
put it in code or notebooks that others can see.

    {key}

Budget:    {budget}
Valid:     {last_day}
Models:    {models}
Base URL:  {base_url}

Your first call:

{quickstart}

{budget_left}

If you lose this key or think someone else has seen it, tell the organisers: they can
replace it.
"""


DEFAULT_CLAIM_SUBJECT = "Your OpenRouter API key for {workshop}: your claim code"
DEFAULT_CLAIM_BODY = """\
Hello {first_name},

Your own OpenRouter API key for the workshop is waiting for you. Fetch it on the day, on
the device you will work on:

    {claim_url}

Open the page, check that your claim code is filled in, and press the button (opening the
page alone changes nothing). Your claim code, if you type it in yourself:

    {claim_code}

The page shows your key once, on that device. Keep the code to yourself: whoever claims
first gets the key.

Budget:    {budget}
Valid:     {last_day}
Models:    {models}
"""


@dataclass(frozen=True)
class Template:
    subject: str
    body: str
    source: str = DEFAULT_SOURCE
    """Where it came from, for error messages: a file's path."""
    body_line: int = 1
    """The line of `source` the body starts on, for error messages."""

    def __post_init__(self) -> None:
        _one_line(self.subject, self.source)
        subject_fields = _fields(self.subject, self.source, first_line=1)
        body_fields = _fields(self.body, self.source, first_line=self.body_line)
        misplaced = sorted(subject_fields & NOT_IN_SUBJECT)
        if misplaced:
            name = misplaced[0]
            why = (
                "a subject shows in notifications and mail server logs"
                if name in ("key", "claim_code", "claim_url")
                else "it spans several lines"
            )
            raise ConfigurationError(
                f"{self.source}, line 1: the subject uses {{{name}}}, which belongs in the "
                f"body only ({why})."
            )
        if not body_fields & {"key", "claim_code", "claim_url"}:
            raise ConfigurationError(
                f"{self.source}: the body never uses {{key}} (nor {{claim_code}} or "
                "{claim_url}, to fetch it on the claim page), so nobody would get their key. "
                "Put {key} where the key should go."
            )

    @classmethod
    def default(cls, workshop: str | None = None) -> Template:
        subject = DEFAULT_SUBJECT_FOR_WORKSHOP if workshop else DEFAULT_SUBJECT
        return cls(subject=subject, body=DEFAULT_BODY)

    @classmethod
    def default_claim(cls, workshop: str) -> Template:
        """The message that carries the claim code and link, never the key (send --claim)."""
        return cls(
            subject=DEFAULT_CLAIM_SUBJECT, body=DEFAULT_CLAIM_BODY, source="the claim message"
        )

    @classmethod
    def from_file(cls, path: Path) -> Template:
        """Load `Subject: ...` + body from a UTF-8 file; ConfigurationError says what is wrong."""
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise ConfigurationError(
                f"{path}: the template cannot be read ({error.strerror})."
            ) from error
        except UnicodeDecodeError as error:
            raise ConfigurationError(
                f"{path}: the template is not UTF-8 text; save it as UTF-8 and try again."
            ) from error
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, *, source: str) -> Template:
        first, _, rest = text.replace("\r\n", "\n").partition("\n")
        label, colon, subject = first.partition(":")
        if not colon or label.strip().lower() != "subject" or not subject.strip():
            raise ConfigurationError(
                f"{source}, line 1: a template starts with its subject, as in "
                "'Subject: Your key for {workshop}', then the body on the lines below."
            )
        body_line = 2
        if rest.startswith("\n"):
            rest, body_line = rest[1:], 3
        return cls(subject=subject.strip(), body=rest, source=source, body_line=body_line)

    @property
    def fields(self) -> frozenset[str]:
        """The placeholders the subject and body use."""
        return _fields(self.subject + "\n" + self.body, self.source, first_line=1)

    def render(self, values: Mapping[str, str]) -> tuple[str, str]:
        """The subject and the body with every placeholder filled from `values`."""
        return self.subject.format_map(values), self.body.format_map(values)


def _one_line(subject: str, source: str) -> None:
    """A subject is one header line: a line or paragraph separator, or a control character,
    would break every message at send time, so it stops the run before the first."""
    for column, char in enumerate(subject, start=len("Subject: ") + 1):
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") and char != "\t":
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            raise ConfigurationError(
                f"{source}, line 1, column {column}: the subject holds {name} "
                f"(U+{ord(char):04X}), which a mail header cannot carry. Retype the subject "
                "on one line in a plain text editor."
            )


def _fields(text: str, source: str, *, first_line: int) -> frozenset[str]:
    """The placeholders of `text`, each checked: a known name, with no format spec."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise ConfigurationError(
            f"{source}: {error} (a lone {{ or }}). Write {{{{ or }}}} for a literal brace, "
            "and placeholders as {name}."
        ) from error
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        where = f"{source}, line {first_line + _lines_before(text, name)}"
        if name not in KNOWN_FIELDS:
            raise ConfigurationError(
                f"{where}: unknown placeholder {{{name}}}. Known placeholders: "
                + ", ".join(f"{{{known}}}" for known in KNOWN_FIELDS)
                + ". Write {{ or }} for a literal brace."
            )
        if spec or conversion:
            raise ConfigurationError(
                f"{where}: write the placeholder as plain {{{name}}}, without "
                f"{'!' + conversion if conversion else ':' + spec}."
            )
        names.add(name)
    return frozenset(names)


def _lines_before(text: str, name: str) -> int:
    at = text.find("{" + name)
    return text.count("\n", 0, max(at, 0))
