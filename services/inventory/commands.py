"""The inventory service's handlers: reserve on OrderCreated, release on OrderCancelled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects.mysql import insert as mysql_insert

from eventcore.applier import Handler
from eventcore.db import UnitOfWork
from eventcore.limits import bounded_int
from eventcore.outbox import OutboxEvent
from eventcore.records import ConsumedEvent
from services.inventory.domain import (
    MAX_STOCK,
    RESERVATION,
    ReservationStatus,
    StockLevel,
    decide,
    valid_sku,
)
from services.inventory.tables import products, reservation_lines, reservations

log = logging.getLogger(__name__)
AGGREGATE_TYPE = "inventory"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def set_stock(uow_factory: Callable[[], UnitOfWork], sku: str, available: int) -> StockLevel:
    """Set a product's available quantity (creating it); reserved stock is left alone."""
    valid_sku(sku)
    bounded_int(f"available stock of {sku}", available, 0, MAX_STOCK)
    with uow_factory() as uow:
        statement = mysql_insert(products).values(sku=sku, available=available, reserved=0,
                                                  updated_at=_now())
        uow.connection.execute(statement.on_duplicate_key_update(available=available,
                                                                 updated_at=_now()))
        return stock_levels(uow.connection, [sku])[sku]


def stock_levels(connection: Connection, skus: list[str], for_update: bool = False) -> dict[str, StockLevel]:
    # Locking in sku order: two reservations over the same products cannot deadlock.
    query = select(products).where(products.c.sku.in_(sorted(skus))).order_by(products.c.sku)
    if for_update:
        query = query.with_for_update()
    return {r.sku: StockLevel(r.sku, r.available, r.reserved) for r in connection.execute(query)}


def _reservation(connection: Connection, order_id: str) -> tuple[ReservationStatus, int]:
    row = connection.execute(
        select(reservations.c.status, reservations.c.version)
        .where(reservations.c.order_id == order_id).with_for_update()
    ).first()
    return (ReservationStatus(row.status), row.version) if row else (ReservationStatus.NEW, 0)


# Statements built once (SQLAlchemy caches their compiled form; the values travel as parameters).
_UPSERT_RESERVATION = mysql_insert(reservations)
_UPSERT_RESERVATION = _UPSERT_RESERVATION.on_duplicate_key_update(
    {column: _UPSERT_RESERVATION.inserted[column]
     for column in ("status", "version", "reason", "updated_at")})
_MOVE_STOCK = products.update().where(products.c.sku == bindparam("product")).values(
    available=products.c.available - bindparam("quantity"),
    reserved=products.c.reserved + bindparam("quantity"), updated_at=bindparam("now"))


def _save(connection: Connection, order_id: str, status: ReservationStatus, version: int,
          reason: str | None = None) -> None:
    connection.execute(_UPSERT_RESERVATION, {"order_id": order_id, "status": status.value, "version": version,
                                             "reason": reason, "updated_at": _now()})


def _move_stock(connection: Connection, lines: dict[str, int], sign: int) -> None:
    """Reserve (+1) or release (-1) the quantities of ``lines``: one statement for all of them."""
    now = _now()
    connection.execute(_MOVE_STOCK, [{"product": sku, "quantity": sign * quantity, "now": now}
                                     for sku, quantity in sorted(lines.items())])


def _emit(uow: UnitOfWork, order_id: str, event_type: str, version: int, **fields: object) -> None:
    uow.emit(OutboxEvent(AGGREGATE_TYPE, order_id, event_type, version,
                         {"orderId": order_id, **fields}))


def on_order_created(uow: UnitOfWork, event: ConsumedEvent) -> None:
    order_id = event.order_id
    status, version = _reservation(uow.connection, order_id)
    requested = {line["sku"]: int(line["quantity"]) for line in event.value["lines"]}
    decision = decide(requested, stock_levels(uow.connection, list(requested), for_update=True))
    trigger = "Reserve" if decision.reserve else "Reject"
    new_status = RESERVATION.next_state_or_none(status, trigger, f"reservation {order_id}: OrderCreated")
    if new_status is None:
        return
    if decision.reserve:
        _move_stock(uow.connection, requested, +1)
        uow.connection.execute(reservation_lines.insert(), [
            {"order_id": order_id, "sku": sku, "quantity": q} for sku, q in requested.items()])
        _save(uow.connection, order_id, new_status, version + 1)
        _emit(uow, order_id, "StockReserved", version + 1,
              lines=[{"sku": s, "quantity": q} for s, q in requested.items()],
              amountCents=event.value["totalCents"], currency=event.value["currency"])
        log.info("reserved stock for order %s: %s", order_id, requested)
    else:
        _save(uow.connection, order_id, new_status, version + 1, decision.reason)
        _emit(uow, order_id, "StockRejected", version + 1, reason=decision.reason)
        log.info("rejected order %s: %s", order_id, decision.reason)


def on_order_cancelled(uow: UnitOfWork, event: ConsumedEvent) -> None:
    order_id = event.order_id
    status, version = _reservation(uow.connection, order_id)
    trigger = "Release" if status is ReservationStatus.RESERVED else "Void"
    new_status = RESERVATION.next_state_or_none(status, trigger, f"reservation {order_id}: OrderCancelled")
    if new_status is None:
        return
    if new_status is ReservationStatus.VOIDED:
        _save(uow.connection, order_id, new_status, version + 1, "order cancelled before reservation")
        return
    lines = list(uow.connection.execute(
        select(reservation_lines).where(reservation_lines.c.order_id == order_id)
        .order_by(reservation_lines.c.sku)))
    stock_levels(uow.connection, [line.sku for line in lines], for_update=True)
    _move_stock(uow.connection, {line.sku: line.quantity for line in lines}, -1)
    _save(uow.connection, order_id, new_status, version + 1)
    _emit(uow, order_id, "StockReleased", version + 1,
          lines=[{"sku": line.sku, "quantity": line.quantity} for line in lines])
    log.info("released stock of cancelled order %s", order_id)


HANDLERS: dict[str, Handler] = {
    "OrderCreated": on_order_created,
    "OrderCancelled": on_order_cancelled,
}
