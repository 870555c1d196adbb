"""The one import rule of src/keyprov, checked on the source (run by `make lint`).

Each room imports only itself and the rooms on lines below it; rooms on one line never import
each other. Every import counts, inside functions and under TYPE_CHECKING too. See
docs/architecture.md for what each room holds.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("claim",),
    ("render",),
    ("provision", "lifecycle"),
    ("guardrails",),
    ("engine",),
    ("workshop", "delivery", "sandbox"),
    ("api", "roster", "handouts"),
    ("base",),
)
RULE = " > ".join(" | ".join(line) for line in LAYERS)
PACKAGE = Path(__file__).resolve().parent.parent / "src" / "keyprov"
LEVEL = {room: level for level, line in enumerate(LAYERS) for room in line}


def room_of(module: str, package: Path = PACKAGE) -> str:
    """The room of a dotted module under keyprov: its package, or `base` for a flat module."""
    parts = module.split(".")
    if parts[1:2] == ["__main__"]:
        return "cli"
    if len(parts) > 1 and (package / parts[1]).is_dir():
        return parts[1]
    return "base"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = ["keyprov", *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "keyprov":  # `from keyprov import render`: the names are modules
                found += [(node.lineno, f"keyprov.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name.split(".")[0] == "keyprov"]


def violations(package: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        module = module_name(path, package)
        room = room_of(module, package)
        for line, target in imported_modules(path, module):
            if target == "keyprov":
                continue  # the package itself: tool_version, as base
            other = room_of(target, package)
            if other == room or LEVEL[other] > LEVEL[room]:
                continue
            where = f"{path.relative_to(package.parent.parent)}:{line}"
            why = "a room on the same line" if LEVEL[other] == LEVEL[room] else "a room above"
            problems.append(f"{where}: {room} imports {target} ({other}: {why})")
    return problems


def main() -> int:
    problems = violations()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"\nThe import rule is: {RULE}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
