"""A fetched Kafka record, read from the client's ``Message`` once, in one place.

Everything after the fetch (the record pipeline, the dead-letter queue, the tools that read
topics) works on a :class:`Record`: where it is, its key, its value and its headers, already
typed. :func:`decode` turns one into a :class:`~outboxkit.base.messages.ConsumedEvent`: the
envelope from the headers and the Avro body through the registry.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from confluent_kafka import Message, TopicPartition

from outboxkit.base.messages import ConsumedEvent
from outboxkit.base.topics import HEADER_AGGREGATE_VERSION, HEADER_EVENT_ID, HEADER_EVENT_TYPE
from outboxkit.serialization.avro import AvroEventDeserializer, UndecodableRecordError

Header = tuple[str, str | bytes | None]


@dataclass(frozen=True)
class Record:
    """One record of a topic, as fetched."""

    topic: str
    partition: int
    offset: int
    raw_key: bytes | None
    value: bytes | None
    header_items: tuple[Header, ...] = ()  # in the order they were sent
    timestamp_ms: int = -1

    @classmethod
    def of(cls, message: Message) -> Record:
        """The record a fetched message holds (an error event is not a record: ValueError)."""
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            raise ValueError(f"not a record: {message.error()}")
        headers = message.headers()
        items: tuple[Header, ...] = ()
        if headers is not None:
            items = tuple(headers.items()) if isinstance(headers, dict) else tuple(headers)
        key = message.key()
        return cls(
            topic,
            partition,
            offset,
            key.encode() if isinstance(key, str) else key,
            message.value(),
            items,
            message.timestamp()[1],
        )

    @property
    def key(self) -> str | None:
        return None if self.raw_key is None else self.raw_key.decode("utf-8", "replace")

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        """The headers as text by name (a null header, a null column placed in one, is left out)."""
        found: dict[str, str] = {}
        for name, value in self.header_items:
            if value is not None:
                found[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        return found

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    @property
    def position(self) -> TopicPartition:
        """Where this record is (to seek back to it)."""
        return TopicPartition(self.topic, self.partition, self.offset)

    @property
    def next_position(self) -> TopicPartition:
        """Where a consumer goes on after this record (the offset to commit once it is handled)."""
        return TopicPartition(self.topic, self.partition, self.offset + 1)


def decode(
    record: Record, deserializer: AvroEventDeserializer, origin: tuple[str, int, int] | None = None
) -> ConsumedEvent:
    """Decode a record; raises UndecodableRecordError or a registry error when it cannot.

    ``origin`` (topic, partition, offset) is where the record was first consumed, for a copy
    re-injected through a retry topic: the event is about its original topic's aggregate.
    """
    received_at = time.time()
    headers = record.headers
    decoded = deserializer.deserialize(record.value)
    value = decoded.value
    event_id = headers.get(HEADER_EVENT_ID) or str(value.get("eventId") or "")
    if not event_id:
        raise UndecodableRecordError("record has no event id (neither an 'id' header nor eventId)")
    version_text = headers.get(HEADER_AGGREGATE_VERSION) or str(value.get("aggregateVersion", ""))
    try:
        version = int(version_text)
    except ValueError:
        raise UndecodableRecordError(f"aggregate version {version_text!r} is not an integer") from None
    topic, partition, offset = origin or (record.topic, record.partition, record.offset)
    return ConsumedEvent(
        topic=topic,
        partition=partition,
        offset=offset,
        key=record.key,
        headers=headers,
        event_id=event_id,
        event_type=headers.get(HEADER_EVENT_TYPE) or decoded.event_type,
        aggregate_version=version,
        value=value,
        schema_id=decoded.schema_id,
        received_at=received_at,
    )
