"""The order service's use cases, as plain functions over a unit of work.

``place_order`` and ``cancel_order`` are commands; ``OrderUseCases.handlers()`` take the
inventory and payment services' replies; ``cancel_timed_out`` and ``expire_overdue_steps`` are the two sagas'
deadlines. An order is driven by one saga style, chosen when it is placed: choreographed (the
order reacts to the participants' events, one order-wide timeout) or orchestrated (the order's
saga instance sends the participants commands; :mod:`services.order.orchestration`). Each use
case loads the order, calls the aggregate (and the saga, for an orchestrated order) and saves
them; the events and commands go with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection

from eventcore import (
    DEADLINE_PASSED,
    Orchestration,
    SagaInstance,
    TransitionRefused,
    TypedHandler,
    UnitOfWork,
    emit,
    utc_now,
)
from services.contracts import (
    CHOREOGRAPHED,
    ORCHESTRATED,
    PaymentCompleted,
    PaymentFailed,
    StockRejected,
    StockReserved,
)
from services.order import repository
from services.order.domain import Order, OrderLine
from services.order.orchestration import (
    CANCEL_REQUESTED,
    ORDER_PLACED,
    START,
    WAITING,
    SagaState,
    command,
    order_saga,
)
from services.order.repository import OrderNotFoundError

log = logging.getLogger(__name__)

__all__ = ["OrderNotFoundError", "OrderUseCases", "cancel_order", "cancel_timed_out", "place_order"]

OrderChange = Callable[[Order], None]


def place_order(
    uow_factory: Callable[[], UnitOfWork],
    customer_id: str,
    lines: list[OrderLine],
    currency: str = "EUR",
    order_id: str | None = None,
    flow: str = CHOREOGRAPHED,
    saga: Orchestration[SagaState] | None = None,
    also: Callable[[UnitOfWork, Order], None] | None = None,
) -> Order:
    """Commit the order, its lines and one OrderCreated outbox row in one transaction; for an
    orchestrated order also its saga instance (its step deadlines from ``saga``) and the first
    command; and whatever ``also`` writes (e.g. the request's idempotency key)."""
    order = Order.place(customer_id, lines, currency, order_id=order_id, flow=flow)
    with uow_factory() as uow:
        repository.add(uow, order)
        if also is not None:
            also(uow, order)
        if flow == ORCHESTRATED:
            instance = SagaInstance.start(order.id, saga or order_saga(), ORDER_PLACED, START, utc_now())
            _send(uow, order, instance, START.commands)
            repository.save_saga(uow, instance)
    log.info(
        "placed order %s for %s (%d line(s), %d cents, %s)",
        order.id,
        customer_id,
        len(lines),
        order.total_cents,
        flow,
    )
    return order


def _send(uow: UnitOfWork, order: Order, saga: SagaInstance[SagaState], commands: tuple[str, ...]) -> None:
    for name in commands:
        emit(uow, command(name, order), saga.version)


@dataclass(frozen=True)
class OrderUseCases:
    """The use cases that depend on the orchestrated saga's settings (its step deadlines)."""

    saga: Orchestration[SagaState]

    def drive(self, uow: UnitOfWork, order: Order, trigger: str, change: OrderChange, note: str = "") -> None:
        """Apply a reply (or a deadline, or a cancellation) to the order: directly for a
        choreographed order; through its saga for an orchestrated one, where the saga decides
        and the order follows while the saga was still waiting for a step."""
        if order.flow == ORCHESTRATED:
            instance = repository.load_saga(uow, order.id)
            if instance is None:
                raise OrderNotFoundError(f"orchestrated order {order.id} has no saga instance")
            was = instance.state
            reaction = instance.handle(self.saga, trigger, utc_now(), note)
            if reaction is not None:
                if was in WAITING:
                    change(order)
                _send(uow, order, instance, reaction.commands)
            repository.save_saga(uow, instance)
            if reaction is None:
                return
        else:
            change(order)
        repository.save(uow, order)

    def cancel_order(self, uow_factory: Callable[[], UnitOfWork], order_id: str, reason: str) -> Order:
        """A customer's cancellation of an open order; compensations follow (raises
        TransitionRefused when the order is no longer open)."""
        with uow_factory() as uow:
            order = repository.load(uow, order_id)
            if not order.is_open:
                raise TransitionRefused(order.status, CANCEL_REQUESTED)
            self.drive(uow, order, CANCEL_REQUESTED, lambda o: o.cancel(reason), reason)
        return order

    def on_stock_reserved(self, uow: UnitOfWork, event: StockReserved) -> None:
        order = repository.load(uow, event.order_id)
        self.drive(uow, order, "StockReserved", lambda o: o.stock_reserved())

    def on_stock_rejected(self, uow: UnitOfWork, event: StockRejected) -> None:
        order = repository.load(uow, event.order_id)
        self.drive(uow, order, "StockRejected", lambda o: o.stock_rejected(event.reason), event.reason)

    def on_payment_completed(self, uow: UnitOfWork, event: PaymentCompleted) -> None:
        order = repository.load(uow, event.order_id)
        self.drive(uow, order, "PaymentCompleted", lambda o: o.payment_completed(event.payment_id))

    def on_payment_failed(self, uow: UnitOfWork, event: PaymentFailed) -> None:
        order = repository.load(uow, event.order_id)
        self.drive(uow, order, "PaymentFailed", lambda o: o.payment_failed(event.reason), event.reason)

    def handlers(self) -> dict[type, TypedHandler]:
        return {
            StockReserved: self.on_stock_reserved,
            StockRejected: self.on_stock_rejected,
            PaymentCompleted: self.on_payment_completed,
            PaymentFailed: self.on_payment_failed,
        }

    def expire_overdue_steps(
        self,
        uow_factory: Callable[[], UnitOfWork],
        limit: int = 100,
        pipeline_behind: timedelta = timedelta(0),
    ) -> int:
        """The orchestrated saga's deadlines: a step whose reply has not come by its deadline
        (plus the time the pipeline is behind) is given up and the completed steps compensated."""
        cutoff = utc_now() - pipeline_behind

        def expire(uow: UnitOfWork, order: Order) -> bool:
            instance = repository.load_saga(uow, order.id)
            if instance is None or instance.state not in WAITING or not instance.overdue(cutoff):
                return False  # a reply got there first
            timeout = self.saga.step_timeouts[instance.state]
            self.drive(
                uow,
                order,
                DEADLINE_PASSED,
                lambda o: o.time_out(timeout.total_seconds()),
                f"no reply to {instance.state.value} within {timeout.total_seconds():.0f}s",
            )
            return True

        return _one_by_one(uow_factory, lambda c: repository.overdue_saga_ids(c, cutoff, limit), expire)


def cancel_order(
    uow_factory: Callable[[], UnitOfWork],
    order_id: str,
    reason: str,
    saga: Orchestration[SagaState] | None = None,
) -> Order:
    return OrderUseCases(saga or order_saga()).cancel_order(uow_factory, order_id, reason)


def cancel_timed_out(
    uow_factory: Callable[[], UnitOfWork],
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

    def time_out(uow: UnitOfWork, order: Order) -> bool:
        try:
            order.time_out(timeout.total_seconds())
        except TransitionRefused:
            return False  # a reply got there first
        repository.save(uow, order)
        return True

    return _one_by_one(uow_factory, lambda c: repository.open_order_ids_before(c, cutoff, limit), time_out)


def _one_by_one(
    uow_factory: Callable[[], UnitOfWork],
    candidates: Callable[[Connection], list[str]],
    action: Callable[[UnitOfWork, Order], bool],
) -> int:
    """A deadline sweep: find the candidates, then act on each order in its own transaction
    (its row locked, its state read again); returns how many it acted on."""
    with uow_factory() as uow:
        order_ids = candidates(uow.connection)
    acted = 0
    for order_id in order_ids:
        with uow_factory() as uow:
            acted += action(uow, repository.load(uow, order_id))
    return acted
