"""Loads and saves reservations and stock levels inside a unit of work's transaction.

Saving a reservation writes its row (and its lines when it was just reserved) and, in the same
transaction, the outbox rows of the events it caused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects.mysql import insert as mysql_insert

from eventcore.aggregate import StepStatus, emit_changes, save_step
from eventcore.db import UnitOfWork
from services.inventory.domain import Reservation, StockLevel
from services.inventory.tables import products, reservation_lines, reservations

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# Statements built once (SQLAlchemy caches their compiled form; the values travel as parameters).
_RESERVATION_WITH_LINES = (
    select(reservations.c.status, reservations.c.version, reservations.c.reason,
           reservation_lines.c.sku, reservation_lines.c.quantity)
    .outerjoin(reservation_lines, reservation_lines.c.order_id == reservations.c.order_id)
    .where(reservations.c.order_id == bindparam("order_id"))
    .with_for_update(of=reservations)
)
_MOVE_STOCK = products.update().where(products.c.sku == bindparam("product")).values(
    available=products.c.available - bindparam("quantity"),
    reserved=products.c.reserved + bindparam("quantity"), updated_at=bindparam("now"))


class Reservations:
    def load(self, uow: UnitOfWork, order_id: str) -> Reservation:
        """The order's reservation (NEW when there is none yet), its row locked."""
        rows = uow.connection.execute(_RESERVATION_WITH_LINES, {"order_id": order_id}).all()
        if not rows:
            return Reservation(order_id)
        first = rows[0]
        status = Reservation.labels.status(first.status)
        return Reservation(order_id, status, first.version, first.reason,
                           lines={r.sku: r.quantity for r in rows if r.sku is not None},
                           stored_version=first.version)

    def save(self, uow: UnitOfWork, reservation: Reservation) -> None:
        emit_changes(uow, reservation)
        newly_reserved = reservation.stored_version == 0 and reservation.status is StepStatus.DONE
        save_step(uow.connection, reservations, {"order_id": reservation.order_id}, reservation,
                  {"updated_at": _now()})
        if newly_reserved:
            uow.connection.execute(reservation_lines.insert(), [
                {"order_id": reservation.order_id, "sku": sku, "quantity": quantity}
                for sku, quantity in sorted(reservation.lines.items())])
        log.info("reservation %s %s (v%d)%s", reservation.order_id, reservation.stored_status,
                 reservation.version, f": {reservation.reason}" if reservation.reason else "")


class Stock:
    def levels(self, connection: Connection, skus: list[str] | Mapping[str, int],
               for_update: bool = False) -> dict[str, StockLevel]:
        # Locking in sku order: two reservations over the same products cannot deadlock.
        query = select(products).where(products.c.sku.in_(sorted(skus))).order_by(products.c.sku)
        if for_update:
            query = query.with_for_update()
        return {r.sku: StockLevel(r.sku, r.available, r.reserved) for r in connection.execute(query)}

    def move(self, connection: Connection, lines: Mapping[str, int], sign: int) -> None:
        """Reserve (+1) or release (-1) the quantities of ``lines``: one statement for all of them."""
        now = _now()
        connection.execute(_MOVE_STOCK, [{"product": sku, "quantity": sign * quantity, "now": now}
                                         for sku, quantity in sorted(lines.items())])

    def set_available(self, connection: Connection, sku: str, available: int) -> None:
        statement = mysql_insert(products).values(sku=sku, available=available, reserved=0, updated_at=_now())
        connection.execute(statement.on_duplicate_key_update(available=available, updated_at=_now()))


reservation_repository = Reservations()
stock = Stock()
