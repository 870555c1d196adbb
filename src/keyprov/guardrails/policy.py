"""Which models a workshop's keys may use: the policy from `--models`, `--providers`, `--zdr`,
and the model catalogue it is checked against before anything is written.

Pure: nothing here talks to the server. Slugs stay as the user gave them (the ids a
participant routes with); the server echoes a guardrail's models as canonical slugs, so every
comparison goes through the `Catalogue` (/work/shared/openrouter-guardrails-api.md §9.4, §10).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from keyprov.errors import OptionError
from keyprov.models import Model

ALL = "all"
"""The option value that lifts a restriction: `--models all`."""
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9._-]*")
_NEAREST = 3


class Catalogue:
    """The models `GET /models` lists, looked up by id or canonical slug."""

    def __init__(self, models: Iterable[Model]) -> None:
        self.models = tuple(models)
        self._by_slug: dict[str, Model] = {}
        for model in self.models:
            self._by_slug.setdefault(model.id, model)
        for model in self.models:
            self._by_slug.setdefault(model.canonical_slug, model)

    def __len__(self) -> int:
        return len(self.models)

    def model(self, slug: str) -> Model | None:
        """The model with this id or canonical slug, or None."""
        return self._by_slug.get(slug)

    def canonical(self, slug: str) -> str:
        """The canonical slug of a model named either way; an unknown slug as it is."""
        model = self._by_slug.get(slug)
        return model.canonical_slug if model is not None else slug

    def shown(self, slug: str) -> str:
        """How messages name a model: by its id, even when the server gave its canonical slug."""
        model = self._by_slug.get(slug)
        return model.id if model is not None else slug

    def nearest(self, slug: str) -> list[str]:
        """The ids most like `slug` (a typo's likely meaning), best first."""
        ids = [model.id for model in self.models]
        lowered = {model_id.lower(): model_id for model_id in ids}
        if slug.lower() in lowered:
            return [lowered[slug.lower()]]
        found = difflib.get_close_matches(slug.lower(), list(lowered), n=_NEAREST, cutoff=0.6)
        if not found:
            # "claude-3-haiku" without its author: look at the part after the slash alone.
            names = {model_id.split("/", 1)[-1].lower(): model_id for model_id in ids}
            tail = slug.split("/", 1)[-1].lower()
            found = difflib.get_close_matches(tail, list(names), n=_NEAREST, cutoff=0.6)
            return [names[name] for name in found]
        return [lowered[name] for name in found]

    def allows(self, allowed: Collection[str], model: Model) -> bool:
        """Whether a model (or the model an alias stands for) is among `allowed` slugs."""
        wanted = {self.canonical(slug) for slug in allowed}
        if model.canonical_slug in wanted or model.id in allowed:
            return True
        return model.alias_of is not None and self.canonical(model.alias_of) in wanted


@dataclass(frozen=True)
class GuardrailPolicy:
    """The models (ids, sorted; empty = any model), providers (lower case, sorted; empty = any)
    and zero data retention (on every model group) a workshop's keys are held to."""

    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    zdr: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(sorted(set(self.models))))
        object.__setattr__(self, "providers", tuple(sorted({p.lower() for p in self.providers})))

    @classmethod
    def from_options(
        cls, models: str | None = None, providers: str | None = None, zdr: bool = False
    ) -> GuardrailPolicy:
        """From `--models a,b`, `--providers x,y` and `--zdr`; "all" or None = no restriction.

        Raises OptionError (exit 2) for a list that is empty or mixes "all" with slugs.
        """
        return cls().with_options(
            models=ALL if models is None else models,
            providers=ALL if providers is None else providers,
            zdr=zdr,
        )

    def with_options(
        self, *, models: str | None = None, providers: str | None = None, zdr: bool | None = None
    ) -> GuardrailPolicy:
        """This (remembered) policy with the options given on this run; None keeps a value.

        So leaving `--models` out never widens what the keys may use: only `--models all` does.
        """
        return GuardrailPolicy(
            models=self.models if models is None else _parse_list("--models", models),
            providers=self.providers
            if providers is None
            else _parse_providers(_parse_list("--providers", providers)),
            zdr=self.zdr if zdr is None else zdr,
        )

    @property
    def restricts(self) -> bool:
        """Whether the workshop needs a guardrail at all."""
        return bool(self.models or self.providers or self.zdr)

    def to_json(self) -> dict[str, Any]:
        return {"models": list(self.models), "providers": list(self.providers), "zdr": self.zdr}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> GuardrailPolicy:
        """A remembered policy (None: a workshop from before guardrails, no restriction).

        Raises ValueError naming what is wrong.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError("the remembered guardrail policy is not an object")
        lists = {}
        for name in ("models", "providers"):
            value = data.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ValueError(f"the remembered guardrail '{name}' is not a list of names")
            lists[name] = tuple(value)
        zdr = data.get("zdr", False)
        if not isinstance(zdr, bool):
            raise ValueError("the remembered guardrail 'zdr' is not true or false")
        return cls(models=lists["models"], providers=lists["providers"], zdr=zdr)

    @property
    def models_in_words(self) -> str:
        """For handouts: "anthropic/claude-3.5-haiku, openai/gpt-4o-mini" or "any model"."""
        return ", ".join(self.models) if self.models else "any model"

    def in_words(self) -> str:
        """The whole policy: models, then providers and zero data retention when set."""
        parts = [self.models_in_words]
        if self.providers:
            parts.append(f"served by {', '.join(self.providers)} only")
        if self.zdr:
            parts.append("zero data retention only")
        return "; ".join(parts)


def validate_models(
    policy: GuardrailPolicy,
    catalogue: Catalogue,
    *,
    known_providers: Collection[str] | None = None,
) -> None:
    """Refuse slugs the catalogue does not list (by id or canonical slug), before any write.

    Providers are checked against `known_providers` when given: the contract has no endpoint
    that lists them, so without it only their form was checked (at parsing). Raises
    OptionError (exit 2) naming each unknown name and the nearest known ones.
    """
    unknown = [slug for slug in policy.models if catalogue.model(slug) is None]
    if unknown:
        raise OptionError(
            f"--models {','.join(policy.models)}",
            _unknown_message("model", unknown, catalogue.nearest)
            + ". Use the model's id as https://openrouter.ai/models lists it, like "
            "openai/gpt-4o-mini, or --models all for no restriction.",
        )
    if known_providers is None:
        return
    known = sorted({p.lower() for p in known_providers})
    strange = [p for p in policy.providers if p not in known]
    if strange:
        raise OptionError(
            f"--providers {','.join(policy.providers)}",
            _unknown_message(
                "provider",
                strange,
                lambda name: difflib.get_close_matches(name, known, n=_NEAREST, cutoff=0.6),
            )
            + ", or --providers all for no restriction.",
        )


def model_warnings(policy: GuardrailPolicy, catalogue: Catalogue) -> list[str]:
    """Allowed models that may stop working: a planned withdrawal, or a `:free` variant."""
    warnings = []
    for slug in policy.models:
        model = catalogue.model(slug)
        if model is None:
            continue
        if model.expiration_date:
            warnings.append(f"{slug} is to be withdrawn on {model.expiration_date}")
        if model.free:
            warnings.append(f"{slug} is a free variant, which can end without notice")
    return warnings


def _parse_list(option: str, text: str) -> tuple[str, ...]:
    items = [item.strip() for item in text.split(",")]
    items = [item for item in items if item]
    given = f"{option} {text.strip()}".rstrip()
    if not items:
        raise OptionError(given, f"give one name or more, separated by commas, or {ALL!r}")
    if any(item.lower() == ALL for item in items):
        if len(items) > 1:
            raise OptionError(given, f"{ALL!r} lifts the restriction: give it alone")
        return ()
    spaced = [item for item in items if any(c.isspace() for c in item)]
    if spaced:
        raise OptionError(given, f"{spaced[0]!r} holds a space: separate names with commas")
    return tuple(items)


def _parse_providers(providers: tuple[str, ...]) -> tuple[str, ...]:
    lowered = tuple(p.lower() for p in providers)
    bad = [p for p in lowered if not _PROVIDER.fullmatch(p)]
    if bad:
        raise OptionError(
            f"--providers {','.join(providers)}",
            f"{bad[0]!r} is not a provider id (lower-case letters, digits, '-', like openai)",
        )
    return lowered


def _unknown_message(what: str, names: list[str], nearest: Any) -> str:
    described = []
    for name in names:
        close = nearest(name)
        hint = f"did you mean {', '.join(close)}?" if close else f"no {what} by a similar name"
        described.append(f"{name!r} ({hint})")
    noun = what if len(names) == 1 else f"{what}s"
    return f"{len(names)} unknown {noun}: {'; '.join(described)}"
