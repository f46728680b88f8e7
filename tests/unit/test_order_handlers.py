"""The order service's use cases and handlers through its in-memory unit of work: both saga
styles, points, compensations, deadlines and refused transitions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from outboxkit import Event, TransitionRefused
from services.contracts import (
    ORCHESTRATED,
    PaymentCompleted,
    PaymentFailed,
    PointsDeducted,
    PointsRejected,
    StockRejected,
    StockReserved,
)
from services.order.commands import (
    HANDLERS,
    cancel_order,
    cancel_timed_out,
    deadlines_passed,
    expire_overdue_steps,
    place_order,
)
from services.order.domain import InvalidOrderError, OrderLine, OrderStatus
from services.order.in_memory import InMemoryOrderUnitOfWork
from services.order.orchestration import SagaState, order_saga


def handle(uow: InMemoryOrderUnitOfWork, event: Event) -> None:
    with uow:
        HANDLERS[type(event)](uow, event)


def place(uow: InMemoryOrderUnitOfWork, flow: str = "choreographed", points: int = 0) -> str:
    return place_order(lambda: uow, "c-1", [OrderLine("A", 2, 500)], flow=flow, points=points).id


def status(uow: InMemoryOrderUnitOfWork, order_id: str) -> OrderStatus:
    return uow.orders.items[order_id].status


def test_a_choreographed_order_follows_the_participants_replies():
    uow = InMemoryOrderUnitOfWork()
    order_id = place(uow, points=300)
    assert uow.payloads("OrderCreated")[0]["points"] == 300
    handle(uow, StockReserved(order_id, (), 1000, "EUR"))
    handle(uow, PointsDeducted(order_id, "c-1", 300, 700, "EUR"))  # the order waits for its payment
    assert status(uow, order_id) is OrderStatus.STOCK_RESERVED
    handle(uow, PaymentCompleted(order_id, "pay-1", 700))
    assert status(uow, order_id) is OrderStatus.CONFIRMED
    assert uow.event_types() == ["OrderCreated", "OrderConfirmed"]


def test_too_few_points_cancel_the_order_with_the_reason():
    uow = InMemoryOrderUnitOfWork()
    order_id = place(uow, points=300)
    handle(uow, StockReserved(order_id, (), 1000, "EUR"))
    handle(uow, PointsRejected(order_id, "insufficient points: c-1 has 10, the order redeems 300"))
    order = uow.orders.items[order_id]
    assert order.status is OrderStatus.CANCELLED
    assert order.cancel_reason == "points rejected: insufficient points: c-1 has 10, the order redeems 300"
    [cancelled] = uow.payloads("OrderCancelled")
    assert (cancelled["reason"], cancelled["points"]) == (order.cancel_reason, 300)


def test_points_beyond_the_total_are_refused_before_anything_is_written():
    uow = InMemoryOrderUnitOfWork()
    with pytest.raises(InvalidOrderError, match="points"):
        place(uow, points=1001)
    assert uow.orders.items == {} and uow.messages == []


def test_a_late_reply_to_a_final_order_is_refused_and_changes_nothing():
    uow = InMemoryOrderUnitOfWork()
    order_id = place(uow)
    handle(uow, StockRejected(order_id, "insufficient stock"))
    with pytest.raises(TransitionRefused):
        handle(uow, PaymentCompleted(order_id, "pay-1", 1000))
    assert status(uow, order_id) is OrderStatus.CANCELLED and uow.rollbacks == 1
    with pytest.raises(TransitionRefused):
        cancel_order(lambda: uow, order_id, "too late")


def test_an_orchestrated_order_redeeming_points_takes_the_points_step_and_charges_the_rest():
    uow = InMemoryOrderUnitOfWork()
    order_id = place(uow, ORCHESTRATED, points=300)
    assert uow.event_types() == ["OrderCreated", "ReserveStock"]
    handle(uow, StockReserved(order_id, (), 1000, "EUR", ORCHESTRATED))
    assert uow.payloads("DeductPoints") == [
        {"orderId": order_id, "customerId": "c-1", "points": 300, "amountCents": 700, "currency": "EUR"}
    ]
    handle(uow, PointsDeducted(order_id, "c-1", 300, 700, "EUR", ORCHESTRATED))
    assert uow.payloads("ChargePayment") == [{"orderId": order_id, "amountCents": 700, "currency": "EUR"}]
    handle(uow, PaymentCompleted(order_id, "pay-1", 700))
    assert status(uow, order_id) is OrderStatus.CONFIRMED
    assert uow.sagas.items[order_id].state is SagaState.COMPLETED


def test_an_orchestrated_order_without_points_goes_straight_to_the_charge():
    uow = InMemoryOrderUnitOfWork()
    order_id = place(uow, ORCHESTRATED)
    handle(uow, StockReserved(order_id, (), 1000, "EUR", ORCHESTRATED))
    assert uow.event_types()[-1] == "ChargePayment"


def test_a_declined_payment_compensates_in_reverse_points_then_stock():
    uow = InMemoryOrderUnitOfWork()
    order_id = place(uow, ORCHESTRATED, points=300)
    handle(uow, StockReserved(order_id, (), 1000, "EUR", ORCHESTRATED))
    handle(uow, PointsDeducted(order_id, "c-1", 300, 700, "EUR", ORCHESTRATED))
    handle(uow, PaymentFailed(order_id, "declined"))
    assert uow.event_types()[-3:] == ["ReturnPoints", "ReleaseStock", "OrderCancelled"]
    assert status(uow, order_id) is OrderStatus.CANCELLED


def test_a_customers_cancellation_while_charging_compensates_every_step_once():
    uow = InMemoryOrderUnitOfWork()
    order_id = place(uow, ORCHESTRATED, points=300)
    handle(uow, StockReserved(order_id, (), 1000, "EUR", ORCHESTRATED))
    handle(uow, PointsDeducted(order_id, "c-1", 300, 700, "EUR", ORCHESTRATED))
    cancel_order(lambda: uow, order_id, "changed my mind")
    assert uow.event_types()[-4:] == ["RefundPayment", "ReturnPoints", "ReleaseStock", "OrderCancelled"]
    handle(uow, PaymentCompleted(order_id, "pay-1", 700))  # late: answered with its compensation only
    assert uow.event_types()[-1] == "RefundPayment"
    assert status(uow, order_id) is OrderStatus.CANCELLED


def test_deadlines_cancel_choreographed_orders_and_expire_orchestrated_steps():
    uow = InMemoryOrderUnitOfWork(order_saga(step_timeout_s=0.0))
    waiting = place(uow)
    stepping = place(uow, ORCHESTRATED, points=100)
    handle(uow, StockReserved(stepping, (), 1000, "EUR", ORCHESTRATED))
    assert cancel_timed_out(lambda: uow, timedelta(0)) == 1
    assert expire_overdue_steps(lambda: uow) == 1
    assert status(uow, waiting) is status(uow, stepping) is OrderStatus.CANCELLED
    assert uow.event_types()[-3:] == ["ReturnPoints", "ReleaseStock", "OrderCancelled"]
    assert cancel_timed_out(lambda: uow, timedelta(0)) == expire_overdue_steps(lambda: uow) == 0


def test_a_sweep_asks_about_the_pipeline_only_when_a_deadline_has_passed():
    patient = InMemoryOrderUnitOfWork(order_saga(step_timeout_s=3600.0))
    place(patient)
    place(patient, ORCHESTRATED)
    assert not deadlines_passed(lambda: patient, timedelta(hours=1))
    assert deadlines_passed(lambda: patient, timedelta(0))  # the choreographed one is due
    stepping = InMemoryOrderUnitOfWork(order_saga(step_timeout_s=0.0))
    place(stepping, ORCHESTRATED)
    assert deadlines_passed(lambda: stepping, timedelta(hours=1))  # its step's deadline has passed
