"""Guardrails: the create and update bodies the API accepts, and the stored records.

Follows /work/shared/openrouter-guardrails-api.md §3-4: model lists are accepted as slugs or
canonical slugs and stored (and echoed) as canonical slugs; an array sent replaces the whole
value; `null` clears; `[]` is refused where the schema says `minItems: 1`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from keyprov.sandbox.catalogue import ZDR_GROUPS, canonical_slug
from keyprov.sandbox.validation import (
    DEFAULT_WORKSPACE_ID,
    ApiError,
    invalid,
    is_number,
    parse_workspace_id,
    require_object,
)

RESET_INTERVALS = ("daily", "weekly", "monthly")
FILTER_ACTIONS = ("redact", "block", "flag")
SCAN_SCOPES = ("user_only", "all_messages")
# Builtin detectors and the label the server sets for each (one a client sends is discarded).
BUILTIN_LABELS = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "ssn": "[SSN]",
    "credit-card": "[CREDIT_CARD]",
    "ip-address": "[IP_ADDRESS]",
    "person-name": "[PERSON_NAME]",
    "address": "[ADDRESS]",
    "regex-prompt-injection": "[PROMPT_INJECTION]",
}
PROMPT_INJECTION = "regex-prompt-injection"
ZDR_FIELDS = tuple(f"enforce_zdr_{group}" for group in ZDR_GROUPS)
_NULLABLE_BOOLS = (
    *ZDR_FIELDS,
    "enforce_zdr",
    "enable_free_model_publication",
    "enable_free_model_training",
    "enable_paid_model_training",
)
_MAX_PATTERN = 100_000
# What a linear-time regex engine refuses: lookarounds, backreferences, nested quantifiers.
_LOOKAROUND = re.compile(r"\(\?<?[=!]")
_BACKREFERENCE = re.compile(r"\\(?:[1-9]|k<)")


def _check_text(body: Mapping[str, Any], name: str, *, low: int, high: int) -> str:
    value = body[name]
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise invalid(name, f"must be a string of {low} to {high} characters")
    return value


def _nullable_enum(body: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = body[name]
    if value is not None and value not in choices:
        raise invalid(name, f"must be one of {', '.join(choices)} or null")
    return value


def _nullable_bool(body: Mapping[str, Any], name: str) -> bool | None:
    value = body[name]
    if value is not None and not isinstance(value, bool):
        raise invalid(name, "must be a boolean or null")
    return value


def _string_list(body: Mapping[str, Any], name: str) -> list[str] | None:
    value = body[name]
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        # The schema says minItems: 1; null is how a restriction is lifted.
        raise invalid(name, "must be a non-empty array of strings, or null")
    if not all(isinstance(item, str) and item for item in value):
        raise invalid(name, "every item must be a non-empty string")
    return list(dict.fromkeys(value))


def _model_list(body: Mapping[str, Any], name: str) -> list[str] | None:
    slugs = _string_list(body, name)
    if slugs is None:
        return None
    canonical = []
    for index, slug in enumerate(slugs):
        resolved = canonical_slug(slug)
        if resolved is None:
            raise invalid(f"{name}[{index}]", f"unknown model {slug!r}")
        canonical.append(resolved)
    return list(dict.fromkeys(canonical))


def regex_problem(pattern: str) -> str | None:
    """Why a custom filter pattern is refused, or None if it is accepted."""
    if _LOOKAROUND.search(pattern):
        return "lookarounds are not supported"
    if _BACKREFERENCE.search(pattern):
        return "backreferences are not supported"
    if _has_nested_quantifier(pattern):
        return "nested quantifiers are not supported"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"not a valid regular expression ({exc})"
    return None


def _has_nested_quantifier(pattern: str) -> bool:
    """True for a quantified group that holds a quantifier, as in `(a+)+` or `(?:ab*){2,}`."""
    groups: list[bool] = []  # per open group: does it hold a quantifier?
    closed_quantified = False  # the group just closed holds a quantifier
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        quantifier = (
            char in "*+"
            or (char == "?" and i > 0 and pattern[i - 1] not in "(*+?}")
            or (char == "{" and re.match(r"\{\d+(,\d*)?\}", pattern[i:]) is not None)
        )
        if char == "\\":
            i += 2
            closed_quantified = False
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            groups.append(False)
        elif char == ")" and groups:
            closed_quantified = groups.pop()
            if groups and closed_quantified:
                groups[-1] = True
            i += 1
            continue
        elif quantifier:
            if closed_quantified:
                return True
            if groups:
                groups[-1] = True
        closed_quantified = False
        i += 1
    return False


def _builtins(body: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    value = body["content_filter_builtins"]
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid("content_filter_builtins", "must be an array or null")
    out = []
    for index, item in enumerate(value):
        where = f"content_filter_builtins[{index}]"
        if not isinstance(item, Mapping):
            raise invalid(where, "must be an object")
        if item.get("slug") not in BUILTIN_LABELS:
            raise invalid(f"{where}.slug", f"must be one of {', '.join(BUILTIN_LABELS)}")
        if item.get("action") not in FILTER_ACTIONS:
            raise invalid(f"{where}.action", f"must be one of {', '.join(FILTER_ACTIONS)}")
        scope = item.get("scan_scope", "all_messages")
        if scope not in SCAN_SCOPES:
            raise invalid(f"{where}.scan_scope", f"must be one of {', '.join(SCAN_SCOPES)}")
        stored = {
            "slug": item["slug"],
            "action": item["action"],
            "label": BUILTIN_LABELS[item["slug"]],
        }
        if item["slug"] == PROMPT_INJECTION:  # the only builtin the scope applies to
            stored["scan_scope"] = scope
        out.append(stored)
    return out


def _custom_filters(body: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    value = body["content_filters"]
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid("content_filters", "must be an array or null")
    out = []
    for index, item in enumerate(value):
        where = f"content_filters[{index}]"
        if not isinstance(item, Mapping):
            raise invalid(where, "must be an object")
        pattern = item.get("pattern")
        if not isinstance(pattern, str) or not 1 <= len(pattern) <= _MAX_PATTERN:
            raise invalid(f"{where}.pattern", f"must be a string of 1 to {_MAX_PATTERN} characters")
        problem = regex_problem(pattern)
        if problem is not None:
            raise ApiError(
                400,
                f"Invalid request parameters: {where}.pattern: invalid_regex_pattern: {problem}",
                {"error_type": "invalid_regex_pattern", "index": index},
            )
        if item.get("action") not in FILTER_ACTIONS:
            raise invalid(f"{where}.action", f"must be one of {', '.join(FILTER_ACTIONS)}")
        label = item.get("label")
        if label is not None and not isinstance(label, str):
            raise invalid(f"{where}.label", "must be a string or null")
        out.append({"pattern": pattern, "action": item["action"], "label": label})
    return out


def _limit_usd(body: Mapping[str, Any]) -> float | None:
    value = body["limit_usd"]
    if value is not None and not (is_number(value) and value >= 0):
        raise invalid("limit_usd", "must be a number >= 0 or null")
    return value


def _include_byok(body: Mapping[str, Any]) -> bool:
    if not isinstance(body["include_byok_in_budgets"], bool):
        raise invalid("include_byok_in_budgets", "must be a boolean")
    return bool(body["include_byok_in_budgets"])


def _description(body: Mapping[str, Any]) -> str | None:
    if body["description"] is None:
        return None
    return _check_text(body, "description", low=0, high=1000)


_PARSERS: dict[str, Any] = {
    "name": lambda b: _check_text(b, "name", low=1, high=200),
    "description": _description,
    "limit_usd": _limit_usd,
    "reset_interval": lambda b: _nullable_enum(b, "reset_interval", RESET_INTERVALS),
    "include_byok_in_budgets": _include_byok,
    "allowed_models": lambda b: _model_list(b, "allowed_models"),
    "ignored_models": lambda b: _model_list(b, "ignored_models"),
    "allowed_providers": lambda b: _string_list(b, "allowed_providers"),
    "ignored_providers": lambda b: _string_list(b, "ignored_providers"),
    "content_filter_builtins": _builtins,
    "content_filters": _custom_filters,
    **{name: (lambda b, n=name: _nullable_bool(b, n)) for name in _NULLABLE_BOOLS},
}


def parse_guardrail(body: object, *, creating: bool) -> dict[str, Any]:
    """Validate a POST /guardrails (creating) or PATCH /guardrails/{id} body; return the
    stored fields it sets. Unknown fields are ignored, as a schema-stripping validator would."""
    body = require_object(body)
    if creating and "name" not in body:
        raise invalid("name", "is required")
    if not creating and "workspace_id" in body:
        raise invalid("workspace_id", "cannot be updated")
    out = {name: parse(body) for name, parse in _PARSERS.items() if name in body}
    if "enforce_zdr" in body:
        # Deprecated, but still honoured: it seeds each per-group switch this request leaves out.
        for name in ZDR_FIELDS:
            out.setdefault(name, out["enforce_zdr"])
    if creating and "workspace_id" in body:
        out["workspace_id"] = parse_workspace_id(body["workspace_id"])
    return out


@dataclass
class GuardrailRecord:
    id: str
    name: str
    seq: int
    created_at: str
    workspace_id: str = DEFAULT_WORKSPACE_ID
    description: str | None = None
    limit_usd: float | None = None
    reset_interval: str | None = None
    include_byok_in_budgets: bool = False
    allowed_models: list[str] | None = None
    ignored_models: list[str] | None = None
    allowed_providers: list[str] | None = None
    ignored_providers: list[str] | None = None
    enforce_zdr: bool | None = None
    enforce_zdr_anthropic: bool | None = None
    enforce_zdr_openai: bool | None = None
    enforce_zdr_google: bool | None = None
    enforce_zdr_xai: bool | None = None
    enforce_zdr_other: bool | None = None
    enable_free_model_publication: bool | None = None
    enable_free_model_training: bool | None = None
    enable_paid_model_training: bool | None = None
    content_filter_builtins: list[dict[str, Any]] | None = None
    content_filters: list[dict[str, Any]] | None = None
    updated_at: str | None = None

    def to_api(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _API_ORDER}
        # Copies: the caller may change what it is given without changing the store.
        for name, value in out.items():
            if isinstance(value, list):
                out[name] = [dict(v) if isinstance(v, dict) else v for v in value]
        return out


GUARDRAIL_FIELDS = {f.name for f in fields(GuardrailRecord)}
# The contract's field order (§3.1), which is also what a reader of a raw answer expects.
_API_ORDER = (
    "id",
    "name",
    "description",
    "limit_usd",
    "reset_interval",
    "include_byok_in_budgets",
    "allowed_models",
    "ignored_models",
    "allowed_providers",
    "ignored_providers",
    "enforce_zdr",
    *ZDR_FIELDS,
    "enable_free_model_publication",
    "enable_free_model_training",
    "enable_paid_model_training",
    "content_filter_builtins",
    "content_filters",
    "workspace_id",
    "created_at",
    "updated_at",
)


@dataclass
class AssignmentRecord:
    """One key (or organisation member) on one guardrail; a subject has at most one row."""

    id: str
    kind: str  # "key" or "member"
    subject: str  # the key's hash, or the member's user id
    guardrail_id: str
    assigned_by: str | None
    created_at: str
    seq: int = 0


ASSIGNMENT_FIELDS = {f.name for f in fields(AssignmentRecord)}


def parse_subjects(body: object, name: str) -> list[str]:
    """The `key_hashes` / `member_user_ids` of a bulk (un)assign body, duplicates dropped."""
    body = require_object(body)
    if name not in body:
        raise invalid(name, "is required")
    value = body[name]
    if not isinstance(value, list) or not value:
        raise invalid(name, "must be a non-empty array of strings")
    if not all(isinstance(item, str) and item for item in value):
        raise invalid(name, "every item must be a non-empty string")
    return list(dict.fromkeys(value))
