"""The order service's use cases, as plain functions over a unit of work.

``place_order`` and ``cancel_order`` are commands; ``HANDLERS`` react to the inventory and
payment services' replies (the choreographed saga); ``cancel_timed_out`` is the saga's timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from eventcore.applier import Handler
from eventcore.db import UnitOfWork
from eventcore.failures import RecordRejectedError
from eventcore.outbox import OutboxEvent
from eventcore.records import ConsumedEvent
from services.order import repository
from services.order.domain import (
    Order,
    OrderLine,
    OrderStatus,
    TransitionRefused,
    order_created_payload,
)

log = logging.getLogger(__name__)
AGGREGATE_TYPE = "order"


class OrderNotFoundError(RecordRejectedError, LookupError):
    pass


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
    log.info("placed order %s for %s (%d line(s), %d cents)", order.id, customer_id,
             len(lines), order.total_cents)
    return order


def _load(uow: UnitOfWork, order_id: str) -> Order:
    order = repository.get(uow.connection, order_id, for_update=True)
    if order is None:
        raise OrderNotFoundError(f"no order {order_id}")
    return order


def _cancel(uow: UnitOfWork, order: Order, trigger: str, reason: str) -> None:
    order.cancel(trigger, reason)
    repository.update(uow.connection, order)
    uow.emit(OutboxEvent(AGGREGATE_TYPE, order.id, "OrderCancelled", order.version,
                         {"orderId": order.id, "reason": order.cancel_reason or reason}))
    log.info("order %s CANCELLED (v%d): %s", order.id, order.version, reason)


def cancel_order(uow_factory: Callable[[], UnitOfWork], order_id: str, reason: str) -> Order:
    """A customer's cancellation of an open order; emits OrderCancelled (compensations follow)."""
    with uow_factory() as uow:
        order = _load(uow, order_id)
        _cancel(uow, order, "CancelRequested", reason)
    return order


def _guarded(step: Callable[[UnitOfWork, Order, ConsumedEvent], None]) -> Handler:
    """Run a saga step on the event's order; a closed guard is logged, not an error."""

    def handle(uow: UnitOfWork, event: ConsumedEvent) -> None:
        order = _load(uow, event.order_id)
        try:
            step(uow, order, event)
        except TransitionRefused as refused:
            log.info("order %s: %s ignored (%s)", order.id, event.event_type, refused)

    return handle


@_guarded
def on_stock_reserved(uow: UnitOfWork, order: Order, event: ConsumedEvent) -> None:
    order.apply("StockReserved")
    repository.update(uow.connection, order)


@_guarded
def on_stock_rejected(uow: UnitOfWork, order: Order, event: ConsumedEvent) -> None:
    _cancel(uow, order, "StockRejected", f"stock rejected: {event.value['reason']}")


@_guarded
def on_payment_completed(uow: UnitOfWork, order: Order, event: ConsumedEvent) -> None:
    order.confirm(event.value["paymentId"])
    repository.update(uow.connection, order)
    uow.emit(OutboxEvent(AGGREGATE_TYPE, order.id, "OrderConfirmed", order.version,
                         {"orderId": order.id, "paymentId": order.payment_id}))
    log.info("order %s CONFIRMED (v%d)", order.id, order.version)


@_guarded
def on_payment_failed(uow: UnitOfWork, order: Order, event: ConsumedEvent) -> None:
    # The reservation is undone by the inventory service when it sees OrderCancelled.
    _cancel(uow, order, "PaymentFailed", f"payment failed: {event.value['reason']}")


HANDLERS: dict[str, Handler] = {
    "StockReserved": on_stock_reserved,
    "StockRejected": on_stock_rejected,
    "PaymentCompleted": on_payment_completed,
    "PaymentFailed": on_payment_failed,
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
            order = _load(uow, order_id)
            if order.status not in (OrderStatus.PENDING, OrderStatus.STOCK_RESERVED):
                continue  # a reply got there first
            _cancel(uow, order, "TimedOut", f"no reply within {timeout.total_seconds():.0f}s")
            cancelled += 1
    return cancelled
