"""The payment service's use cases: charge on StockReserved, refund on OrderCancelled."""

from __future__ import annotations

from eventcore.aggregate import compensating
from eventcore.db import UnitOfWork
from eventcore.events import TypedHandler
from services.contracts import OrderCancelled, PaymentRefunded, StockReserved
from services.payment.domain import Payment
from services.payment.gateway import PaymentGateway
from services.payment.repository import payment_repository as payments


def handlers(gateway: PaymentGateway) -> dict[type, TypedHandler]:
    def on_stock_reserved(uow: UnitOfWork, event: StockReserved) -> None:
        payment = payments.load(uow, event.order_id)
        payment.expect_to_run()  # before the gateway is called: a repeated request charges nothing
        result = gateway.charge(event.order_id, event.amount_cents, event.currency)
        payment.charged(event.amount_cents, event.currency, result.approved, result.reference, result.reason)
        payments.save(uow, payment)

    def refund(uow: UnitOfWork, payment: Payment) -> PaymentRefunded:
        assert payment.gateway_reference is not None
        return payment.refunded(gateway.refund(f"refund-{payment.order_id}", payment.gateway_reference,
                                               payment.amount_cents))

    return {StockReserved: on_stock_reserved, OrderCancelled: compensating(payments, refund)}
