"""The order service's SQL repositories and unit of work: orders and saga instances in order_db.

Saving writes the order's row and, in the same transaction, the outbox rows of the events its
changes caused (:func:`outboxkit.domain.aggregate.emit_changes`): a saved change cannot lose its event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, or_, select

from outboxkit import (
    BatchInserts,
    BatchRows,
    NotFoundError,
    OutboxRows,
    RecordRejectedError,
    SagaInstance,
    SqlUnitOfWork,
    emit_changes,
    insert_of,
    utc_now,
)
from services.contracts import CHOREOGRAPHED
from services.order.domain import OPEN, Order, OrderLine, OrderStatus
from services.order.orchestration import WAITING, OrderSaga, SagaState, order_saga
from services.order.tables import order_lines, orders, saga_history, sagas
from services.order.unit_of_work import OrderUnitOfWork

log = logging.getLogger(__name__)


class OrderNotFoundError(RecordRejectedError, NotFoundError):
    pass


# The order and its lines in one round trip (locking the order's row when asked).
_ORDER_WITH_LINES = (
    select(orders, order_lines.c.sku, order_lines.c.quantity, order_lines.c.unit_price_cents)
    .join(order_lines, order_lines.c.order_id == orders.c.id)
    .where(orders.c.id == bindparam("order_id"))
    .order_by(order_lines.c.line_no)
)
_ORDERS_WITH_LINES = (
    select(orders, order_lines.c.sku, order_lines.c.quantity, order_lines.c.unit_price_cents)
    .join(order_lines, order_lines.c.order_id == orders.c.id)
    .where(orders.c.id.in_(bindparam("order_ids", expanding=True)))
    .order_by(orders.c.id, order_lines.c.line_no)
    .with_for_update(of=orders)
)


def _order_of(rows: Sequence[Any]) -> Order:
    row = rows[0]
    return Order(
        id=row["id"],
        customer_id=row["customer_id"],
        currency=row["currency"],
        status=OrderStatus(row["status"]),
        version=row["version"],
        cancel_reason=row["cancel_reason"],
        payment_id=row["payment_id"],
        flow=row["flow"] or CHOREOGRAPHED,
        points=row["points"] or 0,
        lines=[OrderLine(r["sku"], r["quantity"], r["unit_price_cents"]) for r in rows],
    )


def get(connection: Connection, order_id: str) -> Order | None:
    """The order as committed (no lock): for readers."""
    rows = connection.execute(_ORDER_WITH_LINES, {"order_id": order_id}).mappings().all()
    return _order_of(rows) if rows else None


def _read_orders(connection: Connection, order_ids: list[str]) -> dict[str, Order]:
    by_order: dict[str, list[Any]] = {}
    for row in connection.execute(_ORDERS_WITH_LINES, {"order_ids": order_ids}).mappings():
        by_order.setdefault(row["id"], []).append(row)
    return {order_id: _order_of(rows) for order_id, rows in by_order.items()}


class SqlOrders:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _rows(self) -> BatchRows[str, Order]:
        return BatchRows.of(self._uow, orders, "id", _read_orders)

    def add(self, order: Order) -> None:
        now = utc_now()
        # Encoding first: an event the registry refuses stops us before any row is written.
        emit_changes(self._uow, order)
        connection = self._uow.connection
        connection.execute(
            insert_of(orders),
            {
                "id": order.id,
                "customer_id": order.customer_id,
                "status": order.status.value,
                "currency": order.currency,
                "total_cents": order.total_cents,
                "points": order.points,
                "version": order.version,
                "created_at": now,
                "updated_at": now,
                "flow": order.flow,
            },
        )
        connection.execute(
            insert_of(order_lines),
            [
                {
                    "order_id": order.id,
                    "line_no": n,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price_cents": line.unit_price_cents,
                }
                for n, line in enumerate(order.lines, start=1)
            ],
        )

    def load(self, order_id: str) -> Order:
        """The order, its row locked until the transaction ends (with those of the rest of the batch)."""
        order = self._rows().get(order_id)
        if order is None:
            raise OrderNotFoundError(f"no order {order_id}")
        return order

    def save(self, order: Order) -> None:
        emit_changes(self._uow, order)
        log.info(
            "order %s %s (v%d)%s",
            order.id,
            order.status.value,
            order.version,
            f": {order.cancel_reason}" if order.status is OrderStatus.CANCELLED else "",
        )
        self._rows().put(
            order.id,
            order,
            {
                "status": order.status.value,
                "version": order.version,
                "cancel_reason": order.cancel_reason,
                "payment_id": order.payment_id,
                "updated_at": utc_now(),
            },
        )

    def open_ids_before(self, cutoff: datetime, limit: int) -> list[str]:
        query = (
            select(orders.c.id)
            .where(orders.c.status.in_([status.value for status in OPEN]))
            .where(orders.c.created_at < cutoff)
            # Orchestrated orders have their step deadlines (services/order/orchestration.py).
            .where(or_(orders.c.flow.is_(None), orders.c.flow == CHOREOGRAPHED))
            .order_by(orders.c.created_at)
            .limit(limit)
        )
        return list(self._uow.connection.execute(query).scalars())


# --- orchestrated sagas ----------------------------------------------------------------------

_SAGAS = (
    select(
        sagas,
        select(func.count())
        .where(saga_history.c.order_id == sagas.c.order_id)
        .scalar_subquery()
        .label("history_length"),
    )
    .where(sagas.c.order_id.in_(bindparam("order_ids", expanding=True)))
    .with_for_update(of=sagas)
)


def _read_sagas(connection: Connection, order_ids: list[str]) -> dict[str, SagaInstance[SagaState]]:
    return {
        row.order_id: SagaInstance(
            row.order_id,
            SagaState(row.state),
            row.step_deadline,
            row.version,
            stored_version=row.version,
            stored_history=row.history_length,
        )
        for row in connection.execute(_SAGAS, {"order_ids": order_ids})
    }


class SqlSagas:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _rows(self) -> BatchRows[str, SagaInstance[SagaState]]:
        return BatchRows.of(self._uow, sagas, "order_id", _read_sagas)

    def load(self, order_id: str) -> SagaInstance[SagaState] | None:
        return self._rows().get(order_id)

    def save(self, saga: SagaInstance[SagaState]) -> None:
        rows = self._rows()
        if saga.new_history:
            BatchInserts.of(self._uow, saga_history).add(
                {
                    "order_id": saga.saga_id,
                    "seq": saga.stored_history + n,
                    "at": entry.at,
                    "trigger_name": entry.trigger,
                    "from_state": entry.from_state,
                    "to_state": entry.to_state,
                    "commands": ",".join(entry.commands),
                    "note": entry.note[:255],
                }
                for n, entry in enumerate(saga.new_history, start=1)
            )
            for entry in saga.new_history:
                log.info(
                    "saga %s: %s %s -> %s%s%s",
                    saga.saga_id,
                    entry.trigger,
                    entry.from_state,
                    entry.to_state,
                    f" sends {', '.join(entry.commands)}" if entry.commands else "",
                    f" ({entry.note})" if entry.note else "",
                )
        new = saga.stored_version == 0
        changed = saga.version != saga.stored_version or saga.new_history
        saga.stored_version, saga.stored_history = saga.version, saga.stored_history + len(saga.new_history)
        saga.new_history = []
        values = {
            "state": saga.state.value,
            "step_deadline": saga.step_deadline,
            "version": saga.version,
            "updated_at": utc_now(),
        }
        if new:
            rows.add(saga.saga_id, saga, values)
        elif changed:
            rows.put(saga.saga_id, saga, values)

    def overdue_ids(self, cutoff: datetime, limit: int) -> list[str]:
        query = (
            select(sagas.c.order_id)
            .where(sagas.c.state.in_([state.value for state in WAITING]), sagas.c.step_deadline < cutoff)
            .order_by(sagas.c.step_deadline)
            .limit(limit)
        )
        return list(self._uow.connection.execute(query).scalars())


class SqlOrderUnitOfWork(SqlUnitOfWork, OrderUnitOfWork):
    """The order service's transaction: orders and sagas in order_db, with its outbox."""

    def __init__(self, engine: Engine, outbox: OutboxRows | None, saga: OrderSaga | None = None) -> None:
        super().__init__(engine, outbox)
        self.orders = SqlOrders(self)
        self.sagas = SqlSagas(self)
        self.saga = saga or order_saga()


def saga_history_of(connection: Connection, order_id: str) -> list[Any]:
    return list(
        connection.execute(
            select(saga_history).where(saga_history.c.order_id == order_id).order_by(saga_history.c.seq)
        )
    )
