"""The model listings: GET /models (the public catalogue) and GET /models/user (what the
calling key may use, after its guardrails).

Follows /work/shared/openrouter-guardrails-api.md §4.10-4.11 and §5.1: paging is opt-in;
/models lists text-output models unless `output_modalities` asks for more; guardrails stack
(allow-lists intersect, ignore-lists and ZDR add up).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from keyprov.sandbox.auth import Caller, authenticate
from keyprov.sandbox.catalogue import (
    INPUT_MODALITIES,
    MODELS,
    OUTPUT_MODALITIES,
    CatalogueModel,
    canonical_slug,
)
from keyprov.sandbox.options import Behaviour
from keyprov.sandbox.replies import Reply
from keyprov.sandbox.routes import Route, integer_param
from keyprov.sandbox.store import Store
from keyprov.sandbox.validation import ApiError

DEFAULT_PAGE, MAX_PAGE = 500, 1000
# The live text is unknown ([U]); only sent when Behaviour.models_user_management_key is "403".
MANAGEMENT_KEY_REFUSED = "A management key has no models of its own; call with an API key"


class ModelRoutes:
    def __init__(
        self,
        store: Store,
        management_key: str,
        behaviour: Callable[[], Behaviour],
        base_url: Callable[[], str],
    ) -> None:
        self._store = store
        self._management_key = management_key
        self._behaviour = behaviour
        self._base_url = base_url

    def match(self, method: str, api_path: str) -> Route | None:
        if method == "GET" and api_path == "/models":
            return Route(self, "catalogue")
        if method == "GET" and api_path == "/models/user":
            return Route(self, "user")
        return None

    def authorize(self, route: Route, authorization: str | None) -> Caller | None:
        if route.name == "catalogue":
            return None  # public: whatever Authorization says is not looked at
        caller = authenticate(authorization, management_key=self._management_key, store=self._store)
        if caller.management and self._behaviour().models_user_management_key == "403":
            raise ApiError(403, MANAGEMENT_KEY_REFUSED)
        return caller

    def handle(
        self, route: Route, caller: Caller | None, query: Mapping[str, str], body: bytes
    ) -> Reply:
        if route.name == "catalogue":
            models = _filter(MODELS, query)
            if query.get("use_rss", "").lower() == "true":
                return _rss(models)
            return self._page(models, query, "/models")
        outputs = {"text"} if self._behaviour().models_user_text_only else None
        models = [m for m in MODELS if outputs is None or _outputs(m) & outputs]
        if caller is not None and caller.key is not None:
            guardrails = self._store.guardrails_over(caller.key["hash"])
            models = [m for m in models if usable(m, guardrails)]
        # /models/user takes no other parameters; only the paging ones are kept in links.next.
        paging = {k: v for k, v in query.items() if k in ("offset", "limit")}
        return self._page(models, paging, "/models/user")

    def _page(self, models: Sequence[CatalogueModel], query: Mapping[str, str], path: str) -> Reply:
        total = len(models)
        if "offset" not in query and "limit" not in query:
            chosen, next_url = list(models), None  # paging is opt-in: everything at once
        else:
            offset = integer_param(query, "offset", default=0, low=0)
            limit = integer_param(query, "limit", default=DEFAULT_PAGE, low=1, high=MAX_PAGE)
            chosen = list(models[offset : offset + limit])
            next_url = None
            if offset + limit < total:
                following = {**query, "offset": str(offset + limit), "limit": str(limit)}
                next_url = f"{self._base_url()}{path}?{urlencode(following)}"
        data = [dict(m.model) for m in chosen]
        return Reply(200, {"data": data, "total_count": total, "links": {"next": next_url}})


def _outputs(model: CatalogueModel) -> set[str]:
    return set(model.model["architecture"]["output_modalities"])


def _listed(query: Mapping[str, str], name: str, allowed: Sequence[str]) -> set[str] | None:
    text = query.get(name)
    if text is None:
        return None
    values = {v.strip() for v in text.split(",") if v.strip()}
    unknown = values - set(allowed)
    if unknown or not values:
        raise ApiError(
            400, f"Invalid request parameters: {name} must be a comma list of {', '.join(allowed)}"
        )
    return values


def _filter(models: Sequence[CatalogueModel], query: Mapping[str, str]) -> list[CatalogueModel]:
    """The catalogue narrowed by the /models query parameters the sandbox understands."""
    if query.get("output_modalities") == "all":
        outputs = None
    else:
        outputs = _listed(query, "output_modalities", OUTPUT_MODALITIES) or {"text"}
    inputs = _listed(query, "input_modalities", INPUT_MODALITIES)
    parameters = {p for p in query.get("supported_parameters", "").split(",") if p}
    search = query.get("q", "").lower()
    chosen = []
    for model in models:
        info = model.model
        if outputs is not None and not _outputs(model) & outputs:
            continue
        if inputs and not inputs <= set(info["architecture"]["input_modalities"]):
            continue
        if not parameters <= set(info["supported_parameters"]):
            continue
        if search and search not in f"{info['id']} {info['name']}".lower():
            continue
        chosen.append(model)
    return chosen


def usable(model: CatalogueModel, guardrails: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a model stays reachable under every one of these guardrails at once."""
    slugs = {model.canonical_slug}
    target = model.model.get("alias_target")
    if target is not None:  # an alias is allowed when the model it stands for is
        slugs.add(canonical_slug(target["slug"]) or target["slug"])
    endpoints = list(model.endpoints)
    for guardrail in guardrails:
        allowed, ignored = guardrail["allowed_models"], guardrail["ignored_models"] or []
        if allowed is not None and not slugs & set(allowed):
            return False
        if slugs & set(ignored):
            return False
        if guardrail["allowed_providers"] is not None:
            keep = {p.lower() for p in guardrail["allowed_providers"]}
            endpoints = [e for e in endpoints if e.provider in keep]
        drop = {p.lower() for p in guardrail["ignored_providers"] or []}
        endpoints = [e for e in endpoints if e.provider not in drop]
        if guardrail[f"enforce_zdr_{model.zdr_group}"]:
            endpoints = [e for e in endpoints if e.zdr]
        training = guardrail[
            "enable_free_model_training" if model.free else "enable_paid_model_training"
        ]
        if training is False:
            endpoints = [e for e in endpoints if not e.trains]
        if model.free and guardrail["enable_free_model_publication"] is False:
            endpoints = [e for e in endpoints if not e.publishes]
    return bool(endpoints)


def _rss(models: Sequence[CatalogueModel]) -> Reply:
    items = "".join(
        f"<item><title>{escape(m.model['name'])}</title>"
        f"<link>https://openrouter.ai/{escape(m.id)}</link>"
        f"<guid>{escape(m.id)}</guid></item>"
        for m in models
    )
    feed = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>OpenRouter Models</title><link>https://openrouter.ai/models</link>{items}"
        "</channel></rss>"
    )
    return Reply(200, feed.encode(), content_type="application/rss+xml; charset=utf-8")
