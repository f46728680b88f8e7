"""The points service's handlers through its in-memory unit of work: deduct, refuse, return, void."""

from __future__ import annotations

import pytest

from outboxkit import Event, TransitionRefused
from services.contracts import (
    ORCHESTRATED,
    DeductPoints,
    OrderCancelled,
    ReturnPoints,
    StockLine,
    StockReserved,
)
from services.points.commands import HANDLERS, set_points
from services.points.in_memory import InMemoryPointsUnitOfWork


def handle(uow: InMemoryPointsUnitOfWork, event: Event) -> None:
    with uow:
        HANDLERS[type(event)](uow, event)


def reserved(order_id: str, points: int, customer: str = "c-1") -> StockReserved:
    return StockReserved(order_id, (StockLine("A", 1),), 1000, "EUR", "choreographed", customer, points)


def test_reserved_stock_of_an_order_redeeming_points_deducts_them_and_leaves_the_rest_to_charge():
    uow = InMemoryPointsUnitOfWork({"c-1": 500})
    handle(uow, reserved("o-1", 300))
    assert uow.accounts.items == {"c-1": 200}
    assert uow.payloads("PointsDeducted") == [
        {
            "orderId": "o-1",
            "customerId": "c-1",
            "points": 300,
            "amountCents": 700,
            "currency": "EUR",
            "flow": "choreographed",
        }
    ]


def test_an_order_without_points_is_none_of_its_business():
    uow = InMemoryPointsUnitOfWork({"c-1": 500})
    handle(uow, reserved("o-1", 0))
    assert uow.messages == [] and uow.redemptions.items == {}


def test_too_few_points_refuse_the_order_with_the_reason_and_take_nothing():
    uow = InMemoryPointsUnitOfWork({"c-1": 50})
    handle(uow, DeductPoints("o-1", "c-1", 120, 30, "EUR"))
    handle(uow, DeductPoints("o-2", "nobody", 10, 90, "EUR"))
    assert uow.accounts.items == {"c-1": 50}
    assert [p["reason"] for p in uow.payloads("PointsRejected")] == [
        "insufficient points: c-1 has 50, the order redeems 120",
        "insufficient points: nobody has 0, the order redeems 10",
    ]


def test_points_are_deducted_once_however_often_asked():
    uow = InMemoryPointsUnitOfWork({"c-1": 500})
    handle(uow, DeductPoints("o-1", "c-1", 100, 0, "EUR"))
    with pytest.raises(TransitionRefused):
        handle(uow, DeductPoints("o-1", "c-1", 100, 0, "EUR"))
    with pytest.raises(TransitionRefused):
        handle(uow, reserved("o-1", 100))
    assert uow.accounts.items == {"c-1": 400} and uow.event_types() == ["PointsDeducted"]
    assert uow.payloads("PointsDeducted")[0]["flow"] == ORCHESTRATED


def test_a_cancelled_orders_points_are_returned_once():
    uow = InMemoryPointsUnitOfWork({"c-1": 500})
    handle(uow, reserved("o-1", 300))
    handle(uow, OrderCancelled("o-1", "payment failed: declined", points=300))
    with pytest.raises(TransitionRefused):
        handle(uow, ReturnPoints("o-1"))
    assert uow.accounts.items == {"c-1": 500}
    assert uow.event_types() == ["PointsDeducted", "PointsReturned"]
    assert uow.redemptions.items["o-1"].stored_status == "RETURNED"


def test_a_cancelled_order_that_redeemed_no_points_leaves_nothing_here():
    uow = InMemoryPointsUnitOfWork({"c-1": 500})
    handle(uow, OrderCancelled("o-1", "stock rejected: insufficient stock"))
    assert uow.redemptions.items == {} and uow.messages == []


def test_a_cancellation_before_the_deduction_voids_it_and_late_reserved_stock_takes_nothing():
    uow = InMemoryPointsUnitOfWork({"c-1": 500})
    handle(uow, OrderCancelled("o-1", "customer changed their mind", points=100))
    with pytest.raises(TransitionRefused):
        handle(uow, reserved("o-1", 100))
    assert uow.accounts.items == {"c-1": 500} and uow.messages == []


def test_a_return_before_the_deduction_voids_it_and_a_late_request_takes_nothing():
    uow = InMemoryPointsUnitOfWork({"c-1": 500})
    handle(uow, ReturnPoints("o-1"))
    with pytest.raises(TransitionRefused):
        handle(uow, DeductPoints("o-1", "c-1", 100, 0, "EUR"))
    assert uow.accounts.items == {"c-1": 500} and uow.messages == []
    assert uow.redemptions.items["o-1"].stored_status == "VOIDED"


def test_set_points_checks_its_values():
    uow = InMemoryPointsUnitOfWork()
    set_points(lambda: uow, "c-9", 40)
    assert uow.accounts.items == {"c-9": 40}
    with pytest.raises(ValueError, match="points balance must be between 0"):
        set_points(lambda: uow, "c-9", -1)
