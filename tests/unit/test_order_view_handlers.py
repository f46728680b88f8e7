"""The read model's projection handler through its in-memory unit of work."""

from __future__ import annotations

from datetime import datetime

from outboxkit import Envelope, Event
from services.contracts import (
    OrderCancelled,
    OrderCreated,
    OrderLine,
    PaymentFailed,
    PointsDeducted,
    PointsReturned,
    StockLine,
    StockReleased,
    StockReserved,
)
from services.order_view.in_memory import InMemoryOrderViewUnitOfWork
from services.order_view.main import HANDLERS

T0 = datetime(2026, 1, 1, 12, 0, 0)


def project(uow: InMemoryOrderViewUnitOfWork, event: Event, aggregate: str, version: int) -> None:
    with uow:
        HANDLERS[type(event)].handler(
            uow, event, Envelope(f"e-{aggregate}-{version}", aggregate, version, T0)
        )


def test_a_points_redemption_and_its_compensation_show_in_the_view_and_its_timeline():
    uow = InMemoryOrderViewUnitOfWork()
    project(uow, PointsDeducted("o-1", "c-1", 300, 700, "EUR"), "points", 1)  # before the order's own
    project(uow, OrderCreated("o-1", "c-1", (OrderLine("A", 2, 500),), 1000, "EUR", points=300), "order", 1)
    project(uow, StockReserved("o-1", (StockLine("A", 2),), 1000, "EUR"), "inventory", 1)
    project(uow, PaymentFailed("o-1", "declined"), "payment", 1)
    project(uow, OrderCancelled("o-1", "payment failed: declined"), "order", 2)
    project(uow, PointsReturned("o-1", "c-1", 300), "points", 2)
    project(uow, StockReleased("o-1", (StockLine("A", 2),)), "inventory", 2)
    view = uow.views.load("o-1")
    assert (view.status, view.points, view.points_status, view.stock) == (
        "CANCELLED",
        300,
        "RETURNED",
        "RELEASED",
    )
    assert view.versions == {"points": 2, "order": 2, "inventory": 2, "payment": 1}
    summaries = [entry.summary for entry in uow.views.timeline("o-1")]
    assert summaries[0] == "300 points deducted from c-1"
    assert "redeeming 300 points" in summaries[1] and summaries[5] == "300 points returned to c-1"
