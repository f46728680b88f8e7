import json
import struct
from datetime import UTC, datetime

import pytest

from outboxkit.serialization.avro import (
    AvroEventDeserializer,
    AvroEventSerializer,
    EventSchema,
    InvalidEventError,
    SchemaCatalog,
    UndecodableRecordError,
    subject_name,
)
from outboxkit.serialization.schema_registry import UnknownSchemaIdError
from services import SCHEMAS
from tests.unit.fakes import InMemorySchemaRegistry

CATALOG = SchemaCatalog.load(SCHEMAS)


def order_cancelled(**extra):
    return {
        "eventId": "e-1",
        "orderId": "o-1",
        "aggregateVersion": 2,
        "occurredAt": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "reason": "r",
        **extra,
    }


def test_catalog_knows_every_event_type_with_its_aggregate():
    schema = CATALOG.for_event_type("StockReserved")
    assert schema.aggregate_type == "inventory"
    assert schema.fullname == "events.inventory.StockReserved"
    with pytest.raises(KeyError, match="no schema for event type 'Nope'"):
        CATALOG.for_event_type("Nope")


def test_round_trip_keeps_microseconds_and_uses_wire_format():
    registry = InMemorySchemaRegistry()
    schema = CATALOG.for_event_type("OrderCancelled")
    data = AvroEventSerializer(registry).serialize("order.events", schema, order_cancelled())
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0
    assert registry.subjects[subject_name("order.events", schema.fullname)] == [schema_id]
    assert registry.compatibility[subject_name("order.events", schema.fullname)] == "BACKWARD"
    decoded = AvroEventDeserializer(registry, CATALOG).deserialize(data)
    assert decoded.event_type == "OrderCancelled"
    assert decoded.value["occurredAt"] == datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_old_reader_reads_a_writer_with_a_new_optional_field():
    registry = InMemorySchemaRegistry()
    old = CATALOG.for_event_type("OrderCancelled")
    raw = json.loads(old.text)
    raw["fields"].append({"name": "note", "type": ["null", "string"], "default": None})
    newer = EventSchema.from_text(json.dumps(raw), "order")
    data = AvroEventSerializer(registry).serialize("order.events", newer, order_cancelled(note="hi"))
    decoded = AvroEventDeserializer(registry, CATALOG).deserialize(data)
    assert decoded.value["reason"] == "r"
    assert "note" not in decoded.value


def test_record_not_matching_schema_is_refused_before_registration():
    registry = InMemorySchemaRegistry()
    schema = CATALOG.for_event_type("OrderCancelled")
    bad = order_cancelled()
    del bad["reason"]
    with pytest.raises(InvalidEventError, match="OrderCancelled record does not match"):
        AvroEventSerializer(registry).serialize("order.events", schema, bad)
    assert registry.schemas == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (None, "too short"),
        (b"\x07\x00\x00\x00\x01abc", "not the wire-format magic byte"),
    ],
)
def test_bytes_that_are_not_wire_format_are_undecodable(data, message):
    with pytest.raises(UndecodableRecordError, match=message):
        AvroEventDeserializer(InMemorySchemaRegistry(), CATALOG).deserialize(data)


def test_unknown_schema_id_is_reported():
    with pytest.raises(UnknownSchemaIdError, match="schema id 99"):
        AvroEventDeserializer(InMemorySchemaRegistry(), CATALOG).deserialize(b"\x00\x00\x00\x00\x63x")


def test_corrupt_body_is_undecodable():
    registry = InMemorySchemaRegistry()
    schema = CATALOG.for_event_type("OrderCancelled")
    data = AvroEventSerializer(registry).serialize("order.events", schema, order_cancelled())
    with pytest.raises(UndecodableRecordError, match="cannot be decoded"):
        AvroEventDeserializer(registry, CATALOG).deserialize(data[:5] + b"\xff\xff\xff")
