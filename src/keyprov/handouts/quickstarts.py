"""The first call a participant makes with their key, where they work: a shell (macOS, Linux),
Windows PowerShell, Python, or a Google Colab notebook (`--quickstart`).

Each is a few lines to type or paste, and none holds the key itself: a slip shows the key
once, and a key pasted into a notebook cell is a key shared with whoever sees the notebook.
Colab keeps it as a secret of the user's (the key icon in the left bar), read with
`google.colab.userdata`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

QUICKSTARTS = ("shell", "powershell", "python", "colab")
DEFAULT_QUICKSTARTS = ("shell", "python")
KEY_VARIABLE = "OPENROUTER_API_KEY"
SHELLS = ("shell", "powershell")
"""The quickstarts that put the key in the environment, where Python then reads it."""


@dataclass(frozen=True)
class Quickstart:
    kind: str
    title: str
    """One line of prose above the code: where to type it, and what to do first."""
    language: str
    """'shell', 'powershell' or 'python': how a long line may be wrapped and still typed."""
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The title and the lines, as a message or a mail-merge cell shows them."""
        return "\n".join((self.title, *self.lines))


def chosen_quickstarts(kinds: Iterable[str] | None) -> tuple[str, ...]:
    """The kinds asked for, in the order QUICKSTARTS lists them; the default when none."""
    asked = {kind.strip().lower() for kind in kinds or ()}
    unknown = sorted(asked - set(QUICKSTARTS))
    if unknown:
        raise ValueError(f"unknown quickstart {unknown[0]!r}: choose from {', '.join(QUICKSTARTS)}")
    return tuple(kind for kind in QUICKSTARTS if kind in asked) or DEFAULT_QUICKSTARTS


def _request_body(model: str) -> str:
    # No spaces in the JSON: a slip may wrap the command only between its options.
    return f'{{"model":"{model}","messages":[{{"role":"user","content":"Hello"}}]}}'


def _python_call(model: str, key: str, base_url: str) -> tuple[str, ...]:
    return (
        f'client = OpenAI(base_url="{base_url}", api_key={key})',
        f'reply = client.chat.completions.create(model="{model}", '
        'messages=[{"role": "user", "content": "Hello"}])',
        "print(reply.choices[0].message.content)",
    )


def quickstart_blocks(
    model: str, base_url: str, kinds: Sequence[str] = DEFAULT_QUICKSTARTS
) -> tuple[Quickstart, ...]:
    """The chosen quickstarts, each making one call to `model` and printing the reply."""
    body = _request_body(model)
    from_shell = any(kind in SHELLS for kind in kinds)
    blocks = {
        "shell": Quickstart(
            "shell",
            "Terminal (macOS, Linux):",
            "shell",
            (
                f"export {KEY_VARIABLE}=<your key>",
                f'curl {base_url}/chat/completions -H "Authorization: Bearer ${KEY_VARIABLE}" '
                f"-H \"Content-Type: application/json\" -d '{body}'",
            ),
        ),
        "powershell": Quickstart(
            "powershell",
            "Windows PowerShell:",
            "powershell",
            (
                f'$env:{KEY_VARIABLE} = "<your key>"',
                f"(Invoke-RestMethod {base_url}/chat/completions -Method Post -Headers "
                f'@{{Authorization = "Bearer $env:{KEY_VARIABLE}"}} -ContentType '
                f"application/json -Body '{body}').choices[0].message.content",
            ),
        ),
        "python": Quickstart(
            "python",
            (
                f"Python (your key in {KEY_VARIABLE}, as above):"
                if from_shell
                else f"Python (first put your key in the environment variable {KEY_VARIABLE}):"
            ),
            "python",
            (
                "pip install openai",
                "import os; from openai import OpenAI",
                *_python_call(model, f'os.environ["{KEY_VARIABLE}"]', base_url),
            ),
        ),
        "colab": Quickstart(
            "colab",
            f"Google Colab: key icon (left bar) > Add new secret {KEY_VARIABLE}, value your "
            "key, notebook access on; then:",
            "python",
            (
                "!pip install -q openai",
                "from google.colab import userdata",
                "from openai import OpenAI",
                *_python_call(model, f'userdata.get("{KEY_VARIABLE}")', base_url),
            ),
        ),
    }
    return tuple(blocks[kind] for kind in kinds)


def budget_left_lines(base_url: str, kinds: Sequence[str] = DEFAULT_QUICKSTARTS) -> tuple[str, ...]:
    """How a participant sees what is left of their budget (`GET /api/v1/key` with their
    key), in the first of their quickstarts' languages."""
    first = kinds[0] if kinds else DEFAULT_QUICKSTARTS[0]
    said = "Budget left: GET /api/v1/key with your key; limit_remaining is what is left, in USD:"
    if first == "shell":
        call = f'curl {base_url}/key -H "Authorization: Bearer ${KEY_VARIABLE}"'
    elif first == "powershell":
        call = (
            f"(Invoke-RestMethod {base_url}/key -Headers "
            f'@{{Authorization = "Bearer $env:{KEY_VARIABLE}"}}).data'
        )
    else:  # after the Python or Colab quickstart: its client, and httpx, which openai brings
        call = (
            f'import httpx; print(httpx.get("{base_url}/key", headers={{"Authorization": '
            'f"Bearer {client.api_key}"}).json()["data"]["limit_remaining"])'
        )
    return said, call
