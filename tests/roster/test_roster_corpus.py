"""Every roster in tests/rosters/ reads as expected.json says, in the library and in the CLI.

expected.json is written by tests/rosters/make_corpus.py, together with the files; a file's
entry holds either its participants ([name, email, limit, identity], with their spreadsheet
rows; every address of those with several) or its problems (substrings of the error lines,
exactly one per problem), and the command-line options the file needs.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from keyprov.errors import RosterError
from keyprov.roster import Roster, read_roster
from keyprov.sandbox import Sandbox
from tests.helpers import invoke, sandbox_env

CORPUS = Path(__file__).resolve().parents[1] / "rosters"
NOT_ROSTERS = {"make_corpus.py", "expected.json", "__pycache__"}
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (CORPUS / "expected.json").read_text(encoding="utf-8")
)
HAS_XLRD = importlib.util.find_spec("xlrd") is not None


def expectation(file: str) -> dict[str, Any]:
    expected = dict(EXPECTED[file])
    fallback = expected.pop("without_xlrd", None)
    if fallback is not None and not HAS_XLRD:
        # .xls needs the optional xlrd; without it the user is told to re-save as .xlsx.
        expected = {"options": expected.get("options", []), **fallback}
    return expected


def reader_arguments(options: list[str]) -> dict[str, Any]:
    """The read_roster arguments that the CLI would pass for these options."""
    arguments: dict[str, Any] = {"column_overrides": {}}
    pairs = iter(options)
    for option, value in zip(pairs, pairs, strict=True):
        if option == "--limit":
            arguments["default_limit"] = float(value)
        elif option == "--limit-reset":
            arguments["default_limit_reset"] = value
        elif option == "--max-limit":
            arguments["max_limit"] = float(value)
        elif option == "--sheet":
            arguments["sheet"] = value
        elif option == "--column":
            name, _, header = value.partition("=")
            arguments["column_overrides"][name] = header
        else:
            raise AssertionError(f"unknown option {option} in expected.json")
    return arguments


def read(file: str) -> Roster:
    return read_roster(CORPUS / file, **reader_arguments(expectation(file).get("options", [])))


def test_the_corpus_is_large_and_every_file_has_an_expectation() -> None:
    files = {path.name for path in CORPUS.iterdir()} - NOT_ROSTERS
    assert files == set(EXPECTED)
    assert len(files) >= 40
    good = [file for file in files if "participants" in EXPECTED[file]]
    suffixes = {Path(file).suffix for file in good}
    assert {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"} <= suffixes
    assert len(files) - len(good) >= 15


def test_the_committed_corpus_is_what_make_corpus_writes(tmp_path: Path) -> None:
    make_corpus = _load_make_corpus()
    make_corpus.main(tmp_path)
    for path in sorted(tmp_path.iterdir()):
        assert path.read_bytes() == (CORPUS / path.name).read_bytes(), (
            f"{path.name} differs: run .venv/bin/python tests/rosters/make_corpus.py"
        )


def _load_make_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses look their module up while the file runs.
    sys.modules["make_corpus"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["make_corpus"]
    return module


@pytest.mark.parametrize("file", sorted(EXPECTED))
def test_read_roster(file: str) -> None:
    expected = expectation(file)
    if "errors" in expected:
        with pytest.raises(RosterError) as raised:
            read(file)
        lines = [str(problem) for problem in raised.value.problems]
        for line in lines:
            assert line.startswith(str(CORPUS / file)), line
        for wanted in expected["errors"]:
            assert any(wanted in line for line in lines), f"{wanted!r} not in {lines}"
        assert len(lines) == len(expected["errors"]), lines
        return
    roster = read(file)
    got = [[p.name, p.email, p.limit, p.identity] for p in roster.participants]
    assert got == expected["participants"]
    several = expected.get("emails", {})
    assert {p.identity: list(p.emails) for p in roster.participants if len(p.emails) > 1} == several
    assert all(p.emails[0] == p.email for p in roster.participants)
    assert [p.row for p in roster.participants] == expected["rows"]
    assert [notice.row for notice in roster.skipped] == expected.get("skipped", [])
    for wanted in expected.get("warnings", []):
        assert any(wanted in warning for warning in roster.warnings), roster.warnings
    assert len(roster.warnings) == len(expected.get("warnings", [])), roster.warnings


@pytest.mark.parametrize("file", sorted(EXPECTED))
def test_cli_dry_run(file: str, sandbox: Sandbox, management_key: str, tmp_path: Path) -> None:
    expected = expectation(file)
    out = str(tmp_path / "out")
    done = invoke(
        ["provision", str(CORPUS / file), "--dry-run", "--out", out, *expected.get("options", [])],
        env=sandbox_env(sandbox, management_key),
        cwd=tmp_path,
    )
    assert "Traceback" not in done.stderr, done.stderr
    if "errors" in expected:
        assert done.returncode == 2, done.stdout + done.stderr
        for wanted in expected["errors"]:
            assert wanted in done.stderr
        assert sandbox.request_log == []
        return
    assert done.returncode == 0, done.stderr
    assert f": {len(expected['participants'])} participants" in done.stdout, done.stdout
    lines = done.stdout.splitlines()
    for name, email, limit, identity in expected["participants"]:
        # Each plan line says who: the identity, name and email, and the new key's budget.
        who = [line for line in lines if f" {identity} " in f"{line} " and email in line]
        assert len(who) == 1, done.stdout
        assert name in who[0] and f" {limit:.2f} USD" in who[0], done.stdout
    assert sandbox.keys() == []
