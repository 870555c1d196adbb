"""`--quickstart shell|powershell|python|colab`: the first call each participant is shown is in
what they work in, on the slip, in the message and in mail-merge.csv; remembered."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pypdfium2
import pytest

from keyprov.cli.options import QUICKSTART_METAVAR
from keyprov.handouts.pdf import wrap_code
from keyprov.handouts.quickstarts import (
    QUICKSTARTS,
    budget_left_lines,
    chosen_quickstarts,
    quickstart_blocks,
)
from keyprov.sandbox import Sandbox
from tests.helpers import CliWorkshop, make_roster
from tests.smtp import LoopbackController, Mailbox

BASE = "https://openrouter.ai/api/v1"
MODEL = "openai/gpt-4o-mini"


def blocks(*kinds: str):
    return {block.kind: block for block in quickstart_blocks(MODEL, BASE, kinds)}


def python_source(lines: tuple[str, ...]) -> str:
    """The lines a Python interpreter runs (a `pip install` is for the shell or Colab's `!`)."""
    return "\n".join(line for line in lines if not line.startswith(("pip ", "!pip ")))


def test_each_quickstart_makes_one_call_where_it_is_typed_and_never_holds_the_key() -> None:
    every = blocks(*QUICKSTARTS)
    assert every["shell"].lines[0] == "export OPENROUTER_API_KEY=<your key>"
    assert every["powershell"].lines[0] == '$env:OPENROUTER_API_KEY = "<your key>"'
    assert "$env:OPENROUTER_API_KEY" in every["powershell"].lines[1]
    assert every["powershell"].lines[1].endswith(".choices[0].message.content")
    assert every["python"].lines[0] == "pip install openai"
    assert 'os.environ["OPENROUTER_API_KEY"]' in python_source(every["python"].lines)
    colab = every["colab"]
    assert "Add new secret OPENROUTER_API_KEY, value your key" in colab.title
    assert "from google.colab import userdata" in colab.lines
    assert 'api_key=userdata.get("OPENROUTER_API_KEY")' in python_source(colab.lines)
    for block in every.values():
        assert not any("sk-or-" in line for line in block.lines)
        assert f'"{MODEL}"' in "\n".join(block.lines)
    for kind in ("python", "colab"):
        source = python_source(every[kind].lines)
        compile(source, kind, "exec")  # what is printed runs as printed
        assert source.count(".chat.completions.create(") == 1
        assert source.endswith("print(reply.choices[0].message.content)")


def test_python_alone_says_where_the_key_must_be() -> None:
    assert "as above" in blocks("shell", "python")["python"].title
    assert "first put your key in the environment variable" in blocks("python")["python"].title
    assert all(len(block.title) < 120 for block in blocks(*QUICKSTARTS).values()), "short"


def test_the_choice_is_ordered_defaulted_and_checked() -> None:
    assert "|".join(QUICKSTARTS) == QUICKSTART_METAVAR
    assert chosen_quickstarts(None) == ("shell", "python")
    assert chosen_quickstarts(["colab", "Python"]) == ("python", "colab")
    with pytest.raises(ValueError, match="unknown quickstart 'bash'"):
        chosen_quickstarts(["bash"])
    assert budget_left_lines(BASE, ("powershell",))[1].startswith("(Invoke-RestMethod ")
    budget_python = budget_left_lines(BASE, ("colab",))[1]
    compile(budget_python, "budget", "exec")


@pytest.mark.parametrize("columns", [40, 60, 90])
def test_a_wrapped_line_is_still_the_same_command_in_its_language(columns: int) -> None:
    for block in quickstart_blocks(MODEL, BASE, QUICKSTARTS):
        for line in block.lines:
            parts = wrap_code(line, columns)
            rejoined = " ".join(p.removesuffix(" \\").removesuffix(" `").strip() for p in parts)
            assert rejoined == line
        wrapped = "\n".join(part for line in block.lines for part in wrap_code(line, columns))
        if block.language == "python":
            compile(python_source(tuple(wrapped.splitlines())), block.kind, "exec")
        if block.language == "shell":  # with a key typed where the placeholder is
            typed = wrapped.replace("<your key>", "sk-or-v1-typed")
            subprocess.run(["bash", "-n", "-c", typed], check=True)


@pytest.fixture
def workshop(
    sandbox: Sandbox, management_key: str, tmp_path: Path, smtp_server: LoopbackController
) -> CliWorkshop:
    workshop = CliWorkshop(sandbox, management_key, tmp_path)
    workshop.env.update(
        KEYPROV_SMTP_HOST="127.0.0.1",
        KEYPROV_SMTP_PORT=str(smtp_server.port),
        KEYPROV_SMTP_SECURITY="plain",
        KEYPROV_SMTP_FROM="Workshop team <team@example.org>",
    )
    return workshop


def merge_columns(workshop: CliWorkshop) -> list[str]:
    path = workshop.folder / "output" / "ws" / "mail-merge.csv"
    return next(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def slips(workshop: CliWorkshop) -> list[str]:
    document = pypdfium2.PdfDocument(workshop.folder / "output" / "ws" / "handouts.pdf")
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def test_the_workshop_remembers_its_quickstarts_for_slips_messages_and_the_merge(
    workshop: CliWorkshop, mailbox: Mailbox
) -> None:
    make_roster(workshop.roster, 3)
    done = workshop.provision("--quickstart", "colab", "--quickstart", "python")
    assert done.returncode == 0, done.stderr
    workshop_file = workshop.folder / "output" / "ws" / "workshop.json"
    assert json.loads(workshop_file.read_text())["options"]["quickstarts"] == ["python", "colab"]
    assert workshop.provision().returncode == 0  # a rerun without it keeps it
    assert json.loads(workshop_file.read_text())["options"]["quickstarts"] == ["python", "colab"]

    assert workshop.keyprov("handouts", "ws.csv").returncode == 0
    columns = merge_columns(workshop)
    assert "quickstart_colab" in columns and "quickstart_python" in columns
    assert "quickstart_shell" not in columns and "quickstart_powershell" not in columns
    text = "\n".join(slips(workshop))
    assert "Add new secret" in text and 'userdata.get("OPENROUTER_API_KEY")' in text
    assert "export OPENROUTER_API_KEY" not in text

    sent = workshop.keyprov("send", "ws.csv", "--rate", "600000")
    assert sent.returncode == 0, sent.stderr
    body = mailbox.received[0].message.get_content()
    assert "from google.colab import userdata" in body and "pip install openai" in body
    assert "export OPENROUTER_API_KEY" not in body

    # Given to handouts, it is for that run only.
    again = workshop.keyprov("handouts", "ws.csv", "--quickstart", "powershell")
    assert again.returncode == 0, again.stderr
    assert [c for c in merge_columns(workshop) if c.startswith("quickstart_")] == [
        "quickstart_powershell",
        "quickstart_env",
    ]
    assert json.loads(workshop_file.read_text())["options"]["quickstarts"] == ["python", "colab"]


def test_four_quickstarts_make_taller_slips_two_to_a_page(workshop: CliWorkshop) -> None:
    make_roster(workshop.roster, 3)
    every = [option for kind in QUICKSTARTS for option in ("--quickstart", kind)]
    assert workshop.provision(*every).returncode == 0
    done = workshop.keyprov("handouts", "ws.csv")
    assert done.returncode == 0, done.stderr
    pages = slips(workshop)
    assert len(pages) == 2
    for kind in ("Terminal", "PowerShell", "Python (", "Google Colab"):
        assert pages[0].count(kind) >= 2, kind

    bad = workshop.provision("--quickstart", "bash")
    assert bad.returncode == 2
    assert "unknown quickstart 'bash'" in bad.stderr
