"""The payment service's use cases: charge on StockReserved or PointsDeducted (choreography) or
ChargePayment (orchestration), refund on OrderCancelled or RefundPayment.

Every handler is a plain function ``(uow, event)`` over :class:`PaymentUnitOfWork`; ``HANDLERS``
routes the events to them.
"""

from __future__ import annotations

from outboxkit import Event, TypedHandler, compensate
from services.contracts import (
    ChargePayment,
    OrderCancelled,
    PaymentRefunded,
    PointsDeducted,
    RefundPayment,
    StockReserved,
    choreographed_only,
)
from services.payment.domain import Payment
from services.payment.unit_of_work import PaymentUnitOfWork


def charge(uow: PaymentUnitOfWork, order_id: str, amount_cents: int, currency: str) -> None:
    payment = uow.payments.load(order_id)
    payment.expect_to_run()  # before the gateway is called: a repeated request charges nothing
    result = uow.gateway.charge(order_id, amount_cents, currency)
    payment.charged(amount_cents, currency, result.approved, result.reference, result.reason)
    uow.payments.save(payment)


def on_stock_reserved(uow: PaymentUnitOfWork, event: StockReserved) -> None:
    """Choreography: the stock is reserved; an order redeeming points is charged once they are
    deducted (:func:`on_points_deducted`), any other now."""
    if event.points == 0:
        charge(uow, event.order_id, event.amount_cents, event.currency)


def on_points_deducted(uow: PaymentUnitOfWork, event: PointsDeducted) -> None:
    charge(uow, event.order_id, event.amount_cents, event.currency)


def on_charge_payment(uow: PaymentUnitOfWork, command: ChargePayment) -> None:
    charge(uow, command.order_id, command.amount_cents, command.currency)


def refund(uow: PaymentUnitOfWork, cancelled: Event) -> None:
    """Refund the order's charge if it was made (once), void the payment if it was not."""

    def undo(payment: Payment) -> PaymentRefunded:
        assert payment.gateway_reference is not None
        return payment.refunded(
            uow.gateway.refund(f"refund-{payment.order_id}", payment.gateway_reference, payment.amount_cents)
        )

    compensate(uow.payments, cancelled.aggregate_id, undo)


HANDLERS: dict[type[Event], TypedHandler[PaymentUnitOfWork]] = {
    StockReserved: choreographed_only(on_stock_reserved),
    PointsDeducted: choreographed_only(on_points_deducted),
    OrderCancelled: choreographed_only(refund),
    ChargePayment: on_charge_payment,
    RefundPayment: refund,
}
