"""outboxkit's subpackages are layers that point one way: no two subpackages import each other,
no module imports itself back through others, and no import hides inside a function to dodge
either. Imports under ``TYPE_CHECKING`` count: a type is a dependency too.

The layers themselves are the import-linter contract in pyproject.toml (``lint-imports``, run by
``./run check``); this test holds the graph to the three rules with nothing but the standard
library, so it also runs where import-linter is not installed.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import outboxkit

CORE = Path(outboxkit.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, tree: ast.Module, known: set[str]) -> list[tuple[str, ast.AST]]:
    """The outboxkit modules ``path`` imports (``from p import m`` names module ``p.m`` when it is one)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node) for alias in node.names if alias.name.startswith("outboxkit")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if not base.startswith("outboxkit"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((candidate if candidate in known else base, node))
    return found


@functools.cache
def graph() -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the outboxkit modules it imports; and the imports made inside functions."""
    files = sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)
    known = {module_name(p) for p in files}
    edges: dict[str, set[str]] = defaultdict(set)
    hidden = []
    for path in files:
        tree = ast.parse(path.read_text())
        inside_functions = {
            id(inner)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for inner in ast.walk(function)
        }
        source = module_name(path)
        for target, node in imported_modules(path, tree, known):
            if target != source:
                edges[source].add(target)
            if id(node) in inside_functions:
                hidden.append(f"{path.relative_to(CORE)}:{getattr(node, 'lineno', '?')} {ast.unparse(node)}")
    return edges, hidden


def subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the package's own __init__ (the API facade)


def test_no_two_subpackages_import_each_other() -> None:
    edges, _ = graph()
    pairs = {
        (outer, inner)
        for source, targets in edges.items()
        for target in targets
        if (outer := subpackage(source)) and (inner := subpackage(target)) and outer != inner
    }
    both_ways = sorted({tuple(sorted(pair)) for pair in pairs if pair[::-1] in pairs})
    assert both_ways == []


def test_no_module_imports_itself_back() -> None:
    edges, _ = graph()
    cycles = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state and module != "outboxkit":  # the facade re-exports everything
            visit(module, [module])
    assert cycles == []


def test_no_outboxkit_import_hides_inside_a_function() -> None:
    _, hidden = graph()
    assert hidden == []


def test_the_graph_is_read_at_all() -> None:
    """The rules above are vacuous if the graph is empty: the consumer runtime imports its guard."""
    edges, _ = graph()
    assert "outboxkit.consuming.guard" in edges["outboxkit.consuming.applier"]
    assert sum(len(targets) for targets in edges.values()) > 150
