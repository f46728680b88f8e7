"""The order service's use cases, as plain functions over its unit of work.

``place_order`` and ``cancel_order`` are commands; ``HANDLERS`` take the participants'
replies; ``cancel_timed_out`` and ``expire_overdue_steps`` are the two sagas' deadlines. An
order is driven by one saga style, chosen when it is placed: choreographed (the order reacts to
the participants' events, one order-wide timeout) or orchestrated (the order's saga instance
sends the participants commands; :mod:`services.order.orchestration`). Each use case loads the
order, calls the aggregate (and the saga, for an orchestrated order) and saves them; the events
and commands go with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from outboxkit import (
    DEADLINE_PASSED,
    Event,
    SagaInstance,
    TransitionRefused,
    TypedHandler,
    emit,
    new_flow,
    utc_now,
)
from services.contracts import (
    CHOREOGRAPHED,
    ORCHESTRATED,
    PaymentCompleted,
    PaymentFailed,
    PointsDeducted,
    PointsRejected,
    StockRejected,
    StockReserved,
)
from services.order.domain import Order, OrderLine
from services.order.orchestration import (
    CANCEL_REQUESTED,
    ORDER_PLACED,
    START,
    WAITING,
    OrderSaga,
    SagaState,
    command,
)
from services.order.repository import OrderNotFoundError
from services.order.unit_of_work import OrderUnitOfWork

log = logging.getLogger(__name__)

__all__ = [
    "HANDLERS",
    "OrderNotFoundError",
    "cancel_order",
    "cancel_timed_out",
    "expire_overdue_steps",
    "place_order",
]

OrderChange = Callable[[Order], None]
UnitsOfWork = Callable[[], OrderUnitOfWork]


def place_order(
    uow_factory: UnitsOfWork,
    customer_id: str,
    lines: list[OrderLine],
    currency: str = "EUR",
    order_id: str | None = None,
    flow: str = CHOREOGRAPHED,
    also: Callable[[OrderUnitOfWork, Order], None] | None = None,
    points: int = 0,
    saga: OrderSaga | None = None,
) -> Order:
    """Commit the order, its lines and one OrderCreated outbox row in one transaction; for an
    orchestrated order also its saga instance (its first deadline from ``saga``, else from the
    unit of work's) and the first command; and whatever ``also`` writes (e.g. the request's
    idempotency key)."""
    order = Order.place(customer_id, lines, currency, order_id=order_id, flow=flow, points=points)
    # The order's flow starts here: its events, and the log lines about it, carry its trace.
    with new_flow(order.id, key=order.id):
        with uow_factory() as uow:
            uow.orders.add(order)
            if also is not None:
                also(uow, order)
            if flow == ORCHESTRATED:
                plans = saga or uow.saga
                instance = SagaInstance.start(
                    order.id, plans.for_order(order), ORDER_PLACED, START, utc_now()
                )
                _send(uow, order, instance, START.commands)
                uow.sagas.save(instance)
        log.info(
            "placed order %s for %s (%d line(s), %d cents%s, %s)",
            order.id,
            customer_id,
            len(lines),
            order.total_cents,
            f", {points} points" if points else "",
            flow,
        )
    return order


def _send(
    uow: OrderUnitOfWork, order: Order, saga: SagaInstance[SagaState], commands: tuple[str, ...]
) -> None:
    for name in commands:
        emit(uow, command(name, order), saga.version)


def drive(uow: OrderUnitOfWork, order: Order, trigger: str, change: OrderChange, note: str = "") -> None:
    """Apply a reply (or a deadline, or a cancellation) to the order: directly for a
    choreographed order; through its saga for an orchestrated one, where the saga decides
    and the order follows while the saga was still waiting for a step."""
    if order.flow == ORCHESTRATED:
        instance = uow.sagas.load(order.id)
        if instance is None:
            raise OrderNotFoundError(f"orchestrated order {order.id} has no saga instance")
        was = instance.state
        reaction = instance.handle(uow.saga.for_order(order), trigger, utc_now(), note)
        if reaction is not None:
            if was in WAITING:
                change(order)
            _send(uow, order, instance, reaction.commands)
        uow.sagas.save(instance)
        if reaction is None:
            return
    else:
        change(order)
    uow.orders.save(order)


def cancel_order(uow_factory: UnitsOfWork, order_id: str, reason: str) -> Order:
    """A customer's cancellation of an open order; compensations follow (raises
    TransitionRefused when the order is no longer open)."""
    with uow_factory() as uow:
        order = uow.orders.load(order_id)
        if not order.is_open:
            raise TransitionRefused(order.status, CANCEL_REQUESTED)
        drive(uow, order, CANCEL_REQUESTED, lambda o: o.cancel(reason), reason)
    return order


def on_stock_reserved(uow: OrderUnitOfWork, event: StockReserved) -> None:
    order = uow.orders.load(event.order_id)
    drive(uow, order, "StockReserved", lambda o: o.stock_reserved())


def on_stock_rejected(uow: OrderUnitOfWork, event: StockRejected) -> None:
    order = uow.orders.load(event.order_id)
    drive(uow, order, "StockRejected", lambda o: o.stock_rejected(event.reason), event.reason)


def on_points_deducted(uow: OrderUnitOfWork, event: PointsDeducted) -> None:
    """The orchestrator's next step; a choreographed order waits for its payment."""
    order = uow.orders.load(event.order_id)
    if order.flow == ORCHESTRATED:
        drive(uow, order, "PointsDeducted", lambda o: None)


def on_points_rejected(uow: OrderUnitOfWork, event: PointsRejected) -> None:
    order = uow.orders.load(event.order_id)
    drive(uow, order, "PointsRejected", lambda o: o.points_rejected(event.reason), event.reason)


def on_payment_completed(uow: OrderUnitOfWork, event: PaymentCompleted) -> None:
    order = uow.orders.load(event.order_id)
    drive(uow, order, "PaymentCompleted", lambda o: o.payment_completed(event.payment_id))


def on_payment_failed(uow: OrderUnitOfWork, event: PaymentFailed) -> None:
    order = uow.orders.load(event.order_id)
    drive(uow, order, "PaymentFailed", lambda o: o.payment_failed(event.reason), event.reason)


HANDLERS: dict[type[Event], TypedHandler[OrderUnitOfWork]] = {
    StockReserved: on_stock_reserved,
    StockRejected: on_stock_rejected,
    PointsDeducted: on_points_deducted,
    PointsRejected: on_points_rejected,
    PaymentCompleted: on_payment_completed,
    PaymentFailed: on_payment_failed,
}


def expire_overdue_steps(
    uow_factory: UnitsOfWork, limit: int = 100, pipeline_behind: timedelta = timedelta(0)
) -> int:
    """The orchestrated saga's deadlines: a step whose reply has not come by its deadline
    (plus the time the pipeline is behind) is given up and the completed steps compensated."""
    cutoff = utc_now() - pipeline_behind

    def expire(uow: OrderUnitOfWork, order: Order) -> bool:
        instance = uow.sagas.load(order.id)
        if instance is None or instance.state not in WAITING or not instance.overdue(cutoff):
            return False  # a reply got there first
        timeout = uow.saga.for_order(order).step_timeouts[instance.state]
        drive(
            uow,
            order,
            DEADLINE_PASSED,
            lambda o: o.time_out(timeout.total_seconds()),
            f"no reply to {instance.state.value} within {timeout.total_seconds():.0f}s",
        )
        return True

    return _one_by_one(uow_factory, lambda uow: uow.sagas.overdue_ids(cutoff, limit), expire)


def cancel_timed_out(
    uow_factory: UnitsOfWork,
    timeout: timedelta,
    limit: int = 100,
    pipeline_behind: timedelta = timedelta(0),
) -> int:
    """The choreographed saga's timeout: cancel open orders older than ``timeout``, one
    transaction each.

    ``pipeline_behind`` is how long the flow's events are waiting in line right now: an order
    is that much more patient, since its reply is late for the queue, not for a failed step.
    """
    cutoff = utc_now() - timeout - pipeline_behind

    def time_out(uow: OrderUnitOfWork, order: Order) -> bool:
        try:
            order.time_out(timeout.total_seconds())
        except TransitionRefused:
            return False  # a reply got there first
        uow.orders.save(order)
        return True

    return _one_by_one(uow_factory, lambda uow: uow.orders.open_ids_before(cutoff, limit), time_out)


def deadlines_passed(uow_factory: UnitsOfWork, timeout: timedelta) -> bool:
    """Whether any order is past a deadline, the pipeline's lag not counted. When none is, a sweep
    has nothing to do whatever the lag: it need not ask the broker how far behind the flow is."""
    now = utc_now()
    with uow_factory() as uow:
        return bool(uow.orders.open_ids_before(now - timeout, 1) or uow.sagas.overdue_ids(now, 1))


def _one_by_one(
    uow_factory: UnitsOfWork,
    candidates: Callable[[OrderUnitOfWork], list[str]],
    action: Callable[[OrderUnitOfWork, Order], bool],
) -> int:
    """A deadline sweep: find the candidates, then act on each order in its own transaction
    (its row locked, its state read again); returns how many it acted on."""
    with uow_factory() as uow:
        order_ids = candidates(uow)
    acted = 0
    for order_id in order_ids:
        with uow_factory() as uow:
            acted += action(uow, uow.orders.load(order_id))
    return acted
