"""The bytes are the Confluent wire format, both ways, on the real registry: a record this project
wrote (an order's event, published by Debezium) is read by confluent-kafka's own
AvroDeserializer, and a record confluent-kafka's AvroSerializer wrote is read by outboxkit's
deserializer, to the same values. (outboxkit keeps its own serde on the hot path: measured faster,
docs/benchmarks.md "Avro serde".)"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import (
    SchemaRegistryClient as ConfluentRegistry,
    topic_record_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from outboxkit.base.messages import OutboxEvent
from outboxkit.base.settings import Settings
from outboxkit.base.topics import topic_for
from outboxkit.kafka.clients import consumer_config
from outboxkit.kafka.records import Record, decode
from outboxkit.serialization.avro import AvroEventDeserializer, subject_name
from outboxkit.serialization.schema_registry import SchemaRegistryClient
from outboxkit.service.context import ServiceContext
from services.contracts import OrderCreated, OrderLine
from services.order.commands import place_order
from services.order.domain import OrderLine as PlacedLine
from tests.conftest import events_for, read_until_sentinel

pytestmark = pytest.mark.stack


def published_record(settings: Settings, topic: str, partition: int, offset: int) -> Record:
    reader = Consumer(consumer_config(settings.kafka_bootstrap_servers, f"interop-{uuid.uuid4()}"))
    try:
        reader.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = reader.poll(1.0)
            if message is not None and message.error() is None:
                return Record.of(message)
        raise AssertionError(f"{topic}[{partition}]@{offset} was not read within 30 s")
    finally:
        reader.close()


def test_confluents_deserializer_reads_what_debezium_published_for_this_project(
    settings: Settings, order_context: ServiceContext[Any], order_tap: Any
) -> None:
    order = place_order(order_context.uow_factory, "interop", [PlacedLine("INTEROP", 2, 150)])
    [created] = [e for e in events_for(read_until_sentinel(order_tap, order_context), order.id)]
    raw = published_record(settings, created.topic, created.partition, created.offset)
    schema = order_context.catalog.for_event_type("OrderCreated")
    theirs = AvroDeserializer(ConfluentRegistry({"url": settings.schema_registry_url}), schema.text)
    value = theirs(raw.value, SerializationContext(created.topic, MessageField.VALUE))
    ours = AvroEventDeserializer(order_context.registry, order_context.catalog).deserialize(raw.value)
    assert value == ours.value
    assert (value["orderId"], value["customerId"], value["totalCents"]) == (order.id, "interop", 300)


def test_outboxkits_deserializer_reads_what_confluents_serializer_wrote(
    settings: Settings, order_context: ServiceContext[Any]
) -> None:
    schema = order_context.catalog.for_event_type("OrderCreated")
    topic = topic_for("order")
    event = OrderCreated(str(uuid.uuid4()), "interop", (OrderLine("INTEROP", 1, 99),), 99, "EUR")
    record = OutboxEvent(
        "order", event.order_id, "OrderCreated", 1, event.to_payload(), occurred_at=datetime.now(UTC)
    ).record()
    theirs = AvroSerializer(
        ConfluentRegistry({"url": settings.schema_registry_url}),
        schema.text,
        conf={"auto.register.schemas": True, "subject.name.strategy": topic_record_subject_name_strategy},
    )
    written = theirs(record, SerializationContext(topic, MessageField.VALUE))
    assert written is not None
    # The same subject as the project's own writer (topic + record name), so the same schema id.
    registry = SchemaRegistryClient(settings.schema_registry_url)
    assert int.from_bytes(written[1:5], "big") == registry.register(
        subject_name(topic, schema.fullname), schema.text
    )
    as_published = Record(topic, 0, 0, event.order_id.encode(), written, (("eventType", b"OrderCreated"),))
    consumed = decode(as_published, AvroEventDeserializer(registry, order_context.catalog))
    assert consumed.value == record
    assert (consumed.event_id, consumed.aggregate_version) == (record["eventId"], 1)
    assert OrderCreated.from_record(consumed.value) == event
