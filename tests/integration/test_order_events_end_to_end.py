"""Issue: the first event end to end, on the real stack (MariaDB -> Debezium -> Kafka -> registry)."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from outboxkit.base.messages import OutboxEvent
from outboxkit.serialization.avro import EventSchema, SchemaCatalog
from outboxkit.serialization.schema_registry import IncompatibleSchemaError
from services import SCHEMAS
from services.order import repository
from services.order.commands import cancel_order, place_order
from services.order.domain import Order, OrderLine
from services.order.main import SERVICE as ORDER_SERVICE
from services.order.tables import messaging, orders
from tests.conftest import events_for, read_until_sentinel

outbox = messaging.outbox

pytestmark = pytest.mark.stack


def test_placing_an_order_yields_exactly_one_record(order_context, order_tap):
    order = place_order(
        order_context.uow_factory, "cust-1", [OrderLine("SKU-1", 2, 1250), OrderLine("SKU-2", 1, 99)], "eur"
    )

    records = events_for(read_until_sentinel(order_tap, order_context), order.id)

    assert len(records) == 1
    record = records[0]
    assert record.key == order.id
    assert record.headers["id"] == record.value["eventId"]
    assert record.headers["eventType"] == "OrderCreated"
    assert record.headers["aggregateVersion"] == "1"
    assert record.value["orderId"] == order.id
    assert record.value["customerId"] == "cust-1"
    assert record.value["currency"] == "EUR"
    assert record.value["totalCents"] == 2 * 1250 + 99
    assert [(line["sku"], line["quantity"], line["unitPriceCents"]) for line in record.value["lines"]] == [
        ("SKU-1", 2, 1250),
        ("SKU-2", 1, 99),
    ]
    occurred_at = record.value["occurredAt"]
    assert abs(datetime.now(UTC) - occurred_at) < timedelta(minutes=5)
    with order_context.engine.connect() as connection:
        stored = connection.execute(
            select(outbox.c.occurred_at).where(outbox.c.id == record.event_id)
        ).scalar()
    assert stored == occurred_at.replace(tzinfo=None)  # microseconds survive the whole trip


def test_a_rolled_back_transaction_yields_no_record(order_context, order_tap):
    order = Order.place("cust-rollback", [OrderLine("SKU-1", 1, 100)])
    with pytest.raises(RuntimeError, match="boom"), order_context.unit_of_work() as uow:
        uow.orders.add(order)
        raise RuntimeError("boom")

    assert events_for(read_until_sentinel(order_tap, order_context), order.id) == []
    with order_context.engine.connect() as connection:
        assert repository.get(connection, order.id) is None
        assert connection.execute(select(func.count()).where(outbox.c.aggregateid == order.id)).scalar() == 0


def test_concurrent_writers_publish_every_event_once_and_in_order_per_key(order_context, order_tap):
    writers, per_writer = 4, 250

    def write(writer: int) -> list[str]:
        ids = []
        for n in range(per_writer):
            order = place_order(
                order_context.uow_factory, f"writer-{writer}", [OrderLine(f"SKU-{n % 7}", 1 + n % 3, 100)]
            )
            if n % 2 == 0:  # a second event for half of them: v2 must follow v1
                cancel_order(order_context.uow_factory, order.id, "changed mind")
            ids.append(order.id)
        return ids

    with ThreadPoolExecutor(writers) as pool:
        order_ids = {oid for ids in pool.map(write, range(writers)) for oid in ids}
    assert len(order_ids) == writers * per_writer

    records = events_for(read_until_sentinel(order_tap, order_context, timeout_s=300), order_ids)

    created = [r for r in records if r.event_type == "OrderCreated"]
    cancelled = [r for r in records if r.event_type == "OrderCancelled"]
    assert len(created) == 1000
    assert {r.key for r in created} == order_ids
    assert len(cancelled) == 500
    assert len({r.event_id for r in records}) == len(records)
    versions: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for record in records:  # the tap appends in arrival order
        versions[record.key or ""].append(record.aggregate_version)
        partitions[record.key or ""].add(record.partition)
    assert all(v == sorted(v) and len(set(v)) == len(v) for v in versions.values())
    assert all(len(p) == 1 for p in partitions.values())
    assert sum(1 for v in versions.values() if v == [1, 2]) == 500


def test_an_incompatible_schema_change_is_refused_and_nothing_is_written(settings, order_context):
    current = SchemaCatalog.load(SCHEMAS)
    raw = json.loads(current.for_event_type("OrderCreated").text)
    # A new field without a default: new readers could not read old events (BACKWARD breaks).
    new_field = f"loyaltyTier{uuid.uuid4().hex[:8]}"
    raw["fields"].append({"name": new_field, "type": "string"})
    breaking = SchemaCatalog(
        [
            EventSchema.from_text(json.dumps(raw), "order"),
            *[s for s in current if s.event_type != "OrderCreated"],
        ]
    )
    context = ORDER_SERVICE.context(settings, catalog=breaking)

    def counts() -> tuple[int, int]:
        with context.engine.connect() as connection:
            return (
                connection.execute(select(func.count()).select_from(orders)).scalar_one(),
                connection.execute(select(func.count()).select_from(outbox)).scalar_one(),
            )

    before = counts()
    order = Order.place("cust-breaking", [OrderLine("SKU-1", 1, 1)])
    [(version, created)] = order.pull_changes()
    with pytest.raises(IncompatibleSchemaError) as refused, context.unit_of_work() as uow:
        uow.emit(
            OutboxEvent(
                "order", order.id, "OrderCreated", version, {**created.to_payload(), new_field: "gold"}
            )
        )
        uow.orders.add(order)
    assert "order.events-events.order.OrderCreated" in str(refused.value)
    assert "incompatible" in str(refused.value)
    assert counts() == before
