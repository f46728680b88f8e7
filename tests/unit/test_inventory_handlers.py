"""The inventory's handlers through its in-memory unit of work: reserve, reject, release, void."""

from __future__ import annotations

import pytest

from outboxkit import Event, TransitionRefused
from services.contracts import (
    ORCHESTRATED,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    ReleaseStock,
    ReserveStock,
    StockLine,
)
from services.inventory.commands import HANDLERS, set_stock
from services.inventory.domain import StockLevel
from services.inventory.in_memory import InMemoryInventoryUnitOfWork


def handle(uow: InMemoryInventoryUnitOfWork, event: Event) -> None:
    with uow:
        HANDLERS[type(event)](uow, event)


def created(order_id: str, quantity: int, flow: str = "choreographed", points: int = 0) -> OrderCreated:
    return OrderCreated(
        order_id, "c-1", (OrderLine("A", quantity, 100),), quantity * 100, "EUR", flow, points
    )


def test_an_order_reserves_its_stock_and_says_so_with_what_the_next_steps_need():
    uow = InMemoryInventoryUnitOfWork({"A": 5})
    handle(uow, created("o-1", 2, points=50))
    assert uow.stock.items["A"] == StockLevel("A", 3, 2)
    assert uow.event_types() == ["StockReserved"]
    [reserved] = uow.payloads("StockReserved")
    assert (reserved["customerId"], reserved["points"], reserved["amountCents"]) == ("c-1", 50, 200)


def test_an_order_short_of_stock_is_rejected_and_nothing_moves():
    uow = InMemoryInventoryUnitOfWork({"A": 1})
    handle(uow, created("o-1", 2))
    assert uow.stock.items["A"] == StockLevel("A", 1, 0)
    assert uow.payloads("StockRejected") == [
        {"orderId": "o-1", "reason": "insufficient stock: A needs 2, 1 available"}
    ]


def test_an_orchestrated_order_waits_for_its_command():
    uow = InMemoryInventoryUnitOfWork({"A": 5})
    handle(uow, created("o-1", 2, flow=ORCHESTRATED))
    assert uow.messages == [] and uow.reservations.items == {}
    handle(uow, ReserveStock("o-1", (StockLine("A", 2),), 200, "EUR"))
    assert uow.stock.items["A"] == StockLevel("A", 3, 2)
    assert uow.payloads("StockReserved")[0]["flow"] == ORCHESTRATED


def test_a_repeated_request_is_refused_and_rolls_back():
    uow = InMemoryInventoryUnitOfWork({"A": 5})
    handle(uow, ReserveStock("o-1", (StockLine("A", 2),), 200, "EUR"))
    with pytest.raises(TransitionRefused):
        handle(uow, ReserveStock("o-1", (StockLine("A", 2),), 200, "EUR"))
    assert uow.stock.items["A"] == StockLevel("A", 3, 2) and uow.event_types() == ["StockReserved"]
    assert uow.rollbacks == 1


def test_release_gives_the_stock_back_once():
    uow = InMemoryInventoryUnitOfWork({"A": 5})
    handle(uow, created("o-1", 2))
    handle(uow, OrderCancelled("o-1", "payment failed"))
    with pytest.raises(TransitionRefused):
        handle(uow, ReleaseStock("o-1"))
    assert uow.stock.items["A"] == StockLevel("A", 5, 0)
    assert uow.event_types() == ["StockReserved", "StockReleased"]
    assert uow.reservations.items["o-1"].stored_status == "RELEASED"


def test_a_release_before_the_reservation_voids_it_and_a_late_request_cannot_reserve():
    uow = InMemoryInventoryUnitOfWork({"A": 5})
    handle(uow, ReleaseStock("o-1"))
    assert uow.reservations.items["o-1"].stored_status == "VOIDED" and uow.messages == []
    with pytest.raises(TransitionRefused):
        handle(uow, ReserveStock("o-1", (StockLine("A", 2),), 200, "EUR"))
    assert uow.stock.items["A"] == StockLevel("A", 5, 0)


def test_set_stock_keeps_what_is_reserved():
    uow = InMemoryInventoryUnitOfWork({"A": 5})
    handle(uow, created("o-1", 2))
    assert set_stock(lambda: uow, "A", 10) == StockLevel("A", 10, 2)
