"""The guardrail policy from --models, --providers and --zdr: parsing, remembering, words, and
validation against the sandbox's catalogue before any write."""

from __future__ import annotations

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.errors import OptionError
from keyprov.guardrails.plan import Catalogue, GuardrailPolicy, model_warnings, validate_models
from keyprov.sandbox import Sandbox

MINI, HAIKU = "openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"


@pytest.fixture
def catalogue(client: OpenRouterClient) -> Catalogue:
    return Catalogue(client.guardrails.list_models())


@pytest.mark.parametrize(
    "text",
    [f"{MINI},{HAIKU}", f" {HAIKU} , {MINI} ", f"{MINI},,{HAIKU},", f"{MINI},{HAIKU},{MINI}"],
)
def test_a_models_list_is_sorted_deduplicated_and_spacing_tolerant(text: str) -> None:
    assert GuardrailPolicy.from_options(text).models == (HAIKU, MINI)


@pytest.mark.parametrize("text", ["all", " ALL ", None])
def test_all_or_nothing_given_means_no_restriction(text: str | None) -> None:
    policy = GuardrailPolicy.from_options(text)
    assert policy.models == () and not policy.restricts
    assert policy.models_in_words == "any model"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "give one name or more"),
        (" , ", "give one name or more"),
        (f"all,{MINI}", "give it alone"),
        (f"{MINI} {HAIKU}", "separate names with commas"),
    ],
)
def test_a_bad_models_list_is_an_option_error(text: str, complaint: str) -> None:
    with pytest.raises(OptionError) as raised:
        GuardrailPolicy.from_options(text)
    assert raised.value.option.startswith("--models")
    assert complaint in str(raised.value)
    assert raised.value.exit_status == 2


def test_providers_are_lower_cased_and_checked_for_form() -> None:
    assert GuardrailPolicy.from_options(MINI, "OpenAI, azure").providers == ("azure", "openai")
    with pytest.raises(OptionError, match="not a provider id"):
        GuardrailPolicy.from_options(MINI, "open/ai")


def test_leaving_an_option_out_keeps_the_remembered_value_never_widens() -> None:
    remembered = GuardrailPolicy.from_options(f"{MINI},{HAIKU}", "openai", zdr=True)

    assert remembered.with_options() == remembered
    assert remembered.with_options(zdr=False) == GuardrailPolicy((MINI, HAIKU), ("openai",))
    assert remembered.with_options(models=MINI).models == (MINI,)
    assert remembered.with_options(models="all").models == ()
    assert remembered.with_options(models="all").providers == ("openai",)


def test_a_policy_is_remembered_as_json_and_read_back() -> None:
    policy = GuardrailPolicy.from_options(f"{MINI},{HAIKU}", "openai", zdr=True)
    data = policy.to_json()

    assert data == {"models": [HAIKU, MINI], "providers": ["openai"], "zdr": True}
    assert GuardrailPolicy.from_json(data) == policy
    assert GuardrailPolicy.from_json(None) == GuardrailPolicy()
    for broken in ({"models": "openai/gpt-4o"}, {"zdr": "yes"}, ["models"]):
        with pytest.raises(ValueError):
            GuardrailPolicy.from_json(broken)  # type: ignore[arg-type]


def test_the_policy_in_words_for_handouts_and_reports() -> None:
    assert GuardrailPolicy.from_options(f"{MINI},{HAIKU}").in_words() == f"{HAIKU}, {MINI}"
    strict = GuardrailPolicy.from_options(MINI, "openai,azure", zdr=True)
    assert strict.in_words() == (f"{MINI}; served by azure, openai only; zero data retention only")
    assert GuardrailPolicy.from_options(None, None, zdr=True).in_words() == (
        "any model; zero data retention only"
    )


def test_a_typo_is_refused_with_the_nearest_models_before_any_write(
    sandbox: Sandbox, catalogue: Catalogue
) -> None:
    policy = GuardrailPolicy.from_options(f"openai/gpt4o-mini,{HAIKU},nobody/nothing-at-all")

    with pytest.raises(OptionError) as raised:
        validate_models(policy, catalogue)

    message = str(raised.value)
    assert raised.value.exit_status == 2
    assert "2 unknown models" in message
    assert "'openai/gpt4o-mini' (did you mean openai/gpt-4o-mini" in message
    assert "'nobody/nothing-at-all' (no model by a similar name)" in message
    assert f"'{HAIKU}'" not in message, "a known model is not called unknown"
    assert [r.method for r in sandbox.request_log] == ["GET"], "only the catalogue was read"


def test_a_slug_without_its_author_or_in_capitals_gets_a_suggestion(
    catalogue: Catalogue,
) -> None:
    assert catalogue.nearest("OpenAI/GPT-4o-mini") == [MINI]
    assert "anthropic/claude-3.5-haiku" in catalogue.nearest("claude-3.5-haiku")


def test_ids_and_canonical_slugs_are_both_valid(catalogue: Catalogue) -> None:
    policy = GuardrailPolicy.from_options(f"{MINI},anthropic/claude-3-5-haiku-20241022")
    validate_models(policy, catalogue)
    assert catalogue.canonical(MINI) == catalogue.canonical("openai/gpt-4o-mini-2024-07-18")


def test_models_of_every_modality_are_in_the_catalogue(catalogue: Catalogue) -> None:
    # /models lists text-output models unless asked for all; an image model is a real model.
    validate_models(GuardrailPolicy.from_options("google/gemini-2.5-flash-image"), catalogue)


def test_unknown_providers_are_refused_when_the_known_ones_are_given(
    catalogue: Catalogue,
) -> None:
    policy = GuardrailPolicy.from_options(MINI, "opnai")
    validate_models(policy, catalogue)  # no list of providers: only their form is checked
    with pytest.raises(OptionError) as raised:
        validate_models(policy, catalogue, known_providers=["openai", "azure"])
    assert "'opnai' (did you mean openai?)" in str(raised.value)
    assert raised.value.option == "--providers opnai"


def test_models_that_may_stop_working_are_warned_about(catalogue: Catalogue) -> None:
    policy = GuardrailPolicy.from_options(f"{MINI},{HAIKU},google/gemma-3-27b-it:free")
    haiku = catalogue.model(HAIKU)
    assert haiku is not None and haiku.expiration_date, "the sandbox lists a withdrawal date"
    assert model_warnings(policy, catalogue) == [
        f"{HAIKU} is to be withdrawn on {haiku.expiration_date}",
        "google/gemma-3-27b-it:free is a free variant, which can end without notice",
    ]
