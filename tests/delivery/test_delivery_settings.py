"""SMTP settings from the environment, and message templates: every mistake is caught, with a
message that says which variable or line, what is wrong and how to fix it."""

from __future__ import annotations

import pytest

from keyprov.delivery import (
    KNOWN_FIELDS,
    SmtpSettings,
    Template,
    compose_message,
    render_preview,
)
from keyprov.errors import ConfigurationError
from keyprov.handouts import handout_fields
from keyprov.redaction import redact
from tests.handouts.test_handouts import make_handout

BASE_ENV = {
    "KEYPROV_SMTP_HOST": "smtp.example.org",
    "KEYPROV_SMTP_FROM": "Workshop team <team@example.org>",
}


def settings(**env: str) -> SmtpSettings:
    return SmtpSettings.from_env({**BASE_ENV, **env})


# -- settings ---------------------------------------------------------------------------------


def test_defaults_are_starttls_on_587_without_login():
    result = settings()
    assert (result.host, result.port, result.security, result.user) == (
        "smtp.example.org",
        587,
        "starttls",
        None,
    )
    assert result.envelope_sender == "team@example.org"


def test_ssl_defaults_to_port_465_and_a_given_port_wins():
    assert settings(KEYPROV_SMTP_SECURITY="ssl").port == 465
    assert settings(KEYPROV_SMTP_SECURITY="SSL", KEYPROV_SMTP_PORT="2465").port == 2465


def test_password_from_a_file_is_read_and_masked_everywhere(tmp_path):
    secret = "hunter2-but-longer"
    (tmp_path / "pw").write_text(secret + "\n")
    result = settings(KEYPROV_SMTP_USER="team", KEYPROV_SMTP_PASSWORD_FILE=str(tmp_path / "pw"))
    assert result.password == secret
    assert secret not in repr(result)
    assert secret not in redact(f"login failed for {secret}")


def test_the_login_is_the_sender_when_no_from_is_given():
    env = {"KEYPROV_SMTP_HOST": "smtp.example.org", "KEYPROV_SMTP_USER": "team@example.org"}
    result = SmtpSettings.from_env({**env, "KEYPROV_SMTP_PASSWORD": "secret-password"})
    assert result.from_address == "team@example.org"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KEYPROV_SMTP_HOST": ""}, "KEYPROV_SMTP_HOST is not set: set it to your mail server"),
        ({"KEYPROV_SMTP_PORT": "smtp"}, "KEYPROV_SMTP_PORT='smtp' is not a port number"),
        ({"KEYPROV_SMTP_PORT": "70000"}, "KEYPROV_SMTP_PORT='70000' is not a port number"),
        ({"KEYPROV_SMTP_SECURITY": "tls"}, "KEYPROV_SMTP_SECURITY='tls' is not one of starttls"),
        ({"KEYPROV_SMTP_USER": "team"}, "KEYPROV_SMTP_USER is set but no password"),
        ({"KEYPROV_SMTP_PASSWORD": "pw"}, "a password is set but KEYPROV_SMTP_USER is not"),
        (
            {"KEYPROV_SMTP_PASSWORD": "pw", "KEYPROV_SMTP_PASSWORD_FILE": "/x"},
            "both KEYPROV_SMTP_PASSWORD and KEYPROV_SMTP_PASSWORD_FILE are set",
        ),
        (
            {"KEYPROV_SMTP_USER": "u", "KEYPROV_SMTP_PASSWORD_FILE": "/nonexistent/pw"},
            "KEYPROV_SMTP_PASSWORD_FILE names /nonexistent/pw, which cannot be read",
        ),
        ({"KEYPROV_SMTP_FROM": ""}, "KEYPROV_SMTP_FROM is not set"),
        ({"KEYPROV_SMTP_FROM": "team"}, "KEYPROV_SMTP_FROM='team' is not an email address"),
        (
            {"KEYPROV_SMTP_FROM": "a@example.org, b@example.org"},
            "is not an email address",
        ),
        (
            {"KEYPROV_SMTP_FROM": "a@example.org\nBcc: everyone@example.org"},
            "KEYPROV_SMTP_FROM holds a line break",
        ),
    ],
)
def test_a_bad_setting_is_named_with_what_to_do(env, message):
    with pytest.raises(ConfigurationError) as raised:
        settings(**env)
    assert message in str(raised.value)


@pytest.mark.parametrize("host", ["smtp.example.org", "10.0.0.5", "localhost.example.org"])
def test_plain_to_another_machine_is_refused_before_anything_connects(host):
    with pytest.raises(ConfigurationError, match="plain is allowed only to a server on this"):
        settings(KEYPROV_SMTP_HOST=host, KEYPROV_SMTP_SECURITY="plain")
    # Not even settings built by hand: no code path can connect that way.
    with pytest.raises(ConfigurationError, match="unencrypted"):
        SmtpSettings(host=host, from_address="a@example.org", security="plain")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_plain_to_this_machine_is_allowed(host):
    assert settings(KEYPROV_SMTP_HOST=host, KEYPROV_SMTP_SECURITY="plain").security == "plain"


# -- templates --------------------------------------------------------------------------------


def test_the_default_message_says_what_a_slip_says():
    handout = make_handout(0, name="Ada Lovelace", models=("openai/gpt-4o-mini",))
    message = compose_message(handout, Template.default(), sender=BASE_ENV["KEYPROV_SMTP_FROM"])
    body = message.get_content()
    fields = handout_fields(handout)
    assert message["Subject"] == "Your OpenRouter API key"
    assert body.startswith("Hello Ada,\n\nHere is your own OpenRouter API key.")
    for name in ("key", "budget", "last_day", "models", "base_url", "quickstart", "budget_left"):
        assert fields[name] in body, name
    assert body.count(handout.secret) == 1
    assert "replaces" not in body


def test_the_message_id_is_made_before_sending_and_names_the_senders_domain():
    message = compose_message(make_handout(0), Template.default(), sender="a@lab.example.org")
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith("@lab.example.org>")


def test_a_preview_masks_the_key():
    handout = make_handout(0)
    message = compose_message(
        handout, Template.default("BSSDH"), sender="a@example.org", workshop="BSSDH", masked=True
    )
    preview = render_preview(message)
    assert handout.secret not in preview
    assert handout.key_label in preview
    assert "Subject: Your OpenRouter API key for BSSDH" in preview


def test_a_template_file_with_every_placeholder(tmp_path):
    path = tmp_path / "message.txt"
    body = " ".join(f"{{{name}}}" for name in KNOWN_FIELDS if name != "workshop")
    path.write_text(f"Subject: Key for {{first_name}} ({{workshop}})\n\n{body}\n", "utf-8")
    template = Template.from_file(path)
    handout = make_handout(0, name="Zoë Ångström")
    message = compose_message(handout, template, sender="a@example.org", workshop="W")
    assert message["Subject"] == "Key for Zoë (W)"
    assert message.get_content().startswith(handout.first_name + " " + handout.name)


def test_an_unknown_placeholder_is_named_with_its_line_and_the_known_ones(tmp_path):
    path = tmp_path / "message.txt"
    path.write_text("Subject: Your key\n\nHello {first_name},\n\n{key}\nUntil {lastday}.\n")
    with pytest.raises(ConfigurationError) as raised:
        Template.from_file(path)
    message = str(raised.value)
    assert f"{path}, line 6: unknown placeholder {{lastday}}" in message
    assert "{last_day}" in message and "{first_name}" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hello {name}\n", "line 1: a template starts with its subject"),
        ("Subject:\n\n{key}\n", "line 1: a template starts with its subject"),
        ("Subject: Hi\n\nHello {name}\n", "the body never uses {key}"),
        ("Subject: Your key {key}\n\n{key}\n", "the subject uses {key}, which belongs in the body"),
        ("Subject: Hi\n\n{key} {name!r}\n", "line 3: write the placeholder as plain {name}"),
        ("Subject: Hi\n\n{key} {limit:>10}\n", "write the placeholder as plain {limit}"),
        ("Subject: Hi\n\n{key} {\n", "a lone { or }"),
        ("Subject: Hi\n\n{key} {name.upper}\n", "unknown placeholder {name.upper}"),
    ],
)
def test_a_broken_template_is_refused_before_sending(text, message):
    with pytest.raises(ConfigurationError) as raised:
        Template.from_text(text, source="mine.txt")
    assert message in str(raised.value)


def test_a_literal_brace_is_written_doubled():
    template = Template.from_text('Subject: Hi\n\n{key} {{"json": true}}\n', source="t")
    message = compose_message(make_handout(0), template, sender="a@example.org")
    assert message.get_content().endswith('{"json": true}\n')


def test_a_template_without_replaces_still_says_the_key_replaces_another():
    template = Template.from_text("Subject: Hi\n\nYour key: {key}\n", source="t")
    handout = make_handout(0, replaces="sk-or-v1-abc...123")
    body = compose_message(handout, template, sender="a@example.org").get_content()
    assert body.startswith("This key replaces your previous key sk-or-v1-abc...123")
    assert body.count(handout.secret) == 1


def test_a_template_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "message.txt"
    path.write_bytes("Subject: Clé\n\n{key}\n".encode("latin-1"))
    with pytest.raises(ConfigurationError, match="not UTF-8 text"):
        Template.from_file(path)
