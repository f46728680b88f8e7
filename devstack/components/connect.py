"""Kafka Connect in distributed mode with the Debezium MariaDB and MySQL connectors: one worker,
or two in one group on a cluster (a dead worker's tasks move to the other)."""

from __future__ import annotations

import os
from pathlib import Path

from devstack.components.jvm import KafkaJvmComponent, write_properties
from devstack.components.kafka import SCRAM_LOGIN
from devstack.config import HOST, STACK_DIR, Topology
from devstack.context import StackContext
from devstack.errors import StackError
from devstack.http import get_json
from devstack.kafka_access import CONNECT, MECHANISM
from outboxkit.ops import CONNECT_GROUP, password_key

REQUIRED_PLUGINS = (
    "io.debezium.connector.mariadb.MariaDbConnector",
    "io.debezium.connector.mysql.MySqlConnector",
)


# How long Connect's readers of its internal topics wait in the broker for a record (the
# connectors' offset readers too: outbox_connector.json); compose.yaml sets the same.
IDLE_FETCH_WAIT_MS = 5000
# See Connect.timer_slack_ns; the compose image's entrypoint sets the same.
CONNECT_TIMER_SLACK_NS = 1_000_000


# How long a group waits for a worker that left before giving its tasks to the others: a
# restarting worker gets its tasks back if it returns in time; one that died loses them then.
SCHEDULED_REBALANCE_MAX_DELAY_MS = 3000


def exactly_once() -> bool:
    value = os.environ.get("CONNECT_EXACTLY_ONCE", "true").strip().lower()
    if value not in ("true", "false"):
        raise StackError(f"CONNECT_EXACTLY_ONCE={value!r} is not true or false")
    return value == "true"


def group_settings(topology: Topology) -> dict[str, str | int]:
    """What every worker of the Connect group is configured with, wherever it runs (the native
    stack's workers, and the Kubernetes manifests' KafkaConnect: devstack/kubernetes)."""
    replicas = topology.replication_factor
    return {
        "group.id": CONNECT_GROUP,
        # Worker defaults only: each connector names its own converters.
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        # Connect creates these compacted on first start, as durable as every other topic.
        "config.storage.topic": "connect-configs",
        "offset.storage.topic": "connect-offsets",
        "status.storage.topic": "connect-status",
        "config.storage.replication.factor": replicas,
        "offset.storage.replication.factor": replicas,
        "status.storage.replication.factor": replicas,
        # A dead worker is noticed after session.timeout.ms, and its tasks move to the other
        # one after scheduled.rebalance.max.delay.ms more (Connect's defaults: 10 s, 5 min).
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1500,
        "scheduled.rebalance.max.delay.ms": SCHEDULED_REBALANCE_MAX_DELAY_MS,
        # A killed worker re-sends everything since its last flush (60 s by default).
        "offset.flush.interval.ms": 1000,
        # KIP-618: a source task's records and its offsets commit in one Kafka transaction,
        # so a killed worker's replacement resumes exactly after what was published (the
        # connectors say exactly.once.support=required). Every worker of a group needs it.
        # CONNECT_EXACTLY_ONCE=false turns it off, to measure what it costs (docs/benchmarks.md).
        "exactly.once.source.support": "enabled" if exactly_once() else "disabled",
        # Lets connectors set producer.override.* (e.g. enable.idempotence=true).
        "connector.client.config.override.policy": "All",
        # The worker's readers of its own topics (configs, offsets, status) wait this long for
        # a record before they ask again (they return as soon as one is written): with
        # nothing happening, one fetch each every 5 s instead of two a second.
        "fetch.max.wait.ms": IDLE_FETCH_WAIT_MS,
        "topic.creation.enable": "true",
        # Connector JSON says ${env:CDC_DB_PASSWORD}: the secret stays out of the config.
        "config.providers": "env,file",
        "config.providers.env.class": ("org.apache.kafka.common.config.provider.EnvVarConfigProvider"),
        "config.providers.file.class": ("org.apache.kafka.common.config.provider.FileConfigProvider"),
    }


class Connect(KafkaJvmComponent):
    # Connect scans every plugin jar at startup: slow on two cores.
    start_timeout = 240.0
    heap = "768m"
    # Debezium's queue waits poll.interval.ms for records, then spins until the millisecond its
    # timer compares with has passed (its deadline is in whole milliseconds and compared
    # strictly): about half a millisecond of busy CPU per poll, 5% of a core per connector at
    # 10 ms, with nothing to publish. A millisecond of timer slack wakes it after that tick
    # instead, and the spin is gone (docs/benchmarks.md: idle).
    timer_slack_ns = CONNECT_TIMER_SLACK_NS
    log_levels = {
        "org.reflections": "ERROR",
        "org.apache.kafka.clients.consumer.ConsumerConfig": "WARN",
        "org.apache.kafka.clients.producer.ProducerConfig": "WARN",
        "org.apache.kafka.clients.admin.AdminClientConfig": "WARN",
        "org.apache.kafka.common.config.AbstractConfig": "WARN",
        # "Committing offsets for N acknowledged messages" every offset flush (1 s).
        "org.apache.kafka.connect.runtime.WorkerSourceTask": "WARN",
    }

    def __init__(self, ctx: StackContext, topology: Topology | None = None, worker: int = 1) -> None:
        self.topology = topology or Topology()
        self.worker = worker
        super().__init__(ctx, self.topology.connect_name(worker))

    @property
    def port(self) -> int:
        return self.topology.connect_port(self.worker)

    @property
    def properties_file(self) -> Path:
        return self.home / "connect-distributed.properties"

    @property
    def metrics_port(self) -> int:
        return self.topology.connect_metrics_port(self.worker)

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.metrics_port)

    @property
    def metrics_url(self) -> str:
        return f"http://{HOST}:{self.metrics_port}/metrics"

    def jvm_options(self) -> list[str]:
        # Connect's and Debezium's MBeans on /metrics, as the rules file names them.
        agent, rules = self.ctx.installed.jmx_agent, STACK_DIR / "connect-metrics.yaml"
        return [f"-javaagent:{agent}={HOST}:{self.metrics_port}:{rules}"]

    def system_properties(self) -> dict[str, str | int]:
        # Debezium sets and restores the logging context (log4j2's thread context map) on every
        # poll, 100 times a second per connector, whether it logs or not; the log lines here do
        # not print it (%X), so the map is off and those calls cost nothing.
        return {"log4j2.disableThreadContextMap": "true"}

    def marker(self) -> str:
        return str(self.properties_file)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def settings(self) -> dict[str, str | int]:
        return {
            "bootstrap.servers": self.topology.bootstrap_servers,
            "listeners": self.url,
            "rest.advertised.host.name": HOST,
            "rest.advertised.port": self.port,
            "plugin.path": str(self.ctx.installed.plugins),
            **group_settings(self.topology),
        }

    def client_security(self) -> dict[str, str]:
        """The worker's clients (its own, its connectors' producers, consumers and admin) log in as
        ``connect``; the password reaches it through the env config provider, not the file."""
        if not self.topology.cluster:
            return {}
        login = f'{SCRAM_LOGIN} required username="{CONNECT}" password="${{env:{password_key(CONNECT)}}}";'
        base = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": MECHANISM, "sasl.jaas.config": login}
        return {
            f"{prefix}{key}": value
            for prefix in ("", "producer.", "consumer.", "admin.")
            for key, value in base.items()
        }

    def prepare(self) -> None:
        super().prepare()
        write_properties(
            self.properties_file, {**self.settings(), **self.client_security()}, "Kafka Connect (distributed)"
        )

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
