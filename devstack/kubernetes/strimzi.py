"""The Strimzi resources (``kafka.strimzi.io/v1``): Kafka itself, its Connect cluster, the outbox
connectors, the topics and the users, each derived from what the native cluster runs.

- the brokers' durability settings are :func:`devstack.components.kafka.durability` of a
  three-node topology, the Connect group's settings :func:`devstack.components.connect.group_settings`;
- each ``KafkaConnector`` is the config ``outboxkit register-connectors`` sends
  (:func:`outboxkit.ops.connector_config` of the roster's connectors), split into the fields Strimzi
  keeps apart (its class and task count);
- the topics are the roster's (every routed aggregate and command topic, each group's retry and
  dead-letter topic), the users and their ACLs :func:`outboxkit.ops.kafka_grants`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from devstack.components.connect import group_settings
from devstack.components.kafka import durability
from devstack.config import STACK_DIR, Topology
from devstack.kubernetes.target import Target, require_name
from devstack.versions import Versions
from outboxkit import Settings
from outboxkit.ops import (
    ADMIN_PRINCIPAL,
    CONNECT_PRINCIPAL,
    DEAD_LETTER_TOPIC_CONFIG,
    OFFSETS_SEGMENT_MS,
    ConnectorDeployment,
    connect_kafka_login,
    connector_config,
    dead_letter_topic_for,
    kafka_grants,
    kafka_principals,
    outbox_connectors,
    password_key,
    retry_topic_for,
    roster_services,
    routed_topics,
    schema_catalog,
)

API = "kafka.strimzi.io/v1"
CLUSTER = Topology(brokers=3)
NODE_POOL = "dual-role"
METRICS_CONFIG_MAP = "outbox-connect-metrics"
METRICS_KEY = "metrics-config.yml"
CONNECT_METRICS_RULES = STACK_DIR / "connect-metrics.yaml"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
# Debezium's connectors as Connect plugins, the archives the native stack unpacks too
# (devstack/downloads.py): io.debezium:<artifact>:<version>:tar.gz:plugin.
DEBEZIUM_PLUGINS = ("debezium-connector-mysql", "debezium-connector-mariadb")
# How Kafka clients log in on the cluster's listener, as every principal here does.
KAFKA_SECURITY = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}

# What Strimzi sets itself and refuses in spec.kafka.config / spec.config (it logs and drops them).
KAFKA_OWNED = (
    "listeners",
    "advertised.",
    "broker.",
    "listener.",
    "host.name",
    "port",
    "inter.broker.listener.name",
    "sasl.",
    "ssl.",
    "security.",
    "password.",
    "log.dir",
    "authorizer.",
    "super.user",
    "node.id",
    "process.roles",
    "controller.",
    "metadata.log.dir",
)
CONNECT_OWNED = (
    "ssl.",
    "sasl.",
    "security.",
    "listeners",
    "plugin.path",
    "rest.",
    "bootstrap.servers",
    "consumer.interceptor.classes",
    "producer.interceptor.classes",
)


def owned_by_strimzi(key: str, owned: Iterable[str]) -> bool:
    return any(key == prefix or (prefix.endswith(".") and key.startswith(prefix)) for prefix in owned)


def resource(kind: str, name: str, target: Target, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": kind,
        "metadata": {"name": require_name(f"{kind} name", name), "namespace": target.namespace, **metadata},
        "spec": spec,
    }


def of_cluster(target: Target, cluster: str | None = None) -> dict[str, dict[str, str]]:
    return {"labels": {"strimzi.io/cluster": cluster or target.kafka_cluster}}


def node_pool(target: Target) -> dict[str, Any]:
    return resource(
        "KafkaNodePool",
        NODE_POOL,
        target,
        {
            "replicas": CLUSTER.brokers,
            # A KRaft quorum of three voters that are the brokers as well, as the native cluster.
            "roles": ["controller", "broker"],
            "storage": {
                "type": "jbod",
                "volumes": [
                    {
                        "id": 0,
                        "type": "persistent-claim",
                        "size": target.kafka_storage,
                        "deleteClaim": False,
                        "kraftMetadata": "shared",
                    }
                ],
            },
        },
        **of_cluster(target),
    )


def kafka(target: Target, versions: Versions) -> dict[str, Any]:
    config = {k: v for k, v in durability(CLUSTER).items() if not owned_by_strimzi(k, KAFKA_OWNED)}
    return resource(
        "Kafka",
        target.kafka_cluster,
        target,
        {
            "kafka": {
                "version": versions.kafka,
                "listeners": [
                    {
                        "name": "scram",
                        "port": 9092,
                        "type": "internal",
                        "tls": False,
                        "authentication": {"type": "scram-sha-512"},
                    }
                ],
                # Whatever no ACL allows is denied; admin (the operator's tools) is the super user.
                "authorization": {"type": "simple", "superUsers": [ADMIN_PRINCIPAL]},
                "config": config,
            },
            # The topic and user operators reconcile the KafkaTopic and KafkaUser resources.
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
        annotations={"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"},
    )


def connect_worker_config() -> dict[str, str | int]:
    """The Connect group's settings less what Strimzi sets from its own fields."""
    settings = group_settings(CLUSTER)
    for moved in ("group.id", "config.storage.topic", "offset.storage.topic", "status.storage.topic"):
        settings.pop(moved)
    return {k: v for k, v in settings.items() if not owned_by_strimzi(k, CONNECT_OWNED)}


def kafka_connect(target: Target, versions: Versions, plugin_checksums: dict[str, str]) -> dict[str, Any]:
    worker = group_settings(CLUSTER)
    return resource(
        "KafkaConnect",
        target.connect_cluster,
        target,
        {
            "version": versions.kafka,
            "replicas": CLUSTER.workers,
            "bootstrapServers": target.kafka_bootstrap,
            "groupId": worker["group.id"],
            "configStorageTopic": worker["config.storage.topic"],
            "offsetStorageTopic": worker["offset.storage.topic"],
            "statusStorageTopic": worker["status.storage.topic"],
            "authentication": {
                "type": "scram-sha-512",
                "username": CONNECT_PRINCIPAL,
                # The Secret the user operator writes for the KafkaUser of that name.
                "passwordSecret": {"secretName": CONNECT_PRINCIPAL, "password": "password"},
            },
            "config": connect_worker_config(),
            "build": {
                "output": {"type": "docker", "image": target.connect_image},
                "plugins": [
                    {
                        "name": plugin,
                        "artifacts": [
                            {
                                "type": "tgz",
                                "url": plugin_url(plugin, versions.debezium),
                                "sha512sum": plugin_checksums[plugin],
                            }
                        ],
                    }
                    for plugin in DEBEZIUM_PLUGINS
                ],
            },
            "metricsConfig": {
                "type": "jmxPrometheusExporter",
                "valueFrom": {"configMapKeyRef": {"name": METRICS_CONFIG_MAP, "key": METRICS_KEY}},
            },
            "template": {
                "connectContainer": {
                    # For the env config provider: ${env:CDC_DB_PASSWORD} in the connectors, and
                    # the connect principal's password for Debezium's own schema-history clients.
                    "env": [
                        secret_env("CDC_DB_PASSWORD", target.cdc_secret, "password"),
                        secret_env(password_key(CONNECT_PRINCIPAL), CONNECT_PRINCIPAL, "password"),
                    ]
                },
                "pod": {"metadata": {"annotations": prometheus_annotations(9404)}},
            },
        },
        annotations={"strimzi.io/use-connector-resources": "true"},
    )


def connect_metrics_config_map(target: Target) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": METRICS_CONFIG_MAP, "namespace": target.namespace},
        "data": {METRICS_KEY: CONNECT_METRICS_RULES.read_text()},
    }


def plugin_url(plugin: str, version: str) -> str:
    return f"{MAVEN_CENTRAL}/io/debezium/{plugin}/{version}/{plugin}-{version}-plugin.tar.gz"


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def prometheus_annotations(port: int, path: str = "/metrics") -> dict[str, str]:
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": path}


def connector_deployment(target: Target) -> ConnectorDeployment:
    """How the Connect pods reach the team's MySQL and the brokers (as register-connectors'
    ``--connect-db-host``, ``--connect-db-port`` and ``--connect-kafka-bootstrap`` say)."""
    return ConnectorDeployment(
        db_host=target.db_host,
        db_port=target.db_port,
        kafka_bootstrap_servers=target.kafka_bootstrap,
        # The login names the password by reference (${env:...}): this process's own is not read.
        kafka_login=connect_kafka_login(
            Settings({**KAFKA_SECURITY, "KAFKA_USERNAME": CONNECT_PRINCIPAL, "KAFKA_PASSWORD": "-"})
        ),
    )


def layout_settings(target: Target) -> Settings:
    return Settings({"CDC_CONNECTORS": target.connector_layout} if target.connector_layout else {})


def kafka_connectors(target: Target) -> list[dict[str, Any]]:
    connectors = []
    for definition in outbox_connectors(layout_settings(target)):
        config: dict[str, Any] = connector_config(definition, connector_deployment(target), target.is_mariadb)
        spec = {
            "class": config.pop("connector.class"),
            "tasksMax": int(config.pop("tasks.max")),
            "config": config,
        }
        connectors.append(
            resource(
                "KafkaConnector", definition.name, target, spec, **of_cluster(target, target.connect_cluster)
            )
        )
    return connectors


def topic_partitions(target: Target) -> int:
    return max(d.topic_partitions for d in outbox_connectors(layout_settings(target)))


def kafka_topics(target: Target) -> list[dict[str, Any]]:
    """Every aggregate and command topic the connectors route to, each group's retry and
    dead-letter topic, and Connect's offsets topic with the hourly segments that keep it compact."""
    partitions = topic_partitions(target)
    durable = {"min.insync.replicas": CLUSTER.min_insync_replicas}
    topics: list[tuple[str, dict[str, Any]]] = [(t, durable) for t in routed_topics(schema_catalog())]
    for service in roster_services():
        topics.append((retry_topic_for(service.group_id), durable))
        topics.append((dead_letter_topic_for(service.group_id), {**durable, **DEAD_LETTER_TOPIC_CONFIG}))
    resources = [
        resource(
            "KafkaTopic",
            name,
            target,
            {
                "topicName": name,
                "partitions": partitions,
                "replicas": CLUSTER.replication_factor,
                "config": config,
            },
            **of_cluster(target),
        )
        for name, config in topics
    ]
    offsets = group_settings(CLUSTER)["offset.storage.topic"]
    resources.append(
        resource(
            "KafkaTopic",
            str(offsets),
            target,
            {
                "topicName": offsets,
                # Connect's own default for its offsets topic, which it creates unless this exists.
                "partitions": 25,
                "replicas": CLUSTER.replication_factor,
                "config": {"cleanup.policy": "compact", "segment.ms": OFFSETS_SEGMENT_MS, **durable},
            },
            **of_cluster(target),
        )
    )
    return resources


RESOURCE_TYPES = {
    "TOPIC": "topic",
    "GROUP": "group",
    "BROKER": "cluster",
    "TRANSACTIONAL_ID": "transactionalId",
}
PATTERNS = {"LITERAL": "literal", "PREFIXED": "prefix"}


def operation_name(operation: Any) -> str:
    """confluent-kafka's ``DESCRIBE_CONFIGS`` as Strimzi spells it: ``DescribeConfigs``."""
    return "".join(part.title() for part in str(operation.name).split("_"))


def kafka_users(target: Target) -> list[dict[str, Any]]:
    """One user per principal the roster needs, with exactly the ACLs the native cluster grants it
    (admin: none, it is the super user); Strimzi writes each one's password to a Secret of its name."""
    by_principal: dict[str, list[dict[str, Any]]] = {p: [] for p in kafka_principals()}
    for grant in kafka_grants():
        rule: dict[str, Any] = {"type": RESOURCE_TYPES[grant.resource.name]}
        if rule["type"] != "cluster":
            rule.update({"name": grant.name, "patternType": PATTERNS[grant.pattern.name]})
        by_principal[grant.principal].append(
            {
                "type": "allow",
                "resource": rule,
                "operations": [operation_name(o) for o in grant.operations],
                "host": "*",
            }
        )
    users = []
    for principal, acls in by_principal.items():
        spec: dict[str, Any] = {"authentication": {"type": "scram-sha-512"}}
        if acls:
            spec["authorization"] = {"type": "simple", "acls": acls}
        users.append(resource("KafkaUser", principal, target, spec, **of_cluster(target)))
    return users
