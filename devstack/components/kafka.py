"""Apache Kafka in KRaft combined mode: one process is both broker and controller."""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from pathlib import Path

from devstack.components.jvm import KafkaJvmComponent, write_properties
from devstack.config import HOST, KAFKA_CONTROLLER_PORT, KAFKA_PORT
from devstack.console import say
from devstack.context import StackContext
from devstack.errors import StackError
from devstack.ports import port_accepts

_quiet = logging.getLogger("devstack.kafka-probe")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def new_cluster_id() -> str:
    # Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def kafka_metadata_ok(bootstrap: str, timeout: float = 3.0) -> bool:
    """True if a real metadata request to ``bootstrap`` returns at least one broker."""
    from confluent_kafka.admin import AdminClient  # heavy import, only when probing

    # librdkafka prints connection errors to stderr by default: route them to a silent logger.
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": _quiet})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception:
        return False
    return bool(metadata.brokers)


class Kafka(KafkaJvmComponent):
    start_timeout = 120.0
    heap = "768m"
    log_levels = {
        "kafka.request.logger": "WARN",
        "kafka.log.LogCleaner": "WARN",
        "org.apache.kafka.storage.internals.log": "WARN",
        "state.change.logger": "WARN",
    }

    def __init__(self, ctx: StackContext) -> None:
        super().__init__(ctx, "kafka")

    @property
    def properties_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def ports(self) -> tuple[int, ...]:
        return (KAFKA_PORT, KAFKA_CONTROLLER_PORT)

    def marker(self) -> str:
        return str(self.properties_file)

    def settings(self) -> dict[str, str | int]:
        return {
            "process.roles": "broker,controller",
            "node.id": 1,
            # A static one-voter quorum: simplest for a single node, nothing to bootstrap.
            "controller.quorum.voters": f"1@{HOST}:{KAFKA_CONTROLLER_PORT}",
            "listeners": f"PLAINTEXT://{HOST}:{KAFKA_PORT},CONTROLLER://{HOST}:{KAFKA_CONTROLLER_PORT}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{KAFKA_PORT}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            # One node: every internal topic and the ISR can only ever have one replica.
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "min.insync.replicas": 1,
            "default.replication.factor": 1,
            "num.partitions": 6,
            # Topics are created on purpose (Connect, scripts): a typo must not create one.
            "auto.create.topics.enable": "false",
            # Tests start consumer groups often; do not wait 3 s for more members each time.
            "group.initial.rebalance.delay.ms": 0,
        }

    def prepare(self) -> None:
        super().prepare()
        write_properties(self.properties_file, self.settings(), "Kafka broker+controller (KRaft)")
        if (self.data_dir / "meta.properties").is_file():
            return
        cluster_id = new_cluster_id()
        say(f"kafka: formatting storage in {self.data_dir} (cluster id {cluster_id})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = self.kafka_java(
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(self.properties_file),
        )
        with self.log_file.open("ab") as log:
            result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            raise self._failure(f"storage format failed (exit {result.returncode})")

    def command(self) -> list[str]:
        return self.kafka_java("kafka.Kafka", str(self.properties_file))

    def is_healthy(self) -> bool:
        if not port_accepts(KAFKA_PORT):
            return False
        try:
            return kafka_metadata_ok(f"{HOST}:{KAFKA_PORT}")
        except ImportError as exc:  # pragma: no cover - the venv always has confluent-kafka
            raise StackError("confluent-kafka is not installed in this Python") from exc
