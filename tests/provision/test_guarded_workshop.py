"""A workshop whose keys may use only the models it is about: one guardrail, every key on it,
checked and kept in step, over real HTTP against the sandbox."""

from __future__ import annotations

from keyprov.api.client import OpenRouterClient
from keyprov.sandbox import Sandbox
from tests.helpers import CliWorkshop, make_roster

MODELS = "openai/gpt-4o-mini,anthropic/claude-3.5-haiku"
SANDBOX_MODELS = Sandbox("sk-or-v1-catalogue-only").models()


def allowed(guardrail: dict[str, object]) -> list[str]:
    """The guardrail's models, as the ids the instructor typed (the server echoes the
    canonical slugs)."""
    ids = {model["canonical_slug"]: model["id"] for model in SANDBOX_MODELS}
    return sorted(ids.get(slug, slug) for slug in guardrail.get("allowed_models") or [])  # type: ignore[union-attr]


def on_guardrail(sandbox: Sandbox, guardrail_id: str) -> set[str]:
    return {a["key_hash"] for a in sandbox.assignments() if a["guardrail_id"] == guardrail_id}


def test_models_make_one_guardrail_with_every_key_on_it_and_a_rerun_writes_nothing(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 12)
    done = workshop.provision("--models", MODELS)
    assert done.returncode == 0, done.stderr
    (guardrail,) = workshop.sandbox.guardrails()
    assert guardrail["name"] == "keyprov:ws"
    assert allowed(guardrail) == sorted(MODELS.split(","))
    keys = {key["hash"] for key in workshop.sandbox.keys()}
    assert on_guardrail(workshop.sandbox, guardrail["id"]) == keys

    assert workshop.provision().returncode == 0, "the list is remembered"
    assert workshop.writes() == []
    assert workshop.keyprov("check", "ws.csv").returncode == 0


def test_changing_the_list_is_one_patch_and_a_typo_writes_nothing(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision("--models", MODELS).returncode == 0
    dry = workshop.provision("--models", "openai/gpt-4o-mini", "--dry-run")
    assert "would update guardrail keyprov:ws" in dry.stdout, dry.stdout
    done = workshop.provision("--models", "openai/gpt-4o-mini")
    assert done.returncode == 0, done.stderr
    assert "did update guardrail keyprov:ws" in done.stdout, done.stdout
    (patch,) = workshop.writes()
    assert patch.method == "PATCH" and "/guardrails/" in patch.path
    assert allowed(workshop.sandbox.guardrails()[0]) == ["openai/gpt-4o-mini"]

    typo = workshop.provision("--models", "openai/gpt-4o-mni")
    assert typo.returncode == 2
    assert "openai/gpt-4o-mini" in typo.stderr, "the nearest match is named"
    assert workshop.writes() == []


def test_models_all_lifts_the_restriction_explicitly(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 2)
    assert workshop.provision("--models", MODELS).returncode == 0
    assert workshop.provision("--models", "all").returncode == 0
    assert workshop.sandbox.guardrails() == []
    assert workshop.provision().returncode == 0 and workshop.writes() == []


def test_check_fails_for_an_unassigned_key_and_an_edited_guardrail(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    make_roster(workshop.roster, 3)
    assert workshop.provision("--models", MODELS).returncode == 0
    (guardrail,) = workshop.sandbox.guardrails()
    key = workshop.key_of("person1@example.org")
    client.guardrails.unassign_keys(guardrail["id"], [key["hash"]])
    done = workshop.keyprov("check", "ws.csv")
    assert done.returncode == 1
    assert "guardrail" in done.stdout

    assert workshop.provision().returncode == 0, "the next provision puts it back"
    assert workshop.keyprov("check", "ws.csv").returncode == 0
    client.guardrails.update_guardrail(guardrail["id"], allowed_models=["openai/gpt-4o"])
    edited = workshop.keyprov("check", "ws.csv")
    assert edited.returncode == 1 and "gpt-4o" in edited.stdout


def test_a_participant_key_lists_only_the_allowed_models(
    workshop: CliWorkshop, client: OpenRouterClient
) -> None:
    make_roster(workshop.roster, 1)
    assert workshop.provision("--models", MODELS).returncode == 0
    (row,) = workshop.sheet()
    models = {model.id for model in client.guardrails.models_for_key(str(row[2]))}
    assert models == set(MODELS.split(","))


def test_rotate_puts_the_successor_on_the_guardrail_and_revoke_delete_removes_it(
    workshop: CliWorkshop,
) -> None:
    make_roster(workshop.roster, 2)
    assert workshop.provision("--models", MODELS).returncode == 0
    (guardrail,) = workshop.sandbox.guardrails()
    done = workshop.keyprov("rotate", "ws.csv", "--participant", "person0@example.org")
    assert done.returncode == 0, done.stdout + done.stderr
    successor = workshop.key_of("person0@example.org")
    assert successor["hash"] in on_guardrail(workshop.sandbox, guardrail["id"])

    gone = workshop.keyprov("revoke", "ws.csv", "--delete", "--yes")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert workshop.sandbox.keys() == [] and workshop.sandbox.guardrails() == []
