"""In-memory stand-ins for pure-logic unit tests (never used where a process boundary is tested)."""

from __future__ import annotations

from devstack.config import Topology, state_paths
from devstack.context import StackContext
from devstack.downloads import Installed
from devstack.stackenv import stack_env_values
from devstack.versions import load_versions
from outboxkit.serialization.schema_registry import IncompatibleSchemaError, UnknownSchemaIdError


class InMemorySchemaRegistry:
    """Registers schemas with increasing ids; refuses what ``refuse`` names, like a 409."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.compatibility: dict[str | None, str] = {}
        self.refuse = refuse or set()

    def register(self, subject: str, schema: str) -> int:
        if subject in self.refuse:
            raise IncompatibleSchemaError(subject, "refused by test")
        for schema_id, text in self.schemas.items():
            if text == schema:
                self.subjects.setdefault(subject, []).append(schema_id)
                return schema_id
        schema_id = len(self.schemas) + 1
        self.schemas[schema_id] = schema
        self.subjects.setdefault(subject, []).append(schema_id)
        return schema_id

    def set_compatibility(self, subject: str | None, level: str = "BACKWARD") -> None:
        self.compatibility[subject] = level

    def schema_by_id(self, schema_id: int) -> str:
        if schema_id not in self.schemas:
            raise UnknownSchemaIdError(schema_id)
        return self.schemas[schema_id]


def offline_stack_context(topology: Topology | None = None) -> StackContext:
    """A stack context whose artifacts are a fake install layout and whose stack.env lives in
    memory: the components' settings and the images' tags are computed without downloading
    Kafka, Debezium or the registry, and without writing anything."""
    paths = state_paths("/nonexistent/offline-state")
    versions = load_versions()
    ctx = StackContext(paths, topology)
    downloads = paths.downloads
    # cached_property: what is set on the instance is what every later access sees.
    ctx.__dict__["installed"] = Installed(
        kafka_libs=downloads / f"kafka-libs-{versions.kafka}",
        plugins=paths.plugins,
        registry_home=downloads / f"apicurio-registry-{versions.apicurio}",
        jmx_agent=downloads / f"jmx_prometheus_javaagent-{versions.jmx_exporter}.jar",
    )
    # stack.env's values as `stack up` would write them, kept in memory: nothing is written.
    ctx.__dict__["stack_env"] = stack_env_values(paths, ctx.topology, False, {})
    return ctx
