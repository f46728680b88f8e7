"""Loads and saves payments inside a unit of work's transaction (with the events they caused)."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, bindparam, select

from eventcore import BatchRows, UnitOfWork, emit_changes, save_step, utc_now
from services.payment.domain import Payment
from services.payment.tables import payments

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


class Payments:
    def load(self, uow: UnitOfWork, order_id: str) -> Payment:
        """The order's payment (NEW when there is none yet), its row locked (with those of the
        rest of the batch)."""
        return self._rows(uow).get(order_id) or Payment(order_id)

    @staticmethod
    def _rows(uow: UnitOfWork) -> BatchRows[str, Payment]:
        return BatchRows.of(uow, payments, "order_id", _read_payments)

    def save(self, uow: UnitOfWork, payment: Payment) -> None:
        emit_changes(uow, payment)
        save_step(
            self._rows(uow),
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


payment_repository = Payments()
