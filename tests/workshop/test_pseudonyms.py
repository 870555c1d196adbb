"""Key names without personal data: pseudonyms, the reverse map, and rename-keys plans (whose
PATCHes go to the sandbox over real HTTP)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from keyprov.api.client import OpenRouterClient
from keyprov.errors import OptionError
from keyprov.models import ApiKey
from keyprov.sandbox import Sandbox
from keyprov.workshop.keynames import (
    PSEUDONYM_LENGTH,
    NameMode,
    NamingPolicy,
    new_workshop_secret,
    parse_workshop_secret,
    pseudonym,
    rename_plan,
)
from keyprov.workshop.keynames import key_name as readable_name

SECRET = "a" * 52
EMAILS = [f"person{i}@example.org" for i in range(150)]


def server_key(key_hash: str, name: str) -> ApiKey:
    return ApiKey.from_json({"hash": key_hash, "name": name})


def test_a_workshop_secret_is_random_256_bits_of_base32() -> None:
    made = {new_workshop_secret() for _ in range(20)}
    assert len(made) == 20
    for secret in made:
        assert re.fullmatch(r"[a-z2-7]{52}", secret)  # 52 x 5 bits >= 256
        assert parse_workshop_secret(secret) == secret


def test_a_secret_copied_with_spaces_or_capitals_is_the_same_secret() -> None:
    secret = new_workshop_secret()
    copied = f"  {secret[:26].upper()} {secret[26:]}\n"
    assert parse_workshop_secret(copied) == secret
    assert pseudonym(copied, "ada@example.org") == pseudonym(secret, "ada@example.org")


@pytest.mark.parametrize("text", ["", "a" * 51, "a" * 53, "1" * 52, "sk-or-v1-" + "a" * 43])
def test_anything_else_is_not_a_secret(text: str) -> None:
    with pytest.raises(ValueError, match="not a keyprov workshop secret"):
        parse_workshop_secret(text)


def test_a_pseudonym_is_stable_80_bits_and_keyed_by_the_secret() -> None:
    first = pseudonym(SECRET, "ada@example.org")

    assert first == pseudonym(SECRET, "ada@example.org")
    assert PSEUDONYM_LENGTH * 5 >= 80 and re.fullmatch(r"[a-z2-7]{16}", first)
    assert first != pseudonym(SECRET, "bob@example.org")
    assert first != pseudonym("b" * 52, "ada@example.org"), "another workshop, another name"


def test_a_known_value_pins_the_algorithm() -> None:
    # HMAC-SHA256(b32decode(secret), b"keyprov key name v1\0" + identity), base32, 16 chars.
    # A change here renames every key of every pseudonymous workshop: never change it.
    key = base64.b32decode(SECRET.upper() + "====")
    digest = hmac.new(key, b"keyprov key name v1\x00ada@example.org", hashlib.sha256).digest()
    expected = base64.b32encode(digest).decode().lower()[:16]
    assert pseudonym(SECRET, "ada@example.org") == expected


def test_a_pseudonymous_name_holds_no_part_of_the_identity() -> None:
    policy = NamingPolicy(NameMode.PSEUDONYMOUS, new_workshop_secret())
    identities = [*EMAILS, "0123456", "s1234567", "zoë.müller@uni.example"]
    for identity in identities:
        name = policy.key_name("ws", identity)
        assert name.startswith("keyprov:ws:") and len(name) == len("keyprov:ws:") + 16
        local, _, domain = identity.partition("@")
        assert local not in name and (not domain or domain not in name)


def test_readable_names_are_as_before() -> None:
    policy = NamingPolicy(NameMode.READABLE)
    assert policy.key_name("ws", "ada@example.org") == readable_name("ws", "ada@example.org")


def test_pseudonymous_names_need_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        NamingPolicy(NameMode.PSEUDONYMOUS)
    assert "aaaa" not in repr(NamingPolicy(NameMode.PSEUDONYMOUS, SECRET))


def test_the_key_names_option() -> None:
    assert NameMode.from_option(" Readable ") is NameMode.READABLE
    with pytest.raises(OptionError) as raised:
        NameMode.from_option("anonymous")
    assert "pseudonymous or readable" in str(raised.value)


def test_the_reverse_map_finds_every_participant_by_either_form_of_name() -> None:
    policy = NamingPolicy(NameMode.PSEUDONYMOUS, SECRET)
    index = policy.index("ws", EMAILS)

    for email in EMAILS:
        assert index.identity_of(policy.key_name("ws", email)) == email
        assert index.identity_of(readable_name("ws", email)) == email, "half-way renamed"
    assert index.identity_of(policy.key_name("other", EMAILS[0])) is None
    assert index.identity_of("keyprov:ws:" + pseudonym(SECRET, "gone@example.org")) is None
    assert index.belongs("keyprov:ws:" + pseudonym(SECRET, "gone@example.org"))
    assert policy.identity_of("ws", policy.key_name("ws", EMAILS[7]), EMAILS) == EMAILS[7]


def test_the_form_of_a_name() -> None:
    index = NamingPolicy(NameMode.PSEUDONYMOUS, SECRET).index("ws", EMAILS)
    assert index.form_of(readable_name("ws", "gone@example.org")) is NameMode.READABLE
    assert index.form_of(index.name_for(EMAILS[0])) is NameMode.PSEUDONYMOUS
    assert index.form_of("keyprov:other:x") is None


def pseudonymise(keys: list[ApiKey], identities: list[str], **kwargs) -> list:
    plan = rename_plan("ws", keys, identities, secret=SECRET, to=NameMode.PSEUDONYMOUS, **kwargs)
    return list(plan.renames)


def test_rename_to_pseudonyms_and_back_and_a_finished_rename_plans_nothing() -> None:
    keys = [server_key(f"h{i}", readable_name("ws", email)) for i, email in enumerate(EMAILS)]
    keys.append(server_key("other", "keyprov:another-ws:ada@example.org"))

    forward = pseudonymise(keys, EMAILS)

    assert len(forward) == 150 and {r.hash for r in forward} == {f"h{i}" for i in range(150)}
    renamed = [server_key(r.hash, r.new_name) for r in forward]
    assert pseudonymise(renamed, EMAILS) == []
    back = rename_plan("ws", renamed, EMAILS, secret=SECRET, to=NameMode.READABLE)
    assert [(r.hash, r.new_name) for r in back.renames] == [
        (f"h{i}", readable_name("ws", email)) for i, email in enumerate(EMAILS)
    ]


def test_a_rename_stopped_half_way_is_finished_by_the_next_plan() -> None:
    keys = [server_key(f"h{i}", readable_name("ws", email)) for i, email in enumerate(EMAILS)]
    plan = pseudonymise(keys, EMAILS)
    done = {r.hash: r.new_name for r in plan[:60]}  # the run crashed after 60 PATCHes
    now = [server_key(k.hash, done.get(k.hash, k.name)) for k in keys]

    rest = pseudonymise(now, EMAILS)

    assert [r.hash for r in rest] == [r.hash for r in plan[60:]]


def test_keys_of_people_no_longer_in_the_roster() -> None:
    gone, kept = "gone@example.org", EMAILS[0]
    keys = [server_key("g", readable_name("ws", gone)), server_key("k", readable_name("ws", kept))]

    # A readable name says whose key it is: it is renamed even without the roster.
    forward = pseudonymise(keys, [kept])
    assert {r.hash for r in forward} == {"g", "k"}

    # Back to readable, a pseudonym needs the identity: from the roster or the local state.
    renamed = [server_key(r.hash, r.new_name) for r in forward]
    back = rename_plan("ws", renamed, [kept], secret=SECRET, to=NameMode.READABLE)
    assert [r.hash for r in back.renames] == ["k"] and [k.hash for k in back.unresolved] == ["g"]
    back = rename_plan(
        "ws", renamed, [kept], secret=SECRET, to=NameMode.READABLE, owners={"g": gone}
    )
    assert {r.new_name for r in back.renames} == {readable_name("ws", gone), keys[1].name}


def test_renaming_over_http_sends_no_personal_data(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    people = EMAILS[:5]
    for email in people:
        sandbox.create_key_directly(readable_name("ws", email), limit=1)
    plan = rename_plan(
        "ws", client.list_all_keys(), people, secret=SECRET, to=NameMode.PSEUDONYMOUS
    )

    for rename in plan.renames:
        client.update_key(rename.hash, name=rename.new_name)

    index = NamingPolicy(NameMode.PSEUDONYMOUS, SECRET).index("ws", people)
    names = [key["name"] for key in sandbox.keys()]
    assert sorted(index.identity_of(name) for name in names) == sorted(people)
    patches = [r for r in sandbox.request_log if r.method == "PATCH"]
    assert len(patches) == 5
    for record in patches:
        assert not any(email.split("@")[0] in record.sent_text() for email in people)
    again = rename_plan(
        "ws", client.list_all_keys(), people, secret=SECRET, to=NameMode.PSEUDONYMOUS
    )
    assert again.renames == ()
