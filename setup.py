"""The console scripts, derived from the roster: one per service of ``services/__init__.py``'s
ROSTER, named as its consumer group (``program=``, else ``<name>-service``) and read from its
main.py's ``SERVICE = ServiceDefinition(...)`` without importing it (a build has none of the
project's dependencies); and the dependencies, the library among them by path (lib/), so that
``pip install .`` never takes a distribution of the same name from the index. Everything else is
in pyproject.toml."""

from __future__ import annotations

import ast
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent

# The project's own tools (outboxkit's come with its wheel: lib/pyproject.toml).
TOOLS = [
    "stack = devstack.cli:main",
    "order-api = services.order_api.main:main",
]


LIBRARY = f"outboxkit @ {(ROOT / 'lib').as_uri()}"
THIRD_PARTY = [
    # The order API and its page (services/order_api).
    "fastapi>=0.115,<1",
    "uvicorn>=0.30,<1",
    # `stack k8s render` writes YAML; `stack k8s check` validates it offline: Strimzi's resources
    # against their CRDs' schemas (jsonschema), the core ones against Kubernetes' own
    # (kubernetes-validate bundles them).
    "PyYAML>=6,<7",
    "jsonschema>=4.20,<5",
    "kubernetes-validate>=1.30,<2",
]


def _assigned(tree: ast.Module, name: str) -> ast.expr:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return node.value
    raise SystemExit(f"setup.py: no {name} = ... found")


def service_scripts() -> list[str]:
    roster = ast.literal_eval(_assigned(ast.parse((ROOT / "services" / "__init__.py").read_text()), "ROSTER"))
    scripts = []
    for package in roster:
        tree = ast.parse((ROOT / "services" / package / "main.py").read_text())
        strings = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        call = _assigned(tree, "SERVICE")
        assert isinstance(call, ast.Call), (
            f"services/{package}/main.py: SERVICE is not ServiceDefinition(...)"
        )
        given = {}
        for keyword in call.keywords:
            value = keyword.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                given[keyword.arg] = value.value
            elif isinstance(value, ast.Name) and value.id in strings:
                given[keyword.arg] = strings[value.id]
        program = given.get("program") or f"{given['name']}-service"
        scripts.append(f"{program} = services.{package}.main:main")
    return scripts


setup(
    install_requires=[LIBRARY, *THIRD_PARTY], entry_points={"console_scripts": [*TOOLS, *service_scripts()]}
)
