"""The library's reference (docs/api.md) is what its public API's docstrings say, and every public
class and function has one."""

from __future__ import annotations

from devstack.api_reference import REFERENCE, public_modules, render, undocumented


def test_every_public_class_and_function_says_what_it_is() -> None:
    assert undocumented(public_modules()) == []


def test_the_reference_in_docs_is_the_one_the_code_writes() -> None:
    assert REFERENCE.read_text() == render(), "docs/api.md is stale: python -m devstack.api_reference"


def test_the_reference_names_every_public_name() -> None:
    text = render()
    for module in public_modules():
        for name in module.__all__:
            assert f"### `{name}` (" in text, name
