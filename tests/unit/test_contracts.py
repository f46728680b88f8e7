"""The typed events mirror their Avro schemas, and survive the trip through the wire format."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime

import fastavro
import pytest

from outboxkit.domain.events import ENVELOPE_FIELDS, camel
from outboxkit.serialization.avro import SchemaCatalog
from services import SCHEMAS
from services.contracts import (
    ALL_EVENTS,
    OrderCreated,
    OrderLine,
    PaymentCompleted,
    StockLine,
    StockReserved,
)

CATALOG = SchemaCatalog.load(SCHEMAS)

SAMPLES = [
    OrderCreated("o-1", "c-1", (OrderLine("A", 2, 150), OrderLine("B", 1, 99)), 399, "EUR"),
    StockReserved("o-1", (StockLine("A", 2),), 399, "EUR"),
    PaymentCompleted("o-1", "pay-1", 399),
]


def test_every_schema_has_one_class_and_every_class_one_schema():
    assert sorted(cls.event_type() for cls in ALL_EVENTS) == sorted(s.event_type for s in CATALOG)


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=lambda cls: cls.__name__)
def test_a_class_has_its_schemas_fields_and_aggregate_type(cls):
    schema = CATALOG.for_event_type(cls.event_type())
    fields = [f["name"] for f in json.loads(schema.text)["fields"] if f["name"] not in ENVELOPE_FIELDS]
    assert [camel(f.name) for f in dataclasses.fields(cls)] == fields
    assert cls.aggregate_type == schema.aggregate_type


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type())
def test_an_event_round_trips_through_its_avro_record(event):
    schema = CATALOG.for_event_type(event.event_type())
    record = {**event.to_payload(), "eventId": "e-1", "aggregateVersion": 1, "occurredAt": datetime.now(UTC)}
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(buffer, schema.parsed, schema.parsed)
    assert type(event).from_record(decoded) == event
    assert event.aggregate_id == "o-1"


def test_fields_a_newer_writer_added_are_left_out():
    payload = {**SAMPLES[2].to_payload(), "giftNote": "hi"}
    assert PaymentCompleted.from_record(payload) == SAMPLES[2]


def test_a_record_missing_a_field_is_refused_by_name():
    payload = SAMPLES[2].to_payload()
    del payload["paymentId"]
    with pytest.raises(KeyError, match="paymentId"):
        PaymentCompleted.from_record(payload)
