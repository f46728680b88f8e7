"""The participants' compensable steps (reserve/release, charge/refund) without a database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import pytest

from outboxkit.base.messages import ConsumedEvent
from outboxkit.consuming.dispatch import EventRoutes
from outboxkit.domain.events import Event
from outboxkit.domain.state_machine import TransitionRefused
from outboxkit.sagas.steps import CompensableStep, StepStatus, compensate
from services.contracts import (
    OrderCancelled,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    StockLine,
    StockRejected,
    StockReleased,
    StockReserved,
)
from services.inventory.domain import Reservation, StockLevel
from services.payment.domain import Payment

S = TypeVar("S", bound=CompensableStep)
STOCK = {"A": StockLevel("A", 5, 0), "B": StockLevel("B", 1, 0)}


def test_a_reservation_takes_every_line_or_none():
    reserved = Reservation("o-1")
    reserved.reserve({"B": 1, "A": 2}, STOCK, 300, "EUR", "choreographed")
    assert (reserved.status, reserved.version, reserved.stored_status) == (StepStatus.DONE, 1, "RESERVED")
    assert reserved.pull_changes() == [
        (1, StockReserved("o-1", (StockLine("A", 2), StockLine("B", 1)), 300, "EUR", "choreographed"))
    ]

    rejected = Reservation("o-2")
    rejected.reserve({"A": 2, "B": 2, "C": 1}, STOCK, 300, "EUR", "choreographed")
    assert (rejected.stored_status, rejected.lines) == ("REJECTED", {})
    [(version, event)] = rejected.pull_changes()
    assert (
        version == 1
        and event == StockRejected("o-2", "insufficient stock: B needs 2, 1 available; C unknown")
        and rejected.reason == event.reason
    )


def test_a_step_runs_once():
    reservation = Reservation("o-1")
    reservation.reserve({"A": 1}, STOCK, 100, "EUR", "choreographed")
    with pytest.raises(TransitionRefused):
        reservation.expect_to_run()
    with pytest.raises(TransitionRefused):
        reservation.reserve({"A": 1}, STOCK, 100, "EUR", "choreographed")
    assert reservation.version == 1


def test_a_charge_is_done_or_refused_by_the_gateways_answer():
    paid = Payment("o-1")
    paid.charged(300, "EUR", approved=True, reference="g-1", decline_reason=None)
    assert paid.stored_status == "COMPLETED"
    assert paid.pull_changes() == [(1, PaymentCompleted("o-1", "g-1", 300))]
    declined = Payment("o-2")
    declined.charged(300, "EUR", approved=False, reference=None, decline_reason="limit")
    assert declined.stored_status == "FAILED"
    assert declined.pull_changes() == [(1, PaymentFailed("o-2", "limit"))]


class RecordingSteps(Generic[S]):
    """A participant's steps that remember each save (status, version), in order."""

    def __init__(self, factory: Callable[[str], S]) -> None:
        self.factory = factory
        self.rows: dict[str, S] = {}
        self.saved: list[tuple[str, int]] = []

    def load(self, saga_id: str) -> S:
        return self.rows.get(saga_id) or self.factory(saga_id)

    def save(self, step: S) -> None:
        self.rows[step.saga_id] = step
        self.saved.append((step.stored_status, step.version))


def cancelled(order_id: str) -> ConsumedEvent:
    return ConsumedEvent(
        "order.events",
        0,
        0,
        order_id,
        {},
        "e",
        "OrderCancelled",
        3,
        {"orderId": order_id, "reason": "timeout", "flow": "choreographed", "points": 0},
        1,
        0.0,
    )


def routes_for(
    repository: RecordingSteps[Any], undo: Callable[[Any, Any], Event]
) -> tuple[EventRoutes[Any], Callable[[Any, ConsumedEvent], None]]:
    def on_cancelled(uow, event):
        compensate(repository, event.aggregate_id, lambda step: undo(uow, step))

    routes = EventRoutes({OrderCancelled: on_cancelled}, "test")
    return routes, lambda uow, record: routes.handle(uow, record, routes.typed(record))


def test_a_done_step_is_compensated_once_by_the_shared_handler(caplog):
    payments = RecordingSteps(Payment)
    payment = Payment("o-1")
    payment.charged(300, "EUR", True, "g-1", None)
    payment.pull_changes()
    payments.rows["o-1"] = payment
    refunds: list[str] = []

    def refund(uow, step):
        refunds.append(step.order_id)
        return step.refunded("r-1")

    routes, handle = routes_for(payments, refund)
    with caplog.at_level(logging.INFO):
        handle(None, cancelled("o-1"))
        handle(None, cancelled("o-1"))  # a second cancellation: the guard is closed
    assert refunds == ["o-1"]
    assert payments.saved == [("REFUNDED", 2)]
    assert payment.pull_changes() == [(2, PaymentRefunded("o-1", "g-1", 300))]
    assert routes.refused == 1 and "OrderCancelled ignored" in caplog.text


def test_a_step_that_never_ran_is_voided_so_a_late_request_cannot_run_it():
    reservations = RecordingSteps(Reservation)
    released: list[str] = []

    def release(uow, step):
        released.append(step.order_id)
        return StockReleased(step.order_id, ())

    _routes, handle = routes_for(reservations, release)
    handle(None, cancelled("o-9"))
    voided = reservations.rows["o-9"]
    assert (voided.stored_status, voided.version, released) == ("VOIDED", 1, [])
    assert voided.pull_changes() == []  # nothing to announce: nothing was held
    with pytest.raises(TransitionRefused):
        voided.reserve({"A": 1}, STOCK, 100, "EUR", "choreographed")


def test_a_refused_step_has_nothing_to_compensate():
    reservations = RecordingSteps(Reservation)
    rejected = Reservation("o-3")
    rejected.reserve({"Z": 1}, STOCK, 100, "EUR", "choreographed")
    reservations.rows["o-3"] = rejected
    routes, handle = routes_for(reservations, lambda uow, step: pytest.fail("nothing was reserved"))
    handle(None, cancelled("o-3"))
    assert routes.refused == 1 and reservations.saved == []
