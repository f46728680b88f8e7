"""outboxkit's public API: every name ``__all__`` lists resolves from ``outboxkit`` itself, a type
checker sees the same names, and an unknown one is refused."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import outboxkit


def test_every_public_name_resolves_to_what_its_module_defines() -> None:
    assert len(outboxkit.__all__) >= 40
    for name in outboxkit.__all__:
        value = getattr(outboxkit, name)
        assert value is not None, name
    assert outboxkit.UnitOfWork.__module__ == "outboxkit.domain.unit_of_work"
    assert outboxkit.SqlUnitOfWork.__module__ == "outboxkit.storage.db"


def test_a_type_checker_sees_the_same_names() -> None:
    tree = ast.parse(inspect.getsource(outboxkit))
    checked = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for imported in node.body
        if isinstance(imported, ast.ImportFrom)
        for alias in imported.names
    }
    assert checked == set(outboxkit.__all__)


def test_the_strictly_type_checked_imports_are_every_public_name() -> None:
    """strict_public_imports.py imports each public name from the package; ./run check's mypy
    (strict) refuses it if the package stops re-exporting one to type checkers."""
    tree = ast.parse((Path(__file__).parent / "strict_public_imports.py").read_text())
    imported = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "outboxkit"
        for alias in node.names
    }
    assert imported == set(outboxkit.__all__)


def test_an_internal_name_is_not_public() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'ConsumerRuntime'"):
        outboxkit.ConsumerRuntime  # noqa: B018
