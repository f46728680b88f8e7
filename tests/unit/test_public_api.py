"""outboxkit's public API: every name ``__all__`` lists resolves from ``outboxkit`` itself, a type
checker sees the same names, and an unknown one is refused."""

from __future__ import annotations

import ast
import inspect
import os
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


def test_a_strict_type_checker_accepts_every_public_name_from_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A team's service type-checked in strict mode imports the API from ``outboxkit`` itself
    (mypy refuses names a package does not explicitly re-export)."""
    from mypy import api

    # Where the package is, as an installed wheel's site-packages would be (an editable install's
    # import hook is invisible to mypy).
    monkeypatch.setenv("MYPYPATH", str(Path(outboxkit.__file__).parent.parent))
    names = ", ".join(outboxkit.__all__)
    program = f"from outboxkit import {names}"
    stdout, stderr, status = api.run(["--config-file", os.devnull, "--strict", "-c", program])
    assert status == 0, stdout + stderr


def test_an_internal_name_is_not_public() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'ConsumerRuntime'"):
        outboxkit.ConsumerRuntime  # noqa: B018
