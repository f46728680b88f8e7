"""Where the stack lives on disk and which addresses it listens on.

Everything the stack writes goes under one state directory (``<repo>/.state`` unless
``STACK_STATE_DIR`` says otherwise), so deleting that directory resets the stack completely
and nothing touches system locations such as /var/lib/mysql.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
STACK_DIR = REPO_ROOT / "stack"
VERSIONS_FILE = STACK_DIR / "versions.env"
CDC_CNF = STACK_DIR / "mysql" / "cdc.cnf"
MAVEN_POM = PACKAGE_DIR / "maven" / "pom.xml"

# Loopback only: the stack is for this machine and must never be reachable from outside.
HOST = "127.0.0.1"
MARIADB_PORT = 3307
KAFKA_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093
REGISTRY_PORT = 8081
# Quarkus serves health/metrics on a separate management port, 9000 by default: a common
# port, so it is pinned to one next to the registry's own.
REGISTRY_MANAGEMENT_PORT = 9081
CONNECT_PORT = 8083
# Each Connect worker's Prometheus metrics (the JMX exporter agent): 9404, 9405, ...
CONNECT_METRICS_PORT = 9404
# Jaeger (`stack up --tracing`): OTLP over HTTP where the OpenTelemetry SDK sends by default,
# its UI and query API, and the query API's gRPC port (which it always opens).
OTLP_HTTP_PORT = 4318
JAEGER_QUERY_PORT = 16686
JAEGER_QUERY_GRPC_PORT = 16685

STATE_DIR_ENV = "STACK_STATE_DIR"
DOWNLOADS_DIR_ENV = "STACK_DOWNLOADS_DIR"
# What `stack up --brokers N` accepts: one combined node, or a three-voter KRaft quorum.
BROKER_COUNTS = (1, 3)


@dataclass(frozen=True)
class Topology:
    """How many Kafka nodes and Kafka Connect workers the stack runs, and where they listen.

    One broker (the default) is the development stack; three (``stack up --brokers 3``) are a
    production-shaped cluster: a three-voter quorum, every topic with three replicas of which two
    must be in sync, and two Connect workers in one group.
    """

    brokers: int = 1

    def __post_init__(self) -> None:
        if self.brokers not in BROKER_COUNTS:
            allowed = " or ".join(map(str, BROKER_COUNTS))
            raise ValueError(f"the stack runs {allowed} Kafka brokers, not {self.brokers}")

    @property
    def cluster(self) -> bool:
        return self.brokers > 1

    @property
    def workers(self) -> int:
        return 2 if self.cluster else 1

    @property
    def replication_factor(self) -> int:
        return min(3, self.brokers)

    @property
    def min_insync_replicas(self) -> int:
        # acks=all then means "on two of three": one broker may die without losing a write.
        return 2 if self.brokers >= 3 else 1

    def kafka_port(self, node: int) -> int:
        return KAFKA_PORT + 2 * (node - 1)

    def controller_port(self, node: int) -> int:
        return KAFKA_CONTROLLER_PORT + 2 * (node - 1)

    def connect_port(self, worker: int) -> int:
        return CONNECT_PORT + worker - 1

    def connect_metrics_port(self, worker: int) -> int:
        return CONNECT_METRICS_PORT + worker - 1

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{HOST}:{self.kafka_port(n)}" for n in range(1, self.brokers + 1))

    def kafka_name(self, node: int) -> str:
        return "kafka" if not self.cluster else f"kafka-{node}"

    def connect_name(self, worker: int) -> str:
        return "connect" if not self.cluster else f"connect-{worker}"


@dataclass(frozen=True)
class StatePaths:
    """The layout of the state directory; components derive their own subfolders from it."""

    root: Path

    @property
    def downloads(self) -> Path:
        """The download cache; STACK_DOWNLOADS_DIR lets several state directories share one."""
        shared = os.environ.get(DOWNLOADS_DIR_ENV)
        return Path(shared).expanduser().resolve() if shared else self.root / "downloads"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def plugins(self) -> Path:
        return self.root / "plugins"

    @property
    def stack_env(self) -> Path:
        return self.root / "stack.env"

    @property
    def lock_file(self) -> Path:
        return self.root / "stack.lock"

    def component_dir(self, name: str) -> Path:
        return self.root / name

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def create(self) -> None:
        for folder in (self.root, self.downloads, self.logs, self.pids):
            folder.mkdir(parents=True, exist_ok=True)


def default_state_dir() -> Path:
    override = os.environ.get(STATE_DIR_ENV)
    return Path(override).expanduser().resolve() if override else REPO_ROOT / ".state"


def state_paths(state_dir: Path | str | None = None) -> StatePaths:
    root = Path(state_dir).expanduser().resolve() if state_dir else default_state_dir()
    return StatePaths(root)
