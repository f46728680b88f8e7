"""The payment service's handlers through its in-memory unit of work and simulated gateway."""

from __future__ import annotations

import pytest

from outboxkit import Event, TransitionRefused
from services.contracts import (
    ORCHESTRATED,
    ChargePayment,
    OrderCancelled,
    PointsDeducted,
    RefundPayment,
    StockLine,
    StockReserved,
)
from services.payment.commands import HANDLERS
from services.payment.gateway import ChargeLedger, SimulatedGateway
from services.payment.in_memory import InMemoryPaymentUnitOfWork


def handle(uow: InMemoryPaymentUnitOfWork, event: Event) -> None:
    with uow:
        HANDLERS[type(event)](uow, event)


def reserved(order_id: str, points: int = 0) -> StockReserved:
    return StockReserved(order_id, (StockLine("A", 1),), 1000, "EUR", "choreographed", "c-1", points)


@pytest.fixture
def gateway() -> SimulatedGateway:
    return SimulatedGateway(limit_cents=5000, ledger=ChargeLedger(":memory:"))


def test_reserved_stock_is_charged_once(gateway):
    uow = InMemoryPaymentUnitOfWork(gateway)
    handle(uow, reserved("o-1"))
    with pytest.raises(TransitionRefused):
        handle(uow, reserved("o-1"))  # a redelivery: refused before the gateway is called
    assert gateway.ledger.lookup("o-1").calls == 1
    assert (
        uow.event_types() == ["PaymentCompleted"]
        and uow.payloads("PaymentCompleted")[0]["amountCents"] == 1000
    )


def test_an_order_redeeming_points_is_charged_the_rest_after_they_are_deducted(gateway):
    uow = InMemoryPaymentUnitOfWork(gateway)
    handle(uow, reserved("o-1", points=300))
    assert uow.messages == [] and gateway.ledger.lookup("o-1") is None
    handle(uow, PointsDeducted("o-1", "c-1", 300, 700, "EUR"))
    assert uow.payloads("PaymentCompleted")[0]["amountCents"] == 700


def test_a_declined_charge_fails_the_payment(gateway):
    uow = InMemoryPaymentUnitOfWork(gateway)
    handle(uow, ChargePayment("o-1", 9000, "EUR"))
    assert uow.event_types() == ["PaymentFailed"]
    assert uow.payments.items["o-1"].stored_status == "FAILED"


def test_a_charge_is_refunded_once(gateway):
    uow = InMemoryPaymentUnitOfWork(gateway)
    handle(uow, ChargePayment("o-1", 1000, "EUR"))
    handle(uow, RefundPayment("o-1"))
    with pytest.raises(TransitionRefused):
        handle(uow, OrderCancelled("o-1", "again"))
    assert uow.event_types() == ["PaymentCompleted", "PaymentRefunded"]
    assert uow.payments.items["o-1"].refund_reference == gateway.ledger.refund_reference("refund-o-1")


def test_a_cancellation_before_the_charge_voids_it_and_a_late_request_charges_nothing(gateway):
    uow = InMemoryPaymentUnitOfWork(gateway)
    handle(uow, OrderCancelled("o-1", "customer changed their mind"))
    with pytest.raises(TransitionRefused):
        handle(uow, ChargePayment("o-1", 1000, "EUR"))
    assert gateway.ledger.lookup("o-1") is None and uow.messages == []


def test_an_orchestrated_orders_events_are_not_reacted_to(gateway):
    uow = InMemoryPaymentUnitOfWork(gateway)
    handle(uow, StockReserved("o-1", (), 1000, "EUR", ORCHESTRATED))
    handle(uow, OrderCancelled("o-1", "x", ORCHESTRATED))
    assert uow.messages == [] and uow.payments.items == {}
