"""One order's path can be followed across the three services: headers and log lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from outboxkit.kafka.replay import EventTap
from services.order.commands import place_order
from services.order.domain import OrderLine, OrderStatus
from tests.e2e.probes import new_sku, wait_final

pytestmark = pytest.mark.stack

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")


def test_every_event_of_an_order_carries_its_flow_its_cause_and_one_trace(ctx, settings, services):
    sku = new_sku(ctx, 5)
    placed_at = datetime.now(UTC) - timedelta(seconds=5)
    order = place_order(ctx["order"].uow_factory, "traced", [OrderLine(sku, 1, 500)])
    assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED

    with EventTap(["order.events", "inventory.events", "payment.events"], settings, since=placed_at) as tap:
        tap.wait_for(lambda events: sum(e.key == order.id for e in events) == 4 and tap.at_end(), 60)
    events = {e.event_type: e for e in tap.events if e.key == order.id}
    assert sorted(events) == ["OrderConfirmed", "OrderCreated", "PaymentCompleted", "StockReserved"]
    assert {e.headers["correlationId"] for e in events.values()} == {order.id}
    matches = {name: TRACEPARENT.match(e.headers["traceparent"]) for name, e in events.items()}
    parents = {name: match for name, match in matches.items() if match is not None}
    assert len(parents) == len(matches), {name: e.headers for name, e in events.items()}
    assert len({match.group(1) for match in parents.values()}) == 1  # one trace for the flow
    assert len({match.group(2) for match in parents.values()}) == 4  # a span per event
    created, reserved = events["OrderCreated"], events["StockReserved"]
    assert created.headers["causationId"] == created.event_id  # the flow's first event is its own cause
    assert reserved.headers["causationId"] == created.event_id
    assert events["PaymentCompleted"].headers["causationId"] == reserved.event_id
    assert events["OrderConfirmed"].headers["causationId"] == events["PaymentCompleted"].event_id

    # Each service's log names the order's flow on what it did for it.
    for name in ("inventory", "payment", "order"):
        lines = [line for line in services[name].log_text().splitlines() if f"[flow {order.id} " in line]
        assert lines, f"{name}-service logged nothing for flow {order.id}"
