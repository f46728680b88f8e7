"""docs/api.md, the library's reference, written from the public API's own docstrings.

``python -m devstack.api_reference`` writes it; ``--check`` exits 1 when the file is not what the
code says (the quick loop runs the same comparison, so the reference never goes stale). Public is
what the ``__all__`` of ``outboxkit``, ``outboxkit.testing``, ``outboxkit.ops``, ``outboxkit.cli``
and ``outboxkit.cli.main`` list: a class with its public methods and properties, a function with its
signature, a constant with its value.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE = REPO_ROOT / "docs" / "api.md"

HEADER = """# outboxkit API reference

Written by `python -m devstack.api_reference` from the docstrings of what the `__all__` of
`outboxkit` (writing a service), `outboxkit.testing` (its handler tests), `outboxkit.ops` (the
tools around services), `outboxkit.cli` (command-line conventions) and `outboxkit.cli.main` (the
`outboxkit` program) list; the quick loop fails when this file and the code disagree. Every other
module is internal and may change (an import contract keeps this repository's services and tools
to these). The design behind it:
[design.md](design.md); a whole service: the README's "Write your own service".
"""


def _doc(obj: object) -> str:
    return inspect.cleandoc(inspect.getdoc(obj) or "")


class _Written:
    """An annotation as the source writes it (the modules postpone them: they are strings)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _signature(obj: Any) -> str:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"

    def written(annotation: Any) -> Any:
        return _Written(annotation) if isinstance(annotation, str) else annotation

    parameters = [p.replace(annotation=written(p.annotation)) for p in signature.parameters.values()]
    returns = written(signature.return_annotation)
    return str(signature.replace(parameters=parameters, return_annotation=returns))


def _members(cls: type) -> list[tuple[str, object]]:
    """The class's own public methods and properties, in the order they are written."""
    found: list[tuple[str, object]] = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            found.append((name, value))
    return found


def _describe(module_name: str, name: str, obj: object) -> list[str]:
    if inspect.isclass(obj):
        kind = "enum" if issubclass(obj, enum.Enum) else "class"
        signature = "" if issubclass(obj, enum.Enum) else _signature(obj)
        lines = [f"### `{name}` ({kind})", "", f"```python\n{module_name}.{name}{signature}\n```", ""]
        if _doc(obj):
            lines += [_doc(obj), ""]
        if issubclass(obj, enum.Enum):
            lines += [", ".join(f"`{member.name}`" for member in obj), ""]
        for member_name, member in _members(obj):
            if isinstance(member, property):
                lines.append(f"- `{member_name}` (property)" + (f": {_doc(member)}" if _doc(member) else ""))
            else:
                doc = _doc(member)
                lines.append(f"- `{member_name}{_signature(member)}`" + (f": {doc}" if doc else ""))
        return [*lines, ""]
    if inspect.isroutine(obj):
        lines = [f"### `{name}` (function)", "", f"```python\n{module_name}.{name}{_signature(obj)}\n```", ""]
        return [*lines, _doc(obj), ""] if _doc(obj) else lines
    kind = "constant" if isinstance(obj, (int, str, float)) else "type"
    return [f"### `{name}` ({kind})", "", f"`{module_name}.{name} = {obj!r}`", ""]


def undocumented(modules: list[ModuleType]) -> list[str]:
    """The public names that say nothing about themselves (constants excepted)."""
    missing = []
    for module in modules:
        for name in module.__all__:
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isroutine(obj)) and not _doc(obj):
                missing.append(f"{module.__name__}.{name}")
    return missing


def public_modules() -> list[ModuleType]:
    import outboxkit
    import outboxkit.cli
    import outboxkit.cli.main
    import outboxkit.ops
    import outboxkit.testing

    return [outboxkit, outboxkit.testing, outboxkit.ops, outboxkit.cli, outboxkit.cli.main]


def render() -> str:
    lines = [HEADER]
    for module in public_modules():
        lines += [f"## `{module.__name__}`", "", _doc(module).split("\n\n")[0], ""]
        for name in sorted(module.__all__, key=str.lower):
            lines += _describe(module.__name__, name, getattr(module, name))
    # Docstrings carry whitespace the reader does not need at line ends.
    return "\n".join(line.rstrip() for line in "\n".join(lines).splitlines()).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.api_reference", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if docs/api.md is not what the code says"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not REFERENCE.is_file() or REFERENCE.read_text() != text:
            stale = REFERENCE.relative_to(REPO_ROOT)
            print(f"{stale} is stale: python -m devstack.api_reference", file=sys.stderr)
            return 1
        return 0
    REFERENCE.write_text(text)
    print(f"wrote {REFERENCE.relative_to(REPO_ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
