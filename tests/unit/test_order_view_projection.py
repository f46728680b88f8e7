"""The order view's projection: pure rules, events in, view out."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outboxkit.domain.events import Envelope, Event
from services.contracts import (
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    PaymentCompleted,
    PaymentFailed,
    StockLine,
    StockReleased,
    StockReserved,
)
from services.order_view.projection import OrderView, TimelineEntry

T0 = datetime(2026, 11, 26, 12, 0, 0)
ORDER = "o-1"


def envelope(aggregate: str, version: int, seconds: float) -> Envelope:
    return Envelope(f"{aggregate}-{version}", aggregate, version, T0 + timedelta(seconds=seconds))


CREATED = (OrderCreated(ORDER, "alice", (OrderLine("APPLE", 2, 150),), 300, "EUR"), envelope("order", 1, 0))
RESERVED = (StockReserved(ORDER, (StockLine("APPLE", 2),), 300, "EUR"), envelope("inventory", 1, 1))
PAID = (PaymentCompleted(ORDER, "pay-1", 300), envelope("payment", 1, 2))
CONFIRMED = (OrderConfirmed(ORDER, "pay-1"), envelope("order", 3, 3))


def project(*events: tuple[Event, Envelope]) -> OrderView:
    view = OrderView(ORDER)
    for event, meta in events:
        view.apply(event, meta)
    return view


def test_a_confirmed_order_has_its_lines_outcomes_versions_and_timeline() -> None:
    view = project(CREATED, RESERVED, PAID, CONFIRMED)
    assert view.status == "CONFIRMED" and view.customer_id == "alice" and view.total_cents == 300
    assert view.lines == (OrderLine("APPLE", 2, 150),)
    assert (view.stock, view.payment, view.payment_id) == ("RESERVED", "COMPLETED", "pay-1")
    assert view.versions == {"order": 3, "inventory": 1, "payment": 1}
    assert view.placed_at == T0 and view.updated_at == T0 + timedelta(seconds=3)
    assert [e.event_type for e in view.timeline] == [
        "OrderCreated",
        "StockReserved",
        "PaymentCompleted",
        "OrderConfirmed",
    ]
    assert view.timeline[2].summary == "payment of 3.00 completed (pay-1)"


def test_between_placing_and_payment_the_status_says_the_stock_is_reserved() -> None:
    assert project(CREATED).status == "PENDING"
    assert project(CREATED, RESERVED).status == "STOCK_RESERVED"


def test_a_participant_event_before_order_created_starts_the_view_and_loses_nothing() -> None:
    early = project(RESERVED, PAID)
    assert early.customer_id is None and early.status == "STOCK_RESERVED"
    late = project(RESERVED, PAID, CREATED, CONFIRMED)
    assert late.customer_id == "alice" and late.status == "CONFIRMED"


def interleavings() -> list[list[tuple[Event, Envelope]]]:
    """Every merge of the three aggregates' streams that keeps each stream's own order (one
    partition each), as a rebuild or a lagging consumer may apply them."""
    streams: dict[str, list[tuple[Event, Envelope]]] = {
        "order": [CREATED, CONFIRMED],
        "inventory": [RESERVED],
        "payment": [PAID],
    }
    labels = [name for name, stream in streams.items() for _ in stream]
    merges = []
    for order in sorted(set(itertools.permutations(labels))):
        cursors = {name: iter(stream) for name, stream in streams.items()}
        merges.append([next(cursors[name]) for name in order])
    return merges


@pytest.mark.parametrize("events", interleavings())
def test_any_interleaving_of_the_aggregates_gives_the_same_view(events) -> None:
    reference = project(CREATED, RESERVED, PAID, CONFIRMED)
    view = project(*events)
    for attribute in (
        "status",
        "stock",
        "payment",
        "payment_id",
        "customer_id",
        "versions",
        "placed_at",
        "updated_at",
        "lines",
    ):
        assert getattr(view, attribute) == getattr(reference, attribute)

    def timeline(v: OrderView) -> list[TimelineEntry]:
        return sorted(v.timeline, key=lambda e: (e.occurred_at, e.aggregate_type, e.aggregate_version))

    assert timeline(view) == timeline(reference)


def test_a_declined_payment_cancels_and_releases() -> None:
    view = project(
        CREATED,
        RESERVED,
        (PaymentFailed(ORDER, "declined"), envelope("payment", 1, 2)),
        (OrderCancelled(ORDER, "payment failed: declined"), envelope("order", 3, 3)),
        (StockReleased(ORDER, (StockLine("APPLE", 2),)), envelope("inventory", 2, 4)),
    )
    assert (view.status, view.stock, view.payment) == ("CANCELLED", "RELEASED", "FAILED")
    assert view.payment_reason == "declined" and view.cancel_reason == "payment failed: declined"


def test_an_event_the_view_does_not_know_is_refused_loudly() -> None:
    from services.contracts import ReserveStock

    with pytest.raises(TypeError, match="does not project ReserveStock"):
        OrderView(ORDER).apply(ReserveStock(ORDER, (), 0, "EUR"), envelope("inventory.commands", 1, 0))


def test_a_projection_handler_is_given_the_envelope_of_the_record() -> None:
    from outboxkit.base.messages import ConsumedEvent
    from outboxkit.consuming.dispatch import EventRoutes, WithEnvelope

    seen: list[tuple[object, Envelope]] = []
    routes: EventRoutes[Any] = EventRoutes(
        {OrderConfirmed: WithEnvelope(lambda _uow, event, meta: seen.append((event, meta)))}, "test"
    )
    occurred = datetime(2026, 11, 26, 12, 0, 0, 123456).astimezone()
    record = ConsumedEvent(
        "order.events",
        1,
        7,
        ORDER,
        {},
        "e-9",
        "OrderConfirmed",
        3,
        {"orderId": ORDER, "paymentId": "pay-9", "occurredAt": occurred},
        1,
        0.0,
    )
    routes.handle(None, record, routes.typed(record))
    assert seen == [
        (
            OrderConfirmed(ORDER, "pay-9"),
            Envelope("e-9", "order", 3, occurred.astimezone(UTC).replace(tzinfo=None)),
        )
    ]
