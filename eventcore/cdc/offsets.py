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

from confluent_kafka import Consumer

from eventcore.cdc.connect_client import ConnectClient, ConnectUnavailableError
from eventcore.kafka.clients import TopicReadError, consumer_config, read_to_current_end

DEFAULT_OFFSETS_TOPIC = "connect-offsets"


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
        for message in read_to_current_end(reader, topic):
            try:
                connector = str(json.loads(message.key() or b"null")[0])
            except (ValueError, TypeError, IndexError, KeyError):
                continue  # not a source offset record
            value = message.value()
            latest[connector] = CommittedOffset(
                connector,
                json.loads(value) if value else None,
                topic,
                datetime.fromtimestamp(message.timestamp()[1] / 1000, UTC),
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
