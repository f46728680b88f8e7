"""The orchestrated order saga: pure rules, no I/O.

The order service drives the saga itself: it sends inventory, points and payment commands and
waits for their replies (their events), one step at a time, each step with its own deadline. An
order that redeems points takes one more step (deduct them) between the stock and the charge.
The tables below are the whole behaviour: a reply the current state does not list is recorded as
ignored and changes nothing. Compensation runs in reverse order of the steps (refund, return the
points, release); a compensation for a step that never ran voids it at the participant, so a late
command cannot run it afterwards, and a late success after the saga was cancelled is answered
with its compensation (the participant's guard makes that one refund, however many arrive).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from outboxkit import DEADLINE_PASSED, Event, Orchestration, Reaction
from services.contracts import (
    ChargePayment,
    DeductPoints,
    RefundPayment,
    ReleaseStock,
    ReserveStock,
    ReturnPoints,
    StockLine,
)
from services.order.domain import Order

DEFAULT_STEP_TIMEOUT_S = 30.0
ORDER_PLACED = "OrderPlaced"
CANCEL_REQUESTED = "CancelRequested"


class SagaState(StrEnum):
    RESERVING = "RESERVING"  # ReserveStock sent, waiting for StockReserved / StockRejected
    DEDUCTING = "DEDUCTING"  # DeductPoints sent, waiting for PointsDeducted / PointsRejected
    CHARGING = "CHARGING"  # ChargePayment sent, waiting for PaymentCompleted / PaymentFailed
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


RESERVE, RELEASE = ReserveStock.event_type(), ReleaseStock.event_type()
DEDUCT, RETURN_POINTS = DeductPoints.event_type(), ReturnPoints.event_type()
CHARGE, REFUND = ChargePayment.event_type(), RefundPayment.event_type()

START = Reaction(SagaState.RESERVING, (RESERVE,))
# An order that redeems no points: reserve, then charge.
TABLE: dict[tuple[SagaState, str], Reaction[SagaState]] = {
    (SagaState.RESERVING, "StockReserved"): Reaction(SagaState.CHARGING, (CHARGE,)),
    (SagaState.RESERVING, "StockRejected"): Reaction(SagaState.CANCELLED),
    (SagaState.RESERVING, DEADLINE_PASSED): Reaction(SagaState.CANCELLED, (RELEASE,)),
    (SagaState.RESERVING, CANCEL_REQUESTED): Reaction(SagaState.CANCELLED, (RELEASE,)),
    (SagaState.CHARGING, "PaymentCompleted"): Reaction(SagaState.COMPLETED),
    (SagaState.CHARGING, "PaymentFailed"): Reaction(SagaState.CANCELLED, (RELEASE,)),
    (SagaState.CHARGING, DEADLINE_PASSED): Reaction(SagaState.CANCELLED, (REFUND, RELEASE)),
    (SagaState.CHARGING, CANCEL_REQUESTED): Reaction(SagaState.CANCELLED, (REFUND, RELEASE)),
    # Late successes after the saga was cancelled: each is compensated.
    (SagaState.CANCELLED, "PaymentCompleted"): Reaction(SagaState.CANCELLED, (REFUND,)),
    (SagaState.CANCELLED, "StockReserved"): Reaction(SagaState.CANCELLED, (RELEASE,)),
}
# An order that redeems points: reserve, deduct the points, charge the rest; compensations in
# reverse order (refund, return the points, release the stock).
REDEEMING_TABLE: dict[tuple[SagaState, str], Reaction[SagaState]] = {
    **TABLE,
    (SagaState.RESERVING, "StockReserved"): Reaction(SagaState.DEDUCTING, (DEDUCT,)),
    (SagaState.DEDUCTING, "PointsDeducted"): Reaction(SagaState.CHARGING, (CHARGE,)),
    (SagaState.DEDUCTING, "PointsRejected"): Reaction(SagaState.CANCELLED, (RELEASE,)),
    (SagaState.DEDUCTING, DEADLINE_PASSED): Reaction(SagaState.CANCELLED, (RETURN_POINTS, RELEASE)),
    (SagaState.DEDUCTING, CANCEL_REQUESTED): Reaction(SagaState.CANCELLED, (RETURN_POINTS, RELEASE)),
    (SagaState.CHARGING, "PaymentFailed"): Reaction(SagaState.CANCELLED, (RETURN_POINTS, RELEASE)),
    (SagaState.CHARGING, DEADLINE_PASSED): Reaction(SagaState.CANCELLED, (REFUND, RETURN_POINTS, RELEASE)),
    (SagaState.CHARGING, CANCEL_REQUESTED): Reaction(SagaState.CANCELLED, (REFUND, RETURN_POINTS, RELEASE)),
    (SagaState.CANCELLED, "PointsDeducted"): Reaction(SagaState.CANCELLED, (RETURN_POINTS,)),
}
WAITING = (SagaState.RESERVING, SagaState.DEDUCTING, SagaState.CHARGING)


@dataclass(frozen=True)
class OrderSaga:
    """The orchestrated order saga's two plans, with the step deadlines the service runs with."""

    plain: Orchestration[SagaState]
    redeeming: Orchestration[SagaState]

    def for_order(self, order: Order) -> Orchestration[SagaState]:
        return self.redeeming if order.points else self.plain


def order_saga(step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S) -> OrderSaga:
    step_timeouts = {state: timedelta(seconds=step_timeout_s) for state in WAITING}
    return OrderSaga(Orchestration(TABLE, step_timeouts), Orchestration(REDEEMING_TABLE, step_timeouts))


def command(name: str, order: Order) -> Event:
    """The command ``name`` for ``order``, built from the order's own data."""
    if name == RESERVE:
        return ReserveStock(
            order.id,
            tuple(StockLine(line.sku, line.quantity) for line in order.lines),
            order.total_cents,
            order.currency,
        )
    if name == DEDUCT:
        return DeductPoints(order.id, order.customer_id, order.points, order.to_charge_cents, order.currency)
    if name == CHARGE:
        return ChargePayment(order.id, order.to_charge_cents, order.currency)
    if name == RELEASE:
        return ReleaseStock(order.id)
    if name == RETURN_POINTS:
        return ReturnPoints(order.id)
    if name == REFUND:
        return RefundPayment(order.id)
    raise ValueError(f"no command {name!r}")
