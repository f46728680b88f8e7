"""outboxkit is a library: it imports nothing of this project's services, stack or scripts, and
names none of their business (orders, stock, payments), so a team can install it for its own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import outboxkit

CORE = Path(outboxkit.__file__).parent
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


def test_the_core_names_no_business_concept() -> None:
    found = [
        f"{path.relative_to(CORE)}:{number}: {line.strip()}"
        for path in core_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BUSINESS.search(line)
    ]
    assert found == []
