"""The order service's use cases, as plain functions over a unit of work.

``place_order`` and ``cancel_order`` are commands; ``HANDLERS`` react to the inventory and
payment services' replies (the choreographed saga); ``cancel_timed_out`` is the saga's timeout.
Each one loads the order, calls the aggregate and saves it (its events go with it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from eventcore.db import UnitOfWork
from eventcore.events import TypedHandler
from eventcore.saga import TransitionRefused
from services.contracts import PaymentCompleted, PaymentFailed, StockRejected, StockReserved
from services.order import repository
from services.order.domain import Order, OrderLine
from services.order.repository import OrderNotFoundError

log = logging.getLogger(__name__)

__all__ = ["HANDLERS", "OrderNotFoundError", "cancel_order", "cancel_timed_out", "place_order"]


def place_order(
    uow_factory: Callable[[], UnitOfWork],
    customer_id: str,
    lines: list[OrderLine],
    currency: str = "EUR",
    order_id: str | None = None,
) -> Order:
    """Commit the order, its lines and one OrderCreated outbox row in one transaction."""
    order = Order.place(customer_id, lines, currency, order_id=order_id)
    with uow_factory() as uow:
        repository.add(uow, order)
    log.info("placed order %s for %s (%d line(s), %d cents)", order.id, customer_id,
             len(lines), order.total_cents)
    return order


def cancel_order(uow_factory: Callable[[], UnitOfWork], order_id: str, reason: str) -> Order:
    """A customer's cancellation of an open order; emits OrderCancelled (compensations follow)."""
    with uow_factory() as uow:
        order = repository.load(uow, order_id)
        order.cancel(reason)
        repository.save(uow, order)
    return order


def on_stock_reserved(uow: UnitOfWork, event: StockReserved) -> None:
    order = repository.load(uow, event.order_id)
    order.stock_reserved()
    repository.save(uow, order)


def on_stock_rejected(uow: UnitOfWork, event: StockRejected) -> None:
    order = repository.load(uow, event.order_id)
    order.stock_rejected(event.reason)
    repository.save(uow, order)


def on_payment_completed(uow: UnitOfWork, event: PaymentCompleted) -> None:
    order = repository.load(uow, event.order_id)
    order.payment_completed(event.payment_id)
    repository.save(uow, order)


def on_payment_failed(uow: UnitOfWork, event: PaymentFailed) -> None:
    order = repository.load(uow, event.order_id)
    order.payment_failed(event.reason)
    repository.save(uow, order)


HANDLERS: dict[type, TypedHandler] = {
    StockReserved: on_stock_reserved,
    StockRejected: on_stock_rejected,
    PaymentCompleted: on_payment_completed,
    PaymentFailed: on_payment_failed,
}


def cancel_timed_out(uow_factory: Callable[[], UnitOfWork], timeout: timedelta, limit: int = 100,
                     pipeline_behind: timedelta = timedelta(0)) -> int:
    """The saga's timeout: cancel open orders older than ``timeout``, one transaction each.

    ``pipeline_behind`` is how long the flow's events are waiting in line right now: an order
    is that much more patient, since its reply is late for the queue, not for a failed step.
    """
    cutoff = datetime.now(UTC).replace(tzinfo=None) - timeout - pipeline_behind
    with uow_factory() as uow:
        candidates = repository.open_order_ids_before(uow.connection, cutoff, limit)
    cancelled = 0
    for order_id in candidates:
        with uow_factory() as uow:
            order = repository.load(uow, order_id)
            try:
                order.time_out(timeout.total_seconds())
            except TransitionRefused:
                continue  # a reply got there first
            repository.save(uow, order)
            cancelled += 1
    return cancelled
