"""requirements.lock pins what the pyprojects ask for, with hashes, and it is what is installed.

`./run` installs the lock with pip's --require-hashes; these tests catch a pyproject edited
without `./run lock`, and a virtualenv that has drifted from the lock.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from services import ROOT

LOCAL_PACKAGES = {"outboxkit", "outbox-cdc"}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: int


def read_lock(path: Path) -> list[Pin]:
    pins = []
    # One entry: "name==version ; marker \" then "--hash=..." lines, until the next entry.
    for entry in re.split(r"\n(?=[A-Za-z0-9])", path.read_text()):
        first = entry.split("\n", 1)[0].rstrip(" \\")
        if first.startswith("#") or not first.strip():
            continue
        requirement, _, marker = first.partition(" ; ")
        name, _, version = requirement.partition("==")
        pins.append(
            Pin(canonicalize_name(name), version, Marker(marker) if marker else None, entry.count("--hash="))
        )
    return pins


def setup_py_list(name: str) -> list[str]:
    """A list of strings setup.py assigns (the project's dependencies are computed there)."""
    for node in ast.parse((ROOT / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return [str(v) for v in value]
    raise AssertionError(f"setup.py assigns no {name}")


def declared(pyproject: Path, extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    texts = list(project.get("dependencies") or setup_py_list("THIRD_PARTY"))
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    return [r for r in map(Requirement, texts) if canonicalize_name(r.name) not in LOCAL_PACKAGES]


MAIN = read_lock(ROOT / "requirements.lock")
FAST = read_lock(ROOT / "requirements-fast.lock")


def applicable(pins: list[Pin]) -> dict[str, Pin]:
    return {pin.name: pin for pin in pins if pin.marker is None or pin.marker.evaluate()}


@pytest.mark.parametrize(
    ("pyproject", "extras", "lock"),
    [
        ("lib/pyproject.toml", (), MAIN),
        ("pyproject.toml", ("dev",), MAIN),
        ("lib/pyproject.toml", ("fast",), FAST),
    ],
)
def test_every_declared_dependency_is_pinned_within_its_range(
    pyproject: str, extras: tuple[str, ...], lock: list[Pin]
) -> None:
    pins = applicable(lock)
    for requirement in declared(ROOT / pyproject, extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{pyproject} asks for {requirement}, the lock has no pin: ./run lock"
        assert requirement.specifier.contains(pins[name].version, prereleases=True), (
            f"{pyproject} asks for {requirement}, the lock pins {pins[name].version}: ./run lock"
        )


def test_the_project_takes_the_library_from_its_own_folder_never_from_the_index() -> None:
    requirements = [Requirement(text) for text in metadata.requires("outbox-cdc") or []]
    (library,) = [r for r in requirements if canonicalize_name(r.name) == "outboxkit"]
    assert library.url == (ROOT / "lib").as_uri(), library  # a direct reference: no index involved
    assert (
        metadata.version("outboxkit")
        == tomllib.loads((ROOT / "lib/pyproject.toml").read_text())["project"]["version"]
    )


def test_every_pin_has_hashes_and_one_version_per_platform() -> None:
    assert len(MAIN) > 50
    for pin in MAIN + FAST:
        assert pin.hashes >= 1, f"{pin.name} is pinned without a hash"
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", pin.version), (
            f"{pin.name} is not pinned: {pin.version!r}"
        )
    # Both locks agree: the fast one is compiled with the main one as constraints.
    main = applicable(MAIN)
    for name, pin in applicable(FAST).items():
        if name in main:
            assert pin.version == main[name].version, f"{name}: {pin.version} vs {main[name].version}"


def test_the_virtualenv_holds_what_the_lock_pins() -> None:
    drifted = []
    for pin in applicable(MAIN).values():
        try:
            installed = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            drifted.append(f"{pin.name} {pin.version} is not installed")
            continue
        if Version(installed) != Version(pin.version):
            drifted.append(f"{pin.name}: {installed} installed, {pin.version} locked")
    assert not drifted, (
        "the virtualenv has drifted from requirements.lock (./run check reinstalls): " + "; ".join(drifted)
    )
