"""Who needs which ACLs on a locked-down Kafka cluster, for a roster.

Only the connector writes the aggregate and command topics, so:

- ``connect`` (the Connect workers, and Debezium's own clients) writes the routed topics, its
  heartbeat and schema-history topics and its own internal topics, in its own group, with its
  own transactional ids (exactly-once source);
- each service's principal (its consumer group's name) reads its inputs, uses its own group,
  and writes only its own dead-letter and retry topics; a service that watches other groups'
  lag (its definition's ``watches``) also reads those topics and groups;
- ``admin`` is a super user: the operator's tools, the operations page, the tests.

``outboxkit register-connectors --check-kafka`` checks a cluster has these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported without __all__
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from outboxkit.cdc.connectors import routed_topics
from outboxkit.service.roster import outbox_connectors, schema_catalog, service_definitions

ADMIN = "admin"
CONNECT = "connect"
CONNECT_GROUP = "outbox-connect"

LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
TOPIC, GROUP, CLUSTER = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.BROKER
TRANSACTIONAL_ID = ResourceType.TRANSACTIONAL_ID
READ, WRITE, CREATE, DESCRIBE, ALL = (
    AclOperation.READ,
    AclOperation.WRITE,
    AclOperation.CREATE,
    AclOperation.DESCRIBE,
    AclOperation.ALL,
)


@dataclass(frozen=True)
class Grant:
    """Operations a principal may do on a resource (a name, or every name with a prefix)."""

    principal: str
    resource: ResourceType
    name: str
    pattern: ResourcePatternType
    operations: tuple[AclOperation, ...]

    def bindings(self) -> list[AclBinding]:
        return [
            AclBinding(
                self.resource,
                self.name,
                self.pattern,
                f"User:{self.principal}",
                "*",
                operation,
                AclPermissionType.ALLOW,
            )
            for operation in self.operations
        ]

    def describe(self) -> str:
        kinds = {TOPIC: "topic", GROUP: "group", TRANSACTIONAL_ID: "transactional id"}
        kind = kinds.get(self.resource, "cluster")
        which = f"{self.name}*" if self.pattern == PREFIXED else self.name
        return f"{self.principal}: {'/'.join(o.name for o in self.operations)} on {kind} {which}"


@dataclass(frozen=True)
class ServiceAccess:
    """What one service's principal needs: read its inputs, own its group, dead letters and retries."""

    group: str
    inputs: tuple[str, ...]
    measures_topics: tuple[str, ...] = ()  # read to measure the pipeline's lag (not consumed)
    measures_groups: tuple[str, ...] = ()

    def grants(self) -> list[Grant]:
        own = (f"{self.group}.dlq", f"{self.group}.retry")
        grants = [
            Grant(self.group, TOPIC, topic, LITERAL, (READ, DESCRIBE))
            for topic in dict.fromkeys((*self.inputs, *self.measures_topics))
        ]
        grants += [Grant(self.group, TOPIC, topic, LITERAL, (READ, WRITE, CREATE, DESCRIBE)) for topic in own]
        # Its group, and the throwaway groups of its own tools (`dlq` readers) named after it.
        grants.append(Grant(self.group, GROUP, self.group, PREFIXED, (READ, DESCRIBE)))
        grants += [Grant(self.group, GROUP, group, LITERAL, (DESCRIBE,)) for group in self.measures_groups]
        if self.measures_topics:
            grants.append(Grant(self.group, TOPIC, "__debezium-heartbeat.", PREFIXED, (READ, DESCRIBE)))
        return grants


def connect_grants(routed_topics: Iterable[str], topic_prefixes: Iterable[str]) -> list[Grant]:
    grants = [
        Grant(CONNECT, TOPIC, "connect-", PREFIXED, (ALL,)),  # its configs, offsets and status
        Grant(CONNECT, TOPIC, "_schema-history.", PREFIXED, (ALL,)),
        Grant(CONNECT, TOPIC, "__debezium-heartbeat.", PREFIXED, (ALL,)),
        Grant(CONNECT, GROUP, CONNECT_GROUP, LITERAL, (READ, DESCRIBE)),
        # Exactly-once: each task's transactional producer (<group>-<connector>-<task>), and the
        # leader's fencing producer of the config topic (connect-cluster-<group>).
        Grant(CONNECT, TRANSACTIONAL_ID, CONNECT_GROUP, PREFIXED, (WRITE, DESCRIBE)),
        Grant(CONNECT, TRANSACTIONAL_ID, f"connect-cluster-{CONNECT_GROUP}", LITERAL, (WRITE, DESCRIBE)),
        Grant(CONNECT, CLUSTER, "kafka-cluster", LITERAL, (DESCRIBE, AclOperation.DESCRIBE_CONFIGS)),
    ]
    grants += [Grant(CONNECT, TOPIC, topic, LITERAL, (WRITE, DESCRIBE, CREATE)) for topic in routed_topics]
    # Debezium's schema-history consumer names its group after the connector's topic prefix.
    grants += [Grant(CONNECT, GROUP, prefix, PREFIXED, (READ, DESCRIBE)) for prefix in topic_prefixes]
    return grants


def roster() -> tuple[list[ServiceAccess], list[str], list[str]]:
    """The services' access, the topics the connectors write, and the connectors' topic prefixes."""
    services = []
    for definition in service_definitions():
        measured = definition.watches
        services.append(
            ServiceAccess(
                definition.group_id,
                tuple(definition.topics),
                tuple(dict.fromkeys(hop.topic for hop in measured)),
                tuple(dict.fromkeys(hop.group for hop in measured if hop.group != definition.group_id)),
            )
        )
    routed = routed_topics(schema_catalog())
    prefixes = [d.config["topic.prefix"] for d in outbox_connectors()]
    return services, routed, prefixes


def principals() -> list[str]:
    """Every Kafka principal the roster needs: the admin, Kafka Connect and one per group."""
    services, _routed, _prefixes = roster()
    return [ADMIN, CONNECT, *(s.group for s in services)]


def all_grants() -> list[Grant]:
    """Every ACL the roster needs: the connectors' and each service's."""
    services, routed, prefixes = roster()
    return [*connect_grants(routed, prefixes), *(g for s in services for g in s.grants())]
