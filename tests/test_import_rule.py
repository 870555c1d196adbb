"""The import rule that `make lint` enforces: it holds on the tree, and it catches a breach."""

from __future__ import annotations

from pathlib import Path

from tests.import_rule import violations


def test_the_source_tree_keeps_the_import_rule() -> None:
    assert violations() == []


def package_with(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "src" / "keyprov"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_an_upward_import_and_a_sibling_import_are_reported_even_inside_a_function(
    tmp_path: Path,
) -> None:
    package = package_with(
        tmp_path,
        {
            "errors.py": "from keyprov.cli import main\n",
            "cli/__init__.py": "",
            "provision/__init__.py": "",
            "provision/run.py": "def later():\n    from keyprov.lifecycle import check\n",
            "lifecycle/__init__.py": "from keyprov.engine import session\n",
            "engine/__init__.py": "",
        },
    )
    assert violations(package) == [
        "src/keyprov/errors.py:1: base imports keyprov.cli (cli: a room above)",
        "src/keyprov/provision/run.py:2: provision imports keyprov.lifecycle "
        "(lifecycle: a room on the same line)",
    ]
