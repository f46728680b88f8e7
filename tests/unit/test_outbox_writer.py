import pytest
from sqlalchemy import MetaData

from outboxkit.base.messages import OutboxEvent
from outboxkit.publishing.outbox import OutboxWriter, PayloadTooLargeError
from outboxkit.serialization.avro import AvroEventSerializer, SchemaCatalog
from outboxkit.storage.messaging_tables import outbox_table
from services import SCHEMAS
from tests.unit.fakes import InMemorySchemaRegistry

CATALOG = SchemaCatalog.load(SCHEMAS)


def writer(registry, max_bytes=900 * 1024):
    return OutboxWriter(outbox_table(MetaData()), CATALOG, AvroEventSerializer(registry), max_bytes)


def cancelled(reason="r", aggregate_type="order"):
    return OutboxEvent(aggregate_type, "o-1", "OrderCancelled", 2, {"orderId": "o-1", "reason": reason})


def test_encode_registers_under_the_aggregate_topic_subject():
    registry = InMemorySchemaRegistry()
    writer(registry).encode(cancelled())
    assert list(registry.subjects) == ["order.events-events.order.OrderCancelled"]


def test_payload_over_the_cap_is_refused():
    with pytest.raises(PayloadTooLargeError, match="at most 100"):
        writer(InMemorySchemaRegistry(), max_bytes=100).encode(cancelled(reason="x" * 200))


def test_event_under_the_wrong_aggregate_is_refused():
    with pytest.raises(ValueError, match="belongs to aggregate type 'order'"):
        writer(InMemorySchemaRegistry()).encode(cancelled(aggregate_type="inventory"))


def test_envelope_fields_come_from_the_event():
    event = cancelled()
    record = event.record()
    assert record["eventId"] == event.event_id
    assert record["aggregateVersion"] == 2
    assert record["occurredAt"].tzinfo is not None
