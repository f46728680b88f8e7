"""The outbox connectors: one template, what each connector adds, and the values filled in at
deploy time.

``outbox_connector.json`` holds everything every outbox connector shares; :func:`outbox_connector`
adds what names the databases it captures (their outbox tables, its topic prefix, replica id and
heartbeat). A binlog connector reads the whole server's binlog whatever it captures, so the
roster (:func:`outboxkit.service.roster.outbox_connectors`) makes one per database server, capturing
every publishing service's outbox on it (``CDC_CONNECTORS=per-server``, the default), or one per
service for services whose databases live on servers of their own (``per-service``). The
Outbox Event Router routes each row by its aggregate type either way: the topics, keys and
headers do not depend on the layout. What differs per deployment (where Connect reaches the
database and Kafka, and which connector class matches the server) is added by
:func:`effective_config`, so the native stack and compose share them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from outboxkit.base.settings import Settings
from outboxkit.base.topics import DEFAULT_PARTITIONS, topic_for
from outboxkit.kafka.clients import password_key
from outboxkit.serialization.avro import SchemaCatalog

TEMPLATE = Path(__file__).with_name("outbox_connector.json")
MARIADB_CONNECTOR = "io.debezium.connector.mariadb.MariaDbConnector"
MYSQL_CONNECTOR = "io.debezium.connector.mysql.MySqlConnector"
# Written by each connector's heartbeat.action.query, captured so that its offset's ts_sec keeps
# moving while the database is idle (outboxkit.service.provisioning creates it).
HEARTBEAT_TABLE = "cdc_heartbeat"


OUTBOX_TABLE = "outbox"


@dataclass(frozen=True)
class ConnectorDefinition:
    name: str
    config: dict[str, str]

    @property
    def databases(self) -> list[str]:
        """The databases whose outboxes it publishes, in the order it was given them."""
        return [entry.strip() for entry in self.config["database.include.list"].split(",")]

    @property
    def captured_tables(self) -> list[str]:
        """The tables it reads, each ``<database>.<table>``."""
        return [entry.strip() for entry in self.config["table.include.list"].split(",")]

    @property
    def outboxes(self) -> list[str]:
        """The outbox tables it publishes, each ``<database>.<table>``."""
        return [t for t in self.captured_tables if t.split(".", 1)[1] != HEARTBEAT_TABLE]

    @property
    def heartbeat_table(self) -> str | None:
        """``<database>.<table>`` its ``heartbeat.action.query`` writes (None: it writes none)."""
        return next((t for t in self.captured_tables if t.split(".", 1)[1] == HEARTBEAT_TABLE), None)

    def publishes(self, database: str) -> bool:
        """Whether it publishes ``database``'s outbox."""
        return database in self.databases

    @property
    def server(self) -> str:
        """Its ``topic.prefix``: how Debezium names it in its metrics (``server=``)."""
        return self.config["topic.prefix"]

    @property
    def database_user(self) -> str:
        return self.config["database.user"]

    @property
    def snapshot_mode(self) -> str:
        return self.config.get("snapshot.mode", "initial")

    @property
    def topic_partitions(self) -> int:
        return int(self.config.get("topic.creation.default.partitions", DEFAULT_PARTITIONS))


@dataclass(frozen=True)
class Deployment:
    """How Connect (not this script) reaches the database and the broker."""

    db_host: str
    db_port: int
    kafka_bootstrap_servers: str
    # How Debezium's own Kafka clients (its schema history) log in: empty on PLAINTEXT.
    kafka_login: dict[str, str] = field(default_factory=dict)


LOGIN_MODULES = {"PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule"}


def connect_kafka_login(settings: Settings) -> dict[str, str]:
    """Connect's principal (CONNECT_KAFKA_USERNAME, default ``connect``) with the same protocol and
    mechanism as this process; its password is left to Connect's env config provider
    (``${env:CONNECT_KAFKA_PASSWORD}``), so it is never stored in a connector's config."""
    security = settings.kafka_security
    if not security.get("security.protocol", "").startswith("SASL"):
        return {key: value for key, value in security.items() if key == "security.protocol"}
    mechanism = security["sasl.mechanism"]
    module = LOGIN_MODULES.get(mechanism, "org.apache.kafka.common.security.scram.ScramLoginModule")
    username = settings.get("CONNECT_KAFKA_USERNAME", "connect")
    login = {
        "security.protocol": security["security.protocol"],
        "sasl.mechanism": mechanism,
        "sasl.jaas.config": f'{module} required username="{username}" '
        f'password="${{env:{password_key(username)}}}";',
    }
    if "ssl.ca.location" in security:
        login["ssl.truststore.type"] = "PEM"
        login["ssl.truststore.location"] = security["ssl.ca.location"]
    return login


def outbox_connector(
    name: str, databases: Sequence[str], server_id: int, topic_prefix: str | None = None
) -> ConnectorDefinition:
    """The template, made to read the outbox of each of ``databases`` as ``name``, with a
    heartbeat in the first one's heartbeat table. ``topic_prefix`` (what Debezium calls the
    server: its heartbeat topic, schema history and metrics are named by it) defaults to the
    database's name when there is one."""
    if not databases:
        raise ValueError(f"{name}: a connector needs at least one database to capture")
    prefix = topic_prefix or (databases[0] if len(databases) == 1 else name)
    beat = f"{databases[0]}.{HEARTBEAT_TABLE}"
    # <topic.prefix>.<database>.<table>, as a regex.
    quoted = "|".join(re.escape(database) for database in databases)
    captured = quoted if len(databases) == 1 else f"({quoted})"
    outbox_topics = f"{re.escape(prefix)}\\.{captured}\\.{OUTBOX_TABLE}"
    config = json.loads(TEMPLATE.read_text())
    config.update(
        {
            "database.server.id": str(server_id),
            "topic.prefix": prefix,
            "database.include.list": ",".join(databases),
            "table.include.list": ",".join([*(f"{d}.{OUTBOX_TABLE}" for d in databases), beat]),
            "heartbeat.action.query": f"INSERT INTO {beat} (connector, beat_at) "
            f"VALUES ('{name}', UTC_TIMESTAMP(6)) "
            "ON DUPLICATE KEY UPDATE beat_at = UTC_TIMESTAMP(6)",
            "schema.history.internal.kafka.topic": f"_schema-history.{prefix}",
            "predicates.isOutboxTable.pattern": outbox_topics,
            "predicates.isHeartbeatTable.pattern": f"{re.escape(prefix)}\\.{re.escape(beat)}",
        }
    )
    return ConnectorDefinition(name, config)


def effective_config(
    definition: ConnectorDefinition, deployment: Deployment, is_mariadb: bool
) -> dict[str, str]:
    """The config Connect is sent for ``definition``: the template's, with where Connect reaches
    the database and the brokers (``deployment``) and the connector class the server needs."""
    config = dict(definition.config)
    config.update(
        {
            "connector.class": MARIADB_CONNECTOR if is_mariadb else MYSQL_CONNECTOR,
            "database.hostname": deployment.db_host,
            "database.port": str(deployment.db_port),
            "schema.history.internal.kafka.bootstrap.servers": deployment.kafka_bootstrap_servers,
        }
    )
    for client in ("producer", "consumer"):
        config.update(
            {
                f"schema.history.internal.{client}.{key}": value
                for key, value in deployment.kafka_login.items()
            }
        )
    if not is_mariadb:
        # MySQL 8.4+ logs users in with caching_sha2_password (9.x has nothing else): without TLS
        # the driver must fetch the server's RSA key to send the password. TLS is still
        # preferred (database.ssl.mode's default) whenever the server offers it.
        config["database.allowPublicKeyRetrieval"] = "true"
    return config


def routed_topics(catalog: SchemaCatalog) -> list[str]:
    """The topics the Outbox Event Router will send the catalog's aggregate types to.

    Created at registration so that consumers and ``outboxkit replay`` can subscribe before the first
    event of an aggregate type is published (Connect creates a topic only on its first record).
    """
    return sorted({topic_for(schema.aggregate_type) for schema in catalog})
