"""Kafka Connect in distributed mode with the Debezium MariaDB and MySQL connectors."""

from __future__ import annotations

from pathlib import Path

from devstack.components.jvm import KafkaJvmComponent, write_properties
from devstack.config import CONNECT_PORT, HOST, KAFKA_PORT
from devstack.context import StackContext
from devstack.http import get_json

REQUIRED_PLUGINS = (
    "io.debezium.connector.mariadb.MariaDbConnector",
    "io.debezium.connector.mysql.MySqlConnector",
)


class Connect(KafkaJvmComponent):
    # Connect scans every plugin jar at startup: slow on two cores.
    start_timeout = 240.0
    heap = "768m"
    log_levels = {
        "org.reflections": "ERROR",
        "org.apache.kafka.clients.consumer.ConsumerConfig": "WARN",
        "org.apache.kafka.clients.producer.ProducerConfig": "WARN",
        "org.apache.kafka.clients.admin.AdminClientConfig": "WARN",
        "org.apache.kafka.common.config.AbstractConfig": "WARN",
        # "Committing offsets for N acknowledged messages" every offset flush (1 s).
        "org.apache.kafka.connect.runtime.WorkerSourceTask": "WARN",
    }

    def __init__(self, ctx: StackContext) -> None:
        super().__init__(ctx, "connect")

    @property
    def properties_file(self) -> Path:
        return self.home / "connect-distributed.properties"

    @property
    def ports(self) -> tuple[int, ...]:
        return (CONNECT_PORT,)

    def marker(self) -> str:
        return str(self.properties_file)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{CONNECT_PORT}"

    def settings(self) -> dict[str, str | int]:
        return {
            "bootstrap.servers": f"{HOST}:{KAFKA_PORT}",
            "group.id": "outbox-connect",
            "listeners": self.url,
            "rest.advertised.host.name": HOST,
            "rest.advertised.port": CONNECT_PORT,
            # Worker defaults only: each connector names its own converters.
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            # Connect creates these compacted on first start; one node, one replica.
            "config.storage.topic": "connect-configs",
            "offset.storage.topic": "connect-offsets",
            "status.storage.topic": "connect-status",
            "config.storage.replication.factor": 1,
            "offset.storage.replication.factor": 1,
            "status.storage.replication.factor": 1,
            # A killed worker re-sends everything since its last flush (60 s by default).
            "offset.flush.interval.ms": 1000,
            "plugin.path": str(self.ctx.installed.plugins),
            # Lets connectors set producer.override.* (e.g. enable.idempotence=true).
            "connector.client.config.override.policy": "All",
            "topic.creation.enable": "true",
            # Connector JSON says ${env:CDC_DB_PASSWORD}: the secret stays out of the config.
            "config.providers": "env,file",
            "config.providers.env.class": ("org.apache.kafka.common.config.provider.EnvVarConfigProvider"),
            "config.providers.file.class": ("org.apache.kafka.common.config.provider.FileConfigProvider"),
        }

    def prepare(self) -> None:
        super().prepare()
        write_properties(self.properties_file, self.settings(), "Kafka Connect (distributed)")

    def command(self) -> list[str]:
        return self.kafka_java("org.apache.kafka.connect.cli.ConnectDistributed", str(self.properties_file))

    def environment(self) -> dict[str, str]:
        # The generated passwords, for the env: config provider.
        return {**super().environment(), **self.ctx.stack_env}

    def is_healthy(self) -> bool:
        plugins = get_json(f"{self.url}/connector-plugins")
        if not isinstance(plugins, list):
            return False
        classes = {entry.get("class") for entry in plugins if isinstance(entry, dict)}
        return all(plugin in classes for plugin in REQUIRED_PLUGINS)
