"""The read model's SQL repository and unit of work (order views in query_db); the queries the
order API reads them with."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, select

from outboxkit import MessagingTables, OutboxRows, SqlUnitOfWork
from services.contracts import OrderLine
from services.order_view.projection import OrderView, TimelineEntry
from services.order_view.tables import order_view_timeline, order_views
from services.order_view.unit_of_work import OrderViewUnitOfWork

MAX_SUMMARY = 512


def _lines_json(lines: tuple[OrderLine, ...]) -> str:
    return json.dumps(
        [
            {"sku": line.sku, "quantity": line.quantity, "unitPriceCents": line.unit_price_cents}
            for line in lines
        ]
    )


def _view_of(row: Any) -> OrderView:
    lines = tuple(
        OrderLine(item["sku"], item["quantity"], item["unitPriceCents"]) for item in json.loads(row.lines)
    )
    versions = {
        aggregate: version
        for aggregate, version in (
            ("order", row.order_version),
            ("inventory", row.inventory_version),
            ("points", row.points_version),
            ("payment", row.payment_version),
        )
        if version
    }
    return OrderView(
        order_id=row.order_id,
        customer_id=row.customer_id,
        order_status=row.order_status,
        currency=row.currency,
        total_cents=row.total_cents,
        lines=lines,
        flow=row.flow,
        stock=row.stock,
        stock_reason=row.stock_reason,
        payment=row.payment,
        payment_id=row.payment_id,
        payment_reason=row.payment_reason,
        points=row.points or 0,
        points_status=row.points_status,
        points_reason=row.points_reason,
        cancel_reason=row.cancel_reason,
        versions=versions,
        placed_at=row.placed_at,
        updated_at=row.updated_at,
        stored=True,
    )


# Built once: a statement made per event costs more in SQLAlchemy than the database round trip.
_UPDATE_VIEW = order_views.update().where(order_views.c.order_id == bindparam("view_id"))
_LOAD_FOR_UPDATE = select(order_views).where(order_views.c.order_id == bindparam("view_id")).with_for_update()


class SqlOrderViews:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def load(self, order_id: str) -> OrderView:
        """The order's view (a new one if the order has none yet), locked until the commit."""
        row = self._uow.connection.execute(_LOAD_FOR_UPDATE, {"view_id": order_id}).first()
        return _view_of(row) if row is not None else OrderView(order_id)

    def save(self, view: OrderView) -> None:
        _save(self._uow.connection, view)


class SqlOrderViewUnitOfWork(SqlUnitOfWork, OrderViewUnitOfWork):
    """The read model's transaction in query_db (it emits nothing)."""

    def __init__(self, engine: Engine, outbox: OutboxRows | None = None) -> None:
        super().__init__(engine, outbox)
        self.views = SqlOrderViews(self)


def _save(connection: Connection, view: OrderView) -> None:
    """Write the view's row and the timeline entries it gained since it was loaded."""
    row = {
        "status": view.status,
        "order_status": view.order_status,
        "customer_id": view.customer_id,
        "currency": view.currency,
        "total_cents": view.total_cents,
        "lines": _lines_json(view.lines),
        "flow": view.flow,
        "stock": view.stock,
        "stock_reason": view.stock_reason,
        "payment": view.payment,
        "payment_id": view.payment_id,
        "payment_reason": view.payment_reason,
        "points": view.points,
        "points_status": view.points_status,
        "points_reason": view.points_reason,
        "cancel_reason": view.cancel_reason,
        "order_version": view.version_of("order"),
        "inventory_version": view.version_of("inventory"),
        "payment_version": view.version_of("payment"),
        "points_version": view.version_of("points"),
        "placed_at": view.placed_at,
        "updated_at": view.updated_at,
    }
    if view.stored:
        connection.execute(_UPDATE_VIEW, {"view_id": view.order_id, **row})
    else:
        connection.execute(order_views.insert(), {"order_id": view.order_id, **row})
        view.stored = True
    if view.timeline:
        connection.execute(
            order_view_timeline.insert(),
            [
                {
                    "order_id": view.order_id,
                    "event_id": entry.event_id,
                    "aggregate_type": entry.aggregate_type,
                    "aggregate_version": entry.aggregate_version,
                    "event_type": entry.event_type,
                    "occurred_at": entry.occurred_at,
                    "summary": entry.summary[:MAX_SUMMARY],
                }
                for entry in view.timeline
            ],
        )
        view.timeline.clear()


def read(connection: Connection, order_id: str) -> OrderView | None:
    """The order's view with its whole timeline, oldest first; None if the view has no such order."""
    row = connection.execute(select(order_views).where(order_views.c.order_id == order_id)).first()
    if row is None:
        return None
    view = _view_of(row)
    t = order_view_timeline.c
    view.timeline = [
        TimelineEntry(
            r.event_id, r.aggregate_type, r.aggregate_version, r.event_type, r.occurred_at, r.summary
        )
        for r in connection.execute(
            select(order_view_timeline)
            .where(t.order_id == order_id)
            .order_by(t.occurred_at, t.aggregate_type, t.aggregate_version)
        )
    ]
    return view


def page(connection: Connection, status: str | None, limit: int, offset: int) -> tuple[list[OrderView], int]:
    """Views newest first (optionally of one status), and how many there are in all."""
    where = [order_views.c.status == status] if status else []
    total = connection.execute(select(func.count()).select_from(order_views).where(*where)).scalar_one()
    rows = connection.execute(
        select(order_views)
        .where(*where)
        .order_by(order_views.c.placed_at.desc(), order_views.c.order_id)
        .limit(limit)
        .offset(offset)
    )
    return [_view_of(row) for row in rows], total


def clear(uow: SqlUnitOfWork, messaging: MessagingTables, group_id: str) -> int:
    """Delete every view and what the consumer group remembers of the events it applied (inbox,
    versions, dead letters), so the topics can be applied again from the start; returns the
    number of views deleted."""
    connection = uow.connection
    deleted = connection.execute(delete(order_views)).rowcount
    connection.execute(delete(order_view_timeline))
    for table in (messaging.inbox, messaging.aggregate_versions, messaging.dead_letters):
        connection.execute(delete(table).where(table.c.consumer_group == group_id))
    return int(deleted)
