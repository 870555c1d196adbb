"""docs/architecture.md matches the tree: every module of every room is named in its row."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "keyprov"


def rows() -> dict[str, str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    found = {}
    for line in text.splitlines():
        room = re.match(r"\| (?:`(\w+)/`|base:)", line)
        if room:
            found[room.group(1) or "base"] = line
    return found


def test_every_module_is_named_in_its_rooms_row() -> None:
    table = rows()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if path.stem in ("__init__", "__main__") or relative.parts[0] == "static":
            continue
        room = relative.parts[0] if len(relative.parts) > 1 else "base"
        if f"`{path.stem}`" not in table.get(room, ""):
            missing.append(str(relative))
    assert missing == [], "name these in docs/architecture.md's table: " + ", ".join(missing)


def test_every_room_has_its_row() -> None:
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert rooms | {"base"} == set(rows())
