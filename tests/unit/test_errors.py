"""What the library raises on purpose shares one base class; a person's mistake at a service's
command line is one line and exit 2, while a bug keeps its traceback."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import outboxkit
from outboxkit.base.errors import InvalidValueError, NotFoundError, OutboxKitError
from outboxkit.base.limits import bounded_int
from outboxkit.cli import run_cli
from outboxkit.cli.service import PERSON_ERRORS

# Control flow inside the consumer, never seen by a caller.
INTERNAL = {"Stopped"}


def test_every_error_outboxkit_defines_is_an_outboxkit_error() -> None:
    outside = []
    for module_info in pkgutil.walk_packages(outboxkit.__path__, "outboxkit."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            defined_here = inspect.isclass(value) and value.__module__ == module.__name__
            if (
                defined_here
                and issubclass(value, Exception)
                and name not in INTERNAL
                and not issubclass(value, OutboxKitError)
            ):
                outside.append(f"{module.__name__}.{name}")
    assert outside == []


def test_a_refused_value_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    def place() -> int:
        bounded_int("quantity of APPLE", 0, 1, 10)
        return 0

    assert run_cli("order-service", place, PERSON_ERRORS) == 2
    assert capsys.readouterr().err.strip() == (
        "order-service: error: quantity of APPLE must be between 1 and 10, got 0"
    )

    def missing() -> int:
        raise NotFoundError("no order 42")

    assert run_cli("order-service", missing, PERSON_ERRORS) == 2


def test_a_bug_is_not_mistaken_for_a_persons_mistake() -> None:
    def buggy() -> int:
        return {"a": 1}["b"] + int("not a number")

    with pytest.raises(KeyError):
        run_cli("order-service", buggy, PERSON_ERRORS)
    with pytest.raises(ValueError, match="invalid literal"):
        run_cli("order-service", lambda: int("x"), PERSON_ERRORS)
    assert issubclass(InvalidValueError, ValueError)  # old `except ValueError` clauses still hold
