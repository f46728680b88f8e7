"""``<state>/stack.env``: endpoints and generated passwords for everything that talks to the stack.

Passwords are generated on the first ``up`` and reused afterwards, because MariaDB keeps the
users it created with them. The file is mode 0600 and lives only in the state directory: it
is never committed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from devstack.config import (
    HOST,
    JAEGER_QUERY_PORT,
    MARIADB_PORT,
    OTLP_HTTP_PORT,
    REGISTRY_PORT,
    StatePaths,
    Topology,
)
from outboxkit.ops import read_env_file as parse_env_file

STACK_BROKERS = "STACK_BROKERS"
# outboxkit's own setting (outboxkit.base.tracing): every process that reads stack.env exports
# its spans to the stack's Jaeger when `stack up --tracing` wrote it true.
TRACING = "TRACING"
# Every service's database password is derived from the first (outboxkit.base.settings: one secret
# for any roster); Debezium's user has its own.
PASSWORD_KEYS = ("DB_PASSWORD_SECRET", "CDC_DB_PASSWORD")


def mariadb_socket(paths: StatePaths) -> Path:
    return paths.component_dir("mariadb") / "mariadb.sock"


def endpoint_values(paths: StatePaths, topology: Topology, tracing: bool = False) -> dict[str, str]:
    """The non-secret entries: they follow from the layout and ports, so they are rewritten."""
    metrics_urls = (
        f"http://{HOST}:{topology.connect_metrics_port(w)}/metrics" for w in range(1, topology.workers + 1)
    )
    return {
        "DB_HOST": HOST,
        "DB_PORT": str(MARIADB_PORT),
        "MARIADB_SOCKET": str(mariadb_socket(paths)),
        "KAFKA_BOOTSTRAP_SERVERS": topology.bootstrap_servers,
        "SCHEMA_REGISTRY_URL": f"http://{HOST}:{REGISTRY_PORT}/apis/ccompat/v7",
        # Every worker: a client tries the next one when one does not answer.
        "CONNECT_URL": ",".join(
            f"http://{HOST}:{topology.connect_port(w)}" for w in range(1, topology.workers + 1)
        ),
        # Connect's and Debezium's own metrics, one /metrics per worker (the JMX exporter).
        "CONNECT_METRICS_URLS": ",".join(metrics_urls),
        # Remembered, so every later command (and test) knows which stack this is.
        STACK_BROKERS: str(topology.brokers),
        TRACING: "true" if tracing else "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{OTLP_HTTP_PORT}",
        # Jaeger's UI and query API (running only with tracing on).
        "TRACES_URL": f"http://{HOST}:{JAEGER_QUERY_PORT}",
    }


def recorded_topology(paths: StatePaths) -> Topology | None:
    """The topology the last ``up`` recorded (None: no stack here yet)."""
    recorded = read_stack_env(paths).get(STACK_BROKERS)
    return Topology(int(recorded)) if recorded and recorded.isdigit() else None


def recorded_tracing(paths: StatePaths) -> bool:
    """Whether the last ``up`` started Jaeger (``--tracing``)."""
    return read_stack_env(paths).get(TRACING) == "true"


def read_stack_env(paths: StatePaths) -> dict[str, str]:
    return parse_env_file(paths.stack_env) if paths.stack_env.is_file() else {}


def ensure_stack_env(paths: StatePaths, topology: Topology, tracing: bool = False) -> dict[str, str]:
    """Create or refresh stack.env, keeping passwords that already exist; returns its values."""
    existing = read_stack_env(paths)
    values = stack_env_values(paths, topology, tracing, existing)
    if values != existing:
        _write_private(paths.stack_env, values)
    return values


def stack_env_values(
    paths: StatePaths, topology: Topology, tracing: bool, existing: dict[str, str]
) -> dict[str, str]:
    """What stack.env holds: the endpoints, and the ``existing`` passwords or new ones."""
    values = endpoint_values(paths, topology, tracing)
    for key in PASSWORD_KEYS:
        # token_urlsafe has only [A-Za-z0-9_-]: safe inside SQL quotes and env files.
        values[key] = existing.get(key) or secrets.token_urlsafe(24)
    if topology.cluster:
        from devstack.kafka_access import ADMIN, MECHANISM, new_passwords

        # The cluster's client listener authenticates every client (devstack/kafka_access.py);
        # the tools log in as admin, each service as itself.
        values.update(
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_MECHANISM": MECHANISM,
                "KAFKA_USERNAME": ADMIN,
                **new_passwords(existing),
            }
        )
    return values


def _write_private(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "# Written by devstack (`stack up`). Holds passwords: keep it out of git.\n"
    body += "".join(f"{key}={value}\n" for key, value in values.items())
    tmp = path.with_suffix(".tmp")
    # Created 0600 from the start so the passwords are never readable by others, even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(body)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
