"""The DLQ tooling, as an operator uses it on a real service: list, show, re-inject, purge.

A product row that refuses updates (a trigger) makes one reservation fail for a reason that
belongs to that record; the customer then cancels the order, and that later record of the same
key must wait behind the failed one instead of overtaking it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import select

from outboxkit.kafka.clients import consumer_config
from services.order.commands import cancel_order, place_order
from services.order.domain import OrderLine, OrderStatus
from tests.conftest import wait_until
from tests.e2e.probes import (
    payment_rows,
    pending_dead_letters,
    reservation_status,
    service_command,
    status,
    stock,
)

pytestmark = pytest.mark.stack


def end_offsets(settings, topic: str) -> dict[int, int]:
    reader = Consumer(consumer_config(settings.kafka_bootstrap_servers, f"offsets-{uuid.uuid4()}"))
    try:
        return {p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(6)}
    finally:
        reader.close()


def inventory_rows_for(ctx, order_id: str) -> list[Any]:
    return [r for r in pending_dead_letters(ctx, "inventory") if r.record_key == order_id]


def test_a_failed_record_parks_its_key_and_the_tools_bring_both_back_in_order(ctx, settings, poisoned_sku):
    sku, database, trigger = poisoned_sku
    order = place_order(ctx["order"].uow_factory, "poisoned", [OrderLine(sku, 2, 100)])
    wait_until(lambda: len(inventory_rows_for(ctx, order.id)) == 1, 60, "the reservation to be dead-lettered")
    cancel_order(ctx["order"].uow_factory, order.id, "changed my mind")  # OrderCancelled, same key
    wait_until(lambda: len(inventory_rows_for(ctx, order.id)) == 2, 60, "the cancellation to be parked")
    failed, parked = inventory_rows_for(ctx, order.id)
    assert (failed.event_type, failed.error_class) == ("OrderCreated", "OperationalError")
    assert f"product {sku} is poisoned" in failed.error_message
    assert (parked.event_type, parked.error_class) == ("OrderCancelled", "Parked")
    assert parked.parked_behind == failed.id
    assert reservation_status(ctx, order.id) is None  # neither applied: not VOIDED ahead of the reservation

    listing = service_command("inventory", "dlq", "list")
    assert listing.returncode == 0, listing.stderr
    assert "OperationalError: " in listing.stdout and f"#{failed.id:<5} key {order.id}" in listing.stdout
    assert f"key {order.id}: 1 record(s) behind #{failed.id} OrderCreated {failed.event_id}" in listing.stdout
    assert "parked keys: " in listing.stdout

    shown = service_command("inventory", "dlq", "show", failed.event_id)
    assert shown.returncode == 0, shown.stderr
    assert '"eventType": "OrderCreated"' in shown.stdout and "dlq.error.message" in shown.stdout
    assert f'"orderId": "{order.id}"' in shown.stdout  # decoded through the registry

    dry = service_command("inventory", "dlq", "reinject", "--event-id", parked.event_id, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would re-inject 2 record(s)" in dry.stdout  # a parked record goes with its whole queue
    assert len(inventory_rows_for(ctx, order.id)) == 2 and all(
        r.reinjected == 0 for r in inventory_rows_for(ctx, order.id)
    )

    database.run_sql(f"DROP TRIGGER inventory_db.{trigger}")  # the fix
    before = end_offsets(settings, "order.events")
    again = service_command("inventory", "dlq", "reinject", "--key", order.id)
    assert again.returncode == 0, again.stderr
    assert "re-injected 2 record(s) from inventory-service.dlq" in again.stdout
    assert "inventory-service.retry[" in again.stdout

    # Reserved first, then released: the original order. (The other way round the cancellation
    # would have voided the reservation and the late OrderCreated would have reserved nothing.)
    wait_until(lambda: reservation_status(ctx, order.id) == "RELEASED", 60, "reserve then release")
    assert stock(ctx, sku) == (5, 0)
    assert inventory_rows_for(ctx, order.id) == []
    context = ctx["inventory"]
    inbox = context.messaging.inbox
    with context.engine.connect() as connection:
        query = select(inbox.c.event_type).where(
            inbox.c.consumer_group == "inventory-service", inbox.c.aggregate_id == order.id
        )
        applied = [r.event_type for r in connection.execute(query.order_by(inbox.c.processed_at))]
    assert applied == ["OrderCreated", "OrderCancelled"]
    # Nothing went back to order.events: payment-service, which reads it too, saw nothing again.
    assert end_offsets(settings, "order.events") == before
    assert [r.status for r in payment_rows(ctx, order.id)] == ["VOIDED"]
    assert status(ctx, order.id) is OrderStatus.CANCELLED

    gone = service_command("inventory", "dlq", "reinject", "--key", order.id)
    assert gone.returncode == 2 and f"no pending dead letter with key {order.id}" in gone.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dlq", "show", "no-such-event"], "has no pending dead letter no-such-event"),
        (["dlq", "reinject", "--event-id", "no-such-event"], "has no pending dead letter no-such-event"),
        (["dlq", "purge", "--key", "no-such-key", "--yes"], "no pending dead letter with key no-such-key"),
    ],
)
def test_dlq_commands_name_what_they_cannot_find(args, message):
    result = service_command("inventory", *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_purge_asks_and_refuses_without_a_terminal(ctx, poisoned_sku):
    sku, _database, _trigger = poisoned_sku
    order = place_order(ctx["order"].uow_factory, "poisoned", [OrderLine(sku, 1, 100)])
    wait_until(lambda: len(inventory_rows_for(ctx, order.id)) == 1, 60, "the reservation to be dead-lettered")
    refused = service_command("inventory", "dlq", "purge", "--key", order.id)
    assert refused.returncode == 2 and "refusing without --yes" in refused.stderr
    assert len(inventory_rows_for(ctx, order.id)) == 1
    purged = service_command("inventory", "dlq", "purge", "--key", order.id, "--yes")
    assert purged.returncode == 0 and "purged 1 dead letter(s) of inventory-service" in purged.stdout
    assert inventory_rows_for(ctx, order.id) == []
