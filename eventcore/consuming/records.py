"""A consumed Kafka record, decoded: the envelope from the headers and the Avro body."""

from __future__ import annotations

import time

from confluent_kafka import Message

from eventcore.base.messages import ConsumedEvent
from eventcore.base.topics import HEADER_AGGREGATE_VERSION, HEADER_EVENT_ID, HEADER_EVENT_TYPE
from eventcore.kafka.clients import header_items, position
from eventcore.serialization.avro import AvroEventDeserializer, UndecodableRecordError


def header_map(message: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in header_items(message):
        if value is not None:  # a null column placed in a header
            headers[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return headers


def decode(
    message: Message, deserializer: AvroEventDeserializer, origin: tuple[str, int, int] | None = None
) -> ConsumedEvent:
    """Decode a record; raises UndecodableRecordError or a registry error when it cannot.

    ``origin`` (topic, partition, offset) is where the record was first consumed, for a copy
    re-injected through a retry topic: the event is about its original topic's aggregate.
    """
    received_at = time.time()
    headers = header_map(message)
    decoded = deserializer.deserialize(message.value())
    value = decoded.value
    event_id = headers.get(HEADER_EVENT_ID) or str(value.get("eventId") or "")
    if not event_id:
        raise UndecodableRecordError("record has no event id (neither an 'id' header nor eventId)")
    version_text = headers.get(HEADER_AGGREGATE_VERSION) or str(value.get("aggregateVersion", ""))
    try:
        version = int(version_text)
    except ValueError:
        raise UndecodableRecordError(f"aggregate version {version_text!r} is not an integer") from None
    key = message.key()
    topic, partition, offset = origin or position(message)
    return ConsumedEvent(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
        headers=headers,
        event_id=event_id,
        event_type=headers.get(HEADER_EVENT_TYPE) or decoded.event_type,
        aggregate_version=version,
        value=value,
        schema_id=decoded.schema_id,
        received_at=received_at,
    )
