"""The payment service's use cases: charge on StockReserved (choreography) or ChargePayment
(orchestration), refund on OrderCancelled or RefundPayment."""

from __future__ import annotations

from eventcore import TypedHandler, UnitOfWork, compensating
from services.contracts import (
    ChargePayment,
    OrderCancelled,
    PaymentRefunded,
    RefundPayment,
    StockReserved,
    choreographed_only,
)
from services.payment.domain import Payment
from services.payment.gateway import PaymentGateway
from services.payment.repository import payment_repository as payments


def handlers(gateway: PaymentGateway) -> dict[type, TypedHandler]:
    def charge(uow: UnitOfWork, request: StockReserved | ChargePayment) -> None:
        payment = payments.load(uow, request.order_id)
        payment.expect_to_run()  # before the gateway is called: a repeated request charges nothing
        result = gateway.charge(request.order_id, request.amount_cents, request.currency)
        payment.charged(
            request.amount_cents, request.currency, result.approved, result.reference, result.reason
        )
        payments.save(uow, payment)

    def refund(uow: UnitOfWork, payment: Payment) -> PaymentRefunded:
        assert payment.gateway_reference is not None
        return payment.refunded(
            gateway.refund(f"refund-{payment.order_id}", payment.gateway_reference, payment.amount_cents)
        )

    return {
        StockReserved: choreographed_only(charge),
        OrderCancelled: choreographed_only(compensating(payments, refund)),
        ChargePayment: charge,
        RefundPayment: compensating(payments, refund),
    }
