"""The points service's use cases: deduct an order's points on StockReserved (choreography) or
DeductPoints (orchestration), give them back on OrderCancelled or ReturnPoints, and the
operator's ``set_points``.

Every handler is a plain function ``(uow, event)`` over :class:`PointsUnitOfWork`; ``HANDLERS``
routes the events to them.
"""

from __future__ import annotations

from collections.abc import Callable

from outboxkit import Event, StepStatus, TypedHandler, compensate
from services.contracts import (
    CHOREOGRAPHED,
    ORCHESTRATED,
    DeductPoints,
    OrderCancelled,
    PointsReturned,
    ReturnPoints,
    StockReserved,
    choreographed_only,
)
from services.points.domain import Redemption, valid_balance, valid_customer
from services.points.unit_of_work import PointsUnitOfWork


def set_points(uow_factory: Callable[[], PointsUnitOfWork], customer_id: str, balance: int) -> None:
    """Set a customer's balance (creating the account)."""
    valid_customer(customer_id)
    valid_balance(balance)
    with uow_factory() as uow:
        uow.accounts.set_balance(customer_id, balance)


def deduct(
    uow: PointsUnitOfWork,
    order_id: str,
    customer_id: str,
    points: int,
    amount_cents: int,
    currency: str,
    flow: str,
) -> None:
    redemption = uow.redemptions.load(order_id)
    redemption.expect_to_run()
    redemption.deduct(customer_id, points, uow.accounts.balance(customer_id), amount_cents, currency, flow)
    if redemption.status is StepStatus.DONE:
        uow.accounts.change(customer_id, -points)
    uow.redemptions.save(redemption)


def on_stock_reserved(uow: PointsUnitOfWork, event: StockReserved) -> None:
    """Choreography: the stock of an order that redeems points is reserved; deduct them (payment
    charges the rest on PointsDeducted)."""
    if event.points:
        deduct(
            uow,
            event.order_id,
            event.customer_id,
            event.points,
            event.amount_cents - event.points,
            event.currency,
            CHOREOGRAPHED,
        )


def on_deduct_points(uow: PointsUnitOfWork, command: DeductPoints) -> None:
    deduct(
        uow,
        command.order_id,
        command.customer_id,
        command.points,
        command.amount_cents,
        command.currency,
        ORCHESTRATED,
    )


def on_order_cancelled(uow: PointsUnitOfWork, event: OrderCancelled) -> None:
    """Choreography: an order that redeemed points was cancelled (one that redeemed none has
    nothing here to give back, and no late request to guard against)."""
    if event.points:
        return_points(uow, event)


def return_points(uow: PointsUnitOfWork, cancelled: Event) -> None:
    """Give the order's points back if they were deducted (once), void the redemption if not."""

    def give_back(redemption: Redemption) -> PointsReturned:
        uow.accounts.balance(redemption.customer_id)
        uow.accounts.change(redemption.customer_id, +redemption.points)
        return redemption.returned()

    compensate(uow.redemptions, cancelled.aggregate_id, give_back)


HANDLERS: dict[type[Event], TypedHandler[PointsUnitOfWork]] = {
    StockReserved: choreographed_only(on_stock_reserved),
    OrderCancelled: choreographed_only(on_order_cancelled),
    DeductPoints: on_deduct_points,
    ReturnPoints: return_points,
}
