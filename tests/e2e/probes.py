"""What the e2e tests look at: the services' own tables and topics, read from outside."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import Row, select

from outboxkit.base.topics import dead_letter_topic_for
from outboxkit.kafka.clients import TopicReadError, consumer_config, read_to_current_end
from outboxkit.kafka.records import Record
from services.inventory.commands import set_stock
from services.inventory.tables import products, reservations
from services.order import repository
from services.order.domain import OrderStatus
from services.payment.tables import payments
from tests.conftest import wait_until

FINAL = (OrderStatus.CONFIRMED, OrderStatus.CANCELLED)


def new_sku(ctx, available: int) -> str:
    sku = f"SKU-{uuid.uuid4().hex[:10]}"
    set_stock(ctx["inventory"].uow_factory, sku, available)
    return sku


def stock(ctx, sku: str) -> tuple[int, int]:
    with ctx["inventory"].engine.connect() as c:
        row = c.execute(select(products.c.available, products.c.reserved).where(products.c.sku == sku)).one()
    return row.available, row.reserved


def status(ctx, order_id: str) -> OrderStatus:
    with ctx["order"].engine.connect() as c:
        order = repository.get(c, order_id)
    assert order is not None
    return order.status


def payment_rows(ctx, order_id: str) -> list[Row[Any]]:
    with ctx["payment"].engine.connect() as c:
        return list(c.execute(select(payments).where(payments.c.order_id == order_id)))


def reservation_status(ctx, order_id: str) -> str | None:
    with ctx["inventory"].engine.connect() as c:
        status: str | None = c.execute(
            select(reservations.c.status).where(reservations.c.order_id == order_id)
        ).scalar()
        return status


def wait_final(ctx, order_id: str, timeout_s: float = 180) -> OrderStatus:
    wait_until(lambda: status(ctx, order_id) in FINAL, timeout_s, f"order {order_id} to finish")
    return status(ctx, order_id)


def committed_offset(group: str, topic: str, partition: int, settings) -> int:
    consumer = Consumer(consumer_config(settings.kafka_bootstrap_servers, group))
    try:
        return consumer.committed([TopicPartition(topic, partition)], timeout=10)[0].offset
    finally:
        consumer.close()


def dead_letters(settings, group: str, key: str) -> list[Record]:
    """The records with ``key`` that ``group``'s dead-letter topic holds now (none if it is new)."""
    reader = Consumer(consumer_config(settings.kafka_bootstrap_servers, f"dlq-reader-{uuid.uuid4()}"))
    try:
        records = read_to_current_end(reader, dead_letter_topic_for(group))
        return [record for record in records if record.key == key]
    except TopicReadError:
        return []
    finally:
        reader.close()


def wait_dead_letters(settings, group: str, key: str, timeout_s: float = 60) -> list[Record]:
    found: list[Record] = []

    def arrived() -> bool:
        found[:] = dead_letters(settings, group, key)
        return bool(found)

    wait_until(arrived, timeout_s, f"a dead letter for {key} in {dead_letter_topic_for(group)}")
    return found


def service_command(service: str, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a service's command line as an operator would (e.g. ``dlq reinject --key K``)."""
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def reinject(group: str, key: str) -> subprocess.CompletedProcess[str]:
    return service_command(group.removesuffix("-service"), "dlq", "reinject", "--key", key)


def pending_dead_letters(ctx, service: str) -> list[Row[Any]]:
    """The rows of the service group's dead_letters table (what is still owed)."""
    context = ctx[service]
    table = context.messaging.dead_letters
    with context.engine.connect() as c:
        return list(
            c.execute(
                select(table).where(table.c.consumer_group == f"{service}-service").order_by(table.c.id)
            )
        )
