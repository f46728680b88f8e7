"""The inventory's SQL repositories and unit of work: reservations and stock levels in one
transaction.

Saving a reservation writes its row (and its lines when it was just reserved) and, in the same
transaction, the outbox rows of the events it caused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.dialects.mysql import insert as mysql_insert

from outboxkit import (
    BatchInserts,
    BatchRows,
    OutboxRows,
    SqlUnitOfWork,
    StepStatus,
    emit_changes,
    save_step,
    utc_now,
)
from services.contracts import OrderCreated, ReserveStock
from services.inventory.domain import Reservation, StockLevel
from services.inventory.tables import products, reservation_lines, reservations
from services.inventory.unit_of_work import InventoryUnitOfWork

log = logging.getLogger(__name__)


# Statements built once (SQLAlchemy caches their compiled form; the values travel as parameters).
_RESERVATIONS_WITH_LINES = (
    select(
        reservations.c.order_id,
        reservations.c.status,
        reservations.c.version,
        reservations.c.reason,
        reservation_lines.c.sku,
        reservation_lines.c.quantity,
    )
    .outerjoin(reservation_lines, reservation_lines.c.order_id == reservations.c.order_id)
    .where(reservations.c.order_id.in_(bindparam("order_ids", expanding=True)))
    .with_for_update(of=reservations)
)
# Locking in sku order: two reservations over the same products cannot deadlock.
_PRODUCTS = (
    select(products).where(products.c.sku.in_(bindparam("skus", expanding=True))).order_by(products.c.sku)
)
_PRODUCTS_LOCKED = _PRODUCTS.with_for_update()


def _read_reservations(connection: Connection, order_ids: list[str]) -> dict[str, Reservation]:
    found: dict[str, Reservation] = {}
    for row in connection.execute(_RESERVATIONS_WITH_LINES, {"order_ids": order_ids}):
        reservation = found.get(row.order_id)
        if reservation is None:
            reservation = found[row.order_id] = Reservation(
                row.order_id,
                Reservation.labels.status(row.status),
                row.version,
                row.reason,
                stored_version=row.version,
            )
        if row.sku is not None:
            reservation.lines[row.sku] = row.quantity
    return found


def _read_products(connection: Connection, skus: list[str]) -> dict[str, StockLevel]:
    return {
        r.sku: StockLevel(r.sku, r.available, r.reserved)
        for r in connection.execute(_PRODUCTS_LOCKED, {"skus": skus})
    }


class SqlReservations:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def rows(self) -> BatchRows[str, Reservation]:
        return BatchRows.of(self._uow, reservations, "order_id", _read_reservations)

    def load(self, order_id: str) -> Reservation:
        """The order's reservation (NEW when there is none yet), its row locked (with those of
        the rest of the batch)."""
        return self.rows().get(order_id) or Reservation(order_id)

    def save(self, reservation: Reservation) -> None:
        emit_changes(self._uow, reservation)
        newly_reserved = reservation.stored_version == 0 and reservation.status is StepStatus.DONE
        save_step(self.rows(), reservation, {"updated_at": utc_now()})
        if newly_reserved:
            BatchInserts.of(self._uow, reservation_lines).add(
                {"order_id": reservation.order_id, "sku": sku, "quantity": quantity}
                for sku, quantity in sorted(reservation.lines.items())
            )
        log.info(
            "reservation %s %s (v%d)%s",
            reservation.order_id,
            reservation.stored_status,
            reservation.version,
            f": {reservation.reason}" if reservation.reason else "",
        )


class SqlStock:
    def __init__(self, uow: SqlInventoryUnitOfWork) -> None:
        self._uow = uow

    def _skus_in_batch(self) -> set[str]:
        """The products the batch's records may move: the lines of its requests and of the
        reservations read so far (a release names none of its own)."""
        skus = {
            line.sku
            for event in self._uow.batch
            if isinstance(event, OrderCreated | ReserveStock)
            for line in event.lines
        }
        for reservation in self._uow.reservations.rows().read():
            skus.update(reservation.lines)
        return skus

    def rows(self) -> BatchRows[str, StockLevel]:
        return BatchRows.of(self._uow, products, "sku", _read_products, self._skus_in_batch)

    def levels(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        """The products' stock levels, their rows locked until the commit (unknown skus absent)."""
        rows = self.rows()
        wanted = sorted(skus)
        rows.prefetch(wanted)
        return {sku: level for sku in wanted if (level := rows.get(sku)) is not None}

    def move(self, lines: Mapping[str, int], sign: int) -> None:
        """Reserve (+1) or release (-1) the quantities of ``lines`` (read by :meth:`levels` first)."""
        rows = self.rows()
        now = utc_now()
        for sku, quantity in sorted(lines.items()):
            level = rows.get(sku)
            if level is None:
                raise LookupError(f"product {sku} was not read before its stock moved")
            moved = StockLevel(sku, level.available - sign * quantity, level.reserved + sign * quantity)
            rows.put(
                sku, moved, {"available": moved.available, "reserved": moved.reserved, "updated_at": now}
            )

    def set_available(self, sku: str, available: int) -> StockLevel:
        connection = self._uow.connection
        statement = mysql_insert(products).values(
            sku=sku, available=available, reserved=0, updated_at=utc_now()
        )
        connection.execute(statement.on_duplicate_key_update(available=available, updated_at=utc_now()))
        return current_levels(connection, [sku])[sku]


def current_levels(connection: Connection, skus: list[str]) -> dict[str, StockLevel]:
    """The products' stock levels as committed (no lock): for readers."""
    return {
        r.sku: StockLevel(r.sku, r.available, r.reserved)
        for r in connection.execute(_PRODUCTS, {"skus": sorted(skus)})
    }


class SqlInventoryUnitOfWork(SqlUnitOfWork, InventoryUnitOfWork):
    """The inventory's transaction: reservations and stock in inventory_db, with its outbox."""

    reservations: SqlReservations  # its repositories, as the SQL side of them
    stock: SqlStock

    def __init__(self, engine: Engine, outbox: OutboxRows | None = None) -> None:
        super().__init__(engine, outbox)
        self.reservations = SqlReservations(self)
        self.stock = SqlStock(self)
