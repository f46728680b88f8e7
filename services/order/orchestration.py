"""The orchestrated order saga: pure rules, no I/O.

The order service drives the saga itself: it sends inventory and payment commands and waits
for their replies (their events), one step at a time, each step with its own deadline. The
table below is the whole behaviour: a reply the current state does not list is recorded as
ignored and changes nothing. Compensation runs in reverse order of the steps (refund, then
release); a compensation for a step that never ran voids it at the participant, so a late
command cannot run it afterwards, and a late success after the saga was cancelled is answered
with its compensation (the participant's guard makes that one refund, however many arrive).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from eventcore import DEADLINE_PASSED, Event, Orchestration, Reaction
from services.contracts import ChargePayment, RefundPayment, ReleaseStock, ReserveStock, StockLine
from services.order.domain import Order

DEFAULT_STEP_TIMEOUT_S = 30.0
ORDER_PLACED = "OrderPlaced"
CANCEL_REQUESTED = "CancelRequested"


class SagaState(StrEnum):
    RESERVING = "RESERVING"  # ReserveStock sent, waiting for StockReserved / StockRejected
    CHARGING = "CHARGING"  # ChargePayment sent, waiting for PaymentCompleted / PaymentFailed
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


RESERVE, RELEASE = ReserveStock.event_type(), ReleaseStock.event_type()
CHARGE, REFUND = ChargePayment.event_type(), RefundPayment.event_type()

START = Reaction(SagaState.RESERVING, (RESERVE,))
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
WAITING = (SagaState.RESERVING, SagaState.CHARGING)


def order_saga(step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S) -> Orchestration[SagaState]:
    step_timeout = timedelta(seconds=step_timeout_s)
    return Orchestration(TABLE, {state: step_timeout for state in WAITING})


def command(name: str, order: Order) -> Event:
    """The command ``name`` for ``order``, built from the order's own data."""
    if name == RESERVE:
        return ReserveStock(
            order.id,
            tuple(StockLine(line.sku, line.quantity) for line in order.lines),
            order.total_cents,
            order.currency,
        )
    if name == CHARGE:
        return ChargePayment(order.id, order.total_cents, order.currency)
    if name == RELEASE:
        return ReleaseStock(order.id)
    if name == REFUND:
        return RefundPayment(order.id)
    raise ValueError(f"no command {name!r}")
