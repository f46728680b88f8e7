"""The payment service's SQL repository and unit of work (payments with the events they caused)."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, bindparam, select

from outboxkit import BatchRows, OutboxRows, SqlUnitOfWork, emit_changes, save_step, utc_now
from services.payment.domain import Payment
from services.payment.gateway import PaymentGateway
from services.payment.tables import payments
from services.payment.unit_of_work import PaymentUnitOfWork

log = logging.getLogger(__name__)

_PAYMENTS = (
    select(payments).where(payments.c.order_id.in_(bindparam("order_ids", expanding=True))).with_for_update()
)


def _read_payments(connection: Connection, order_ids: list[str]) -> dict[str, Payment]:
    return {
        row.order_id: Payment(
            row.order_id,
            Payment.labels.status(row.status),
            row.version,
            row.reason,
            stored_version=row.version,
            amount_cents=row.amount_cents,
            currency=row.currency,
            gateway_reference=row.gateway_reference,
            refund_reference=row.refund_reference,
        )
        for row in connection.execute(_PAYMENTS, {"order_ids": order_ids})
    }


class SqlPayments:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def load(self, order_id: str) -> Payment:
        """The order's payment (NEW when there is none yet), its row locked (with those of the
        rest of the batch)."""
        return self._rows().get(order_id) or Payment(order_id)

    def _rows(self) -> BatchRows[str, Payment]:
        return BatchRows.of(self._uow, payments, "order_id", _read_payments)

    def save(self, payment: Payment) -> None:
        emit_changes(self._uow, payment)
        save_step(
            self._rows(),
            payment,
            {
                "amount_cents": payment.amount_cents,
                "currency": payment.currency,
                "gateway_reference": payment.gateway_reference,
                "refund_reference": payment.refund_reference,
                "updated_at": utc_now(),
            },
        )
        log.info(
            "payment %s %s (v%d): %d %s%s",
            payment.order_id,
            payment.stored_status,
            payment.version,
            payment.amount_cents,
            payment.currency,
            f", {payment.reason}" if payment.reason else "",
        )


class SqlPaymentUnitOfWork(SqlUnitOfWork, PaymentUnitOfWork):
    """The payment service's transaction: payments in payment_db, with its outbox; the gateway."""

    def __init__(self, engine: Engine, outbox: OutboxRows | None, gateway: PaymentGateway) -> None:
        super().__init__(engine, outbox)
        self.payments = SqlPayments(self)
        self.gateway = gateway
