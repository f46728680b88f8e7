"""Key design: one aggregate key for the whole business flow.

Every event of a flow, whichever service emits it, is keyed by the id of the aggregate the flow
is about (the order, in this project's services), so all events about one aggregate stay on one
partition of each topic and arrive in order. Topics
are per aggregate type; the connector's Outbox Event Router derives the same names from the
outbox's ``aggregatetype`` column (``route.topic.replacement`` in outboxkit/cdc/outbox_connector.json).
"""

from __future__ import annotations

TOPIC_SUFFIX = ".events"
COMMANDS_SUFFIX = ".commands"
DEAD_LETTER_SUFFIX = ".dlq"
RETRY_SUFFIX = ".retry"
DEFAULT_PARTITIONS = 6


def topic_for(aggregate_type: str) -> str:
    """The topic the Outbox Event Router sends an aggregate type's events to.

    A command's "aggregate type" is its destination, ``<participant>.commands``, and is its own
    topic: the router's ``route.topic.regex`` only matches names without a dot (an aggregate
    type) and leaves the others as they are.
    """
    if aggregate_type.endswith(COMMANDS_SUFFIX):
        return aggregate_type
    return f"{aggregate_type}{TOPIC_SUFFIX}"


def aggregate_type_of(topic: str) -> str:
    """The aggregate type whose events (or a participant's commands) a topic holds."""
    return topic.removesuffix(TOPIC_SUFFIX)


def commands_for(participant: str) -> str:
    """Where an orchestrator sends a participant its commands (an outbox aggregate type)."""
    return f"{participant}{COMMANDS_SUFFIX}"


def dead_letter_topic_for(consumer_group: str) -> str:
    """Where a group's records that cannot be applied are kept (only that group's)."""
    return f"{consumer_group}{DEAD_LETTER_SUFFIX}"


def retry_topic_for(consumer_group: str) -> str:
    """Where re-injected dead letters go: read by that group alone, never by a bystander."""
    return f"{consumer_group}{RETRY_SUFFIX}"


# Names of the Kafka record headers the Outbox Event Router adds.
HEADER_EVENT_ID = "id"
HEADER_EVENT_TYPE = "eventType"
HEADER_AGGREGATE_VERSION = "aggregateVersion"
HEADER_CORRELATION_ID = "correlationId"
HEADER_CAUSATION_ID = "causationId"
HEADER_TRACEPARENT = "traceparent"
