"""Is a Kafka cluster fit to carry the outbox's events: what ``register_connectors.py`` checks
before it registers anything (``--check-kafka`` prints it alone).

Each check names what is missing: the broker settings that keep an acknowledged write
(three replicas, two in sync, no unclean leader), the topics (they exist, replicated as much),
Kafka Connect's own topics, and, when the cluster authorizes, every ACL the pipeline needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported without __all__
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
)

from outboxkit.kafka.clients import admin_client

CONNECT_TOPICS = ("connect-configs", "connect-offsets", "connect-status")


@dataclass(frozen=True)
class KafkaCheck:
    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else 'FAILED'}] {self.name}: {self.detail}"


def _at_least(name: str, value: str | None, minimum: int, why: str) -> KafkaCheck:
    number = int(value) if value and value.lstrip("-").isdigit() else None
    ok = number is not None and number >= minimum
    detail = f"{value}" if ok else f"{value or 'unset'}; it must be at least {minimum}: {why}"
    return KafkaCheck(name, ok, detail)


def check_cluster(
    bootstrap_servers: str, topics: Iterable[str], partitions: int, grants: Iterable[AclBinding] = ()
) -> list[KafkaCheck]:
    admin = admin_client(bootstrap_servers)
    metadata = admin.list_topics(timeout=15)
    brokers = len(metadata.brokers)
    checks = [
        KafkaCheck(
            "brokers",
            brokers >= 3,
            f"{brokers}"
            if brokers >= 3
            else f"{brokers}; run at least 3: a leader alone in its ISR can lose acknowledged writes",
        )
    ]
    broker = ConfigResource(ConfigResource.Type.BROKER, str(next(iter(metadata.brokers))))
    described = admin.describe_configs([broker])[broker].result(timeout=15)
    config = {name: entry.value for name, entry in described.items()}
    checks += [
        _at_least(
            "min.insync.replicas", config.get("min.insync.replicas"), 2, "acks=all must mean two copies"
        ),
        _at_least(
            "default.replication.factor",
            config.get("default.replication.factor"),
            3,
            "topics Connect creates (heartbeats, schema history) get it",
        ),
        _at_least(
            "offsets.topic.replication.factor",
            config.get("offsets.topic.replication.factor"),
            3,
            "consumer groups' offsets are data too",
        ),
        _at_least(
            "transaction.state.log.replication.factor",
            config.get("transaction.state.log.replication.factor"),
            3,
            "exactly-once source's transactions",
        ),
        _at_least(
            "transaction.state.log.min.isr",
            config.get("transaction.state.log.min.isr"),
            2,
            "exactly-once source's transactions",
        ),
        KafkaCheck(
            "unclean.leader.election.enable",
            config.get("unclean.leader.election.enable") == "false",
            str(config.get("unclean.leader.election.enable"))
            + (
                ""
                if config.get("unclean.leader.election.enable") == "false"
                else "; it must be false: an out-of-sync replica as leader loses what it missed"
            ),
        ),
    ]
    wanted = list(topics)
    for topic in [*wanted, *CONNECT_TOPICS]:
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            how = (
                f"create it with {partitions} partitions and 3 replicas (register_connectors.py does, "
                "when it may)"
                if topic in wanted
                else "Kafka Connect creates it when it starts"
            )
            checks.append(KafkaCheck(f"topic {topic}", False, f"does not exist: {how}"))
            continue
        replicas = min(len(p.replicas) for p in found.partitions.values())
        ok = replicas >= 3 and (topic not in wanted or len(found.partitions) >= partitions)
        shape = f"{len(found.partitions)} partitions, {replicas} replicas"
        if not ok:
            shape += "; wanted: at least 3 replicas"
            shape += f" and {partitions} partitions" if topic in wanted else ""
        checks.append(KafkaCheck(f"topic {topic}", ok, shape))
    expected = list(grants)
    if expected:
        checks.append(_check_acls(admin, expected))
    return checks


def _name(value: object) -> str:
    """An ACL enum's name (the client types these fields as enum, str or int)."""
    return str(getattr(value, "name", value))


def _check_acls(admin: object, expected: list[AclBinding]) -> KafkaCheck:
    # None: any name, principal or host (the client's own hints say str only).
    anything: Any = None
    any_acl = AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    try:
        present = admin.describe_acls(any_acl, request_timeout=15).result(  # type: ignore[attr-defined]
            timeout=30
        )
    except KafkaException as exc:
        return KafkaCheck(
            "ACLs",
            False,
            f"cannot be read ({exc.args[0].str()}): is an authorizer "
            "configured (authorizer.class.name) and may this principal describe ACLs?",
        )
    have = {
        (b.restype, b.name, b.resource_pattern_type, b.principal, b.operation)
        for b in present
        if b.permission_type == AclPermissionType.ALLOW
    }
    missing = [
        b
        for b in expected
        if (b.restype, b.name, b.resource_pattern_type, b.principal, b.operation) not in have
        and (b.restype, b.name, b.resource_pattern_type, b.principal, AclOperation.ALL) not in have
    ]
    if not missing:
        return KafkaCheck("ACLs", True, f"all {len(expected)} the pipeline needs")
    shown = "; ".join(
        f"{b.principal} {_name(b.operation)} on {_name(b.restype).lower()} {b.name}"
        f"{'*' if b.resource_pattern_type == ResourcePatternType.PREFIXED else ''}"
        for b in missing[:8]
    )
    more = "; ..." if len(missing) > 8 else ""
    return KafkaCheck("ACLs", False, f"{len(missing)} missing: {shown}{more}")
