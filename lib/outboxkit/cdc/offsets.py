"""A connector's committed source offset: from Kafka Connect, or straight from its offsets topic.

Connect's REST API (``GET /connectors/<name>/offsets``) is the authority, but the moment an
operator most needs the offset is when Connect is down. Connect keeps every offset in a
compacted topic (``offset.storage.topic``, ``connect-offsets`` here and in compose) keyed by
``["<connector>", {<source partition>}]``; the last record of a key is its offset, a null value
means it was reset.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
)

from outboxkit.cdc.connect_client import ConnectClient, ConnectUnavailableError
from outboxkit.kafka.clients import TopicReadError, admin_client, consumer_config, read_to_current_end

DEFAULT_OFFSETS_TOPIC = "connect-offsets"
# Compaction never touches a topic's active segment, which rolls at 1 GiB or 7 days by default.
# With an offset flush a second and a heartbeat a second per connector, connect-offsets grew to
# 1.8 million records in five days here, and a connector's start (its offset store) and every
# status read while Connect is down read all of them.
OFFSETS_SEGMENT_MS = 3_600_000


def keep_offsets_topic_compact(bootstrap_servers: str, topic: str = DEFAULT_OFFSETS_TOPIC) -> str:
    """Make the offsets topic roll a segment at least hourly, so the log cleaner can compact it
    to about one record per connector; returns what it did, for the log. Nothing to do when the
    topic does not exist yet (Connect creates it on its first start)."""
    admin = admin_client(bootstrap_servers)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    try:
        current = admin.describe_configs([resource])[resource].result(timeout=15)
        segment_ms = int(current["segment.ms"].value)
        if segment_ms <= OFFSETS_SEGMENT_MS:
            return f"{topic}: segments roll every {segment_ms / 3_600_000:g} h; compaction keeps it small"
        set_op = AlterConfigOpType.SET
        hourly = ConfigEntry("segment.ms", str(OFFSETS_SEGMENT_MS), incremental_operation=set_op)
        change = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[hourly])
        admin.incremental_alter_configs([change])[change].result(timeout=15)
    except KafkaException as exc:
        return f"{topic}: left as it is ({exc.args[0]}); set segment.ms={OFFSETS_SEGMENT_MS} on it by hand"
    return (
        f"{topic}: segments now roll every hour (were {segment_ms / 86_400_000:g} d), so compaction keeps "
        "it to about one record per connector"
    )


@dataclass(frozen=True)
class CommittedOffset:
    connector: str
    offset: dict[str, Any] | None  # None: nothing committed (new, or reset)
    source: str  # "connect" or the offsets topic's name
    committed_at: datetime | None = None  # known when read from the topic (its record's time)


def offsets_from_topic(
    bootstrap_servers: str, topic: str = DEFAULT_OFFSETS_TOPIC
) -> dict[str, CommittedOffset]:
    """Every connector's latest committed offset, as the offsets topic holds it now."""
    reader = Consumer(consumer_config(bootstrap_servers, f"cdc-offsets-{uuid.uuid4()}"))
    latest: dict[str, CommittedOffset] = {}
    try:
        for record in read_to_current_end(reader, topic):
            try:
                connector = str(json.loads(record.raw_key or b"null")[0])
            except (ValueError, TypeError, IndexError, KeyError):
                continue  # not a source offset record
            latest[connector] = CommittedOffset(
                connector,
                json.loads(record.value) if record.value else None,
                topic,
                datetime.fromtimestamp(record.timestamp_ms / 1000, UTC),
            )
    except TopicReadError:
        return {}
    finally:
        reader.close()
    return latest


def committed_offset(
    client: ConnectClient, connector: str, bootstrap_servers: str, topic: str = DEFAULT_OFFSETS_TOPIC
) -> CommittedOffset:
    """The connector's committed offset; from the offsets topic when Connect does not answer."""
    try:
        offsets = client.offsets(connector)
        return CommittedOffset(connector, offsets[0] if offsets and offsets[0] else None, "connect")
    except ConnectUnavailableError:
        found = offsets_from_topic(bootstrap_servers, topic).get(connector)
        return found or CommittedOffset(connector, None, topic)
