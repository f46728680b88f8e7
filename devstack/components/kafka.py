"""Apache Kafka in KRaft combined mode: each process is both broker and controller.

One node (the default), or three that form a three-voter quorum (``stack up --brokers 3``):
then every topic, the internal ones included, has three replicas of which two must be in sync
(``acks=all`` survives one broker's death), and a replica that fell out of sync never becomes
leader (unclean leader election off).
"""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from pathlib import Path
from typing import Any

from devstack.components.jvm import KafkaJvmComponent, write_properties
from devstack.config import HOST, Topology
from devstack.console import say
from devstack.context import StackContext
from devstack.errors import StackError
from devstack.kafka_access import ADMIN, MECHANISM
from devstack.ports import port_accepts
from outboxkit.ops import DEFAULT_PARTITIONS, password_key

_quiet = logging.getLogger("devstack.kafka-probe")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


def new_cluster_id() -> str:
    # Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def kafka_metadata_ok(bootstrap: str, security: dict[str, str] | None = None, timeout: float = 3.0) -> bool:
    """True if a real metadata request to ``bootstrap`` returns at least one broker."""
    from confluent_kafka.admin import AdminClient  # heavy import, only when probing

    # librdkafka prints connection errors to stderr by default: route them to a silent logger.
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _quiet, **(security or {})}
    admin = AdminClient(config)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception:
        return False
    return bool(metadata.brokers)


def durability(topology: Topology) -> dict[str, str | int]:
    """What keeps the topics' records: every internal topic as durable as the data topics (one
    replica on a single node; on a cluster three, two of them in sync, and no out-of-sync replica
    ever elected), topics created on purpose only. The Kubernetes manifests' Kafka says the same
    (devstack/kubernetes)."""
    replicas, in_sync = topology.replication_factor, topology.min_insync_replicas
    return {
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": in_sync,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": in_sync,
        "min.insync.replicas": in_sync,
        "default.replication.factor": replicas,
        **({"unclean.leader.election.enable": "false"} if topology.cluster else {}),
        "num.partitions": DEFAULT_PARTITIONS,
        # Topics are created on purpose (Connect, scripts): a typo must not create one.
        "auto.create.topics.enable": "false",
    }


class Kafka(KafkaJvmComponent):
    start_timeout = 120.0
    heap = "768m"
    log_levels = {
        "kafka.request.logger": "WARN",
        "kafka.log.LogCleaner": "WARN",
        "org.apache.kafka.storage.internals.log": "WARN",
        "state.change.logger": "WARN",
    }

    def __init__(self, ctx: StackContext, topology: Topology | None = None, node: int = 1) -> None:
        self.topology = topology or Topology()
        self.node = node
        super().__init__(ctx, self.topology.kafka_name(node))

    @property
    def port(self) -> int:
        return self.topology.kafka_port(self.node)

    @property
    def properties_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.topology.controller_port(self.node))

    def marker(self) -> str:
        return str(self.properties_file)

    def settings(self) -> dict[str, str | int]:
        t = self.topology
        voters = ",".join(f"{n}@{HOST}:{t.controller_port(n)}" for n in range(1, t.brokers + 1))
        return {
            "process.roles": "broker,controller",
            "node.id": self.node,
            # A static quorum: every node knows every voter, nothing to bootstrap.
            "controller.quorum.voters": voters,
            **(self._secure_listeners() if t.cluster else self._plain_listeners()),
            "log.dirs": str(self.data_dir),
            **durability(t),
            **(
                {
                    # A dead broker is fenced (and its partitions get new leaders) after this much
                    # silence; Kafka's default is 9 s, most of a leader failover's stall.
                    "broker.session.timeout.ms": 5000,
                    "broker.heartbeat.interval.ms": 1000,
                }
                if t.cluster
                else {}
            ),
            # Tests start consumer groups often; do not wait 3 s for more members each time.
            "group.initial.rebalance.delay.ms": 0,
        }

    def _plain_listeners(self) -> dict[str, str | int]:
        controller = self.topology.controller_port(self.node)
        return {
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
        }

    def _secure_listeners(self) -> dict[str, str | int]:
        """Clients and the brokers among themselves: SASL/SCRAM; the quorum: SASL/PLAIN (SCRAM's
        credentials live in the metadata the quorum itself serves). Whatever no ACL allows is denied;
        ``admin`` (the brokers, and the operator's tools) is the one super user."""
        controller = self.topology.controller_port(self.node)
        password = self.ctx.stack_env[password_key(ADMIN)]
        scram_login = f'{SCRAM_LOGIN} required username="{ADMIN}" password="{password}";'
        plain_login = (
            f'{PLAIN_LOGIN} required username="{ADMIN}" password="{password}" user_{ADMIN}="{password}";'
        )
        return {
            "listeners": f"CLIENT://{HOST}:{self.port},CONTROLLER://{HOST}:{controller}",
            "advertised.listeners": f"CLIENT://{HOST}:{self.port}",
            "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "CLIENT",
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.client.sasl.enabled.mechanisms": MECHANISM,
            f"listener.name.client.{MECHANISM.lower()}.sasl.jaas.config": scram_login,
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": plain_login,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def client_security(self) -> dict[str, str]:
        """How the stack's own probes log in: as admin on a cluster."""
        if not self.topology.cluster:
            return {}
        return {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": MECHANISM,
            "sasl.username": ADMIN,
            "sasl.password": self.ctx.stack_env[password_key(ADMIN)],
        }

    def prepare(self) -> None:
        super().prepare()
        write_properties(self.properties_file, self.settings(), "Kafka broker+controller (KRaft)")
        self.properties_file.chmod(0o600)  # it holds the admin's password on a cluster
        scram_marker = self.data_dir / ".admin-scram"
        if (self.data_dir / "meta.properties").is_file():
            if self.topology.cluster and not scram_marker.is_file():
                raise StackError(
                    f"{self.name}: the data in {self.data_dir} was formatted before the "
                    "cluster's listeners were locked down (no admin credential in it): remove "
                    f"{self.paths.root}/kafka-* and `stack up --brokers 3` again (its topics "
                    "start empty)"
                )
            return
        cluster_id = self._cluster_id()
        say(f"{self.name}: formatting storage in {self.data_dir} (cluster id {cluster_id})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = self.kafka_java(
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(self.properties_file),
        )
        if self.topology.cluster:
            # The brokers authenticate to each other with SCRAM: the first credential is written
            # with the metadata, the others are added once the cluster runs (kafka_access.py).
            password = self.ctx.stack_env[password_key(ADMIN)]
            argv += ["--add-scram", f"{MECHANISM}=[name={ADMIN},password={password}]"]
        with self.log_file.open("ab") as log:
            result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            raise self._failure(f"storage format failed (exit {result.returncode})")
        if self.topology.cluster:
            scram_marker.write_text("formatted with the admin's SCRAM credential\n")

    def _cluster_id(self) -> str:
        """One id for every node of the cluster, chosen by the first one formatted."""
        if not self.topology.cluster:
            return new_cluster_id()
        shared = self.paths.root / "kafka-cluster-id"
        if not shared.is_file():
            shared.write_text(new_cluster_id() + "\n")
        return shared.read_text().strip()

    def command(self) -> list[str]:
        return self.kafka_java("kafka.Kafka", str(self.properties_file))

    def is_healthy(self) -> bool:
        if not port_accepts(self.port):
            return False
        try:
            return kafka_metadata_ok(f"{HOST}:{self.port}", self.client_security())
        except ImportError as exc:  # pragma: no cover - the venv always has confluent-kafka
            raise StackError("confluent-kafka is not installed in this Python") from exc
