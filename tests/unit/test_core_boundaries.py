"""outboxkit is a library: it imports nothing of this project's services, stack or scripts, names
none of their business (orders, stock, payments) and none of this repository's places, so a team
can install it for its own; and this project uses only its public modules."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import outboxkit

CORE = Path(outboxkit.__file__).parent
ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("services", "devstack", "scripts", "tests")
BUSINESS = re.compile(
    r"orderId|order_id|order[._-](events|commands|service|view|db|outbox)|(?-i:\bOrder[A-Z]\w*)"
    r"|inventory|payment|\bstock\b|customer|\bsku\b|(?-i:ORDER_|PAYMENT_)",
    re.IGNORECASE,
)


def core_files() -> list[Path]:
    return sorted(p for p in CORE.rglob("*") if p.suffix in (".py", ".json") and "__pycache__" not in p.parts)


def test_the_core_imports_nothing_of_the_project() -> None:
    imports = []
    for path in (p for p in core_files() if p.suffix == ".py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            imports += [
                f"{path.relative_to(CORE)}: {n}" for n in names if n.split(".")[0] in PROJECT_PACKAGES
            ]
    assert imports == []


def core_lines_matching(pattern: re.Pattern[str]) -> list[str]:
    return [
        f"{path.relative_to(CORE)}:{number}: {line.strip()}"
        for path in core_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]


def test_the_core_names_no_business_concept() -> None:
    assert core_lines_matching(BUSINESS) == []


# This repository's places and commands: the library must work from anywhere, for anyone.
THIS_REPOSITORY = re.compile(
    r"(?<![\w\])])\.state\b|stack\.env|`stack |stack (up|down|status)\b|scripts/|devstack"
)


def test_the_core_names_none_of_this_repositorys_places() -> None:
    assert core_lines_matching(THIS_REPOSITORY) == []


def imported_names(path: Path) -> list[str]:
    """Every module ``path`` imports, with the names it takes from each (``m.n``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


def test_the_scripts_use_outboxkits_public_api_only_and_leave_the_path_alone() -> None:
    """The import contract's list (pyproject.toml) for services and devstack, applied to scripts/,
    which import-linter cannot read (they are not a package)."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (public_only,) = [c for c in contracts if c["type"] == "forbidden"]
    forbidden = public_only["forbidden_modules"]
    scripts = sorted((ROOT / "scripts").rglob("*.py"))
    assert len(scripts) >= 10
    reached = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in scripts
        for name in imported_names(path)
        if any(name == module or name.startswith(f"{module}.") for module in forbidden)
    ]
    assert reached == []
    assert [p.name for p in scripts if "sys.path" in p.read_text()] == []
