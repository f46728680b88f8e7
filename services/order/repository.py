"""Loads and saves order aggregates inside a unit of work's transaction.

Saving writes the order's row and, in the same transaction, the outbox rows of the events its
changes caused (:func:`eventcore.aggregate.emit_changes`): a saved change cannot lose its event.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, select

from eventcore.aggregate import emit_changes
from eventcore.db import UnitOfWork
from eventcore.failures import RecordRejectedError
from services.order.domain import OPEN, Order, OrderLine, OrderStatus
from services.order.tables import order_lines, orders

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class OrderNotFoundError(RecordRejectedError, LookupError):
    pass


def add(uow: UnitOfWork, order: Order) -> None:
    now = _now()
    # Encoding first: an event the registry refuses stops us before any row is written.
    emit_changes(uow, order)
    connection = uow.connection
    connection.execute(
        orders.insert().values(
            id=order.id, customer_id=order.customer_id, status=order.status.value,
            currency=order.currency, total_cents=order.total_cents, version=order.version,
            created_at=now, updated_at=now,
        )
    )
    connection.execute(
        order_lines.insert(),
        [
            {"order_id": order.id, "line_no": n, "sku": line.sku, "quantity": line.quantity,
             "unit_price_cents": line.unit_price_cents}
            for n, line in enumerate(order.lines, start=1)
        ],
    )


# The order and its lines in one round trip (locking the order's row when asked).
_ORDER_WITH_LINES = (
    select(orders, order_lines.c.sku, order_lines.c.quantity, order_lines.c.unit_price_cents)
    .join(order_lines, order_lines.c.order_id == orders.c.id)
    .where(orders.c.id == bindparam("order_id"))
    .order_by(order_lines.c.line_no)
)
_UPDATE = orders.update().where(orders.c.id == bindparam("order_id")).values(
    status=bindparam("status"), version=bindparam("version"), cancel_reason=bindparam("cancel_reason"),
    payment_id=bindparam("payment_id"), updated_at=bindparam("updated_at"))


def get(connection: Connection, order_id: str, for_update: bool = False) -> Order | None:
    query = _ORDER_WITH_LINES.with_for_update(of=orders) if for_update else _ORDER_WITH_LINES
    rows = connection.execute(query, {"order_id": order_id}).mappings().all()
    if not rows:
        return None
    row = rows[0]
    return Order(
        id=row["id"], customer_id=row["customer_id"], currency=row["currency"],
        status=OrderStatus(row["status"]), version=row["version"],
        cancel_reason=row["cancel_reason"], payment_id=row["payment_id"],
        lines=[OrderLine(r["sku"], r["quantity"], r["unit_price_cents"]) for r in rows],
    )


def load(uow: UnitOfWork, order_id: str) -> Order:
    """The order, its row locked until the transaction ends."""
    order = get(uow.connection, order_id, for_update=True)
    if order is None:
        raise OrderNotFoundError(f"no order {order_id}")
    return order


def save(uow: UnitOfWork, order: Order) -> None:
    emit_changes(uow, order)
    log.info("order %s %s (v%d)%s", order.id, order.status.value, order.version,
             f": {order.cancel_reason}" if order.status is OrderStatus.CANCELLED else "")
    uow.connection.execute(_UPDATE, {
        "order_id": order.id, "status": order.status.value, "version": order.version,
        "cancel_reason": order.cancel_reason, "payment_id": order.payment_id, "updated_at": _now()})


def open_order_ids_before(connection: Connection, cutoff: datetime, limit: int) -> list[str]:
    query = (
        select(orders.c.id)
        .where(orders.c.status.in_([status.value for status in OPEN]))
        .where(orders.c.created_at < cutoff)
        .order_by(orders.c.created_at)
        .limit(limit)
    )
    return list(connection.execute(query).scalars())
