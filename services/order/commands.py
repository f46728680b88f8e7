"""The order service's write path, as plain functions over a unit of work."""

from __future__ import annotations

import logging
from collections.abc import Callable

from eventcore.db import UnitOfWork
from eventcore.outbox import OutboxEvent
from services.order import repository
from services.order.domain import Order, OrderLine, order_created_payload

log = logging.getLogger(__name__)
AGGREGATE_TYPE = "order"


def place_order(
    uow_factory: Callable[[], UnitOfWork],
    customer_id: str,
    lines: list[OrderLine],
    currency: str = "EUR",
    order_id: str | None = None,
) -> Order:
    """Commit the order, its lines and one OrderCreated outbox row in one transaction."""
    order = Order.place(customer_id, lines, currency, order_id=order_id)
    event = OutboxEvent(
        aggregate_type=AGGREGATE_TYPE,
        aggregate_id=order.id,
        event_type="OrderCreated",
        aggregate_version=order.version,
        payload=order_created_payload(order),
    )
    with uow_factory() as uow:
        # Encoding first: an event the registry refuses stops us before any row is written.
        uow.emit(event)
        repository.add(uow.connection, order)
    log.info("placed order %s for %s (%d lines, %d cents)", order.id, customer_id,
             len(lines), order.total_cents)
    return order
