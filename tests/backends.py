"""The stack the tests run against: the native one (default) or the compose one.

``STACK_BACKEND=compose`` runs compose.yaml with compose.local.yaml (images built here from the
pinned artifacts by ``stack images``) through testcontainers' compose support, on the same
host ports as the native stack. The tests see one interface either way: bring it up, run SQL as
the database's root, kill a part and start it again.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from devstack.components.base import Component
from devstack.components.mariadb import MariaDbInstance
from devstack.stack import Stack
from outboxkit.base.settings import read_env_file

if TYPE_CHECKING:
    from testcontainers.compose import DockerCompose

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("mariadb", "kafka", "registry", "connect")


class StackBackend(Protocol):
    name: str

    def up(self) -> None: ...

    def teardown(self) -> None: ...

    def run_sql(self, sql: str) -> str:
        """Run SQL as the database's root user; returns tab-separated rows."""

    def kill(self, part: str) -> None:
        """SIGKILL a part (one of PARTS) and wait until it is gone."""

    def start(self, part: str) -> None:
        """Start a killed part again and wait until it is healthy."""


class NativeBackend:
    name = "native"

    def __init__(self) -> None:
        self.stack = Stack()

    def up(self) -> None:
        self.stack.up()

    def teardown(self) -> None:
        """The native stack stays up: the next session (or a person) reuses it."""

    def run_sql(self, sql: str) -> str:
        return MariaDbInstance().run_sql(sql)

    def _part(self, part: str) -> Component:
        return self.stack.component(part)

    def kill(self, part: str) -> None:
        self._part(part).kill()

    def start(self, part: str) -> None:
        self._part(part).ensure_running()


class ComposeBackend:
    """compose.yaml + compose.local.yaml through testcontainers' DockerCompose."""

    name = "compose"
    SERVICES = {"mariadb": "mysql", "kafka": "kafka", "registry": "registry", "connect": "connect"}
    FILES = ["compose.yaml", "compose.local.yaml"]
    # STACK_COMPOSE_CLUSTER=true: three brokers and two Connect workers (compose.cluster.yaml).
    CLUSTER_FILES = ["compose.cluster.yaml", "compose.cluster.local.yaml"]
    CLUSTER_ENDPOINTS = {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096",
        "CONNECT_URL": "http://127.0.0.1:8083,http://127.0.0.1:8084",
        "CONNECT_METRICS_URLS": "http://127.0.0.1:9404/metrics,http://127.0.0.1:9405/metrics",
        "CONNECT_KAFKA_BOOTSTRAP_SERVERS": "kafka:29092,kafka-2:29092,kafka-3:29092",
    }

    def __init__(self) -> None:
        self.stack = Stack()
        self.cluster = os.environ.get("STACK_COMPOSE_CLUSTER", "false") == "true"
        self.files = self.FILES + (self.CLUSTER_FILES if self.cluster else [])
        name = "compose-cluster-tests.env" if self.cluster else "compose-tests.env"
        self.env_file = self.stack.paths.root / name
        self._started_docker = False
        self._compose: DockerCompose | None = None

    def write_env_file(self) -> dict[str, str]:
        """Like the README's `cp .env.example .env`, with fresh passwords and secret; what an earlier run's
        file holds is kept (a setting added to .env.example since is added)."""
        existing = read_env_file(self.env_file)
        values = {}
        for line in (ROOT / ".env.example").read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                fresh = secrets.token_urlsafe(12) if key.endswith(("_PASSWORD", "_SECRET")) else value
                values[key] = existing.get(key, fresh)
        if self.cluster:
            values.update(self.CLUSTER_ENDPOINTS)
        self.env_file.parent.mkdir(parents=True, exist_ok=True)
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        return values

    def up(self) -> None:
        from testcontainers.compose import DockerCompose

        from devstack.docker import compose_plugin
        from devstack.images import ImageBuilder

        conflicts = [
            c
            for part in (self.stack.mariadb, self.stack.kafka, self.stack.registry, self.stack.connect)
            for c in part.port_conflicts()
        ]
        native = [part.name for part in self.stack.components if part.process.running_pid()]
        if native or conflicts:
            raise RuntimeError(
                "the compose stack needs the native stack's ports: run `stack down` first "
                f"({', '.join(native) or '; '.join(conflicts)})"
            )
        self._started_docker = self.stack.docker.ensure()
        compose_plugin(self.stack.paths, self.stack.ctx.versions)
        ImageBuilder(self.stack.ctx).build_all()
        self.write_env_file()
        os.environ["OUTBOXKIT_ENV_FILE"] = str(self.env_file)
        # Ryuk's image cannot be pulled here; inside a container /.dockerenv exists and
        # testcontainers would look for the containers on the bridge gateway, not localhost.
        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
        os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
        self._compose = DockerCompose(
            str(ROOT),
            compose_file_name=self.files,
            env_file=str(self.env_file),
            wait=True,
            pull=False,
            build=False,
        )
        self._compose.start()
        # As the README's compose steps: MySQL starts with root only.
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "provision_databases.py")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"provision_databases.py failed: {result.stdout}{result.stderr}")

    def teardown(self) -> None:
        if self._compose is not None:
            self._compose.stop(down=True)  # docker compose down -v
        if self._started_docker:
            self.stack.docker.stop()

    def compose(self, *args: str, input_text: str | None = None, timeout_s: float = 300) -> str:
        result = subprocess.run(
            [
                "docker",
                "compose",
                "--env-file",
                str(self.env_file),
                *[a for f in self.files for a in ("-f", f)],
                *args,
            ],
            cwd=ROOT,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if result.returncode != 0:
            raise RuntimeError(f"docker compose {' '.join(args)} failed: {result.stderr.strip()[-2000:]}")
        return result.stdout

    def run_sql(self, sql: str) -> str:
        password = read_env_file(self.env_file)["DB_ROOT_PASSWORD"]
        return self.compose(
            "exec",
            "-T",
            "mysql",
            "mysql",
            "-uroot",
            f"-p{password}",
            "--batch",
            "--skip-column-names",
            input_text=sql,
        )

    def kill(self, part: str) -> None:
        self.compose("kill", "-s", "SIGKILL", self.SERVICES[part])

    def start(self, part: str) -> None:
        self.compose("up", "-d", "--wait", self.SERVICES[part], timeout_s=600)


def backend_from_env() -> StackBackend:
    chosen = os.environ.get("STACK_BACKEND", "native")
    if chosen == "native":
        return NativeBackend()
    if chosen == "compose":
        return ComposeBackend()
    raise SystemExit(f"STACK_BACKEND={chosen!r} is not a backend: use native (the default) or compose")
