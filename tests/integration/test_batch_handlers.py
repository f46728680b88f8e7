"""Batch-aware handlers on the real database: a batch's records read and write each table once,
and each record sees what the records before it in the batch did (shared stock, one order
changed twice)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from outboxkit.base.messages import OutboxEvent
from outboxkit.consuming.applier import Outcome, RecordApplier
from outboxkit.consuming.dispatch import EventRoutes
from outboxkit.consuming.guard import SqlGuardTables
from outboxkit.domain.events import Event
from outboxkit.kafka.records import Record
from outboxkit.serialization.avro import AvroEventDeserializer
from outboxkit.testing import published_record
from services.contracts import (
    OrderCancelled,
    OrderCreated,
    OrderLine,
    PaymentCompleted,
    StockLine,
    StockReserved,
)
from services.inventory.commands import HANDLERS as INVENTORY_HANDLERS, set_stock
from services.inventory.repository import SqlInventoryUnitOfWork
from services.inventory.tables import products, reservations
from services.order import repository
from services.order.commands import HANDLERS as ORDER_HANDLERS, place_order
from services.order.domain import OrderLine as PlacedLine
from services.order.repository import SqlOrderUnitOfWork

pytestmark = pytest.mark.stack


class Statements:
    def __init__(self) -> None:
        self.sql: list[str] = []

    @property
    def count(self) -> int:
        return len(self.sql)


@contextmanager
def counting(engine: Engine) -> Iterator[Statements]:
    seen = Statements()

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.sql.append(statement.split()[0] + " " + statement[:80])

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def published(context: Any, event_: Event, version: int) -> Record:
    """The record Debezium would publish for ``event_`` written by its service at ``version``."""
    outbox_event = OutboxEvent(
        event_.aggregate_type, event_.aggregate_id, event_.event_type(), version, event_.to_payload()
    )
    return published_record(context.outbox.row(outbox_event))


class UnpublishedOutbox:
    """Encodes what the handlers emit, as the service's writer does, and keeps the rows out of the
    outbox table: Debezium would publish them, and the running services would meet orders they do
    not know (poison for order-service) or charge test orders."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self.rows: list[dict[str, Any]] = []

    def row(self, event: Any) -> dict[str, Any]:
        return self._writer.row(event)  # type: ignore[no-any-return]

    def write(self, connection: Any, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)


UNITS_OF_WORK = {"inventory": SqlInventoryUnitOfWork, "order": SqlOrderUnitOfWork}


def applier(context: Any, routes: dict[type, Any], name: str) -> tuple[RecordApplier, UnpublishedOutbox]:
    outbox = UnpublishedOutbox(context.outbox)
    group = f"batch-test-{name}-{uuid.uuid4().hex[:6]}"
    return RecordApplier(
        group,
        EventRoutes(routes, name),
        lambda: UNITS_OF_WORK[name](context.engine, outbox),
        lambda uow: SqlGuardTables(uow.connection, context.messaging, group),
        AvroEventDeserializer(context.registry, context.catalog),
    ), outbox


def created(sku: str) -> OrderCreated:
    return OrderCreated(str(uuid.uuid4()), "batch-test", (OrderLine(sku, 1, 100),), 100, "EUR")


def test_a_batch_of_reservations_reads_and_writes_each_table_once_and_shares_its_stock(contexts):
    context = contexts["inventory"]
    alone, shared = f"BATCH-A-{uuid.uuid4().hex[:6]}", f"BATCH-B-{uuid.uuid4().hex[:6]}"
    set_stock(context.uow_factory, alone, 1)
    set_stock(context.uow_factory, shared, 3)
    inventory, emitted = applier(context, INVENTORY_HANDLERS, "inventory")
    single, six = [created(alone)], [created(shared) for _ in range(6)]

    with counting(context.engine) as one_record:
        results = inventory.apply([published(context, e, 1) for e in single])
    assert [r.outcome for r in results] == [Outcome.APPLIED]
    with counting(context.engine) as six_records:
        results = inventory.apply([published(context, e, 1) for e in six])
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 6
    print(f"\nstatements for one record: {one_record.count}, for six: {six_records.count}")
    assert six_records.count == one_record.count, six_records.sql

    def state() -> tuple[list[str], tuple[int, int]]:
        with context.engine.connect() as connection:
            by_order = dict(
                connection.execute(
                    select(reservations.c.order_id, reservations.c.status).where(
                        reservations.c.order_id.in_([e.order_id for e in six])
                    )
                ).all()
            )
            level = connection.execute(
                select(products.c.available, products.c.reserved).where(products.c.sku == shared)
            ).one()
        return [by_order[e.order_id] for e in six], (level.available, level.reserved)

    # Each record saw the stock the ones before it had taken: the first three got the three units.
    assert state() == (["RESERVED"] * 3 + ["REJECTED"] * 3, (0, 3))
    assert [row["type"] for row in emitted.rows[1:]] == ["StockReserved"] * 3 + ["StockRejected"] * 3

    with counting(context.engine) as cancel_one:
        inventory.apply([published(context, OrderCancelled(e.order_id, "test"), 2) for e in single])
    with counting(context.engine) as cancel_six:
        inventory.apply([published(context, OrderCancelled(e.order_id, "test"), 2) for e in six])
    assert cancel_six.count == cancel_one.count, cancel_six.sql
    # Released once each where reserved; a rejected reservation has nothing to give back.
    assert state() == (["RELEASED"] * 3 + ["REJECTED"] * 3, (3, 0))


def test_one_order_changed_twice_in_a_batch_ends_where_both_records_lead(contexts):
    context = contexts["order"]
    placed = [
        place_order(context.uow_factory, "batch-test", [PlacedLine("BATCH-C", 1, 250)]) for _ in range(2)
    ]
    orders, emitted = applier(context, ORDER_HANDLERS, "order")
    batch = [
        published(context, StockReserved(o.id, (StockLine("BATCH-C", 1),), 250, "EUR"), 2) for o in placed
    ]
    batch += [published(context, PaymentCompleted(o.id, f"pay-{o.id}", 250), 2) for o in placed]

    with counting(context.engine) as statements:
        results = orders.apply(batch)
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 4
    assert [row["type"] for row in emitted.rows] == ["OrderConfirmed"] * 2
    order_statements = [s for s in statements.sql if " orders" in s and not s.startswith("SELECT")]
    assert len(order_statements) == 1, statements.sql  # both orders, both changes: one UPDATE

    with context.engine.connect() as connection:
        for order in placed:
            stored = repository.get(connection, order.id)
            assert stored is not None
            assert (stored.status.value, stored.version, stored.payment_id) == (
                "CONFIRMED",
                3,
                f"pay-{order.id}",
            )
